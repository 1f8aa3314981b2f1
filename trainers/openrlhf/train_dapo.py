"""Adaptive DAPO with OpenRLHF: ``python -m trainers.openrlhf.train_dapo [options] [OpenRLHF flags]``.

Runs ``openrlhf.cli.train_ppo_ray`` in this process after

1. taking out this launcher's own flags (``--adaptive.*``, ``--check.*``, ``--verilog.*``, below);
2. adding CodeV-R1's DAPO settings for every flag the command line does not give
   (:data:`DAPO_DEFAULTS`: decoupled clip 0.2/0.28, dynamic filtering, group-normalised
   advantages, 16 samples x 128 prompts, mini-batch 64 prompts, lr 1e-6 constant (no
   warm-up, Adam betas 0.9/0.999), grad clip 0.5, no KL, overlong buffer 1024 with penalty 1.0, temperature 1.0, 16K responses), and the
   dataset keys of ``verilog-env export --format openrlhf``; with surplus groups kept,
   OpenRLHF's token-level truncated importance sampling (:data:`SURPLUS_IS_CORRECTION`);
   and, unless the command line
   names a reward (``--reward.remote_url``, ``--reward.model_name_or_path`` or
   ``--train.agent_func_path``), this package's reward file;
3. installing :class:`~trainers.openrlhf.samples_generator.AdaptiveSamplesGenerator`
   as the class OpenRLHF's trainers build (unless ``--adaptive.off``);
4. exporting the checker's settings, one :class:`verilog_env.CheckSettings`, as the
   ``VERILOG_REWARD_*`` variables (:meth:`~verilog_env.CheckSettings.to_env`) the reward
   file and agent read back (:meth:`~verilog_env.CheckSettings.from_env`): into this
   process's environment and into the ``env_vars`` of OpenRLHF's ``ray.init``, so every
   Ray worker gets them.

Own flags::

    --adaptive.off                  keep OpenRLHF's stock dynamic filtering
    --adaptive.estimator NAME       beta (default) | ema | running_min
    --adaptive.floor P              smallest survival estimate used to size a round (0.1)
    --adaptive.max_round_prompts N  largest round (4096)
    --adaptive.max_rounds N         rounds per step before a short batch (8)
    --adaptive.no_surplus           drop surviving groups beyond the batch
    --adaptive.max_surplus_age N    steps a kept group may wait (1)
    --adaptive.margin_z Z           round-size safety margin in binomial std (1.3)
    --adaptive.min_std S            keep a group iff std(scores) > S (1e-6)
    --adaptive.keep_check_timeouts  train groups with a timed-out check, scored 0 (default:
                                    leave them out like filtered groups; logged as
                                    adaptive_timeout_groups)
    --check.method M                sim (default) | formal | both: simulation, then a Yosys
                                    proof of what passes (Yosys needed on every node)
    --check.seed S                  stimulus seed, or random (a fresh seed per scoring call)
    --check.cycles N / --check.timeout S / --check.formal_budget S / --check.formal_fallback F
    --check.batch_size N / --check.isolate 0|1
                                    the other CheckSettings fields
    --check.config FILE             YAML/JSON of those settings (or a config with a check:
                                    section); the flags above override it, and it overrides
                                    VERILOG_REWARD_* variables already set
    --verilog.check_workers N       checker workers per rollout engine (VERILOG_ENV_WORKERS);
                                    default: this node's cores / the vLLM engines per node
                                    (--vllm.num_engines / --actor.num_nodes), so the engines
                                    of a node share its cores instead of each forking one
                                    worker per core (oversubscribed checks time out)
    --verilog.agent                 multi-turn: use trainers/openrlhf/agent.py as the agent
    --verilog.dry_run               print the OpenRLHF command line and exit

Everything else goes to OpenRLHF unchanged (later flags win, so any default can be
overridden by giving the flag). Example::

    python -m trainers.openrlhf.train_dapo \\
        --actor.model_name_or_path ckpt/qwen7b-sft --data.prompt_dataset data/rl.jsonl \\
        --vllm.num_engines 4 --actor.num_gpus_per_node 4 --ckpt.output_dir ckpt/dapo \\
        --check.method both --check.seed random
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from trainers.openrlhf import agent_path, reward_func_path
from trainers.openrlhf._launch import (
    Default,
    add_check_arguments,
    check_settings,
    exported,
    has_flag,
    run_module,
    with_defaults,
)
from verilog_env.workers import WORKERS_ENV

PROG = "train_dapo"

OPENRLHF_MODULE = "openrlhf.cli.train_ppo_ray"

DAPO_DEFAULTS: tuple[Default, ...] = (
    ("--algo.advantage.estimator", ("group_norm",)),
    ("--actor.eps_clip_low_high", ("0.2", "0.28")),
    ("--actor.loss_agg_mode", ("token-mean",)),
    ("--algo.dynamic_filtering_enable", ()),
    ("--reward.overlong_buffer_len", ("1024",)),
    ("--reward.overlong_penalty_factor", ("1.0",)),
    ("--rollout.n_samples_per_prompt", ("16",)),
    ("--rollout.batch_size", ("128",)),
    ("--train.batch_size", ("1024",)),  # mini-batch of 64 prompts x 16 samples
    ("--actor.adam.lr", ("1e-6",)),
    # CodeV-R1: constant LR, no warm-up, Adam betas (0.9, 0.999); OpenRLHF's defaults are
    # cosine_with_min_lr, 3 % warm-up, min-LR ratio 0.1, betas (0.9, 0.95). The critic's too
    # (only trained with --algo.advantage.estimator gae). transformers' "constant" schedule
    # ignores the warm-up and min-LR ratio; the zero warm-up also covers a user-given schedule.
    ("--actor.lr_scheduler", ("constant",)),
    ("--actor.lr_warmup_ratio", ("0",)),
    ("--actor.adam.betas", ("0.9", "0.999")),
    ("--critic.lr_scheduler", ("constant",)),
    ("--critic.lr_warmup_ratio", ("0",)),
    ("--critic.adam.betas", ("0.9", "0.999")),
    ("--actor.max_norm", ("0.5",)),
    ("--algo.kl.init_coef", ("0",)),  # no KL term, hence no reference model
    ("--rollout.temperature", ("1.0",)),
    ("--rollout.max_new_tokens", ("16384",)),
    ("--data.max_len", ("18432",)),  # 16K response + prompt
    ("--data.input_key", ("input",)),
    ("--data.label_key", ("label",)),
    ("--data.apply_chat_template", ()),
)
"""CodeV-R1's DAPO settings (and the dataset keys of our exporter), as OpenRLHF 0.11.2 flags."""

