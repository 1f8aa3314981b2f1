#!/usr/bin/env bash
# Adaptive DAPO for Qwen2.5-Coder-7B-Instruct (after SFT) on a Ray cluster of 4 nodes x 8 x H100.
#
# On EVERY node (rollout actors run the reward, i.e. Icarus Verilog, wherever Ray puts them;
# the trainer actor imports trainers.openrlhf.samples_generator):
#   pip install -e '.[openrlhf]' && bash scripts/ensure_iverilog.sh
#   the SFT checkpoint and data/openrlhf/rl.jsonl at the same path (shared file system)
#
# Node 0 (head):     ROLE=head   bash examples/openrlhf/multi_node.sh
# Nodes 1..3:        ROLE=worker HEAD=<node0 address> bash examples/openrlhf/multi_node.sh
# Then on node 0:    ROLE=submit bash examples/openrlhf/multi_node.sh
#
# GPU layout (32 GPUs, nothing colocated: generation and training overlap no memory):
#   nodes 0-1  16 vLLM engines, tensor parallel 1 (a 7B model fits one H100 with room for
#              the KV cache of 16 x 16K-token samples per prompt); they generate and score
#   nodes 2-3  16 DeepSpeed ranks of the actor, ZeRO-3
#   no reference model (no KL term), no critic (group_norm), no reward model.
# Ray places the vLLM engines first (one placement group packing 16 GPUs) and the actor
# group next. With --train.colocate_all instead, all 32 GPUs take turns at both (set
# --vllm.num_engines 32 and --actor.num_nodes 4, plus the sleep flags of single_node.sh).
#
# The submitting command is the driver: the launcher patches OpenRLHF's SamplesGenerator
# there, and Ray ships the trainer actor class (with the patch) to the cluster by value.
set -euo pipefail

ROLE=${ROLE:?ROLE=head, worker or submit}
PORT=${PORT:-6379}
CKPT=${CKPT:-/shared/ckpt}
DATA=${DATA:-/shared/data/openrlhf}

case "$ROLE" in
head)
    ray start --head --port "$PORT" --num-gpus 8 --dashboard-host 0.0.0.0
    ;;
worker)
    ray start --address "${HEAD:?HEAD=<head node address>}:$PORT" --num-gpus 8
    ;;
submit)
    # Environment for every worker process: the reward settings (trainers/openrlhf/scoring.py).
    # The checker's settings are the launcher's --check.* flags (e.g. --check.method both
    # --check.seed random): it adds them as VERILOG_REWARD_* to the env_vars of its ray.init.
    ray job submit --address "http://127.0.0.1:8265" \
        --runtime-env-json '{"env_vars": {"VERILOG_REWARD_DEADLINE": "120", "TOKENIZERS_PARALLELISM": "false"}}' \
        -- python -m trainers.openrlhf.train_dapo \
        --adaptive.estimator beta \
        --actor.model_name_or_path "$CKPT/qwen7b-sft" \
        --data.prompt_dataset "$DATA/rl.jsonl" \
        --vllm.num_engines 16 --vllm.tensor_parallel_size 1 --vllm.gpu_memory_utilization 0.9 \
        --actor.num_nodes 2 --actor.num_gpus_per_node 8 \
        --ds.zero_stage 3 --ds.param_dtype bf16 --actor.gradient_checkpointing_enable \
        --ds.packing_samples --train.dynamic_batch_enable --train.max_tokens_per_gpu 20480 \
        --ckpt.output_dir "$CKPT/qwen7b-dapo" --ckpt.path "$CKPT/qwen7b-dapo/ds" --ckpt.save_steps 20 --ckpt.save_hf \
        --logger.tensorboard_dir "$CKPT/logs/dapo"
    ;;
*)
    echo "ROLE must be head, worker or submit" >&2
    exit 2
    ;;
esac
