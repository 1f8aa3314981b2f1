#!/bin/bash
# Checks the bundled trainer's CUDA path (bf16 autocast, HF generate rollouts, real simulation
# rewards) and writes a JSON report with tokens/second and peak GPU memory:
#   - the demo at its defaults (2 layers x 128, ~0.44M parameters), then
#   - the largest tiny config (8 layers x 512, ~26M parameters; 64 prompts x 16 rollouts a step),
#   - the YAML-config path: `verilog-env train dapo --config examples/configs/dapo_tiny.yaml` on CUDA.
# Usage (on a machine with one CUDA GPU and Icarus Verilog):
#   bash scripts/trainer_cuda_report.sh [REPORT.json]      # default reports/trainer_cuda.json
set -euo pipefail
report=${1:-reports/trainer_cuda.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONUNBUFFERED=1

python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"

python3 -m trainers.demo --device cuda --seed 0 --out "$work/demo" --no-progress
python3 -m trainers.demo --device cuda --seed 0 --out "$work/large" --no-progress \
  --set hidden=512 --set layers=8 --set heads=8 --set intermediate=1408 --set sft_lr=1e-3 --set sft_epochs=6 \
  --set prompts_per_step=64 --set samples_per_prompt=16 --set mini_batch_size=32 --set rl_lr=5e-5 \
  --set rl_steps=12 --set eval_every=6 --set eval_samples=16
verilog-env train dapo --config examples/configs/dapo_tiny.yaml \
  --set model="$work/demo/dapo/checkpoint-40" --set train_suite="$work/demo/train_problems.jsonl" \
  --set eval_suite="$work/demo/heldout_problems.jsonl" --set output_dir="$work/yaml" \
  --set steps=4 --set eval_every=4 --set save_every=4 --set device=cuda --set progress=false

python3 - "$work" "$report" <<'PY'
import json, platform, sys
from pathlib import Path
import torch, transformers

work, report = Path(sys.argv[1]), Path(sys.argv[2])
runs = {}
for name in ("demo", "large"):
    s = json.loads((work / name / "summary.json").read_text())
    runs[name] = {
        "parameters": s["parameters"],
        "settings": {k: s["settings"][k] for k in ("hidden", "layers", "heads", "intermediate", "rl_steps",
                                                    "prompts_per_step", "samples_per_prompt", "max_response_length")},
        "rl_generated_tokens_per_s": round(s["rl"]["tokens_per_s"], 1),
        "rl_seconds": round(s["rl"]["seconds"], 1),
        "sft_seconds": round(s["sft"]["seconds"], 1),
        "wall_seconds": round(s["wall_seconds"], 1),
        "peak_memory_gib": s.get("peak_memory_gib"),
        "heldout_pass@1": s["heldout_pass@1"],
    }
rows = [json.loads(line) for line in (work / "yaml" / "metrics.jsonl").read_text().splitlines() if line.strip()]
train_rows = [r for r in rows if "groups_trained" in r]
runs["yaml_config"] = {
    "command": "verilog-env train dapo --config examples/configs/dapo_tiny.yaml --set device=cuda ...",
    "steps": len(train_rows),
    "peak_memory_gib": max((r.get("peak_memory_gib") or 0.0) for r in train_rows),
    "tokens_per_s": [round(r["tokens_per_s"], 1) for r in train_rows if "tokens_per_s" in r],
}
out = {
    "benchmark": "trainer_cuda",
    "command": "bash scripts/trainer_cuda_report.sh",
    "device": torch.cuda.get_device_name(0),
    "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
    "dtype": "bf16 autocast (fp32 master weights)", "rollouts": "HF generate",
    "runs": runs,
}
report.parent.mkdir(parents=True, exist_ok=True)
report.write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps(out, indent=2))
PY
