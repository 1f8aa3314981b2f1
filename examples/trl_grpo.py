"""GRPO with TRL on a verilog-env suite: the reward is functional equivalence.

    pip install -e '.[train,trl]'
    python examples/trl_grpo.py --model Qwen/Qwen2.5-Coder-1.5B-Instruct --out runs/trl_grpo
    python examples/trl_grpo.py --tiny --steps 2     # CPU, no download

The dataset is ``verilog-env export SUITE --format trl`` in memory: a conversational
``prompt`` column and a ``label`` column, which TRL passes to
:func:`verilog_env.integrations.trl.verilog_reward` by name.

``--tiny`` starts where ``verilog-env train demo --quick`` does: a from-scratch two-layer
model taught by a short SFT warm-up on the demo's curriculum (small counters, adders, muxes;
the labels carry the goldens), so that it writes some correct answers and GRPO gets
rewards that are not all 0. An untrained model would earn 0 on every answer, and a reward
that is always 0 teaches nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def tiny_start(out: Path):
    """(model, tokenizer, training suite, system prompt) after the demo's SFT warm-up."""
    from trainers.demo import SYSTEM_PROMPT, DemoConfig, warm_start
    from verilog_env.suites import Suite

    start = warm_start(DemoConfig.quick(progress=False), out, say=lambda line: print(line, flush=True))
    return start.model, start.tokenizer, Suite("demo-curriculum", start.train_problems), SYSTEM_PROMPT


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Hugging Face model name or folder")
    parser.add_argument("--tiny", action="store_true",
                        help="a small from-scratch model after a short SFT warm-up instead (CPU, no download)")
    parser.add_argument("--suite", default="starter")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-completion-length", type=int, default=2048)
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if not (args.model or args.tiny):
        parser.error("give --model NAME or --tiny")

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from verilog_env import load_suite
    from verilog_env.export import rows
    from verilog_env.integrations.trl import verilog_reward

    out = Path(args.out or tempfile.mkdtemp(prefix="trl_grpo_"))
    if args.tiny:
        model, tokenizer, suite, system_prompt = tiny_start(out / "warm_start")
        dataset = Dataset.from_list(rows(suite, "trl", label="golden", system_prompt=system_prompt))
    else:
        model, tokenizer = args.model, None
        dataset = Dataset.from_list(rows(load_suite(args.suite), "trl"))  # columns: prompt (messages), label
    config = GRPOConfig(
        output_dir=str(out),
        max_steps=args.steps,
        per_device_train_batch_size=args.generations * (4 if args.tiny else 1),  # tiny: 4 prompts a step
        num_generations=args.generations,
        max_completion_length=128 if args.tiny else args.max_completion_length,
        learning_rate=2e-4 if args.tiny else 1e-6,  # the demo's RL rate for the tiny model
        beta=0.0,  # no KL term, as CodeV-R1
        epsilon=0.2,
        epsilon_high=0.28,  # DAPO's decoupled clip
        loss_type="dapo",
        temperature=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=False,
        use_cpu=args.tiny,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=[verilog_reward], args=config, train_dataset=dataset, processing_class=tokenizer
    )
    result = trainer.train()
    rewards = [row["reward"] for row in trainer.state.log_history if "reward" in row]
    print(f"{result.global_step} steps; mean reward per step: {rewards}")
    return {"steps": result.global_step, "rewards": rewards}


if __name__ == "__main__":
    main()
