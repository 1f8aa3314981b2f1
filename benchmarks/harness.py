"""Run a benchmark: generate samples, score them with the suite's own criterion, report pass@k.

One suite's run lives in one directory (its files, their readers and writers:
:mod:`benchmarks.rundir`): ``problems.json``, ``run.json``, ``samples.jsonl``,
``results.jsonl``, ``equivalence.jsonl`` (with ``also_equivalence``) and the summaries
(:mod:`benchmarks.report`).

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from . import official, report
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
from .passk import DEFAULT_KS
from .registry import EvalProblem, EvalSuite, SampleScore
from .rundir import (
    EQUIVALENCE,
    RESULTS,
    SAMPLES,
    HarnessError,
    JsonlAppender,
    code_sha,
    read_jsonl,
    record_problems,
    record_settings,
    sample_key,
    update_run,
)
from .scoring import HARNESS_ERROR, score_pairs

if TYPE_CHECKING:
    from verilog_env import CheckSettings

DETAIL_CHARS = 2000

# Settings a resumed run must share with the samples already on disk (n may grow).
_FIXED_SETTINGS = ("model", "temperature", "top_p", "max_tokens", "seed", "system_prompt_sha256", "think_prefilled")

# ---------------------------------------------------------------- settings and problems


@dataclasses.dataclass
class RunConfig:
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


def _record_confinement(out_dir: Path, suite: EvalSuite) -> None:
    """Note in run.json how the suite's simulations were confined (``OfficialSuite.confinement``;
    the summary's ``confinement``)."""
    confinement = getattr(suite, "confinement", None)
    if confinement is not None:
        update_run(out_dir, confinement=confinement)


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
    settings: RunConfig,
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
    settings: RunConfig,
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
            rows.setdefault(sample_key(row), row)
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


NO_CODE = SampleScore(False, "no_code", "no Verilog code found in the response")


