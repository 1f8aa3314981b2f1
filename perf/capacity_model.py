"""Capacity model: how many CPU cores per GPU node does reward checking need?

Answers, for CodeV-R1's RL settings, "how many cores must check rewards so that checking
stays under 5% of a training step", from the per-core checking rate this project measured
and a public figure for vLLM generation throughput. A model, not a measurement: every
input is a flag, and the JSON report states each one with its source.

    python -m perf.capacity_model [--checks-per-core-per-s R | --speed-report reports/verifier_speed.json] \\
        [--prompts 128] [--samples 16] [--gpus-per-node 8] [--nodes 1] [--response-tokens 4096] \\
        [--gen-tokens-per-s-per-gpu 12500] [--training-ratio 0.5] [--target 0.05] \\
        [--simulated-fraction 1.0] [--out reports/capacity_model.json]

Inputs and defaults:

* per-core rate: ``throughput.first_pass.checks_per_second`` of ``reports/verifier_speed.json``
  (``python -m perf.verifier_speed``: every check submitted at once to fresh workers, so
  every golden is recorded first, as in an RL step whose prompts are new) divided by that
  machine's ``cpus`` (vCPUs); the conservative rate (later passes reuse records);
* CodeV-R1's step: 128 prompts x 16 rollouts, 16384 max response tokens
  (``trainers/openrlhf/train_dapo.py``); a 7B model (Qwen2.5-Coder-7B-Instruct); 8 GPUs a
  node. Mean response length 4096 tokens: an assumption (reasoning responses run to
  thousands of tokens; the max is 16384); ``--response-tokens`` changes it;
* generation throughput: 12,500 output tokens/s per GPU, the figure for Llama 3.1 8B
  (BF16) on one H100 80GB under vLLM in the compilation at :data:`GEN_SOURCE_URL`, the
  highest 7-8B figure there; the same page gives 3,363 tokens/s for
  DeepSeek-R1-Distill-Qwen-7B on one A100 80GB (the sensitivity table uses both). A
  higher throughput means a shorter step, a smaller check budget and more cores: the
  default errs towards more cores;
* step time = generation x (1 + ``--training-ratio``); the default 0.5 (training, i.e.
  log-probs, forward and backward, takes half as long as generation) is an assumption;
  a smaller ratio again means a shorter step and more cores;
* ``--simulated-fraction`` 1.0: every answer is checked (answers that fail format or
  extraction cost almost nothing; counting them as full checks errs towards more cores).

Checks are bursty: a step's rollouts finish over the generation phase, and the last ones
right at its end. The report gives cores for both bounds: all checks arriving at the end
of generation (each step waits for all of them: they must finish within the budget) and
checks arriving evenly during generation (they must finish by the end of generation plus
the budget).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

GEN_SOURCE_URL = "https://www.morphllm.com/vllm-benchmarks"
GEN_SOURCE = {
    "url": GEN_SOURCE_URL,
    "what": "vLLM throughput table, output tokens per second, compiled from third-party benchmarks (2025-2026)",
    "figures": {
        "Llama 3.1 8B (BF16), 1x H100 80GB, FlashInfer, 0.8 GPU memory": 12500,
        "DeepSeek-R1-Distill-Qwen-7B, 1x A100 80GB, default config": 3363,
    },
}
DEFAULT_GEN_TOKENS_PER_S = 12500.0
SLOWER_GEN_TOKENS_PER_S = 3363.0
CODEV_R1_SOURCE = "trainers/openrlhf/train_dapo.py: --rollout.batch_size 128, --rollout.n_samples_per_prompt 16, --rollout.max_new_tokens 16384"


# ----------------------------------------------------------------------------- the model


def cores_needed(checks: float, checks_per_core_per_s: float, seconds: float) -> int:
    """Fewest whole cores that finish ``checks`` in ``seconds`` at ``checks_per_core_per_s``
    each: ``ceil(checks / (rate * seconds))`` (0 for no checks)."""
    if checks_per_core_per_s <= 0 or seconds <= 0:
        raise ValueError(f"rate and seconds must be positive, got {checks_per_core_per_s!r} and {seconds!r}")
    if checks <= 0:
        return 0
    return math.ceil(checks / (checks_per_core_per_s * seconds) - 1e-9)


def generation_seconds(samples: int, response_tokens: float, tokens_per_s_per_gpu: float, gpus: int) -> float:
    """Time to generate a step's ``samples`` responses of ``response_tokens`` each on
    ``gpus`` GPUs at ``tokens_per_s_per_gpu`` output tokens/s each (perfectly balanced)."""
    return samples * response_tokens / (tokens_per_s_per_gpu * gpus)


def per_core_rate(speed_report: dict) -> float:
    """Checks per second per core in a ``perf.verifier_speed`` report (first pass: fresh
    workers, every golden recorded first)."""
    return speed_report["throughput"]["first_pass"]["checks_per_second"] / speed_report["machine"]["cpus"]


def service_per_core_rate(load_report: dict) -> float | None:
    """Scores per second per core of the HTTP service in a ``perf.reward_service_load``
    report (micro-batched, one sample per prompt: its slowest batched case), or None."""
    try:
        result = load_report["results"]["batched"]["samples_per_prompt=1"]
        return result["scores_per_second"] / load_report["machine"]["cpus"]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def plan(
    *,
    rate: float,
    prompts: int = 128,
    samples: int = 16,
    gpus_per_node: int = 8,
    nodes: int = 1,
    response_tokens: float = 4096,
    gen_tokens_per_s_per_gpu: float = DEFAULT_GEN_TOKENS_PER_S,
    training_ratio: float = 0.5,
    target: float = 0.05,
    simulated_fraction: float = 1.0,
) -> dict:
    """Step time, check budget and the cores needed (cluster and per node) for both
    arrival bounds."""
    rollouts = prompts * samples
    checks = rollouts * simulated_fraction
    gen_s = generation_seconds(rollouts, response_tokens, gen_tokens_per_s_per_gpu, gpus_per_node * nodes)
    step_s = gen_s * (1 + training_ratio)
    budget_s = target * step_s
    at_end = cores_needed(checks, rate, budget_s)
    overlap = cores_needed(checks, rate, gen_s + budget_s)
    return {
        "rollouts_per_step": rollouts,
        "checks_per_step": round(checks, 1),
        "generated_tokens_per_step": round(rollouts * response_tokens),
        "generation_seconds": round(gen_s, 2),
        "training_seconds": round(gen_s * training_ratio, 2),
        "step_seconds": round(step_s, 2),
        "check_budget_seconds": round(budget_s, 3),
        "cores": {
            "all_at_end_of_generation": {"cluster": at_end, "per_node": math.ceil(at_end / nodes)},
            "spread_over_generation": {"cluster": overlap, "per_node": math.ceil(overlap / nodes)},
        },
    }


def check_seconds(checks: float, rate: float, cores: int) -> float:
    """Wall time to check ``checks`` on ``cores`` cores (perfectly parallel)."""
    return checks / (rate * cores)


# ----------------------------------------------------------------------------- report


def _read_json(path: str) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks-per-core-per-s", type=float, default=None, metavar="R",
                        help="checks per second per core (default: from --speed-report)")
    parser.add_argument("--speed-report", default="reports/verifier_speed.json",
                        help="perf.verifier_speed report giving the per-core rate (default: %(default)s)")
    parser.add_argument("--service-report", default="reports/reward_service_load.json",
                        help="perf.reward_service_load report, for the HTTP service's rate (optional)")
    parser.add_argument("--prompts", type=int, default=128, help="prompts per step (default: 128)")
    parser.add_argument("--samples", type=int, default=16, help="rollouts per prompt (default: 16)")
    parser.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node (default: 8)")
    parser.add_argument("--nodes", type=int, default=1, help="GPU nodes (default: 1)")
    parser.add_argument("--response-tokens", type=float, default=4096,
                        help="mean response tokens per rollout (default: 4096; CodeV-R1's max is 16384)")
    parser.add_argument("--gen-tokens-per-s-per-gpu", type=float, default=DEFAULT_GEN_TOKENS_PER_S,
                        help=f"vLLM output tokens/s per GPU (default: 12500, see {GEN_SOURCE_URL})")
    parser.add_argument("--training-ratio", type=float, default=0.5,
                        help="training time per step / generation time (default: 0.5, an assumption)")
    parser.add_argument("--target", type=float, default=0.05, help="checking's share of step time (default: 0.05)")
    parser.add_argument("--simulated-fraction", type=float, default=1.0,
                        help="fraction of answers that reach simulation (default: 1.0)")
    parser.add_argument("--out", default="reports/capacity_model.json", help="JSON report path")
    args = parser.parse_args(argv)

    speed = _read_json(args.speed_report)
    if args.checks_per_core_per_s is not None:
        rate, rate_source = args.checks_per_core_per_s, "--checks-per-core-per-s"
    elif speed is not None:
        rate = per_core_rate(speed)
        first = speed["throughput"]["first_pass"]
        rate_source = (f"{args.speed_report}: throughput.first_pass {first['checks_per_second']} checks/s "
                       f"over {first['checks']} checks on {speed['machine']['cpus']} cpus")
    else:
        sys.exit(f"capacity_model: no --checks-per-core-per-s and no readable {args.speed_report}")
    if not (0 < args.simulated_fraction <= 1 and 0 < args.target < 1 and args.training_ratio >= 0):
        sys.exit("capacity_model: need 0 < --simulated-fraction <= 1, 0 < --target < 1, --training-ratio >= 0")

    step = {
        "prompts": args.prompts, "samples": args.samples, "gpus_per_node": args.gpus_per_node, "nodes": args.nodes,
        "training_ratio": args.training_ratio, "target": args.target, "simulated_fraction": args.simulated_fraction,
    }
    result = plan(rate=rate, response_tokens=args.response_tokens,
                  gen_tokens_per_s_per_gpu=args.gen_tokens_per_s_per_gpu, **step)
    checks = result["checks_per_step"]
    by_cores = [
        {
            "cores": c,
            "seconds_if_all_at_end": round(check_seconds(checks, rate, c), 2),
            "fraction_of_step": round(check_seconds(checks, rate, c) / result["step_seconds"], 4),
        }
        for c in (1, 2, 4, 8, 16, 32)
    ]
    sensitivity = [
        {
            "response_tokens": tokens,
            "gen_tokens_per_s_per_gpu": tps,
            **{k: plan(rate=rate, response_tokens=tokens, gen_tokens_per_s_per_gpu=tps, **step)[k]
               for k in ("step_seconds", "check_budget_seconds", "cores")},
        }
        for tokens in (1024, 4096, 16384)
        for tps in (DEFAULT_GEN_TOKENS_PER_S, SLOWER_GEN_TOKENS_PER_S)
    ]
    rates = {"checker": {"checks_per_core_per_s": round(rate, 2), "source": rate_source}}
    service_rate = service_per_core_rate(_read_json(args.service_report) or {})
    if service_rate is not None:
        rates["http_service"] = {
            "checks_per_core_per_s": round(service_rate, 2),
            "source": f"{args.service_report}: results.batched['samples_per_prompt=1'].scores_per_second / cpus "
                      "(load generator on the same machine; starter-suite mix)",
            "cores": plan(rate=service_rate, response_tokens=args.response_tokens,
                          gen_tokens_per_s_per_gpu=args.gen_tokens_per_s_per_gpu, **step)["cores"],
        }

    report = {
        "benchmark": "capacity_model",
        "question": f"CPU cores per GPU node for reward checking to stay under {args.target:.0%} of step time",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "note": "the model runs anywhere; the rate comes from the machine of its source report"},
        "inputs": {
            "checks_per_core_per_s": round(rate, 2),
            "prompts_per_step": args.prompts,
            "samples_per_prompt": args.samples,
            "gpus_per_node": args.gpus_per_node,
            "nodes": args.nodes,
            "response_tokens": args.response_tokens,
            "gen_tokens_per_s_per_gpu": args.gen_tokens_per_s_per_gpu,
            "training_ratio": args.training_ratio,
            "target_fraction": args.target,
            "simulated_fraction": args.simulated_fraction,
        },
        "sources": {"rates": rates, "generation_throughput": GEN_SOURCE, "codev_r1_settings": CODEV_R1_SOURCE},
        "assumptions": [
            "generation is spread evenly over all GPUs of all nodes at the cited per-GPU throughput",
            f"step time = generation x (1 + training_ratio); training_ratio {args.training_ratio} is assumed, not measured",
            "checks parallelise perfectly over cores at the measured per-core rate (vCPUs of the source machine)",
            "all_at_end_of_generation: every check arrives when generation ends and must finish within the budget",
            "spread_over_generation: checks arrive evenly during generation and must finish by its end plus the budget",
            "answers that never reach simulation are counted as full checks unless --simulated-fraction says otherwise",
            (
                "the rate is the mean over the source report's designs (benchmark references and their mutants); "
                "an answer that runs into the check timeout costs that timeout, which the mean does not show"
            ),
        ],
        "result": result,
        "check_time_by_cores": by_cores,
        "sensitivity": sensitivity,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    cores = result["cores"]
    print(
        f"{result['checks_per_step']:g} checks a step ({args.prompts} prompts x {args.samples}); generation "
        f"{result['generation_seconds']} s on {args.nodes} x {args.gpus_per_node} GPUs "
        f"({args.response_tokens:g} tokens each at {args.gen_tokens_per_s_per_gpu:g} tokens/s/GPU), "
        f"step {result['step_seconds']} s, budget {result['check_budget_seconds']} s ({args.target:.0%})"
    )
    print(
        f"at {rate:.1f} checks/s per core: {cores['all_at_end_of_generation']['per_node']} core(s) per node if all "
        f"checks arrive at the end of generation, {cores['spread_over_generation']['per_node']} if they arrive during it"
    )
    if service_rate is not None:
        sc = rates["http_service"]["cores"]
        print(f"through the HTTP service ({service_rate:.1f} scores/s per core): "
              f"{sc['all_at_end_of_generation']['per_node']} / {sc['spread_over_generation']['per_node']} core(s) per node")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
