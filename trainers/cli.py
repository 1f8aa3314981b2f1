"""``verilog-env train ...``: the trainers' subcommands, added to the ``verilog-env`` CLI
through the entry-point group ``verilog_env.commands`` (so ``verilog_env`` never imports
this layer)::

    verilog-env train sft  --config FILE.yaml [--set KEY=VALUE ...]
    verilog-env train dapo --config FILE.yaml [--set KEY=VALUE ...] [--set check.method=both ...]
    verilog-env train demo [--seed N] [--out DIR] [--quick] [--device auto|cpu|cuda]
    verilog-env train config sft|dapo|demo      # every key, its default and what it means

Nothing heavy (torch, transformers) is imported until a subcommand runs; a subcommand
whose packages are missing stops first with the one line that names the ``train`` extra
(:func:`verilog_env.extras.require_extra`). The demo's own arguments live with it
(:func:`trainers.demo.add_demo_arguments`); the demo never imports this module.
"""

from __future__ import annotations

import argparse
import json
import sys

from verilog_env.extras import require_extra

from .demo import add_demo_arguments

TRAIN_PACKAGES = ("torch", "transformers", "yaml")
"""What the trainers import (``yaml``: their configs, read and saved): the ``train`` extra."""


def register(subparsers) -> None:
    """Add ``train`` (with ``sft``, ``dapo``, ``demo`` and ``config``) to the ``verilog-env`` subparsers."""
    train = subparsers.add_parser(
        "train", help="SFT warm-up, DAPO and the end-to-end demo (needs the 'train' extra)",
        description="Train models with the verilog-env reward: SFT distillation, then adaptive DAPO.",
    )
    sub = train.add_subparsers(dest="train_command", required=True)
    for name, what in (("sft", "SFT warm-up on (spec, reasoning, code) records"),
                       ("dapo", "adaptive DAPO against the simulation reward")):
        p = sub.add_parser(name, help=what, description=f"{what}. Keys: `verilog-env train config {name}`, "
                           f"trainers/{'sft' if name == 'sft' else 'dapo/trainer'}.py or examples/configs/.")
        p.add_argument("--config", required=True, metavar="FILE.yaml", help="YAML config (keys of the config dataclass)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override one key (repeatable), e.g. --set lr=1e-5; dotted keys reach into a "
                       "section: --set check.method=both")
        p.set_defaults(func=_cmd_sft if name == "sft" else _cmd_dapo)
    keys = sub.add_parser("config", help="list every key of a trainer's config with its default and meaning",
                          description="Every key of a trainer's YAML config (sections indented), its default, "
                          "type and meaning.")
    keys.add_argument("trainer", choices=("sft", "dapo", "demo"))
    keys.set_defaults(func=_cmd_config)
    demo = sub.add_parser("demo", help="SFT then adaptive DAPO on a tiny model built from scratch (no downloads)",
                          description="Build a tokenizer and tiny model from scratch, SFT them on imperfect teacher "
                          "data for generated Verilog tasks, then run adaptive DAPO with simulation rewards; writes "
                          "report.md, report.png and metrics.")
    add_demo_arguments(demo)
    demo.set_defaults(func=_cmd_demo)


def _fail(message: str) -> int:
    print(f"verilog-env train: {message}", file=sys.stderr)
    return 2


def _require_train(command: str) -> None:
    for module in TRAIN_PACKAGES:
        require_extra(module, "train", f"train {command}")


def _run(kind: str, args: argparse.Namespace) -> int:
    _require_train(kind)
    from .config import ConfigError, load_config

    if kind == "sft":
        from .sft import SFTConfig as Config
        from .sft import main_config
    else:
        from .dapo.trainer import DAPOConfig as Config
        from .dapo.trainer import main_config
    try:
        config = load_config(Config, args.config, args.overrides)
        summary = main_config(config)
    except ConfigError as error:
        return _fail(str(error))
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_sft(args: argparse.Namespace) -> int:
    return _run("sft", args)


def _cmd_dapo(args: argparse.Namespace) -> int:
    return _run("dapo", args)


def _cmd_config(args: argparse.Namespace) -> int:
    from .config import print_keys

    if args.trainer == "sft":
        require_extra("torch", "train", "train config sft")  # trainers.sft imports it
        from .sft import SFTConfig as Config
    elif args.trainer == "dapo":
        require_extra("torch", "train", "train config dapo")
        from .dapo.trainer import DAPOConfig as Config
    else:
        from .demo import DemoConfig as Config
    print_keys(Config)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    _require_train("demo")
    from .demo import run_from_args

    return run_from_args(args)
