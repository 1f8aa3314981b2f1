"""Corpus intake: read Verilog, split it into self-contained modules, drop what cannot be used.

1. :func:`read_corpus` reads files from a directory tree, or rows from JSONL, Parquet or
   a Hugging Face dataset (:class:`~trainers.synth.config.CorpusSource`).
2. :func:`split_modules` parses each file with pyslang and returns its modules, each as
   the text pyslang saw (macros expanded, disabled code gone, comments kept) with the
   names of the modules it instantiates.
3. :func:`build_units` makes each module a *unit*: the module plus, transitively, the
   submodules it instantiates, found in the same file or (for a directory) in the same
   folder. A unit whose submodule is nowhere is dropped (``missing_submodule``).
4. :func:`analyze_unit` elaborates a unit alone with the checker's own analysis
   (:func:`verilog_env.hdl.design.analyze`, as a golden): ports, clocks, resets, or the
   reason it cannot be checked (``inout_port``, ``no_outputs``, ``unsupported``,
   ``compile_error``). Oversize and trivial units are dropped too.

Parsing and analysis run in worker processes (pebble) with a per-item time limit, so a
pathological file costs its own drop, never the run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import multiprocessing
import os
import resource
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from trainers.config import looks_like_path
from verilog_env.extras import require_extra

from .config import CorpusSource, IntakeConfig, saved_dataset

WORKER_MEMORY_BYTES = 4 << 30

LOGIC_KINDS = (
    "ContinuousAssign",
    "AlwaysBlock",
    "AlwaysCombBlock",
    "AlwaysFFBlock",
    "AlwaysLatchBlock",
    "HierarchyInstantiation",
    "PrimitiveInstantiation",
)


class IntakeError(ValueError):
    """A corpus source cannot be read; the message says what to fix."""


@dataclasses.dataclass
class CorpusRecord:
    """One file (or dataset row) of Verilog text."""

    source: str
    """Where it came from: a file path, or ``dataset#row``."""
    group: str
    """Files of one group may use each other's modules (a directory's files)."""
    text: str


@dataclasses.dataclass
class CorpusStats:
    files: int = 0
    skipped_oversize: int = 0
    skipped_unreadable: int = 0


# --- reading ------------------------------------------------------------------------------


def read_corpus(sources: Sequence[CorpusSource], max_file_bytes: int, stats: CorpusStats) -> Iterator[CorpusRecord]:
    for source in sources:
        kind = source.resolved_kind()
        reader = {"dir": _read_dir, "jsonl": _read_jsonl, "parquet": _read_parquet, "hf": _read_hf}[kind]
        for count, record in enumerate(reader(source, max_file_bytes, stats)):
            if source.limit is not None and count >= source.limit:
                break
            stats.files += 1
            yield record


def _read_dir(source: CorpusSource, max_bytes: int, stats: CorpusStats) -> Iterator[CorpusRecord]:
    root = Path(source.path).expanduser()
    if not root.is_dir():
        raise IntakeError(f"corpus directory not found: {root}")
    paths = sorted(
        p for p in root.rglob("*")
        if p.is_file() and any(fnmatch.fnmatch(p.name, pattern) for pattern in source.patterns)
    )
    for path in paths:
        if path.stat().st_size > max_bytes:
            stats.skipped_oversize += 1
            continue
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            stats.skipped_unreadable += 1
            continue
        yield CorpusRecord(str(path), str(path.parent), text)


def _row_record(row: dict[str, Any], source: CorpusSource, index: int, max_bytes: int,
                stats: CorpusStats, name: str) -> CorpusRecord | None:
    text = row.get(source.text_key)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        if index == 0 and source.text_key not in row:
            raise IntakeError(
                f"{name}: no column {source.text_key!r} (columns: {sorted(row)}); set text_key in the corpus entry"
            )
        stats.skipped_unreadable += 1
        return None
    if len(text.encode("utf-8", "replace")) > max_bytes:
        stats.skipped_oversize += 1
        return None
    ident = row.get(source.id_key) if source.id_key else None
    where = f"{name}#{ident if ident is not None else index}"
    return CorpusRecord(where, where, text)


