"""``verilog-env bench ...``: list suites, run a benchmark end to end, score samples, report.

Registered into the ``verilog-env`` command line through the entry-point group
``verilog_env.commands`` (``bench = benchmarks.cli:register`` in setup.cfg), so
``verilog_env`` never imports this package.

    verilog-env bench list
    verilog-env bench run --suite verilogeval-v2-spec-to-rtl --endpoint http://localhost:8000 \\
        --model zhuyaoyu/CodeV-R1-Qwen-7B --system-prompt codev_r1_system_prompt.txt --out runs/codev
    verilog-env bench score --suite NAME --samples samples.jsonl --out DIR
    verilog-env bench report --out DIR
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

from . import generation as gen


def _usage_error(message: str) -> Exception:
    from verilog_env.cli import UsageError

    return UsageError(message)


def _load_registry(imports: list[str] | None) -> None:
    """Register the built-in suites (``benchmarks.suites``, when present) and any
    ``--import`` modules (which register their own suites on import)."""
    try:
        importlib.import_module("benchmarks.suites")
    except ModuleNotFoundError as error:
        if error.name != "benchmarks.suites":
            raise
    for name in imports or []:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - reported as a usage error
            raise _usage_error(f"cannot import {name!r}: {error}") from None


def _suite(name: str, args: argparse.Namespace | None = None):
    from .registry import get_eval_suite

    try:
        suite = get_eval_suite(name)
    except KeyError as error:
        raise _usage_error(error.args[0]) from None
    if args is not None and getattr(args, "no_screen", False):
        suite.screen_samples = False
    return suite


def _data_paths(values: list[str] | None, suites: list[str]) -> dict[str, str | None]:
    """``--data PATH`` (every suite) or ``--data NAME=PATH`` (one suite; wins over PATH)."""
    common: str | None = None
    named: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if sep and name in suites:
            named[name] = path
        else:
            common = value
    return {name: named.get(name, common) for name in suites}


def _load_problems(suite, data: str | None, ids: list[str] | None, limit: int | None):
    from .harness import select_problems
    from .registry import BenchmarkDataError

    root = data if data is not None else getattr(suite, "default_data", None)
    if root is None:
        raise _usage_error(f"suite {suite.name}: no data path: pass --data PATH (or --data {suite.name}=PATH)")
    path = Path(str(root)).expanduser()
    if not path.exists():
        raise _usage_error(f"suite {suite.name}: data path not found: {path}")
    try:
        problems = suite.load(path)
    except BenchmarkDataError as error:
        raise _usage_error(f"suite {suite.name}: {error}") from None
    return select_problems(problems, ids, limit)


def _system_prompt(args: argparse.Namespace) -> str | None:
    if args.no_system_prompt:
        return None
    if args.system_prompt:
        from verilog_env.problems import read_system_prompt

        try:
            return read_system_prompt(args.system_prompt)
        except FileNotFoundError as error:
            raise _usage_error(str(error)) from None
    from verilog_env.problems import DEFAULT_SYSTEM_PROMPT

    return DEFAULT_SYSTEM_PROMPT


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/").split("/")[-1]) or "model"


def _make_generator(args: argparse.Namespace):
    backend = args.backend or ("openai" if args.endpoint else None)
    if backend is None:
        raise _usage_error("bench run: pass --endpoint URL (an OpenAI-compatible server) or --backend vllm|hf --model PATH")
    if backend == "openai":
        if not args.endpoint:
            raise _usage_error("bench run: the openai back end needs --endpoint URL (e.g. http://localhost:8000)")
        generator = gen.OpenAIChatGenerator(
            args.endpoint,
            args.model or "",
            api_key=args.api_key,
            concurrency=args.concurrency,
            max_n_per_request=args.max_n_per_request,
            timeout=args.request_timeout,
            max_retries=args.max_retries,
        )
        try:
            served = generator.list_models()
        except gen.GenerationError as error:
            raise _usage_error(str(error)) from None
        if not args.model:
            if len(served) != 1:
                raise _usage_error(f"bench run: pass --model (the server offers: {', '.join(served) or 'none'})")
            generator.model = served[0]
        elif served and args.model not in served:
            raise _usage_error(f"bench run: {args.endpoint} does not serve {args.model!r} (it offers: {', '.join(served)})")
        return generator
    if not args.model:
        raise _usage_error(f"bench run: the {backend} back end needs --model (a hub id or local path)")
    if backend == "vllm":
        kwargs = {"tensor_parallel_size": args.tensor_parallel_size}
        if args.max_model_len:
            kwargs["max_model_len"] = args.max_model_len
        return gen.VLLMGenerator(args.model, max_n_per_request=args.max_n_per_request, **kwargs)
    return gen.HFGenerator(args.model, device=args.device, max_n_per_request=args.max_n_per_request or 8)


def _finish(out_root: Path, ks) -> int:
    from . import report

    summaries = report.collect(out_root, ks=ks)
    for note in report.write_report(out_root, summaries):
        print(note, file=sys.stderr)
    print(report.to_markdown(summaries).split("\n## ")[0].rstrip())
    print(f"\nwrote {out_root / 'summary.md'}, {out_root / 'summary.json'}" + (
        f", {out_root / 'passk.png'}" if (out_root / "passk.png").exists() else ""))
    return 0


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ks: expected comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError("--ks: k must be >= 1")
    return ks


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import get_eval_suite, list_eval_suites

    _load_registry(args.imports)
    suites = list_eval_suites()
    if not suites:
        print("no evaluation suites registered")
        return 0
    if args.json:
        out = {name: {"description": desc, "default_data": getattr(get_eval_suite(name), "default_data", None)}
               for name, desc in suites.items()}
        print(json.dumps(out, indent=2))
        return 0
    width = max(len(name) for name in suites)
    for name, description in suites.items():
        data = getattr(get_eval_suite(name), "default_data", None)
        print(f"{name:<{width}}  {description}" + (f"  [data: {data}]" if data else ""))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .harness import HarnessError, run

    _load_registry(args.imports)
    suites = [_suite(name, args) for name in args.suite]
    data = _data_paths(args.data, args.suite)
    loaded = [(suite, _load_problems(suite, data[suite.name], args.problems, args.limit)) for suite in suites]
    if args.problems:  # ids may belong to some of the suites only
        found = {p.id for _, problems in loaded for p in problems}
        unknown = [pid for pid in args.problems if pid not in found]
        if unknown:
            raise _usage_error(f"--problems: no such problem in {', '.join(args.suite)}: {', '.join(unknown)}")
        loaded = [(suite, problems) for suite, problems in loaded if problems]
    for suite, problems in loaded:
        if not problems:
            raise _usage_error(f"suite {suite.name}: no problems selected")
    system_prompt = _system_prompt(args)
    generator = _make_generator(args)
    model = getattr(generator, "model", None) or args.model
    out_root = Path(args.out or Path("runs") / "bench" / _slug(model or "model"))
    for suite, problems in loaded:
        try:
            run(
                suite,
                problems,
                generator,
                out_root / suite.name,
                n=args.n,
                temperature=args.temperature,
                top_p=args.top_p,
                max_tokens=args.max_tokens,
                seed=args.seed,
                system_prompt=system_prompt,
                think_prefilled=args.think_prefilled,
                model=model,
                **_scoring_options(args),
            )
        except gen.GenerationError as error:
            raise _usage_error(
                f"{suite.name}: generation failed: {error} (finished samples are saved in {out_root / suite.name}; "
                "rerun the same command to resume)"
            ) from None
        except HarnessError as error:
            raise _usage_error(str(error)) from None
    return _finish(out_root, args.ks)


def read_samples_file(path: Path, problems, header_of) -> list[dict]:
    """Pre-generated samples: JSON lines with a problem id (``problem_id``, ``id`` or
    ``task_id``) and a ``response`` (code is extracted from it) or ``code``; optional
    ``sample_index`` (default: order of appearance per problem)."""
    from .rundir import HarnessError, read_jsonl

    if not path.is_file():
        raise _usage_error(f"samples file not found: {path}")
    try:
        rows = read_jsonl(path, what="samples file")
    except HarnessError as error:
        raise _usage_error(str(error)) from None
    known = {p.id for p in problems}
    seen: dict[str, int] = {}
    taken: set[tuple[str, int]] = set()
    out = []
    for number, row in enumerate(rows, 1):
        pid = next((row[k] for k in ("problem_id", "id", "task_id") if k in row), None)
        if pid is None:
            raise _usage_error(f"{path}: sample {number} has no problem_id")
        pid = str(pid)
        if pid not in known:
            raise _usage_error(f"{path}: sample {number}: unknown problem id {pid!r} for this suite")
        if "response" not in row and "code" not in row:
            raise _usage_error(f"{path}: sample {number} ({pid}) has neither 'response' nor 'code'")
        index = row.get("sample_index")
        if index is None:
            index = seen.get(pid, 0)
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise _usage_error(f"{path}: sample {number}: sample_index must be an integer") from None
        seen[pid] = max(seen.get(pid, 0), index + 1)
        if (pid, index) in taken:
            raise _usage_error(f"{path}: sample {number}: duplicate sample {index} of {pid}")
        taken.add((pid, index))
        if "response" in row and row["response"] is not None:
            extracted = gen.extract_code(str(row["response"]), header_of(pid))
            code, format_ok, source = extracted.code, extracted.format_ok, extracted.source
        else:
            code, format_ok, source = (None if row.get("code") is None else str(row["code"])), None, "given"
        out.append({
            "suite": None,
            "problem_id": pid,
            "sample_index": index,
            "response": row.get("response"),
            "finish_reason": row.get("finish_reason"),
            "tokens": row.get("tokens"),
            "code": code,
            "format_ok": row.get("format_ok", format_ok),
            "extraction": source,
        })
    return out


def cmd_score(args: argparse.Namespace) -> int:
    from .harness import HarnessError, run
    from .rundir import SAMPLES, write_jsonl

    _load_registry(args.imports)
    suite = _suite(args.suite, args)
    problems = _load_problems(suite, _data_paths(args.data, [suite.name])[suite.name], args.problems, args.limit)
    header = {p.id: p.header for p in problems}
    samples_path = Path(args.samples)
    samples = read_samples_file(samples_path, problems, header.get)
    if not samples:
        raise _usage_error(f"{samples_path}: no samples")
    out_root = Path(args.out) if args.out else samples_path.parent / "scored"
    run_dir = out_root / suite.name
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / SAMPLES
    if not (target.exists() and target.resolve() == samples_path.resolve()):
        write_jsonl(target, ({**sample, "suite": suite.name} for sample in samples))
    ids = {s["problem_id"] for s in samples}
    try:
        run(
            suite,
            [p for p in problems if p.id in ids],
            None,
            run_dir,
            **_scoring_options(args),
        )
    except HarnessError as error:
        raise _usage_error(str(error)) from None
    return _finish(out_root, args.ks)


def cmd_report(args: argparse.Namespace) -> int:
    from . import report

    out = Path(args.out)
    if not report.collect(out, ks=args.ks):
        raise _usage_error(f"no benchmark runs found in {out} (expected problems.json and results.jsonl)")
    return _finish(out, args.ks)


# ---------------------------------------------------------------- parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import MODULE first (a module that registers more evaluation suites); repeatable")


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", action="append", metavar="PATH|SUITE=PATH",
                   help="benchmark data directory (for every suite, or SUITE=PATH for one; default: the suite's own)")
    p.add_argument("--problems", nargs="+", metavar="ID", help="only these problem ids")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N problems of each suite")


def _scoring(p: argparse.ArgumentParser) -> None:
    p.add_argument("--also-equivalence", action="store_true",
                   help="also check each sample for equivalence to the reference (verilog_env's checker, with the "
                   "settings below) and report where it disagrees with the official testbench")
    _checker_arguments(p)
    p.add_argument("--score-workers", type=int, metavar="N", help="parallel scoring jobs (default: one per core)")
    p.add_argument("--score-timeout", type=float, metavar="S", help="per-sample scoring time limit (default: the suite's)")
    p.add_argument("--ks", type=_ks, default=(1, 5, 10), metavar="K,K,...", help="pass@k to report (default: 1,5,10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-screen", action="store_true",
                   help="run every sample in the official testbench exactly as upstream does, including samples "
                   "that end the simulation, print, or reach into the testbench (by default these are refused "
                   "as 'screened': they can fake a pass)")


CHECKER_FLAGS = {"seed": "--check-seed", "timeout": "--check-timeout"}
"""verilog_env's checker flags that ``bench`` renames: ``bench run --seed`` is the sampling
seed, and a bare ``--timeout`` would read as the scoring's (``--score-timeout``)."""


