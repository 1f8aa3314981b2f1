"""The ``verilog-env`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

from .checking import check_equivalence
from .equiv.diagnostics import shown_as
from .equiv.settings import (
    DEFAULT_CYCLES,
    DEFAULT_FORMAL_BUDGET,
    DEFAULT_TIMEOUT,
    FALLBACKS,
    METHODS,
    SIMULATOR_CHOICES,
    CheckSettings,
)
from .equiv.verdict import Verdict
from .extras import MissingExtra
from .formal.yosys import YosysNotFoundError
from .sim.icarus import SimulatorNotFoundError


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line."""


def _read(path: str, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} file not found: {path}")
    data = p.read_bytes()
    return data.decode("utf-8", "replace")


def _print_verdict(verdict: Verdict, *, as_json: bool) -> None:
    if as_json:
        print(verdict.to_json(indent=2))
        return
    print(verdict.summary())
    if verdict.counterexample is not None:
        print(verdict.counterexample.table())
    timings = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in verdict.timings.items())
    if timings:
        print(f"({timings})")


def cmd_check(args: argparse.Namespace) -> int:
    golden = _read(args.golden, "golden")
    candidate = _read(args.candidate, "candidate")
    verdict = check_equivalence(golden, candidate, checker_settings(args), top=args.top, candidate_top=args.candidate_top)
    verdict = shown_as(verdict, candidate=args.candidate, golden=args.golden)  # messages name the user's files
    _print_verdict(verdict, as_json=args.json)
    return 0 if verdict.equivalent else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Check the bundled example answers against the bundled reference, and explain."""
    demo = resources.files("verilog_env") / "data" / "demo"
    golden = (demo / "golden.v").read_text()
    print("Reference: verilog_env/data/demo/golden.v (saturating up/down counter)\n")
    examples = [
        ("correct.v", "equivalent rewrite (helper module, non-ANSI ports)"),
        ("wraps.v", "subtle bug: no saturation when counting down"),
        ("cheater.v", "prints a fake pass and peeks at the reference"),
        ("broken.v", "does not compile"),
        ("hangs.v", "zero-delay infinite loop"),
    ]
    for name, what in examples:
        start = time.perf_counter()
        verdict = check_equivalence(golden, (demo / name).read_text(), seed=args.seed, timeout=2.0)
        elapsed = (time.perf_counter() - start) * 1000
        print(f"== {name}: {what}")
        print(f"   verdict: {verdict.status.value}  ({elapsed:.0f} ms)")
        reason = verdict.reason.splitlines()[0] if verdict.reason else ""
        print(f"   reason : {reason[:160]}")
        if verdict.counterexample is not None:
            print("   " + verdict.counterexample.table(max_rows=4).replace("\n", "\n   "))
        print()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP reward service (see :mod:`verilog_env.server`)."""
    from .reward import RewardConfig
    from .server import ServerConfig, serve  # imports no FastAPI itself: serve() does
    from .suites import SuiteError

    try:
        config = ServerConfig(
            suites=args.suite or ["starter"],
            reward=RewardConfig(
                require_format=args.require_format,
                format_penalty=args.format_penalty,
                partial_credit=args.partial_credit,
                think_prefilled=args.think_prefilled,
            ),
            check=checker_settings(args),
            request_timeout=args.request_timeout,
            max_batch=args.max_batch,
            max_request_bytes=args.max_request_bytes,
            max_concurrency=args.max_concurrency,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        serve(config, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    except SuiteError as error:
        raise UsageError(str(error)) from None
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from .suites import list_suites

    for name, description in list_suites().items():
        print(f"{name:12s} {description}")
    return 0


def cmd_suite_check(args: argparse.Namespace) -> int:
    """Check every golden of a suite against itself (see :mod:`verilog_env.testing.suite_check`)."""
    from .suites import SuiteError
    from .testing import check_suite

    settings = checker_settings(args)
    options = dict(_key_value(kv) for kv in args.option)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        report = check_suite(args.suite, settings=settings, progress=progress, load_options=options)
    except SuiteError as error:  # a missing file, a malformed row, a duplicate id: the suite is not fit
        print(f"verilog-env: {' '.join(str(error).split())}", file=sys.stderr)
        return 1

    def render(as_json: bool) -> str:
        return report.to_json(indent=2) + "\n" if as_json else report.to_markdown()

    sys.stdout.write(render(args.json))
    if args.out:
        try:
            Path(args.out).write_text(render(Path(args.out).suffix == ".json"), encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write the report to {args.out}: {error.strerror}") from None
    return 0 if report.ok else 1


def _add_suite_commands(sub) -> None:
    """``verilog-env suite check``."""
    suite = sub.add_parser("suite", help="check problem suites", description="Commands on problem suites.")
    commands = suite.add_subparsers(dest="suite_command", required=True)
    check = commands.add_parser(
        "check",
        help="check that every golden of a suite can reward answers",
        description="Check every problem's golden against itself with the checker the reward uses (all cores): "
        "it must parse, elaborate, simulate and judge (outputs not left undefined). Prints a table (ok, or the "
        "status and reason) and a summary line. Exit status 0 when every problem is ok, 1 otherwise (also when "
        "the suite cannot be loaded: a missing file, a malformed row, a duplicate id).",
    )
    check.add_argument("suite", metavar="FILE_OR_NAME", help="a .jsonl/.parquet path or a registered suite name")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--out", metavar="FILE", help="also write the report to FILE (JSON if it ends in .json, else Markdown)")
    check.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="suite loader argument, e.g. split=test")
    add_checker_arguments(check)
    check.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )
    check.set_defaults(func=cmd_suite_check)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_suite
    from .problems import read_system_prompt
    from .suites import SuiteError, load_suite

    try:
        suite = load_suite(args.suite, **dict(_key_value(kv) for kv in args.option))
        prompt = read_system_prompt(args.system_prompt) if args.system_prompt else None
        kwargs = {"system_prompt": prompt} if prompt else {}
        path = export_suite(suite, args.out, args.format, label=args.label, **kwargs)
    except (SuiteError, FileNotFoundError, ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    print(f"wrote {len(suite)} prompts of suite {suite.name!r} to {path} ({args.format}, label={args.label})")
    return 0


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"--option expects KEY=VALUE, got {text!r}")
    return key, {"true": True, "false": False}.get(value.lower(), value)


def _add_plugin_commands(sub) -> None:
    """Subcommands other installed layers contribute (entry-point group ``verilog_env.commands``),
    so this package never imports them."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="verilog_env.commands"):
        try:
            entry.load()(sub)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the CLI
            print(f"verilog-env: skipping command plugin {entry.name!r}: {error}", file=sys.stderr)


SEED_HELP = "stimulus seed, or 'random' for a fresh one per check call (default: 0)"


def stimulus_seed(text: str) -> int | None:
    """``--seed``: an integer, or ``random`` (None: a fresh seed per call, see CheckSettings)."""
    if text.strip().lower() == "random":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'random', got {text!r}") from None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


CHECKER_FIELDS = ("seed", "cycles", "timeout", "method", "simulator", "lint", "formal_budget", "formal_fallback")
"""The :class:`CheckSettings` fields the command line sets (each in ``args.check_<field>``)."""


def add_checker_arguments(parser: argparse.ArgumentParser, rename: dict[str, str] | None = None) -> None:
    """The checker's settings (:class:`verilog_env.CheckSettings`) as flags: ``--seed``,
    ``--cycles``, ``--timeout``, ``--method``, ``--simulator``, ``--lint``, ``--formal-budget``,
    ``--formal-fallback``, each landing in ``args.check_<field>`` (read them with :func:`checker_settings`).
    ``rename`` gives a field another flag where its name is taken by the command
    (``{"seed": "--check-seed"}``)."""
    flags = {field: f"--{field.replace('_', '-')}" for field in CHECKER_FIELDS} | (rename or {})
    group = parser.add_argument_group("checker settings (verilog_env.CheckSettings)")

    def add(field: str, **kw) -> None:
        if "choices" not in kw and kw.get("action") != "store_true":
            kw.setdefault("metavar", field.upper())
        group.add_argument(flags[field], dest=f"check_{field}", **kw)

    add("seed", type=stimulus_seed, default=0, help=SEED_HELP)
    add("cycles", type=int, default=DEFAULT_CYCLES, help=f"cycles to simulate (default: {DEFAULT_CYCLES})")
    add("timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT,
        help=f"seconds per compile/simulation (default: {DEFAULT_TIMEOUT:g})")
    add("method", choices=METHODS, default="sim",
        help="sim: seeded random simulation (default); both: simulation, then a Yosys formal check of what "
        "it passes; formal: the formal check alone")
    add("simulator", choices=SIMULATOR_CHOICES, default="icarus",
        help="icarus (default, 4-state), verilator (2-state, compiled; reads more SystemVerilog) or both "
        "(equivalent only when both agree)")
    add("lint", action="store_true", default=False,
        help="Verilator's lint warnings on answers that compile (in the verdict's details; needs Verilator)")
    add("formal_budget", type=_positive_seconds, default=None, metavar="SECONDS",
        help=f"seconds of formal effort per check (default: {DEFAULT_FORMAL_BUDGET:g})")
    add("formal_fallback", choices=FALLBACKS, default="reject",
        help="with --method both, an answer formal cannot check though it can check the reference: reject "
        "(default) or keep simulation's verdict")


def checker_settings(args: argparse.Namespace) -> CheckSettings:
    """The one :class:`CheckSettings` the flags of :func:`add_checker_arguments` ask for; a
    combination it refuses is a :class:`UsageError`."""
    try:
        return CheckSettings(**{field: getattr(args, f"check_{field}") for field in CHECKER_FIELDS})
    except ValueError as error:
        raise UsageError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verilog-env",
        description="RL environment, benchmarks and trainers for LLMs that write Verilog.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check",
        help="check a candidate design against a golden reference",
        description="Decide whether CANDIDATE is functionally equivalent to GOLDEN by "
        "simulating both on the same seeded random stimulus. Exit status 0 if equivalent, 1 if not.",
    )
    check.add_argument("golden", metavar="GOLDEN", help="reference Verilog file")
    check.add_argument("candidate", metavar="CANDIDATE", help="candidate Verilog file")
    check.add_argument("--top", help="golden top module (default: its only uninstantiated module)")
    check.add_argument("--candidate-top", help="candidate top module (default: the golden's top name)")
    add_checker_arguments(check)
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="run the built-in demonstration")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser(
        "serve",
        help="run the HTTP reward service (OpenRLHF remote reward, native /score)",
        description="Serve rewards over HTTP: POST /reward (OpenRLHF's remote reward contract), "
        "POST /score, GET /problems, GET /health. Needs: pip install 'verilog-env[serve]'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=5000, help="port to listen on (default: 5000; vllm serve takes 8000)"
    )
    serve.add_argument(
        "--suite", action="extend", nargs="+", metavar="NAME",
        help="problem suite(s) whose ids labels may name, or .jsonl/.parquet paths (default: starter)",
    )
    serve.add_argument("--max-concurrency", type=int, default=4, help="batches scored at once (default: 4)")
    serve.add_argument("--max-batch", type=int, default=4096, help="most items per request (default: 4096)")
    serve.add_argument(
        "--max-request-bytes", type=int, default=64 << 20, help="largest request body in bytes (default: 64 MiB)"
    )
    serve.add_argument(
        "--request-timeout", type=float, default=120.0, help="seconds per request, queueing included (default: 120)"
    )
    serve.add_argument(
        "--header-timeout", type=_positive_seconds, default=10.0,
        help="seconds a connection has to send each request head, else it is closed (default: 10)",
    )
    serve.add_argument(
        "--body-timeout", type=_positive_seconds, default=60.0,
        help="seconds a request has to send its body after its head, else 408 and closed (default: 60)",
    )
    serve.add_argument(
        "--max-connections", type=int, default=256, help="open connections at most; more are closed (default: 256)"
    )
    # --timeout would read as the request's: the checker's is --check-timeout here.
    add_checker_arguments(serve, rename={"timeout": "--check-timeout"})
    serve.add_argument(
        "--partial-credit", action="store_true", help="reward mismatches by the fraction of ticks matched first"
    )
    serve.add_argument(
        "--no-require-format", dest="require_format", action="store_false",
        help="check answers even when the <think>/<answer> tags are malformed",
    )
    serve.add_argument(
        "--format-penalty", type=float, default=0.0, help="subtracted from a malformed response's reward (default: 0)"
    )
    serve.add_argument(
        "--think-prefilled", action="store_true", help="the chat template already opened <think>"
    )
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)
    suites = sub.add_parser("suites", help="list the registered problem suites")
    suites.set_defaults(func=cmd_suites)
    _add_suite_commands(sub)

    export = sub.add_parser(
        "export",
        help="write a suite as an RL prompt dataset (OpenRLHF/TRL JSONL, verl Parquet)",
        description="Each row holds the prompt messages and a label the reward side resolves.",
    )
    export.add_argument("suite", help="suite name (see `verilog-env suites`) or a .jsonl/.parquet path")
    export.add_argument("--out", required=True, help="output file")
    export.add_argument("--format", choices=("openrlhf", "trl", "verl"), default="openrlhf")
    export.add_argument(
        "--label", choices=("id", "golden"), default="id",
        help="id: the problem id (the reward side loads the same suite); golden: self-contained golden source",
    )
    export.add_argument("--system-prompt", metavar="FILE", help="system prompt text file (default: the built-in one)")
    export.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="suite loader argument, e.g. path=x.jsonl")
    export.set_defaults(func=cmd_export)

    _add_plugin_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    # MissingExtra: whichever command (plugins' included) lacks an optional package.
    except (UsageError, MissingExtra, SimulatorNotFoundError, YosysNotFoundError) as error:
        print(f"verilog-env: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


if __name__ == "__main__":
    # `python -m verilog_env.cli` runs this file as __main__, a second copy of the module:
    # subcommand modules raise verilog_env.cli.UsageError, which __main__.main would not catch.
    from verilog_env.cli import main as _main

    sys.exit(_main())
