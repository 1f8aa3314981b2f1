"""Run a benchmark: generate samples, score them with the suite's own criterion, report pass@k.

One suite's run lives in one directory::

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
    summary.json / summary.md / passk.png   (see benchmarks.report)

Everything resumes: on restart, finished samples are never generated again (only missing
``(problem, index)`` pairs are requested), and scored samples are not scored again. Each
completed request is written and flushed at once, so an interrupt loses at most the
requests in flight.

Only the :class:`benchmarks.registry.EvalSuite` protocol is used (``messages`` and
``score``), so any registered suite works.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .generation import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_N,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    Completion,
    GenerationRequest,
    Generator,
    Sampling,
    extract_code,
    split_n,
)
from .official import default_workers
from .passk import DEFAULT_KS
from .registry import EvalProblem, EvalSuite, SampleScore

SAMPLES = "samples.jsonl"
RESULTS = "results.jsonl"
EQUIVALENCE = "equivalence.jsonl"
PROBLEMS = "problems.json"
RUN = "run.json"
DETAIL_CHARS = 2000

# Settings a resumed run must share with the samples already on disk (n may grow).
_FIXED_SETTINGS = ("model", "temperature", "top_p", "max_tokens", "seed", "system_prompt_sha256", "think_prefilled")


class HarnessError(RuntimeError):
    """A run cannot go on as asked (settings differ from the samples on disk, a bad
    samples file...). The message is one line for the user."""


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


def code_sha(code: str | None) -> str | None:
    return None if code is None else hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]


def _key(row: dict) -> tuple[str, int]:
    return (str(row["problem_id"]), int(row["sample_index"]))


# ---------------------------------------------------------------- settings and problems


@dataclasses.dataclass
class RunSettings:
    """Sampling settings of a run (CodeV-R1 protocol by default)."""

    n: int = DEFAULT_N
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = DEFAULT_MAX_TOKENS
    seed: int | None = None
    system_prompt: str | None = None
    think_prefilled: bool = False
    model: str | None = None

    def fixed(self) -> dict[str, Any]:
        sha = None if self.system_prompt is None else hashlib.sha256(self.system_prompt.encode()).hexdigest()
        return {
            "model": self.model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "system_prompt_sha256": sha,
            "think_prefilled": self.think_prefilled,
        }


def _check_settings(out_dir: Path, settings: dict[str, Any], backend: str) -> None:
    path = out_dir / RUN
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
        for key in _FIXED_SETTINGS:
            if key in old and old[key] != settings[key] and (out_dir / SAMPLES).exists():
                raise HarnessError(
                    f"{out_dir} holds samples generated with {key}={old[key]!r}, not {settings[key]!r}: "
                    "use another --out, or delete that directory to start over"
                )
    record = {**settings, "backend": backend, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.write_text(json.dumps(record, indent=2) + "\n")


def _record_confinement(out_dir: Path, suite: EvalSuite) -> None:
    """Note in run.json how the suite's simulations were confined (``OfficialSuite.confinement``;
    the summary's ``confinement``)."""
    confinement = getattr(suite, "confinement", None)
    if confinement is None:
        return
    path = out_dir / RUN
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        record = {}
    record["confinement"] = confinement
    path.write_text(json.dumps(record, indent=2) + "\n")


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


def record_problems(out_dir: Path, problems: Iterable[EvalProblem]) -> None:
    """Merge ``problems`` into ``problems.json`` (a directory may collect several runs)."""
    path = out_dir / PROBLEMS
    known: dict[str, dict] = {}
    if path.exists():
        try:
            known = {p["id"]: p for p in json.loads(path.read_text())}
        except (json.JSONDecodeError, KeyError, TypeError):
            known = {}
    for problem in problems:
        known[problem.id] = problem_record(problem)
    path.write_text(json.dumps(list(known.values()), indent=1) + "\n")


def select_problems(
    problems: Sequence[EvalProblem], ids: Sequence[str] | None = None, limit: int | None = None
) -> list[EvalProblem]:
    """The problems named in ``ids`` (all when ``None``, in suite order), at most ``limit``."""
    chosen = list(problems)
    if ids:
        wanted = set(ids)
        chosen = [p for p in chosen if p.id in wanted]
    if limit is not None:
        chosen = chosen[: max(0, limit)]
    return chosen


