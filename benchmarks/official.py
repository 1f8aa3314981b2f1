"""Shared machinery of the built-in suites' *official* scoring: the benchmark's own testbench.

The suites (:mod:`benchmarks.verilogeval`, :mod:`benchmarks.rtllm`) describe their upstream
flow; this module runs it:

* :func:`run_tool` runs one step (``iverilog``, ``vvp``) through the project's sandbox
  (:mod:`verilog_env.sim.sandbox`): its own session, wall-clock, CPU, address-space and
  file-size limits, the whole process group killed afterwards. The simulation step is
  also confined: it can write nothing but its work directory (a
  :class:`~verilog_env.sim.sandbox.Workdir`, removed with everything in it), because
  everything else is mounted read-only in its mount namespace (``bwrap``; 2-3 ms a step). The screen
  (:mod:`benchmarks.screen`) is the first line: it refuses file I/O before anything is
  compiled; confinement is the second, and the one that holds with ``--no-screen``
  (upstream's flow runs samples as given, so a sample could ``$fopen`` an absolute
  path). Where ``bwrap`` or the privilege it needs is missing, the steps run unconfined
  with a warning, and :func:`confinement` (a run summary's ``confinement``) says so.
  Icarus has no ``$system``. The log is read back *whole* (not head-and-tail), because
  the pass criteria scan every line.
* :class:`OfficialSuite`: a suite's scoring. With screening on (the default), a sample
  is analysed first (:func:`benchmarks.screen.inspect`, in a memory- and time-limited
  worker process) and either refused (outcome ``screened``) or compiled as the text the
  screen analysed (:attr:`~benchmarks.screen.Inspection.text`), never as written.
* :class:`ScoreCache`: identical ``(problem, code, timeout)`` give identical verdicts, so
  :meth:`score` answers a repeat from memory within a process (a cached answer has
  ``seconds == 0``); a pass also answers samples with the same tokens (whitespace and
  comments aside).
* :func:`reference_as_sample` and :func:`reference_report`: the references' self-check
  (the reference, top module renamed as a solution names it, scored as a sample), and the
  comparison with what the data's manifest recorded.
* data-root resolution: :func:`default_data_root` (``$VERILOG_ENV_BENCHMARKS``, else
  ``../shared/benchmarks`` from the current directory) and :func:`manifest_checks`
  (``manifest.json``'s ``reference_check`` per problem, when the data ships one).

Nothing here imports ``verilog_env`` (or anything heavy) at import time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .registry import BenchmarkDataError, EvalProblem, SampleScore
from .scoring import HARNESS_ERROR, score_pairs
from .screen import SCREENED, Inspection, inspect

DATA_ENV = "VERILOG_ENV_BENCHMARKS"
"""Environment variable naming the benchmark data root (e.g. ``/data/shared/benchmarks``)."""

DEFAULT_RELATIVE = Path("..") / "shared" / "benchmarks"

COMPILE_TIMEOUT = 60.0
"""Wall-clock limit for ``iverilog`` (upstream has none; a compile that exceeds it counts as a timeout)."""
MEMORY_BYTES = 2 << 30
"""Address-space limit of each compile / simulation process."""
OUTPUT_BYTES = 16 << 20
"""Largest log (or other file) a step may write; beyond it the OS stops the process."""
_KEEP = 64 << 10  # what sandbox.run keeps in memory; longer logs are re-read from disk


# --- data roots ---------------------------------------------------------------------

def default_data_root() -> str | None:
    """``$VERILOG_ENV_BENCHMARKS``, else ``../shared/benchmarks`` (from the CWD) if it exists, else None."""
    env = os.environ.get(DATA_ENV)
    if env:
        return env
    candidate = Path.cwd() / DEFAULT_RELATIVE
    return str(candidate.resolve()) if candidate.is_dir() else None


def as_root(root: str | os.PathLike | None, what: str, expected: str) -> Path:
    """``root`` as an existing directory (None: :func:`default_data_root`), else a one-line error."""
    if root is None or str(root) == "":
        default = default_data_root()
        if default is None:
            raise BenchmarkDataError(
                f"no {what} data path given and none found (set {DATA_ENV} or run beside ../shared/benchmarks); {expected}"
            )
        root = default
    path = Path(root).expanduser()
    if not path.is_dir():
        raise BenchmarkDataError(f"{what} data not found: {path} is not a directory; {expected}")
    return path


def first_existing(root: Path, subpaths: Iterable[str]) -> list[Path]:
    """The directories ``root/sub`` that exist, in order (``""`` is ``root`` itself)."""
    out = []
    for sub in subpaths:
        path = root / sub if sub else root
        if path.is_dir() and path not in out:
            out.append(path)
    return out


def manifest_checks(directory: Path, levels: int = 3) -> dict[Path, dict]:
    """Manifest entries by resolved testbench path, from the first ``manifest.json`` found
    in ``directory`` or up to ``levels`` parents (the shared layout keeps one at its root).
    Empty when there is none (an upstream checkout): reference results are then unknown."""
    directory = directory.resolve()
    for base in [directory, *list(directory.parents)[:levels]]:
        manifest = base / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text())
            entries = data["problems"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        out = {}
        for entry in entries:
            try:
                out[(base / entry["files"]["testbench"]).resolve()] = entry
            except (KeyError, TypeError):
                continue
        return out
    return {}


def reference_result(entry: dict | None) -> tuple[bool | None, str]:
    """(reference passes?, note) from a manifest entry's ``reference_check``."""
    if not entry:
        return None, ""
    check = entry.get("reference_check") or {}
    result = check.get("result")
    passes = {"pass": True, "fail": False}.get(result)
    note = check.get("reason") or check.get("note") or ""
    if passes is False and not note:
        code = check.get("sv_iv_analyze_code")
        note = f"reference fails its own testbench under {check.get('simulator', 'Icarus Verilog')}" + (
            f" (code {code})" if code else ""
        )
    return passes, str(note)


