"""The bundled DAPO trainer beside TRL's ``GRPOTrainer``, same model, prompts and batch.

Both run the DAPO loss (token-level, clip 0.2/0.28, no KL), HF ``generate`` rollouts and
the same reward (functional equivalence, :func:`verilog_env.integrations.trl.verilog_reward`
for TRL, the trainer's own checker call for ours), with one optimizer step per rollout
batch of ``--prompts`` x ``--samples`` answers and no dynamic sampling (TRL has none), so a
step is the same work in both. Each trainer runs in a process of its own (clean peak
memory, no shared CUDA caches), and the report compares per step:

* ``step_seconds``: wall time of a whole step (generate, score, update), median over the
  steps after the first (which pays for warm-up);
* ``generated_tokens_per_s``: answer tokens generated in a step / its wall time;
* ``peak_memory_gib``: ``torch.cuda.max_memory_allocated`` on a GPU, the process's peak
  RSS on a CPU.

    python -m perf.trainer_vs_trl --model Qwen/Qwen2.5-Coder-0.5B-Instruct --device cuda
    python -m perf.trainer_vs_trl --scratch qwen2.5-0.5b --device cuda   # no download
    python -m perf.trainer_vs_trl --tiny --device cpu --steps 2     # smoke run, seconds

``--scratch qwen2.5-0.5b`` is for machines that cannot reach the hub (the GPU report was
made on one): Qwen2.5-0.5B's architecture and vocabulary size (494M parameters, random
weights) with the demo's small tokenizer, whose ids are a subset of the vocabulary (ids it
lacks decode to nothing). Random weights rarely sample the end token, so nearly every
answer runs to ``--max-response-length`` and earns reward 0 in both trainers: a throughput
and memory comparison, not a learning one (both still run the full loss and update).

Writes ``reports/trainer_vs_trl.json`` (``--out``). The GPU figures of issue 15 need a CUDA
machine; ``--tiny`` on a CPU checks that the script and both trainers run, nothing more.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TRAINERS = ("ours", "trl")
TINY = {"hidden": 64, "layers": 2, "heads": 4, "intermediate": 128}
# Qwen2.5-0.5B's config.json (hub: Qwen/Qwen2.5-0.5B), weights left random.
QWEN25_05B = {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
              "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
              "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m perf.trainer_vs_trl", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="Hugging Face model name or folder (both trainers load it)")
    p.add_argument("--tiny", action="store_true", help="a from-scratch two-layer model instead (smoke run)")
    p.add_argument("--scratch", choices=("qwen2.5-0.5b",),
                   help="a from-scratch model of this architecture and the demo's tokenizer (no download)")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--suite", default="starter", help="prompts: a suite name or JSONL file")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--prompts", type=int, default=8, help="prompts per step")
    p.add_argument("--samples", type=int, default=8, help="answers per prompt (one group)")
    p.add_argument("--max-response-length", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/trainer_vs_trl.json")
    p.add_argument("--only", choices=TRAINERS, help=argparse.SUPPRESS)  # the child process's job
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if sum(map(bool, (args.model, args.tiny, args.scratch))) != 1:
        p.error("give one of --model NAME, --scratch ARCH or --tiny")
    return args


def model_and_tokenizer(args: argparse.Namespace, problems):
    """The same starting weights for both trainers: the named model, or a from-scratch one
    (the demo's tiny Llama, or ``--scratch``'s architecture) built with the same seed."""
    if args.tiny or args.scratch:
        from trainers.demo import build_tokenizer, tiny_model

        tokenizer = build_tokenizer([p.spec + "\n" + p.golden for p in problems], vocab_size=800)
        if args.tiny:
            return tiny_model(tokenizer, seed=args.seed, **TINY), tokenizer
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM

        config = Qwen2Config(**QWEN25_05B, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             bos_token_id=None)
        torch.manual_seed(args.seed)
        model = Qwen2ForCausalLM(config)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        return model, tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    return AutoModelForCausalLM.from_pretrained(args.model), tokenizer


def peak_memory_gib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_ours(args, model, tokenizer, problems, workdir: Path) -> list[dict[str, float]]:
    from trainers.dapo.trainer import DAPOConfig, train_dapo

    config = DAPOConfig(
        output_dir=str(workdir / "ours"), samples_per_prompt=args.samples, prompts_per_step=args.prompts,
        mini_batch_size=args.prompts, micro_batch_size=args.prompts * args.samples, lr=args.lr,
        clip_low=0.2, clip_high=0.28, kl_coef=0.0, temperature=1.0, max_response_length=args.max_response_length,
        overlong_buffer=0, dynamic_sampling="off", steps=args.steps, eval_every=0, eval_before_training=False,
        save_every=0, seed=args.seed, device=args.device, progress=False, tensorboard=False, backend="hf",
    )
    result = train_dapo(config, model=model, tokenizer=tokenizer, train_problems=problems)
    return [{"seconds": row["seconds"], "generated_tokens": row["generated_tokens"], "reward_mean": row["reward_mean"],
             "gen_seconds": row["gen_seconds"], "score_seconds": row["score_seconds"],
             "update_seconds": row["update_seconds"]} for row in result.history]


def run_trl(args, model, tokenizer, problems, workdir: Path) -> list[dict[str, float]]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from verilog_env.export import rows
    from verilog_env.integrations.trl import verilog_reward

    steps: list[dict[str, float]] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            steps.append({"seconds": time.perf_counter() - self.started})

    dataset = Dataset.from_list(rows(problems, "trl"))
    batch = args.prompts * args.samples
    config = GRPOConfig(
        output_dir=str(workdir / "trl"), max_steps=args.steps, per_device_train_batch_size=batch,
        num_generations=args.samples, steps_per_generation=1, num_iterations=1, gradient_accumulation_steps=1,
        max_completion_length=args.max_response_length, learning_rate=args.lr, lr_scheduler_type="constant",
        beta=0.0, epsilon=0.2, epsilon_high=0.28, loss_type="dapo", temperature=1.0, logging_steps=1,
        save_strategy="no", report_to="none", bf16=args.device == "cuda", use_cpu=args.device == "cpu",
        gradient_checkpointing=False,  # TRL's default is on; ours is off (DAPOConfig.gradient_checkpointing)
        seed=args.seed, disable_tqdm=True,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=[verilog_reward], args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[Timer()])
    trainer.train()
    logged = [row for row in trainer.state.log_history if "completions/mean_length" in row]
    for step, row in zip(steps, logged):
        step["generated_tokens"] = row["completions/mean_length"] * batch
        step["reward_mean"] = row["reward"]
    return steps


def child(args: argparse.Namespace) -> None:
    """One trainer, in this process; writes its per-step rows and peak memory to --result."""
    import torch

    from verilog_env import load_suite

    torch.manual_seed(args.seed)
    problems = list(load_suite(args.suite))
    model, tokenizer = model_and_tokenizer(args, problems)
    with tempfile.TemporaryDirectory(prefix="trainer_vs_trl_") as work:
        run = run_ours if args.only == "ours" else run_trl
        steps = run(args, model, tokenizer, problems, Path(work))
    Path(args.result).write_text(json.dumps({"steps": steps, "peak_memory_gib": peak_memory_gib(args.device)}))


def summarise(steps: list[dict[str, float]], peak: float) -> dict[str, Any]:
    timed = steps[1:] or steps  # the first step pays for warm-up (kernels, caches)
    return {
        "steps": len(steps),
        "step_seconds_median": round(statistics.median(s["seconds"] for s in timed), 3),
        "generated_tokens_per_s_median": round(statistics.median(s["generated_tokens"] / s["seconds"] for s in timed), 1),
        "generated_tokens_per_step_mean": round(statistics.mean(s["generated_tokens"] for s in steps), 1),
        "reward_mean": round(statistics.mean(s["reward_mean"] for s in steps), 4),
        "peak_memory_gib": round(peak, 3),
        "per_step": steps,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.only:
        child(args)
        return {}
    forwarded = ["--tiny"] if args.tiny else ["--scratch", args.scratch] if args.scratch else ["--model", args.model]
    for flag in ("device", "suite", "steps", "prompts", "samples", "max_response_length", "lr", "seed"):
        forwarded += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="trainer_vs_trl_") as work:
        for name in TRAINERS:
            result = Path(work) / f"{name}.json"
            run = subprocess.run([sys.executable, "-m", "perf.trainer_vs_trl", *forwarded, "--only", name,
                                  "--result", str(result)], check=False, cwd=Path(__file__).resolve().parents[1])
            if run.returncode != 0:
                raise SystemExit(f"trainer_vs_trl: the {name} run failed (exit {run.returncode}); its output is above")
            data = json.loads(result.read_text())
            results[name] = summarise(data["steps"], data["peak_memory_gib"])
            print(f"{name}: {results[name]['step_seconds_median']} s/step, "
                  f"{results[name]['generated_tokens_per_s_median']} generated tokens/s, "
                  f"peak {results[name]['peak_memory_gib']} GiB", flush=True)
    import torch
    import transformers
    import trl

    report = {
        "benchmark": "trainer_vs_trl",
        "command": "python -m perf.trainer_vs_trl " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or "cpu",
        "model": args.model or (f"from-scratch Qwen2 of Qwen2.5-0.5B's shape {QWEN25_05B}, the demo's tokenizer"
                                if args.scratch else f"tiny from-scratch Llama {TINY}"),
        "settings": {"prompts_per_step": args.prompts, "samples_per_prompt": args.samples, "steps": args.steps,
                     "max_response_length": args.max_response_length, "lr": args.lr, "seed": args.seed,
                     "loss": "dapo (token-level), clip 0.2/0.28, beta 0", "rollouts": "HF generate",
                     "dynamic_sampling": "off (TRL has none)"},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                     "python": platform.python_version()},
        "ours": results["ours"],
        "trl": results["trl"],
        "ours_over_trl_tokens_per_s": round(results["ours"]["generated_tokens_per_s_median"]
                                            / max(results["trl"]["generated_tokens_per_s_median"], 1e-9), 3),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
