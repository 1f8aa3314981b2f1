"""perf/trainer_vs_trl.py (issue 15's side-by-side with TRL) runs both real trainers.

The GPU figures need a CUDA machine; here the smoke run on a CPU checks that the script
drives the bundled trainer and TRL's GRPOTrainer with the same batch and writes the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_run_writes_a_comparable_report(tmp_path):
    pytest.importorskip("trl", reason="TRL is not installed (make setup installs the trl extra)")
    out = tmp_path / "report.json"
    prompts, samples, length = 2, 2, 16
    run = subprocess.run([sys.executable, "-m", "perf.trainer_vs_trl", "--tiny", "--device", "cpu", "--steps", "2",
                          "--prompts", str(prompts), "--samples", str(samples), "--max-response-length", str(length),
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "trainer_vs_trl" and report["settings"]["samples_per_prompt"] == samples
    for name in ("ours", "trl"):
        result = report[name]
        assert result["steps"] == 2 and len(result["per_step"]) == 2
        # the same work per step: at most prompts x samples answers of at most `length` tokens
        assert all(0 < s["generated_tokens"] <= prompts * samples * length for s in result["per_step"]), name
        assert result["step_seconds_median"] > 0 and result["generated_tokens_per_s_median"] > 0
        assert result["peak_memory_gib"] > 0
    assert report["ours_over_trl_tokens_per_s"] > 0