def messages(problem: EvalProblem, system_prompt: str | None) -> list[dict[str, str]]:
    """``[system?, user(problem.prompt)]``."""
    out = []
    if system_prompt:
        out.append({"role": "system", "content": system_prompt})
    out.append({"role": "user", "content": problem.prompt})
    return out


# --- sandboxed steps ----------------------------------------------------------------

@dataclasses.dataclass
class ToolRun:
    returncode: int | None
    timed_out: bool
    log: str
    seconds: float


def run_tool(argv: list[str], workdir: Path, wall_seconds: float, log_name: str, confine: bool = True) -> ToolRun:
    """Run one step in ``workdir`` through the sandbox (``confine``: able to write only
    there); its whole stdout+stderr.

    Compiling needs no confinement (``iverilog`` writes only its ``-o`` file, in ``workdir``;
    a sample's file I/O runs in the simulation), and skipping it saves 2-3 ms a sample."""
    from verilog_env.sim import sandbox

    limits = sandbox.Limits(wall_seconds=wall_seconds, memory_bytes=MEMORY_BYTES, output_bytes=OUTPUT_BYTES)
    result = sandbox.run(argv, workdir, limits, log_name=log_name, keep=_KEEP, confine=confine)
    log = result.output
    if result.output_bytes > 2 * _KEEP:
        try:
            log = (workdir / log_name).read_bytes().decode("utf-8", "replace")
        except OSError:
            pass
    return ToolRun(result.returncode, result.timed_out, log, result.seconds)


def confinement() -> str:
    """How the official flows' steps are confined here, in words (a run summary's ``confinement``)."""
    from verilog_env.sim import sandbox

    why = sandbox.confinement_unavailable()
    if why is None:
        return "bwrap: each simulation step can write only its work directory"
    return f"none ({why}): only the screen keeps samples from writing files"


def tools() -> tuple[str, str]:
    """Paths of ``iverilog`` and ``vvp`` (raises ``SimulatorNotFoundError`` with install advice)."""
    from verilog_env.sim import icarus

    return icarus.tools()


