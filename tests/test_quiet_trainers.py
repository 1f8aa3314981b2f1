"""The bundled trainers print their own lines and none of the frameworks' under them (issue 16
item 16): no DeepSpeed accelerator guess ("Setting accelerator to CPU ...", which DeepSpeed
logs on stdout when transformers' save_pretrained makes accelerate import it), no
transformers progress bars with progress off, no deprecation warning of our own calls.

Each run is a real command in a fresh process (DeepSpeed logs once per process, at import),
under this interpreter and, where ``make setup`` built it, under ``.venv-openrlhf``, which
has DeepSpeed installed (``.venv`` may not)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INTERPRETERS = [sys.executable] + [str(p) for p in [REPO / ".venv-openrlhf" / "bin" / "python"] if p.exists()]
NOISE = re.compile(r"Setting accelerator|DeepSpeed|deepspeed|real_accelerator|\[WARNING\]")


def run(python: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([python, "-m", "verilog_env.cli", *args], check=False, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("python", INTERPRETERS, ids=lambda p: Path(p).parent.parent.name)
def test_demo_prints_only_its_own_lines(python, tmp_path):
    done = run(python, ["train", "demo", "--quick", "--no-progress", "--out", str(tmp_path / "demo")], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not NOISE.search(done.stdout + done.stderr), done.stdout + done.stderr
    assert done.stderr == ""  # --no-progress: no bar of ours, none of transformers'
    assert done.stdout.splitlines()[-1].startswith("held-out pass@1")


@pytest.mark.parametrize("python", INTERPRETERS, ids=lambda p: Path(p).parent.parent.name)
def test_sft_run_prints_only_its_summary(python, tmp_path):
    """`verilog-env train sft` loading a model folder, with activation checkpointing, saving a
    checkpoint and the final model: stdout is the JSON summary, stderr empty (progress off)."""
    from trainers.common import save_pretrained
    from trainers.demo import build_tokenizer, teacher_records, tiny_model
    from trainers.sft import sft_messages

    records = teacher_records(8, 0.0, seed=0)[0]
    tokenizer = build_tokenizer([m["content"] for r in records for m in sft_messages(r)], 300)
    model = tiny_model(tokenizer, hidden=16, layers=1, heads=2, intermediate=32, seed=0)
    save_pretrained(tmp_path / "model", model, tokenizer)
    (tmp_path / "records.jsonl").write_text(
        "".join(json.dumps({"spec": r.spec, "reasoning": r.reasoning, "code": r.code}) + "\n" for r in records))
    (tmp_path / "sft.yaml").write_text(
        "model: model\ndata: records.jsonl\noutput_dir: out\nmax_steps: 2\nsave_every: 1\ngrad_accum: 1\n"
        "max_length: 1024\ngradient_checkpointing: true\ndevice: cpu\nprogress: false\ntensorboard: false\n")
    done = run(python, ["train", "sft", "--config", "sft.yaml"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "", done.stderr
    assert json.loads(done.stdout)["steps"] == 2  # nothing but the summary on stdout
    assert (tmp_path / "out" / "checkpoint-1").is_dir() and (tmp_path / "out" / "final").is_dir()
