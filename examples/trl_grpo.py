"""GRPO with TRL on a verilog-env suite: the reward is functional equivalence.

    pip install -e '.[train]' trl
    python examples/trl_grpo.py --model Qwen/Qwen2.5-Coder-1.5B-Instruct --out runs/trl_grpo
    python examples/trl_grpo.py --tiny --steps 2     # a from-scratch model, CPU, no download

The dataset is ``verilog-env export SUITE --format trl`` in memory: a conversational
``prompt`` column and a ``label`` column, which TRL passes to
:func:`verilog_env.integrations.trl.verilog_reward` by name. ``--tiny`` builds a
small untrained model (it earns reward 0; it shows the wiring, not learning).
"""

from __future__ import annotations

import argparse
import tempfile


def tiny_model_and_tokenizer(suite):
    """A from-scratch tokenizer and two-layer model (the demo's builders)."""
    from trainers.demo import build_tokenizer, tiny_model

    texts = [problem.spec + "\n" + problem.golden for problem in suite]
    tokenizer = build_tokenizer(texts, vocab_size=800)
    model = tiny_model(tokenizer, hidden=64, layers=2, heads=4, intermediate=128, seed=0)
    return model, tokenizer


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Hugging Face model name or folder")
    parser.add_argument("--tiny", action="store_true", help="a small from-scratch model instead (CPU, seconds)")
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

    suite = load_suite(args.suite)
    dataset = Dataset.from_list(rows(suite, "trl"))  # columns: prompt (messages), label
    model, tokenizer = tiny_model_and_tokenizer(suite) if args.tiny else (args.model, None)
    config = GRPOConfig(
        output_dir=args.out or tempfile.mkdtemp(prefix="trl_grpo_"),
        max_steps=args.steps,
        per_device_train_batch_size=args.generations,
        num_generations=args.generations,
        max_completion_length=32 if args.tiny else args.max_completion_length,
        learning_rate=1e-6,
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