class workdir_for:
    """``with workdir_for(path) as wd``: ``path`` (created) when given, else a sandbox Workdir."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self._given = Path(path) if path is not None else None
        self._workdir = None

    def __enter__(self) -> Path:
        if self._given is not None:
            self._given.mkdir(parents=True, exist_ok=True)
            return self._given
        from verilog_env.sim import sandbox

        self._workdir = sandbox.Workdir()
        return self._workdir.__enter__()

    def __exit__(self, *exc) -> None:
        if self._workdir is not None:
            self._workdir.__exit__(*exc)


_FILE_CACHE: dict[Path, bytes] = {}
_FILE_LOCK = threading.Lock()


def file_bytes(path: Path) -> bytes:
    """Contents of a (read-only) benchmark file, read once per process."""
    data = _FILE_CACHE.get(path)
    if data is None:
        data = Path(path).read_bytes()
        with _FILE_LOCK:
            _FILE_CACHE[path] = data
    return data


def place(src: Path, dest: Path) -> None:
    """Copy a benchmark file or folder into the work directory (files from memory)."""
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.write_bytes(file_bytes(src))


def excerpt(log: str, patterns: Sequence[str], limit: int = 3) -> str:
    lines = [ln.strip() for ln in log.splitlines() if any(p in ln for p in patterns)]
    return " | ".join(lines[:limit])[:500]


@dataclasses.dataclass
class OfficialRun:
    """One sample through the official flow, with its full log and timings."""

    passed: bool
    outcome: str
    detail: str
    log: str = dataclasses.field(repr=False, default="")
    compile_seconds: float = 0.0
    sim_seconds: float = 0.0
    seconds: float = 0.0
    timed_out: bool = False
    """The harness's own time limit stopped a step (not a line the testbench printed)."""

    @property
    def code(self) -> str:  # the name tests/mutation tools use
        return self.outcome

    def to_score(self) -> SampleScore:
        return SampleScore(passed=self.passed, outcome=self.outcome, detail=self.detail, seconds=round(self.seconds, 4))


# --- cache --------------------------------------------------------------------------

class ScoreCache:
    """Verdicts by a hash of (suite, problem, its testbench path, timeout, code); thread-safe, bounded."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, SampleScore] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def key(suite: str, problem: EvalProblem, code: str, timeout: float | None, screened: bool = True) -> str:
        h = hashlib.sha256()
        for part in (suite, problem.key, str(problem.files.get("testbench", "")), repr(timeout), repr(screened)):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        h.update(code.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def get(self, key: str) -> SampleScore | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            self._data.move_to_end(key)
            self.hits += 1
        return dataclasses.replace(found, seconds=0.0)

    def put(self, key: str, score: SampleScore) -> None:
        with self._lock:
            self._data[key] = dataclasses.replace(score)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = 0

    def __len__(self) -> int:
        return len(self._data)


class OfficialSuite:
    """Base of the built-in suites: ``score`` = cache + ``run_official`` (defined by the suite)."""

    name: str
    cache_enabled: bool = True
    screen_samples: bool = True
    """True (default): refuse samples that could fake the testbench's verdict (ending the
    simulation, printing, reaching into the testbench) or that the screen cannot analyse,
    with outcome ``screened``, and compile the rest as the text the screen analysed
    (:mod:`benchmarks.screen`). False: score every sample exactly as upstream does."""
    token_cache: bool = True
    """True (default): a pass also answers later samples with the same tokens (whitespace and
    comments aside, :func:`benchmarks.screen.inspect`). False: only identical text."""
    dump_waveforms: bool = False
    """False (default): ``vvp ... -none``, the testbench's VCD dumping is a no-op (verdicts are
    unaffected, simulation is faster). True: upstream's exact command line, writing ``wave.vcd``."""

    @property
    def vvp_extended_args(self) -> list[str]:
        return [] if self.dump_waveforms else ["-none"]

    def __init__(self) -> None:
        self.cache = ScoreCache()
        self._running: dict[str, threading.Event] = {}
        self._running_lock = threading.Lock()

    @property
    def default_data(self) -> str | None:
        return default_data_root()

    def messages(self, problem: EvalProblem, system_prompt: str | None) -> list[dict[str, str]]:
        return messages(problem, system_prompt)

    def run_official(
        self, problem: EvalProblem, code: str, timeout: float | None = None, workdir: str | os.PathLike | None = None
    ) -> OfficialRun:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def inspection(self, problem: EvalProblem, code: str) -> Inspection:
        """The screen's view of ``code`` (:func:`benchmarks.screen.inspect`, cached): with
        screening, a refusal or the text to compile; without, ``code`` itself."""
        return inspect(code, problem.top, screen=self.screen_samples)

    @property
    def confinement(self) -> str:
        """How this suite's steps are confined (:func:`confinement`; the run summary records it)."""
        return confinement()

    def score(self, problem: EvalProblem, code: str, timeout: float | None = None) -> SampleScore:
        """The official verdict on ``code``, from the caches when they can answer.

        Two caches: the exact text, and - for passes only - the sample's tokens without
        whitespace and comments (:func:`benchmarks.screen.inspect`): samples equal there
        compile to the same program. While one such sample runs, an equal one waits for it
        instead of running alongside.
        """
        if problem.suite != self.name:
            raise ValueError(f"problem {problem.key} belongs to suite {problem.suite!r}, not {self.name!r}")
        key = ScoreCache.key(self.name, problem, code, timeout, self.screen_samples) if self.cache_enabled else None
        if key is not None:
            found = self.cache.get(key)
            if found is not None:
                return found
        started = time.perf_counter()
        seen = self.inspection(problem, code)
        if seen.refusal is not None:
            result = SampleScore(False, SCREENED, seen.refusal, time.perf_counter() - started)
        elif key is None or seen.canonical is None or not self.token_cache:
            result = self.run_official(problem, code, timeout=timeout).to_score()
        else:
            result = self._score_tokens(problem, code, timeout, seen.canonical)
        if key is not None:
            self.cache.put(key, result)
        return result

    def _score_tokens(self, problem: EvalProblem, code: str, timeout: float | None, tokens: str) -> SampleScore:
        key = ScoreCache.key(self.name + " tokens", problem, tokens, timeout, self.screen_samples)
        while True:
            found = self.cache.get(key)
            if found is not None:
                return found
            with self._running_lock:
                running = self._running.get(key)
                if running is None:  # nobody runs an equal sample: this thread does
                    mine = self._running[key] = threading.Event()
                    break
            running.wait()  # then look again: a pass answers; after a fail, this one runs
        try:
            result = self.run_official(problem, code, timeout=timeout).to_score()
            if result.passed:
                self.cache.put(key, result)
        finally:
            with self._running_lock:
                self._running.pop(key, None)
            mine.set()
        return result


