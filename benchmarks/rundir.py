"""A suite's run directory: its files, and the one reader and writer of each.

::

    problems.json       the problems evaluated (id, top, whether the reference passes its
                        own testbench), merged over runs
    run.json            the generation settings (a resumed run must use the same ones) and
                        how the last scoring confined its simulations
    samples.jsonl       one line per sample: suite, problem_id, sample_index, response,
                        finish_reason, tokens, seed, code (extracted), format_ok, extraction
    results.jsonl       one line per scored sample: the sample's keys + passed, outcome,
                        detail, seconds (the suite's SampleScore)
    equivalence.jsonl   (with also_equivalence) the same samples checked by
                        verilog_env's equivalence checker against the reference
    summary.json / summary.md / passk.png   (see :mod:`benchmarks.report`)

The harness (:mod:`benchmarks.harness`) writes them, the report (:mod:`benchmarks.report`)
reads them; both go through this module, which imports neither.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .registry import EvalProblem

SAMPLES = "samples.jsonl"
RESULTS = "results.jsonl"
EQUIVALENCE = "equivalence.jsonl"
PROBLEMS = "problems.json"
RUN = "run.json"


class HarnessError(RuntimeError):
    """A run cannot go on as asked (settings differ from the samples on disk, a bad
    samples file...). The message is one line for the user."""


def is_run_dir(path: Path) -> bool:
    return (path / PROBLEMS).is_file() and (path / RESULTS).is_file()


# ---------------------------------------------------------------- JSONL files


def read_jsonl(path: Path, *, what: str = "file") -> list[dict]:
    """The rows of a JSONL file (none when it does not exist). A torn last line (an
    interrupted write) is ignored; any other bad line is an error."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: torn by an interrupt
                continue
            raise HarnessError(f"{path}:{number}: not a JSON line in the {what}") from None
        if not isinstance(row, dict):
            raise HarnessError(f"{path}:{number}: expected a JSON object in the {what}")
        rows.append(row)
    return rows


class JsonlAppender:
    """Appends rows to a JSONL file, one flushed line each (thread-safe). A torn last
    line left by an interrupted run is cut off first."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        self._file = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, row: dict) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Write ``rows`` as a new JSONL file (replacing any)."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def code_sha(code: str | None) -> str | None:
    """The short hash a result row keeps of the code it scored (a changed sample is scored again)."""
    return None if code is None else hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]


def sample_key(row: dict) -> tuple[str, int]:
    """``(problem_id, sample_index)`` of a sample, result or equivalence row."""
    return (str(row["problem_id"]), int(row["sample_index"]))


# ---------------------------------------------------------------- JSON files


def _load_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return default


def read_run(run_dir: Path) -> dict:
    """``run.json`` (empty when missing or unreadable)."""
    record = _load_json(Path(run_dir) / RUN, {})
    return record if isinstance(record, dict) else {}


def write_run(run_dir: Path, record: dict) -> None:
    (Path(run_dir) / RUN).write_text(json.dumps(record, indent=2) + "\n")


def update_run(run_dir: Path, **fields: Any) -> None:
    """Set ``fields`` in ``run.json``, keeping the rest."""
    write_run(run_dir, {**read_run(run_dir), **fields})


def record_settings(run_dir: Path, settings: dict[str, Any], backend: str, fixed: Iterable[str]) -> None:
    """Write the run's settings to ``run.json``; a setting in ``fixed`` that differs from the
    one recorded beside existing samples is a :class:`HarnessError` (they would mix)."""
    run_dir = Path(run_dir)
    old = read_run(run_dir)
    if (run_dir / SAMPLES).exists():
        for key in fixed:
            if key in old and old[key] != settings[key]:
                raise HarnessError(
                    f"{run_dir} holds samples generated with {key}={old[key]!r}, not {settings[key]!r}: "
                    "use another --out, or delete that directory to start over"
                )
    write_run(run_dir, {**settings, "backend": backend, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")})


def problem_record(problem: EvalProblem) -> dict[str, Any]:
    return {
        "id": problem.id,
        "suite": problem.suite,
        "top": problem.top,
        "reference_top": problem.reference_top,
        "completion": problem.header is not None,
        "reference_passes": problem.reference_passes,
        "reference_note": problem.reference_note,
    }


def read_problems(run_dir: Path) -> list[dict]:
    """``problems.json``: one :func:`problem_record` per problem (none when missing)."""
    records = _load_json(Path(run_dir) / PROBLEMS, [])
    return records if isinstance(records, list) else []


def record_problems(run_dir: Path, problems: Iterable[EvalProblem]) -> None:
    """Merge ``problems`` into ``problems.json`` (a directory may collect several runs)."""
    try:
        known = {p["id"]: p for p in read_problems(run_dir)}
    except (KeyError, TypeError):
        known = {}
    for problem in problems:
        known[problem.id] = problem_record(problem)
    (Path(run_dir) / PROBLEMS).write_text(json.dumps(list(known.values()), indent=1) + "\n")
