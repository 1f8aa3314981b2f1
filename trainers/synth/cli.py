"""``verilog-env synth ...``: run the round-trip data synthesis pipeline.

Registered into the ``verilog-env`` command line through the entry-point group
``verilog_env.commands`` (``synth = trainers.synth.cli:register`` in setup.cfg), so
``verilog_env`` never imports this package.

    verilog-env synth run --config examples/configs/synth_example.yaml [--set describe.model=NAME]
    verilog-env synth run --config FILE --dry-run     # intake, dedup, decontamination only
    verilog-env synth config                          # every config key, its default and meaning
"""

from __future__ import annotations

import argparse
import json
import sys

from verilog_env.extras import require_extra

SYNTH_PACKAGES = ("yaml", "pyarrow", "datasketch", "httpx")
"""What a run imports: its config (yaml), datasets (Parquet), near-duplicate removal
(MinHash) and the LLM client. All are in the ``synth`` extra; some are in others too
(``yaml`` in ``train``, ``httpx`` in ``bench``), whose names the code shared with those
commands would give, so a run checks them first, under its own extra's name."""


def _error(message: str) -> int:
    print(f"verilog-env synth: {message}", file=sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    for module in SYNTH_PACKAGES:
        require_extra(module, "synth", "synth run")
    from trainers.config import ConfigError

    from .config import load_synth_config
    from .intake import IntakeError
    from .llm import SynthInterrupted
    from .pipeline import run_pipeline
    from .report import summary_lines

    try:
        config = load_synth_config(args.config, args.set or [])
    except ConfigError as error:
        return _error(str(error))
    if args.no_progress:
        config.progress = False
    try:
        result = run_pipeline(config, dry_run=args.dry_run)
    except (ConfigError, IntakeError, ValueError) as error:
        return _error(" ".join(str(error).split()))
    except SynthInterrupted as error:
        print(f"verilog-env synth: stopped: {error}", file=sys.stderr)
        return 1
    print(f"synth: done in {result.seconds:.1f} s")
    for line in summary_lines(result):
        print(line)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from trainers.config import describe_fields

    from .config import SECTIONS, CorpusSource, SynthConfig

    def show(cls, prefix: str = "") -> None:
        for name, kind, default, doc in describe_fields(cls):
            if name in SECTIONS and cls is SynthConfig:
                continue
            value = json.dumps(default) if default != "{...}" else "{...}"
            print(f"{prefix}{name}: {value}  # {kind}. {doc}".rstrip())

    print("# top level")
    show(SynthConfig)
    print("\n# corpus: a list of entries (a bare path, or these keys)")
    show(CorpusSource, "  ")
    for section, cls in SECTIONS.items():
        print(f"\n{section}:")
        show(cls, "  ")
    return 0


def register(subparsers) -> None:
    """Add ``synth`` to the ``verilog-env`` command line (entry point ``verilog_env.commands``)."""
    synth = subparsers.add_parser(
        "synth",
        help="make SFT and RL datasets from a Verilog corpus (round-trip synthesis, CodeV-R1 style)",
        description="Split a Verilog corpus into modules, have an LLM describe each, have a reasoning LLM "
        "regenerate the code from the description, keep pairs the equivalence checker proves equivalent, "
        "decontaminate against the benchmarks, and write SFT and RL datasets with a report. "
        "Runs resume where they stopped: rerun the same command.",
    )
    sub = synth.add_subparsers(dest="synth_command", required=True)
    p = sub.add_parser("run", help="run (or resume) the pipeline from a YAML config")
    p.add_argument("--config", required=True, metavar="FILE", help="YAML config (see examples/configs/synth_example.yaml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value; dotted keys reach into sections (describe.model=NAME); repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="stop before the first LLM request: corpus, intake, dedup and code decontamination counts only")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("config", help="list every config key with its default and meaning")
    p.set_defaults(func=cmd_config)