# --- the references' self-check -----------------------------------------------------

def reference_as_sample(problem: EvalProblem, text: str | None = None) -> str:
    """``text`` (default: the problem's reference) with the reference's top module renamed to
    the name the testbench instantiates (VerilogEval ``RefModule``→``TopModule``, RTLLM
    ``verified_<design>``→``<design>``): what a correct answer looks like.

    A whole-word textual rename, fine for the shipped references (checked by the tests);
    not a general-purpose renamer (it would also rename the word inside comments/strings).
    """
    text = problem.reference if text is None else text
    if problem.reference_top == problem.top:
        return text
    return re.sub(rf"\b{re.escape(problem.reference_top)}\b", problem.top, text)


@dataclasses.dataclass
class ReferenceRow:
    id: str
    expected: bool | None  # manifest's reference_check (None: unknown)
    passed: bool
    outcome: str
    detail: str
    note: str = ""

    @property
    def agrees(self) -> bool:
        return self.expected is None or self.expected == self.passed


@dataclasses.dataclass
class ReferenceReport:
    suite: str
    rows: list[ReferenceRow]

    @property
    def passing(self) -> list[ReferenceRow]:
        return [r for r in self.rows if r.passed]

    @property
    def failing(self) -> list[ReferenceRow]:
        """References that fail their own testbench here: problems no answer can pass."""
        return [r for r in self.rows if not r.passed]

    @property
    def disagreements(self) -> list[ReferenceRow]:
        """Rows whose result differs from the manifest's recorded ``reference_check``."""
        return [r for r in self.rows if not r.agrees]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "problems": len(self.rows),
            "reference_passes": len(self.passing),
            "reference_fails": [dataclasses.asdict(r) for r in self.failing],
            "disagreements_with_manifest": [dataclasses.asdict(r) for r in self.disagreements],
        }

    def to_markdown(self) -> str:
        lines = [
            (
                f"**{self.suite}**: {len(self.passing)}/{len(self.rows)} references pass their own testbench; "
                f"{len(self.disagreements)} disagree with the manifest."
            )
        ]
        if self.failing:
            lines += ["", "| problem | result | manifest | why |", "|---|:---:|:---:|---|"]
            for r in self.failing:
                manifest = {True: "pass", False: "fail", None: "?"}[r.expected]
                why = (r.note or r.detail).replace("|", "\\|").replace("\n", " ")[:200]
                lines.append(f"| {r.id} | {r.outcome} | {manifest} | {why} |")
        return "\n".join(lines)


