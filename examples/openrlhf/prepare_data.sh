#!/usr/bin/env bash
# Datasets for the OpenRLHF pipeline (Qwen2.5-Coder-7B-Instruct -> SFT -> adaptive DAPO).
#
#   SFT_RECORDS=runs/synth/example/sft.jsonl RL_PARQUET=codev_r1_rl.parquet \
#       bash examples/openrlhf/prepare_data.sh
#
# SFT_RECORDS  JSONL of {spec, reasoning, code} (round-trip synthesis output, or CodeV-R1's
#              distilled SFT data mapped to those keys); unset: the starter suite's goldens
#              (a smoke test, not a training set).
# RL_PARQUET   CodeV-R1's RL data (its goldens are pickles: unpickled as plain data only);
#              unset: the starter suite.
# SYSTEM_PROMPT_FILE  the system prompt for SFT, RL and evaluation alike (default: the
#              environment's own; for CodeV-R1's exact prompt, save it from the model card
#              into a file and name that file here).
# OUT          output folder (default data/openrlhf).
#
# RL rows carry the golden in their label (--label golden), so the reward function needs
# no suite on the rollout nodes.
set -euo pipefail
OUT=${OUT:-data/openrlhf}
prompt_args=()
[ -n "${SYSTEM_PROMPT_FILE:-}" ] && prompt_args=(--system-prompt-file "$SYSTEM_PROMPT_FILE")

if [ -n "${SFT_RECORDS:-}" ]; then
    python -m trainers.openrlhf.data sft --records "$SFT_RECORDS" --check --out "$OUT/sft.jsonl" "${prompt_args[@]}"
else
    python -m trainers.openrlhf.data sft --suite starter --check --out "$OUT/sft.jsonl" "${prompt_args[@]}"
fi

if [ -n "${RL_PARQUET:-}" ]; then
    python -m trainers.openrlhf.data rl --suite codev-r1 --suite-path "$RL_PARQUET" --allow-pickle \
        --label golden --out "$OUT/rl.jsonl" "${prompt_args[@]}"
else
    python -m trainers.openrlhf.data rl --suite starter --label golden --out "$OUT/rl.jsonl" "${prompt_args[@]}"
fi
