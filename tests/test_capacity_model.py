"""The capacity model (``perf.capacity_model``): cores for reward checking per GPU node."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from perf.capacity_model import cores_needed, generation_seconds, per_core_rate, plan

REPO = Path(__file__).resolve().parent.parent


def test_cores_needed_is_the_ceiling_of_work_over_capacity():
    assert cores_needed(2048, 100.0, 10.0) == 3  # 2.048 cores' worth
    assert cores_needed(2000, 100.0, 10.0) == 2  # exactly 2, no spurious extra core
    assert cores_needed(1, 1000.0, 60.0) == 1  # any work needs a core
    assert cores_needed(0, 100.0, 10.0) == 0
    with pytest.raises(ValueError):
        cores_needed(10, 0.0, 1.0)
    with pytest.raises(ValueError):
        cores_needed(10, 1.0, 0.0)


def test_plan_for_codev_r1_step():
    # 2048 rollouts x 4096 tokens on 8 GPUs at 12,500 tokens/s: 83.9 s generating, step x1.5
    result = plan(rate=150.0)
    assert result["checks_per_step"] == 2048
    assert result["generation_seconds"] == pytest.approx(2048 * 4096 / (8 * 12500), abs=0.01)
    assert result["step_seconds"] == pytest.approx(1.5 * result["generation_seconds"], abs=0.02)
    budget = 0.05 * 1.5 * generation_seconds(2048, 4096, 12500, 8)
    assert result["check_budget_seconds"] == pytest.approx(budget, abs=1e-3)
    cores = result["cores"]
    assert cores["all_at_end_of_generation"]["cluster"] == math.ceil(2048 / (150.0 * budget))
    assert cores["spread_over_generation"]["cluster"] <= cores["all_at_end_of_generation"]["cluster"]
    # Twice the nodes: generation twice as fast, the same checks in half the budget.
    two = plan(rate=150.0, nodes=2)
    assert two["cores"]["all_at_end_of_generation"]["cluster"] == math.ceil(2048 / (150.0 * budget / 2))
    assert two["cores"]["all_at_end_of_generation"]["per_node"] == math.ceil(
        two["cores"]["all_at_end_of_generation"]["cluster"] / 2
    )
    # Only answers that reach simulation are checked.
    assert plan(rate=150.0, simulated_fraction=0.5)["checks_per_step"] == 1024


def test_per_core_rate_reads_the_verifier_speed_report():
    report = {"machine": {"cpus": 2}, "throughput": {"first_pass": {"checks_per_second": 300.0, "checks": 900}}}
    assert per_core_rate(report) == 150.0


def test_command_line_writes_the_report(tmp_path):
    out = tmp_path / "capacity.json"
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps(
        {"machine": {"cpus": 4}, "throughput": {"first_pass": {"checks_per_second": 400.0, "checks": 1000}}}
    ))
    proc = subprocess.run(
        [sys.executable, "-m", "perf.capacity_model", "--speed-report", str(speed),
         "--service-report", str(tmp_path / "absent.json"), "--out", str(out)],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "per node" in proc.stdout and str(out) in proc.stdout
    report = json.loads(out.read_text())
    assert report["inputs"]["checks_per_core_per_s"] == 100.0
    assert report["result"]["checks_per_step"] == 2048
    assert report["result"]["cores"] == plan(rate=100.0)["cores"]
    assert report["sources"]["generation_throughput"]["url"].startswith("https://")
    assert "http_service" not in report["sources"]["rates"]
    assert {row["response_tokens"] for row in report["sensitivity"]} == {1024, 4096, 16384}