SURPLUS_IS_CORRECTION: tuple[Default, ...] = (
    ("--algo.advantage.is_correction_level", ("token",)),
    ("--algo.advantage.is_correction_mode", ("clip",)),
)
"""With surplus groups kept (the adaptive default), OpenRLHF's truncated importance
sampling: a surplus group was sampled by the policy of an earlier step, and OpenRLHF
recomputes its old log-probs with the current one, so without a correction its ratio
starts at 1. Token-level TIS weights each token by pi_old / pi_rollout (vLLM's log-probs
at generation), clipped to OpenRLHF's ``--algo.advantage.is_correction_threshold``
(0.5, 5). Not added when a user gives ``--algo.advantage.is_correction_level`` or drops
the surplus (``--adaptive.no_surplus``: fully on-policy, as CodeV-R1)."""

REWARD_FLAGS = ("--reward.remote_url", "--reward.model_name_or_path", "--train.agent_func_path")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainers.openrlhf.train_dapo",
        description="Adaptive DAPO with OpenRLHF (other flags go to openrlhf.cli.train_ppo_ray).",
        allow_abbrev=False,
        add_help=False,
    )
    p.add_argument("--verilog.help", dest="help", action="store_true", help="show this launcher's flags")
    a = p.add_argument_group("adaptive DAPO")
    a.add_argument("--adaptive.off", dest="off", action="store_true")
    a.add_argument("--adaptive.estimator", dest="estimator", default="beta", choices=("beta", "ema", "running_min"))
    a.add_argument("--adaptive.floor", dest="floor", type=float, default=0.1)
    a.add_argument("--adaptive.max_round_prompts", dest="max_round_prompts", type=int, default=4096)
    a.add_argument("--adaptive.max_rounds", dest="max_rounds", type=int, default=8)
    a.add_argument("--adaptive.no_surplus", dest="no_surplus", action="store_true")
    a.add_argument("--adaptive.max_surplus_age", dest="max_surplus_age", type=int, default=1)
    a.add_argument("--adaptive.margin_z", dest="margin_z", type=float, default=1.3)
    a.add_argument("--adaptive.min_std", dest="min_std", type=float, default=1e-6)
    a.add_argument("--adaptive.keep_check_timeouts", dest="keep_check_timeouts", action="store_true")
    add_check_arguments(p)
    v = p.add_argument_group("verilog-env")
    v.add_argument("--verilog.check_workers", dest="check_workers", type=int, default=None)
    v.add_argument("--verilog.agent", dest="agent", action="store_true")
    v.add_argument("--verilog.dry_run", dest="dry_run", action="store_true")
    return p


