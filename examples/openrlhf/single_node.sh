#!/usr/bin/env bash
# Qwen2.5-Coder-7B-Instruct -> SFT -> adaptive DAPO on ONE node with 8 x H100 80 GB.
#
#   pip install -e '.[openrlhf]'          # OpenRLHF 0.11.2 + vLLM 0.29.0 + DeepSpeed + flash-attn
#   bash scripts/ensure_iverilog.sh        # the reward runs Icarus Verilog in the rollout actors
#   bash examples/openrlhf/prepare_data.sh
#   bash examples/openrlhf/single_node.sh  # STAGE=sft or STAGE=dapo to run one stage
#
# GPU layout
#   SFT   8 DeepSpeed ranks (deepspeed launcher), ZeRO-3: the fp32 weights, gradients and
#         Adam moments of 7.6B parameters (~122 GB) are sharded 8 ways (~15 GB a GPU), the
#         rest of the 80 GB is for 16K-token packed sequences (gradient checkpointing).
#   DAPO  everything colocated on the same 8 GPUs ("hybrid engine"), taking turns:
#           GPU 0..7  vLLM engine i (TP 1, bf16 weights ~15 GB, KV cache in
#                     --vllm.gpu_memory_utilization of the card) -> generation phase
#           GPU 0..7  DeepSpeed actor rank i (ZeRO-3)              -> training phase
#         vLLM sleeps (weights and KV cache offloaded) while DeepSpeed trains, DeepSpeed
#         offloads while vLLM generates. No reference model (CodeV-R1 uses no KL term:
#         --algo.kl.init_coef 0), no critic (group-normalised advantages), no reward model
#         (the reward file runs the equivalence checker on the rollout actors' CPUs).
#         Generation of 16K-token reasoning dominates a step, so all 8 GPUs generate.
#         Alternative without colocation: --vllm.num_engines 4 --actor.num_gpus_per_node 4
#         (GPUs 0-3 actor, 4-7 vLLM), simpler but half the generation throughput.
#
# Adaptive DAPO (trainers/openrlhf/samples_generator.py) replaces OpenRLHF's dynamic
# filtering: one generation round per step is usually enough (rounds are sized from the
# survival estimate; surviving groups beyond the batch are kept for the next step).
set -euo pipefail

MODEL=${MODEL:-Qwen/Qwen2.5-Coder-7B-Instruct}
DATA=${DATA:-data/openrlhf}
CKPT=${CKPT:-ckpt}
STAGE=${STAGE:-all}
GPUS=${GPUS:-8}

if [ "$STAGE" = all ] || [ "$STAGE" = sft ]; then
    # CodeV-R1's SFT settings are the launcher's defaults (python -m trainers.openrlhf.train_sft --verilog.dry_run)
    deepspeed --num_gpus "$GPUS" --module trainers.openrlhf.train_sft \
        --model.model_name_or_path "$MODEL" \
        --data.dataset "$DATA/sft.jsonl" \
        --ckpt.output_dir "$CKPT/qwen7b-sft" \
        --ckpt.path "$CKPT/qwen7b-sft/ds" \
        --logger.tensorboard_dir "$CKPT/logs/sft"
fi

if [ "$STAGE" = all ] || [ "$STAGE" = dapo ]; then
    # Reward settings reach the rollout actors through the environment (Ray workers of a
    # local cluster inherit it); see trainers/openrlhf/scoring.py for all of them. The
    # checker's own settings are the launcher's --check.* flags (e.g. --check.method both
    # --check.seed random), which it exports as VERILOG_REWARD_* to every Ray worker.
    export VERILOG_REWARD_DEADLINE=${VERILOG_REWARD_DEADLINE:-120}
    # CodeV-R1's DAPO settings are the launcher's defaults (python -m trainers.openrlhf.train_dapo --verilog.dry_run)
    python -m trainers.openrlhf.train_dapo \
        --adaptive.estimator beta --adaptive.floor 0.1 \
        --actor.model_name_or_path "$CKPT/qwen7b-sft" \
        --data.prompt_dataset "$DATA/rl.jsonl" \
        --actor.num_nodes 1 --actor.num_gpus_per_node "$GPUS" \
        --vllm.num_engines "$GPUS" --vllm.tensor_parallel_size 1 \
        --train.colocate_all --vllm.enable_sleep --ds.enable_sleep --vllm.gpu_memory_utilization 0.6 \
        --ds.zero_stage 3 --ds.param_dtype bf16 --actor.gradient_checkpointing_enable \
        --ds.packing_samples --train.dynamic_batch_enable --train.max_tokens_per_gpu 20480 \
        --train.num_episodes 1 \
        --ckpt.output_dir "$CKPT/qwen7b-dapo" --ckpt.path "$CKPT/qwen7b-dapo/ds" --ckpt.save_steps 20 --ckpt.save_hf \
        --logger.tensorboard_dir "$CKPT/logs/dapo"
fi