# ---------------------------------------------------------------- generation


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Contiguous ``(start, count)`` runs of sorted ``indices``."""
    out: list[tuple[int, int]] = []
    for i in indices:
        if out and out[-1][0] + out[-1][1] == i:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


def plan_requests(
    suite: EvalSuite,
    problems: Sequence[EvalProblem],
    done: set[tuple[str, int]],
    settings: RunSettings,
    max_n_per_request: int | None,
) -> list[GenerationRequest]:
    """Requests for the missing samples: each contiguous run of missing indices of a
    problem, split at ``max_n_per_request``. A request starting at sample index ``i`` is
    seeded ``seed + i``, so a sample's seed does not depend on how the run was cut."""
    requests = []
    for problem in problems:
        missing = [i for i in range(settings.n) if (problem.id, i) not in done]
        if not missing:
            continue
        messages = suite.messages(problem, settings.system_prompt)
        for start, count in _runs(missing):
            for offset, size in split_n(count, max_n_per_request):
                first = start + offset
                seed = None if settings.seed is None else settings.seed + first
                requests.append(GenerationRequest(messages, size, seed, key=(problem, first)))
    return requests


def generate_samples(
    suite: EvalSuite,
    problems: Sequence[EvalProblem],
    generator: Generator,
    out_dir: Path,
    settings: RunSettings,
    *,
    progress: bool = True,
) -> list[dict]:
    """Generate the missing samples of ``problems`` into ``samples.jsonl``; return every
    sample row of these problems (old and new), by problem then index."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SAMPLES
    rows: dict[tuple[str, int], dict] = {}
    for row in read_jsonl(path, what="samples file"):
        if row.get("suite", suite.name) == suite.name:
            rows.setdefault(_key(row), row)
    requests = plan_requests(suite, problems, set(rows), settings, getattr(generator, "max_n_per_request", None))
    total = sum(r.n for r in requests)
    if requests:
        sampling = Sampling(settings.temperature, settings.top_p, settings.max_tokens)
        consumed: dict[int, int] = {}
        bar = tqdm(total=total, desc=f"generate {suite.name}", unit="sample", disable=not progress, dynamic_ncols=True)
        with JsonlAppender(path) as out:

            def on_result(request: GenerationRequest, completions: list[Completion]) -> None:
                problem, first = request.key
                offset = consumed.get(id(request), 0)
                consumed[id(request)] = offset + len(completions)
                for j, completion in enumerate(completions):
                    index = first + offset + j
                    extracted = extract_code(completion.text, problem.header, think_prefilled=settings.think_prefilled)
                    row = {
                        "suite": suite.name,
                        "problem_id": problem.id,
                        "sample_index": index,
                        "seed": request.seed,  # the request's seed; this is choice `choice` of it
                        "choice": offset + j,
                        "response": completion.text,
                        "finish_reason": completion.finish_reason,
                        "tokens": completion.tokens,
                        "code": extracted.code,
                        "format_ok": extracted.format_ok,
                        "extraction": extracted.source,
                    }
                    out.write(row)
                    rows.setdefault((problem.id, index), row)
                bar.update(len(completions))

            try:
                generator.generate_requests(requests, sampling, on_result)
            finally:
                bar.close()
    ids = {p.id for p in problems}
    return [rows[k] for k in sorted(rows) if k[0] in ids]


# ---------------------------------------------------------------- scoring


def _trim(text: str, limit: int = DETAIL_CHARS) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 :]


def _result_row(sample: dict, score: SampleScore, *, error: bool = False) -> dict:
    row = {
        "suite": sample.get("suite"),
        "problem_id": sample["problem_id"],
        "sample_index": sample["sample_index"],
        "code_sha": code_sha(sample.get("code")),
        "format_ok": sample.get("format_ok"),
        "finish_reason": sample.get("finish_reason"),
        "passed": bool(score.passed),
        "outcome": score.outcome,
        "detail": _trim(score.detail),
        "seconds": round(float(score.seconds or 0.0), 4),
    }
    if error:
        row["error"] = True
    return row


def _fatal(error: BaseException) -> bool:
    """Errors that are the set-up's fault, not the sample's: stop instead of scoring 0."""
    from verilog_env.sim.icarus import SimulatorNotFoundError

    from .registry import BenchmarkDataError

    return isinstance(error, (SimulatorNotFoundError, BenchmarkDataError, MemoryError))


def score_samples(
    suite: EvalSuite,
    problems: Sequence[EvalProblem],
    samples: Sequence[dict],
    out_dir: Path,
    *,
    workers: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> list[dict]:
    """Score every sample not yet in ``results.jsonl`` with ``suite.score`` (on
    ``workers`` threads, default one per core); return the result rows of ``samples``.

    A sample without code fails with outcome ``no_code`` (nothing is run). A scorer
    exception fails the sample with outcome ``harness_error`` (recorded with
    ``"error": true`` and scored again on the next run); a missing simulator stops the run.
    """
    out_dir = Path(out_dir)
    path = out_dir / RESULTS
    by_id = {p.id: p for p in problems}
    wanted = {_key(s): s for s in samples if str(s["problem_id"]) in by_id}
    done: dict[tuple[str, int], dict] = {}
    for row in read_jsonl(path, what="results file"):
        key = _key(row)
        sample = wanted.get(key)
        if sample is not None and not row.get("error") and row.get("code_sha") == code_sha(sample.get("code")):
            done[key] = row
    pending = [s for k, s in wanted.items() if k not in done]
    if pending:
        workers = workers or default_workers()
        bar = tqdm(total=len(pending), desc=f"score {suite.name}", unit="sample", disable=not progress, dynamic_ncols=True)
        with JsonlAppender(path) as out:

            def finish(sample: dict, score: SampleScore, error: bool = False) -> None:
                row = _result_row(sample, score, error=error or score.outcome == "harness_error")
                out.write(row)
                done[_key(sample)] = row
                bar.update(1)

            to_run = []
            for sample in pending:
                if sample.get("code") is None:
                    finish(sample, SampleScore(False, "no_code", "no Verilog code found in the response"))
                else:
                    to_run.append(sample)
            try:
                _score_threads(suite, by_id, to_run, timeout, workers, finish)
            finally:
                bar.close()
    return [done[k] for k in sorted(done) if k in wanted]


def _score_threads(suite, by_id, to_run, timeout, workers, finish) -> None:
    """``suite.score`` on a thread pool (the work is in subprocesses), each result
    written as soon as it exists. Samples with the same code for the same problem are
    scored once."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for sample in to_run:
        groups.setdefault((str(sample["problem_id"]), sample["code"]), []).append(sample)

    def one(problem_id: str, code: str) -> SampleScore:
        start = time.perf_counter()
        score = suite.score(by_id[problem_id], code, timeout=timeout)
        if not score.seconds:
            score.seconds = time.perf_counter() - start
        return score

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, *key): key for key in groups}
        try:
            for future in as_completed(futures):
                samples = groups[futures[future]]
                try:
                    score = future.result()
                except Exception as error:  # one bad sample must not stop the run
                    if _fatal(error):
                        raise
                    for sample in samples:
                        finish(sample, SampleScore(False, "harness_error", f"{type(error).__name__}: {error}"), True)
                else:
                    for sample in samples:
                        finish(sample, dataclasses.replace(score))
        except BaseException:
            for f in futures:
                f.cancel()
            raise