def parse(argv: Sequence[str]):
    """``(our namespace, options, OpenRLHF argv with defaults)``; ``options`` is an
    :class:`~trainers.openrlhf.samples_generator.AdaptiveOptions`-shaped dict, or
    ``None`` with ``--adaptive.off``; ``ns.check`` is the checker's
    :class:`~verilog_env.CheckSettings` (see :func:`~trainers.openrlhf._launch.check_settings`)."""
    ns, rest = build_parser().parse_known_args(list(argv))
    bad = [arg for arg in rest if arg.startswith(("--adaptive.", "--verilog.", "--check."))]
    if bad:
        raise SystemExit(f"{PROG}: unknown launcher flag(s) {bad}; see --verilog.help")
    ns.check = check_settings(ns, os.environ, PROG)
    if ns.agent:
        if has_flag(rest, "--train.agent_func_path"):
            raise SystemExit(f"{PROG}: --verilog.agent and --train.agent_func_path both name an agent")
        rest = ["--train.agent_func_path", agent_path(), *rest]
    defaults = list(DAPO_DEFAULTS)
    if not any(has_flag(rest, flag) for flag in REWARD_FLAGS):
        defaults.append(("--reward.remote_url", (reward_func_path(),)))
    options = None
    if not ns.off and not ns.no_surplus and not has_flag(rest, "--algo.advantage.is_correction_level"):
        defaults += SURPLUS_IS_CORRECTION
    if not ns.off:
        options = {
            "estimator": ns.estimator,
            "floor": ns.floor,
            "max_round_prompts": ns.max_round_prompts,
            "max_rounds": ns.max_rounds,
            "keep_surplus": not ns.no_surplus,
            "max_surplus_age": ns.max_surplus_age,
            "margin_z": ns.margin_z,
            "min_std": ns.min_std,
            "exclude_check_timeouts": not ns.keep_check_timeouts,
        }
    return ns, options, with_defaults(rest, defaults)


def flag_value(argv: Sequence[str], flag: str, default: int) -> int:
    """The last integer value of ``flag`` in ``argv`` (``--flag N`` or ``--flag=N``)."""
    value = default
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = int(argv[i + 1])
        elif arg.startswith(flag + "="):
            value = int(arg.split("=", 1)[1])
    return value


def check_workers(ns: argparse.Namespace, openrlhf_argv: Sequence[str]) -> int:
    """Checker workers per rollout engine: ``--verilog.check_workers``, else this node's
    cores shared by the vLLM engines on a node (OpenRLHF scores inside each engine)."""
    if ns.check_workers is not None:
        if ns.check_workers < 1:
            raise SystemExit(f"{PROG}: --verilog.check_workers must be at least 1")
        return ns.check_workers
    engines = max(1, flag_value(openrlhf_argv, "--vllm.num_engines", 1))
    nodes = max(1, flag_value(openrlhf_argv, "--actor.num_nodes", 1))
    per_node = -(-engines // nodes)
    return max(1, (os.cpu_count() or 1) // per_node)


def main(argv: Sequence[str] | None = None) -> None:
    ns, options, openrlhf_argv = parse(sys.argv[1:] if argv is None else argv)
    if ns.help:
        build_parser().print_help()
        return
    variables = {**ns.check.to_env(), WORKERS_ENV: str(check_workers(ns, openrlhf_argv))}
    if ns.dry_run:
        adaptive = "stock dynamic filtering" if options is None else f"adaptive DAPO {options}"
        env = " ".join(f"{key}={shlex.quote(value)}" for key, value in variables.items())
        print(f"# {adaptive}\n# checker: {ns.check} (exported to every Ray worker)\n"
              f"{env} python -m {OPENRLHF_MODULE} {shlex.join(openrlhf_argv)}")
        return
    if options is not None:
        from trainers.openrlhf.samples_generator import AdaptiveOptions, install

        install(AdaptiveOptions(**options))
    with exported(variables):
        run_module(OPENRLHF_MODULE, openrlhf_argv)


if __name__ == "__main__":
    main()
