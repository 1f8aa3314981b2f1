"""Scoring many samples: the one thread pool that runs ``suite.score`` over ``(problem, code)`` pairs.

The work is in the suites' sandboxed subprocesses, so threads keep every core busy.
Identical pairs are scored once. :mod:`benchmarks.harness` streams each verdict into
``results.jsonl`` as it comes (``on_score``); :func:`benchmarks.official.reference_report`
and the performance scripts take the list.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from .registry import BenchmarkDataError, EvalProblem, SampleScore

HARNESS_ERROR = "harness_error"
"""Outcome of a sample whose scoring call raised (a harness fault, not a verdict)."""


def default_workers() -> int:
    """Scoring threads: one per core plus one, so the simulators stay busy while a thread
    does its Python part (screening, files)."""
    return (os.cpu_count() or 1) + 1


def fatal(error: BaseException) -> bool:
    """Errors that are the set-up's fault, not the sample's: they stop the scoring instead
    of failing every sample."""
    from verilog_env.sim.icarus import SimulatorNotFoundError

    return isinstance(error, (SimulatorNotFoundError, BenchmarkDataError, MemoryError))


def score_pairs(
    suite,
    pairs: Sequence[tuple[EvalProblem, str]],
    workers: int | None = None,
    progress: bool | str = True,
    timeout: float | None = None,
    *,
    on_score: Callable[[int, SampleScore], None] | None = None,
    measure: bool = False,
) -> list[SampleScore]:
    """Score ``(problem, code)`` pairs with ``suite.score`` on ``workers`` threads (default:
    one per core, plus one); the verdicts in the order of ``pairs``.

    Identical pairs in the batch are scored once. A scoring call that raises gives
    ``outcome='harness_error'`` with the exception in ``detail``, so one fault does not lose
    a whole evaluation (count them apart); a set-up fault (:func:`fatal`: no simulator, no
    data) is raised. ``on_score(i, score)`` is called for every pair ``i`` as soon as its
    verdict exists (from the calling thread). ``measure``: a verdict without ``seconds``
    (e.g. a suite that does not time itself) gets the call's wall time; otherwise a cached
    answer keeps ``seconds == 0``. ``progress``: a tqdm bar (a string sets its label).
    """
    pairs = list(pairs)
    workers = max(1, workers or default_workers())
    unique: dict[tuple[str, str], int] = {}
    jobs: list[tuple[EvalProblem, str]] = []
    copies: list[list[int]] = []  # the pairs each job answers
    for i, (problem, code) in enumerate(pairs):
        k = (problem.key, code)
        if k not in unique:
            unique[k] = len(jobs)
            jobs.append((problem, code))
            copies.append([])
        copies[unique[k]].append(i)

    def one(job: tuple[EvalProblem, str]) -> SampleScore:
        problem, code = job
        started = time.perf_counter()
        try:
            score = suite.score(problem, code, timeout=timeout)
        except Exception as error:  # noqa: BLE001 - reported per sample
            if fatal(error):
                raise
            return SampleScore(False, HARNESS_ERROR, f"{type(error).__name__}: {error}"[:500],
                               time.perf_counter() - started)
        if measure and not score.seconds:
            score = dataclasses.replace(score, seconds=time.perf_counter() - started)
        return score

    results: list[SampleScore | None] = [None] * len(pairs)
    bar = None
    if progress and jobs:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), desc=progress if isinstance(progress, str) else f"scoring {suite.name}",
                   unit="sample", dynamic_ncols=True)

    def done(j: int, score: SampleScore) -> None:
        for i in copies[j]:
            results[i] = dataclasses.replace(score)
            if on_score is not None:
                on_score(i, results[i])
        if bar:
            bar.update(len(copies[j]))

    try:
        if workers == 1 or len(jobs) <= 1:
            for j, job in enumerate(jobs):
                done(j, one(job))
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                futures = {pool.submit(one, job): j for j, job in enumerate(jobs)}
                try:
                    for future in as_completed(futures):
                        done(futures[future], future.result())
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        if bar:
            bar.close()
    return results  # type: ignore[return-value]