def _checker_arguments(p: argparse.ArgumentParser) -> None:
    """The checker's flags for ``--also-equivalence`` (:func:`verilog_env.cli.add_checker_arguments`,
    renamed by :data:`CHECKER_FLAGS`)."""
    from verilog_env.cli import add_checker_arguments

    add_checker_arguments(p, rename=CHECKER_FLAGS)


def _scoring_options(args: argparse.Namespace) -> dict:
    """:func:`benchmarks.harness.run`'s scoring keywords from the ``_scoring`` flags (the summary is written by ``_finish``)."""
    return {
        "score_workers": args.score_workers,
        "score_timeout": args.score_timeout,
        "also_equivalence": _equivalence(args),
        "ks": args.ks,
        "progress": not args.no_progress,
        "write_report": False,
    }


def _equivalence(args: argparse.Namespace):
    """``False`` without ``--also-equivalence``, else the one :class:`verilog_env.CheckSettings`
    the checker flags make."""
    if not args.also_equivalence:
        return False
    from verilog_env.cli import UsageError, checker_settings

    try:
        return checker_settings(args)
    except UsageError as error:
        raise _usage_error(f"--also-equivalence: {error}") from None


def register(subparsers) -> None:
    """Add ``bench`` to the ``verilog-env`` command line (entry point ``verilog_env.commands``)."""
    bench = subparsers.add_parser(
        "bench",
        help="run benchmarks (VerilogEval v2, RTLLM...) against a model and report pass@k",
        description="Generate samples from a model, score them with each benchmark's own testbench, and "
        "report pass@k (summary.md, summary.json, passk.png). Runs resume where they stopped.",
    )
    sub = bench.add_subparsers(dest="bench_command", required=True)

    p = sub.add_parser("list", help="list the evaluation suites")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "run",
        help="generate and score samples for one or more suites",
        description="Sample --n completions per problem (CodeV-R1 protocol by default: n 20, temperature 0.6, "
        "top-p 0.95, 16384 new tokens), score them, write OUT/SUITE/{samples,results}.jsonl and OUT/summary.*. "
        "Rerunning the same command resumes: finished samples are never generated again.",
    )
    _common(p)
    p.add_argument("--suite", action="append", required=True, metavar="NAME", help="suite to run (repeatable)")
    _selection(p)
    p.add_argument("--endpoint", metavar="URL", help="OpenAI-compatible server, e.g. http://localhost:8000 (vllm serve)")
    p.add_argument("--backend", choices=("openai", "vllm", "hf"),
                   help="generation back end (default: openai with --endpoint)")
    p.add_argument("--model", metavar="NAME", help="model name at the endpoint (default: its only one), or the model "
                   "path/hub id for --backend vllm|hf")
    p.add_argument("--api-key", help="bearer token for the endpoint (default: $OPENAI_API_KEY)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: runs/bench/MODEL)")
    p.add_argument("--n", type=int, default=gen.DEFAULT_N, help=f"samples per problem (default: {gen.DEFAULT_N})")
    p.add_argument("--temperature", type=float, default=gen.DEFAULT_TEMPERATURE)
    p.add_argument("--top-p", type=float, default=gen.DEFAULT_TOP_P)
    p.add_argument("--max-tokens", type=int, default=gen.DEFAULT_MAX_TOKENS, help="max new tokens per sample")
    p.add_argument("--seed", type=int, help="sampling seed (a request for samples i.. is seeded SEED+i; default: unseeded)")
    p.add_argument("--system-prompt", metavar="FILE",
                   help="system prompt file (e.g. the CodeV-R1 prompt; default: verilog_env's own prompt)")
    p.add_argument("--no-system-prompt", action="store_true", help="send no system message")
    p.add_argument("--think-prefilled", action="store_true",
                   help="the chat template opens <think> itself (for the format statistics)")
    p.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight (default: 64)")
    p.add_argument("--max-n-per-request", type=int, metavar="N", help="split requests above N samples (servers that cap n)")
    p.add_argument("--request-timeout", type=float, default=10800.0, help="seconds per HTTP request (default: 10800)")
    p.add_argument("--max-retries", type=int, default=6, help="retries on 429/5xx/connection errors (default: 6)")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm back end: GPUs per model")
    p.add_argument("--max-model-len", type=int, help="vllm back end: context length")
    p.add_argument("--device", help="hf back end: torch device (default: cuda if available)")
    _scoring(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "score",
        help="score pre-generated samples",
        description="Score a JSONL file of samples (problem_id + response or code per line) with a suite's "
        "official testbench; writes OUT/SUITE/results.jsonl and OUT/summary.* (default OUT: beside the file, scored/).",
    )
    _common(p)
    p.add_argument("--suite", required=True, metavar="NAME")
    p.add_argument("--samples", required=True, metavar="FILE.jsonl")
    p.add_argument("--out", metavar="DIR")
    _selection(p)
    _scoring(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("report", help="rebuild summary.md/json and passk.png from a run directory")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--ks", type=_ks, default=(1, 5, 10), metavar="K,K,...")
    p.set_defaults(func=cmd_report)