def _fill_column(path: Path, what: str, by_id: dict, samples: Sequence[dict], *, reusable, row_of, judge,
                 desc: str, progress: bool) -> list[dict]:
    """A column of the run directory (``results.jsonl``, ``equivalence.jsonl``) for ``samples``,
    resumed: a row already there for the same code is kept when ``reusable(row)``; every
    other sample gets ``row_of(sample, score)`` appended as soon as its score exists:
    :data:`NO_CODE` for a sample without code (nothing is run), else from
    ``judge(samples_with_code, finish)``, which calls ``finish(sample, score)``.
    Returns the rows of ``samples``, by problem then index."""
    wanted = {sample_key(s): s for s in samples if str(s["problem_id"]) in by_id}
    done: dict[tuple[str, int], dict] = {}
    for row in read_jsonl(path, what=what):
        sample = wanted.get(sample_key(row))
        if sample is not None and reusable(row) and row.get("code_sha") == code_sha(sample.get("code")):
            done[sample_key(row)] = row
    pending = [s for k, s in wanted.items() if k not in done]
    if pending:
        bar = tqdm(total=len(pending), desc=desc, unit="sample", disable=not progress, dynamic_ncols=True)
        with JsonlAppender(path) as out:

            def finish(sample: dict, score: SampleScore) -> None:
                row = row_of(sample, score)
                out.write(row)
                done[sample_key(sample)] = row
                bar.update(1)

            with_code = []
            for sample in pending:
                if sample.get("code") is None:
                    finish(sample, NO_CODE)
                else:
                    with_code.append(sample)
            try:
                judge(with_code, finish)
            finally:
                bar.close()
    return [done[k] for k in sorted(done) if k in wanted]


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
    ``workers`` threads, default one per core: :func:`benchmarks.scoring.score_pairs`),
    each result written as soon as it exists; return the result rows of ``samples``.

    A sample without code fails with outcome ``no_code`` (nothing is run). A scorer
    exception fails the sample with outcome ``harness_error`` (recorded with
    ``"error": true`` and scored again on the next run); a missing simulator stops the run.
    """
    by_id = {p.id: p for p in problems}

    def judge(to_run: list[dict], finish) -> None:
        score_pairs(suite, [(by_id[str(s["problem_id"])], s["code"]) for s in to_run], workers, False, timeout,
                    on_score=lambda i, score: finish(to_run[i], score), measure=True)

    return _fill_column(
        Path(out_dir) / RESULTS, "results file", by_id, samples, desc=f"score {suite.name}", progress=progress,
        reusable=lambda row: not row.get("error"), judge=judge,
        row_of=lambda sample, score: _result_row(sample, score, error=score.outcome == HARNESS_ERROR),
    )


# ---------------------------------------------------------------- second opinion: equivalence


def equivalence_column(
    problems: Sequence[EvalProblem],
    samples: Sequence[dict],
    out_dir: Path,
    settings: CheckSettings | None = None,
    *,
    progress: bool = True,
    chunk: int = 256,
) -> list[dict]:
    """Check the samples with :func:`verilog_env.check_requests` (under ``settings``,
    default ``CheckSettings()``) against each problem's reference (top ``reference_top``,
    candidate top ``top``) into ``equivalence.jsonl`` (resumed like the others). Rows:
    problem_id, sample_index, code_sha, status, equivalent, reason."""
    from verilog_env import CheckRequest, CheckSettings, check_requests

    settings = settings or CheckSettings()
    by_id = {p.id: p for p in problems}

    def judge(to_check: list[dict], finish) -> None:
        for start in range(0, len(to_check), chunk):
            part = to_check[start : start + chunk]
            requests = []
            for s in part:
                p = by_id[str(s["problem_id"])]
                requests.append(CheckRequest(p.reference, s["code"], top=p.reference_top, candidate_top=p.top))
            for s, verdict in zip(part, check_requests(requests, settings)):
                finish(s, SampleScore(verdict.equivalent, verdict.status.value, verdict.reason or ""))

    def row_of(sample: dict, score: SampleScore) -> dict:
        return {
            "problem_id": sample["problem_id"],
            "sample_index": sample["sample_index"],
            "code_sha": code_sha(sample.get("code")),
            "status": score.outcome,
            "equivalent": score.outcome == "equivalent",
            "reason": _trim(score.detail, 500),
        }

    return _fill_column(Path(out_dir) / EQUIVALENCE, "equivalence file", by_id, samples, desc="equivalence",
                        progress=progress, reusable=lambda row: True, judge=judge, row_of=row_of)


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
    also_equivalence: bool | CheckSettings = False,
    ks: Sequence[int] = DEFAULT_KS,
    progress: bool = True,
    write_report: bool = True,
) -> dict:
    """Generate (resuming), score (resuming) and summarise one suite in ``out_dir``.

    ``n`` is the number of samples each problem must have: only missing indices
    ``0..n-1`` are generated; samples already on disk beyond ``n`` are kept and counted.
    ``seed``: a request for samples ``i..`` is seeded ``seed + i`` (``None``: unseeded).

    ``generator=None`` scores the samples already in ``out_dir/samples.jsonl`` without
    generating. ``also_equivalence``: also check every sample with verilog_env's checker
    (``True``: default :class:`~verilog_env.CheckSettings`; a ``CheckSettings``: those), see
    :func:`equivalence_column`. Returns the suite's summary (see :func:`benchmarks.report.summarize`);
    with ``write_report`` also writes summary.json / summary.md / passk.png there.
    """
    if n < 1:
        raise HarnessError(f"n must be >= 1, got {n}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = RunConfig(n, temperature, top_p, max_tokens, seed, system_prompt, think_prefilled, model)
    # References no manifest vouches for are checked against their own testbench (cached),
    # so unsolvable problems leave the headline here too.
    problems = official.check_unknown_references(suite, problems, workers=score_workers, progress=progress)
    record_problems(out_dir, problems)
    if generator is not None:
        if settings.model is None:
            settings.model = getattr(generator, "model", None) or getattr(generator, "model_name", None)
        backend = getattr(generator, "name", type(generator).__name__)
        record_settings(out_dir, settings.fixed(), backend, _FIXED_SETTINGS)
        samples = generate_samples(suite, problems, generator, out_dir, settings, progress=progress)
    else:
        ids = {p.id for p in problems}
        samples = [s for s in read_jsonl(out_dir / SAMPLES, what="samples file") if str(s.get("problem_id")) in ids]
    score_samples(suite, problems, samples, out_dir, workers=score_workers, timeout=score_timeout, progress=progress)
    _record_confinement(out_dir, suite)
    if also_equivalence:
        check = None if isinstance(also_equivalence, bool) else also_equivalence
        equivalence_column(problems, samples, out_dir, check, progress=progress)
    summary = report.summarize(out_dir, ks=ks, problem_ids=[p.id for p in problems])
    if write_report:
        for note in report.write_report(out_dir, [summary]):
            if progress:
                tqdm.write(note)
    return summary