def _read_jsonl(source: CorpusSource, max_bytes: int, stats: CorpusStats) -> Iterator[CorpusRecord]:
    path = Path(source.path).expanduser()
    if not path.is_file():
        raise IntakeError(f"corpus JSONL file not found: {path}")
    with path.open(encoding="utf-8") as f:
        for index, line in enumerate(f):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise IntakeError(f"{path}:{index + 1}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise IntakeError(f"{path}:{index + 1}: expected a JSON object")
            record = _row_record(row, source, index, max_bytes, stats, str(path))
            if record is not None:
                yield record


def _read_parquet(source: CorpusSource, max_bytes: int, stats: CorpusStats) -> Iterator[CorpusRecord]:
    path = Path(source.path).expanduser()
    if not path.is_file():
        raise IntakeError(f"corpus Parquet file not found: {path}")
    pq = require_extra("pyarrow.parquet", "synth", "reading a Parquet corpus")
    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            record = _row_record(row, source, index, max_bytes, stats, str(path))
            index += 1
            if record is not None:
                yield record


def _read_hf(source: CorpusSource, max_bytes: int, stats: CorpusStats) -> Iterator[CorpusRecord]:
    datasets = require_extra("datasets", "data", "reading a Hugging Face dataset corpus")  # not in [synth]
    local = Path(source.path).expanduser()
    if not local.exists() and looks_like_path(source.path):  # not a hub name: say so now, not after retries
        raise IntakeError(f"corpus path not found: {local} (a Hugging Face dataset is named like owner/name)")
    try:
        if saved_dataset(local):
            data = datasets.load_from_disk(str(local))
            data = data[source.split] if isinstance(data, datasets.DatasetDict) else data
        else:
            data = datasets.load_dataset(source.path, split=source.split, streaming=True)
    except Exception as error:  # noqa: BLE001 - hub/network/format errors
        raise IntakeError(f"could not load dataset {source.path!r} (split {source.split!r}): {error}") from None
    for index, row in enumerate(data):
        record = _row_record(dict(row), source, index, max_bytes, stats, source.path)
        if record is not None:
            yield record


# --- splitting ----------------------------------------------------------------------------


def split_modules(text: str, name: str = "source.v") -> dict[str, Any]:
    """The modules of one file: ``{"modules": [{name, text, deps, logic}], "timescale"}``.

    ``text`` is the module as pyslang's printer gives it: macros expanded, directives
    and disabled ``ifdef`` branches gone, comments kept. ``deps`` are the module types
    it instantiates; ``logic`` says whether it has any assignment, always block, instance
    or gate at all.
    """
    from pyslang import syntax

    from verilog_env.hdl.source import DEFAULT_TIMESCALE, parse, timescale_of

    SK = syntax.SyntaxKind
    try:
        source = parse(text, name)
    except ValueError as error:
        return {"error": f"cannot be parsed: {error}"}
    try:
        timescale = timescale_of(source)
    except ValueError:
        timescale = DEFAULT_TIMESCALE
    logic_kinds = {getattr(SK, k) for k in LOGIC_KINDS}
    modules: list[dict[str, Any]] = []
    seen: set[str] = set()

    def members(node) -> tuple[list[str], bool]:
        deps: dict[str, None] = {}
        logic = [False]

        def visit(n):
            kind = getattr(n, "kind", None)
            if kind in logic_kinds:
                logic[0] = True
            if kind == SK.HierarchyInstantiation:
                deps[n.type.valueText] = None
            elif kind == SK.Declarator and getattr(n, "initializer", None) is not None:
                logic[0] = True  # wire y = a & b;

        node.visit(visit)
        return list(deps), logic[0]

    def visit_top(node):
        if getattr(node, "kind", None) == SK.ModuleDeclaration:
            module_name = node.header.name.valueText
            if module_name and module_name not in seen:
                seen.add(module_name)
                printer = syntax.SyntaxPrinter()
                printer.setIncludeDirectives(False)
                printer.setExpandMacros(True)
                printer.setIncludeSkipped(False)
                printer.setIncludeTrivia(True)
                printer.setIncludeComments(True)
                printer.print(node)
                deps, logic = members(node)
                modules.append({"name": module_name, "text": printer.str().strip() + "\n",
                                "deps": [d for d in deps if d != module_name], "logic": logic})

    source.tree.root.visit(visit_top)
    return {"modules": modules, "timescale": timescale if timescale != DEFAULT_TIMESCALE else None}


@dataclasses.dataclass
class Unit:
    """A module with its submodules: one candidate problem."""

    id: str
    module: str
    code: str
    source: str
    modules: list[str]
    """Every module of the unit, the top first."""
    logic: bool = True
    drop: str | None = None
    detail: str = ""
    ports: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    clocks: list[str] = dataclasses.field(default_factory=list)
    resets: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tokens: list[str] = dataclasses.field(default_factory=list, repr=False)

    @property
    def tags(self) -> list[str]:
        kind = "sequential" if self.clocks else "combinational"
        tags = ["synth", kind]
        if len(self.modules) > 1:
            tags.append("hierarchical")
        return tags

    def port_names(self) -> list[str]:
        return [p["name"] for p in self.ports]


def unit_id(module: str, code: str) -> str:
    return f"{module}_{hashlib.sha1(code.encode('utf-8')).hexdigest()[:10]}"


def build_units(files: Sequence[tuple[CorpusRecord, dict[str, Any]]], split: str = "all") -> tuple[list[Unit], dict[str, int]]:
    """Units from split files, in corpus order. Also returns file-level counts
    (``files_without_modules``, ``files_unparsable``)."""
    counts = {"files_without_modules": 0, "files_unparsable": 0}
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    for record, result in files:
        for module in result.get("modules", []):
            by_group.setdefault(record.group, {}).setdefault(module["name"], module)
    units: list[Unit] = []
    for record, result in files:
        if "error" in result:
            counts["files_unparsable"] += 1
            continue
        modules = result["modules"]
        if not modules:
            counts["files_without_modules"] += 1
            continue
        local = {m["name"]: m for m in modules}
        instantiated = {d for m in modules for d in m["deps"]}
        for module in modules:
            if split == "tops" and module["name"] in instantiated:
                continue
            order: list[dict[str, Any]] = []
            missing: list[str] = []
            queue, seen = [module], {module["name"]}
            while queue:
                current = queue.pop(0)
                order.append(current)
                for dep in current["deps"]:
                    if dep in seen:
                        continue
                    seen.add(dep)
                    found = local.get(dep) or by_group.get(record.group, {}).get(dep)
                    if found is None:
                        missing.append(dep)
                    else:
                        queue.append(found)
            parts = ([result["timescale"]] if result.get("timescale") else []) + [m["text"] for m in order]
            code = "\n".join(parts)
            unit = Unit(
                id=unit_id(module["name"], code),
                module=module["name"],
                code=code,
                source=f"{record.source}:{module['name']}",
                modules=[m["name"] for m in order],
                logic=any(m["logic"] for m in order),
            )
            if missing:
                unit.drop, unit.detail = "missing_submodule", f"instantiates {', '.join(sorted(missing))}, defined nowhere"
            units.append(unit)
    return units, counts


# --- analysis -----------------------------------------------------------------------------


def classify_design_error(status: str, reason: str) -> str:
    """A drop reason for a :class:`~verilog_env.hdl.design.DesignError`."""
    if " is inout" in reason:
        return "inout_port"
    if "no output ports" in reason:
        return "no_outputs"
    if status in ("compile_error", "unsupported", "timeout"):
        return status
    return "unsupported"


def analyze_unit(code: str, top: str) -> dict[str, Any]:
    """The checker's analysis of a unit as a golden: ports/clocks/resets, or why not."""
    from verilog_env.hdl.design import DesignError, analyze

    try:
        design = analyze(code, name=f"{top}.v", role="golden", top=top)
    except DesignError as error:
        return {"ok": False, "status": error.status, "reason": error.reason[:1000]}
    return {
        "ok": True,
        "ports": [{"name": p.name, "direction": p.direction, "width": p.width, "signed": p.signed} for p in design.ports],
        "clocks": list(design.clocks),
        "resets": [{"name": r.name, "active_high": r.active_high, "asynchronous": r.asynchronous} for r in design.resets],
    }


# --- worker pool --------------------------------------------------------------------------


def _limit_memory() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ValueError, OSError):
        pass


