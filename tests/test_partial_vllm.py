"""A vLLM installed without its dependencies (what scripts/install_openrlhf_cpu.sh puts in
.venv-openrlhf, and what a user gets from ``pip install --no-deps vllm``) imports as a
package and fails at ``vllm.LLM``. Every command that would use it says so in one line.

Runs in .venv-openrlhf (conftest ``OPENRLHF_ONLY``), the one environment here with that
partial vLLM, for real: nothing is hidden or stubbed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verilog_env.extras import MissingExtra


def test_this_environment_has_a_partial_vllm():
    assert importlib.util.find_spec("vllm") is not None
    with pytest.raises(ImportError):
        import vllm.entrypoints.llm  # noqa: F401


def test_bench_run_with_the_vllm_back_end_is_one_line(tmp_path):
    tests = Path(__file__).resolve().parent  # fake_openai_server registers the "tiny" suite
    run = subprocess.run([sys.executable, "-m", "verilog_env.cli", "bench", "run", "--import", "fake_openai_server",
                          "--suite", "tiny", "--data", ".", "--backend", "vllm", "--model", "m",
                          "--out", str(tmp_path / "out")], cwd=tests, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "VERILOG_ENV_TEST_TINY_SUITE": "1", "PYTHONPATH": str(tests)})
    lines = [line for line in run.stderr.splitlines() if line.startswith("verilog-env: ")]
    assert run.returncode == 2, run.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "vllm" in lines[0] and "fails to import" in lines[0] and "pip install 'verilog-env[bench-vllm]'" in lines[0]


def test_bundled_trainer_vllm_back_end_is_one_line():
    from trainers.dapo.trainer import VLLMRollouts

    with pytest.raises(MissingExtra, match=r"backend: vllm .* fails to import"):
        VLLMRollouts("m", [0], seed=0, max_model_len=64, gpu_memory_utilization=0.1)