# ---------------------------------------------------------------- second opinion: equivalence


def equivalence_column(
    problems: Sequence[EvalProblem],
    samples: Sequence[dict],
    out_dir: Path,
    *,
    seed: int = 0,
    timeout: float | None = None,
    progress: bool = True,
    chunk: int = 256,
) -> list[dict]:
    """Check the samples with :func:`verilog_env.check_requests` against each problem's
    reference (top ``reference_top``, candidate top ``top``) into ``equivalence.jsonl``
    (resumed like the others). Rows: problem_id, sample_index, code_sha, status,
    equivalent, reason."""
    from verilog_env import CheckRequest, check_requests
    from verilog_env.equiv.check import DEFAULT_TIMEOUT

    out_dir = Path(out_dir)
    path = out_dir / EQUIVALENCE
    by_id = {p.id: p for p in problems}
    wanted = {_key(s): s for s in samples if str(s["problem_id"]) in by_id}
    done: dict[tuple[str, int], dict] = {}
    for row in read_jsonl(path, what="equivalence file"):
        sample = wanted.get(_key(row))
        if sample is not None and row.get("code_sha") == code_sha(sample.get("code")):
            done[_key(row)] = row
    pending = [s for k, s in wanted.items() if k not in done]
    if pending:
        bar = tqdm(total=len(pending), desc="equivalence", unit="sample", disable=not progress, dynamic_ncols=True)
        with JsonlAppender(path) as out:

            def finish(sample: dict, status: str, reason: str) -> None:
                row = {
                    "problem_id": sample["problem_id"],
                    "sample_index": sample["sample_index"],
                    "code_sha": code_sha(sample.get("code")),
                    "status": status,
                    "equivalent": status == "equivalent",
                    "reason": _trim(reason, 500),
                }
                out.write(row)
                done[_key(sample)] = row
                bar.update(1)

            to_check = []
            for sample in pending:
                if sample.get("code") is None:
                    finish(sample, "no_code", "no Verilog code found in the response")
                else:
                    to_check.append(sample)
            try:
                for start in range(0, len(to_check), chunk):
                    part = to_check[start : start + chunk]
                    requests = []
                    for s in part:
                        p = by_id[str(s["problem_id"])]
                        requests.append(CheckRequest(p.reference, s["code"], top=p.reference_top, candidate_top=p.top))
                    verdicts = check_requests(requests, seed=seed, timeout=timeout or DEFAULT_TIMEOUT)
                    for s, verdict in zip(part, verdicts):
                        finish(s, verdict.status.value, verdict.reason or "")
            finally:
                bar.close()
    return [done[k] for k in sorted(done) if k in wanted]