def _call(args: tuple[Callable[..., Any], tuple]) -> Any:
    fn, fn_args = args
    return fn(*fn_args)


def parallel_map(fn: Callable[..., Any], arg_tuples: Sequence[tuple], *, workers: int = 0, timeout: float = 60.0,
                 desc: str = "", progress: bool = False) -> list[Any]:
    """``fn(*args)`` for each args tuple, in worker processes with a per-item time limit.
    A failed item's result is the exception (``TimeoutError``, ``ProcessExpired``...)."""
    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    results: list[Any] = []
    bar = tqdm(total=len(arg_tuples), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    try:
        if workers <= 1 or len(arg_tuples) <= 1 or multiprocessing.current_process().daemon:
            for args in arg_tuples:
                try:
                    results.append(fn(*args))
                except Exception as error:  # noqa: BLE001 - becomes a drop
                    results.append(error)
                bar.update(1)
            return results
        import pebble

        context = multiprocessing.get_context("fork")
        with pebble.ProcessPool(max_workers=min(workers, len(arg_tuples)), context=context,
                                initializer=_limit_memory) as pool:
            future = pool.map(_call, [(fn, args) for args in arg_tuples], timeout=timeout, chunksize=1)
            iterator = future.result()
            while True:
                try:
                    results.append(next(iterator))
                except StopIteration:
                    break
                except Exception as error:  # noqa: BLE001 - timeout or dead worker: a drop
                    results.append(error)
                bar.update(1)
        return results
    finally:
        bar.close()


def describe_failure(error: BaseException) -> str:
    from concurrent.futures import TimeoutError as FutureTimeout

    if isinstance(error, FutureTimeout):
        return "timeout"
    return f"{type(error).__name__}: {error}"[:300]


def apply_analysis(unit: Unit, result: Any, config: IntakeConfig) -> None:
    """Set the unit's ports (or its drop reason) from :func:`analyze_unit`'s result."""
    from .dedup import code_tokens

    if isinstance(result, BaseException):
        unit.drop, unit.detail = "intake_error", describe_failure(result)
        return
    if not result["ok"]:
        unit.drop = classify_design_error(result["status"], result["reason"])
        unit.detail = result["reason"].splitlines()[0][:300] if result["reason"] else result["status"]
        return
    unit.ports, unit.clocks, unit.resets = result["ports"], result["clocks"], result["resets"]
    unit.tokens = code_tokens(unit.code, unit.modules)
    if not unit.logic:
        unit.drop, unit.detail = "trivial", "no assignment, always block, instance or gate"
    elif len(unit.tokens) < config.min_tokens:
        unit.drop, unit.detail = "trivial", f"{len(unit.tokens)} code tokens (< min_tokens {config.min_tokens})"