def reference_report(
    suite, problems: Sequence[EvalProblem], workers: int | None = None, progress: bool | str = False
) -> ReferenceReport:
    """Score every problem's reference (renamed, :func:`reference_as_sample`) with the official flow.

    Problems whose reference fails are listed in ``failing`` (unsolvable on this simulator);
    ``disagreements`` are results that differ from the data's manifest.
    """
    problems = list(problems)
    scores = score_pairs(suite, [(p, reference_as_sample(p)) for p in problems], workers=workers, progress=progress)
    rows = [
        ReferenceRow(p.id, p.reference_passes, s.passed, s.outcome, s.detail, p.reference_note)
        for p, s in zip(problems, scores)
    ]
    return ReferenceReport(getattr(suite, "name", "?"), rows)


# --- references of unknown status ----------------------------------------------------------

def reference_cache_dir() -> Path:
    """``reference-checks/`` in verilog-env's cache folder (:mod:`verilog_env.cache`;
    imported here, not at the top: ``import benchmarks`` stays light)."""
    from verilog_env.cache import cache_dir

    return cache_dir("reference-checks")


def _files_of(value: Any) -> list[Path]:
    """The files a ``problem.files`` entry names (a path, or a list of paths; folders are
    skipped: the files in them that a run reads are entries of their own)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [Path(v) for v in values if isinstance(v, (str, os.PathLike)) and Path(v).is_file()]


def _reference_key(suite, problem: EvalProblem) -> str:
    """A hash of everything the reference's verdict depends on: the suite and whether it
    screens, the problem, the reference's text and every file the problem names (the
    testbench, data files...)."""
    h = hashlib.sha256()
    screened = repr(getattr(suite, "screen_samples", None))
    for part in (getattr(suite, "name", "?"), screened, problem.id, problem.top, problem.reference_top,
                 problem.reference):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    files = problem.files or {}
    for role in sorted(files, key=str):
        for path in _files_of(files[role]):
            h.update(f"{role}:{path.name}".encode("utf-8", "surrogateescape") + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def check_unknown_references(
    suite, problems: Sequence[EvalProblem], workers: int | None = None, progress: bool | str = False
) -> list[EvalProblem]:
    """``problems`` with ``reference_passes`` filled in where it was unknown (``None``: no
    manifest says, as for ``rtllm-v2`` or a user's suite): each such reference is scored
    against its own testbench with the official flow (:func:`reference_report`), once per
    content (cached on disk, :func:`reference_cache_dir`, keyed by :func:`_reference_key`),
    so a problem no answer can pass is excluded from the headline like the other suites'
    known failures, with a note that says it was checked here. A check the harness itself
    failed (outcome ``harness_error``) leaves the status unknown and is not cached."""
    problems = list(problems)
    unknown = [i for i, p in enumerate(problems) if p.reference_passes is None]
    if not unknown:
        return problems
    cache = reference_cache_dir()
    keys = {i: _reference_key(suite, problems[i]) for i in unknown}
    found: dict[int, tuple[bool, str]] = {}
    todo = []
    for i in unknown:
        try:
            entry = json.loads((cache / f"{keys[i]}.json").read_text())
            found[i] = (bool(entry["passed"]), str(entry["note"]))
        except (OSError, ValueError, KeyError, TypeError):
            todo.append(i)
    if todo:
        report = reference_report(suite, [problems[i] for i in todo], workers=workers,
                                  progress="references" if progress else False)
        for i, row in zip(todo, report.rows):
            if row.outcome == HARNESS_ERROR:
                continue  # no verdict on the reference: unknown, as before; checked again next run
            note = "" if row.passed else (
                f"reference fails its own testbench here (checked by verilog-env: {row.outcome}"
                + (f", {' '.join(row.detail.split())[:160]}" if row.detail else "") + ")")
            found[i] = (row.passed, note)
            try:
                cache.mkdir(parents=True, exist_ok=True)
                (cache / f"{keys[i]}.json").write_text(json.dumps(
                    {"suite": getattr(suite, "name", "?"), "id": problems[i].id, "passed": row.passed, "note": note}))
            except OSError:
                pass  # an unwritable cache only costs the check next time
    for i, (passed, note) in found.items():
        problems[i] = dataclasses.replace(problems[i], reference_passes=passed,
                                          reference_note=problems[i].reference_note or note)
    return problems