# ---------------------------------------------------------------- the whole run


def run(
    suite: EvalSuite,
    problems: Sequence[EvalProblem],
    generator: Generator | None,
    out_dir: str | Path,
    *,
    n: int = DEFAULT_N,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float = DEFAULT_TOP_P,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    seed: int | None = None,
    system_prompt: str | None = None,
    think_prefilled: bool = False,
    model: str | None = None,
    score_workers: int | None = None,
    score_timeout: float | None = None,
    also_equivalence: bool = False,
    ks: Sequence[int] = DEFAULT_KS,
    progress: bool = True,
    write_report: bool = True,
) -> dict:
    """Generate (resuming), score (resuming) and summarise one suite in ``out_dir``.

    ``n`` is the number of samples each problem must have: only missing indices
    ``0..n-1`` are generated; samples already on disk beyond ``n`` are kept and counted.
    ``seed``: a request for samples ``i..`` is seeded ``seed + i`` (``None``: unseeded).

    ``generator=None`` scores the samples already in ``out_dir/samples.jsonl`` without
    generating. Returns the suite's summary (see :func:`benchmarks.report.summarize`);
    with ``write_report`` also writes summary.json / summary.md / passk.png there.
    """
    from . import report

    if n < 1:
        raise HarnessError(f"n must be >= 1, got {n}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = RunSettings(n, temperature, top_p, max_tokens, seed, system_prompt, think_prefilled, model)
    record_problems(out_dir, problems)
    if generator is not None:
        if settings.model is None:
            settings.model = getattr(generator, "model", None) or getattr(generator, "model_name", None)
        _check_settings(out_dir, settings.fixed(), getattr(generator, "name", type(generator).__name__))
        samples = generate_samples(suite, problems, generator, out_dir, settings, progress=progress)
    else:
        ids = {p.id for p in problems}
        samples = [s for s in read_jsonl(out_dir / SAMPLES, what="samples file") if str(s.get("problem_id")) in ids]
    score_samples(suite, problems, samples, out_dir, workers=score_workers, timeout=score_timeout, progress=progress)
    _record_confinement(out_dir, suite)
    if also_equivalence:
        equivalence_column(problems, samples, out_dir, timeout=score_timeout, progress=progress)
    summary = report.summarize(out_dir, ks=ks, problem_ids=[p.id for p in problems])
    if write_report:
        for note in report.write_report(out_dir, [summary]):
            if progress:
                tqdm.write(note)
    return summary
