"""The front door of the checker: :func:`check_equivalence`, :func:`check_many`, :func:`check_requests`.

Every caller (the environment, :func:`~verilog_env.score_many`, the reward service,
the CLI, benchmarks, trainers) comes through here with one
:class:`~verilog_env.CheckSettings`. This module dedupes requests, groups them by golden,
packs small groups of different goldens into shared jobs where the judge can run them
together (:func:`_mixed_jobs`; simulation runs them in one simulator run, see
:func:`verilog_env.equiv.simcheck.check_mixed`), hands the jobs to the judges named by
``settings.method`` (:data:`JUDGES`:
simulation and formal verification, peers implementing
:class:`verilog_env.equiv.judge.Judge`) in their worker pools (:mod:`verilog_env.workers`),
and turns every failure of a job (a hang, a dead worker, an exception) into a verdict.
``method="both"`` is simulation, then formal on what simulation passed, merged by
:func:`verilog_env.formal.combine`.

By default every job runs in a worker process, one per core. A worker that hangs
(pathological elaboration) or dies (a parser crash on hostile bytes) is killed and
replaced, and the caller gets a verdict; the caller's process never hangs or crashes.
Pools are created on first use and live until :func:`shutdown` or interpreter exit.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pebble

from . import workers
from .equiv.judge import Judge
from .equiv.prepare import CheckOptions
from .equiv.settings import CheckSettings
from .equiv.simcheck import SIMULATION, combine_simulators, simulators_of
from .equiv.verdict import Status, Verdict
from .formal.check import combine
from .formal.judge import FORMAL
from .sim import sandbox

JUDGES: dict[str, Judge] = {"sim": SIMULATION, "formal": FORMAL}
"""The judges by method name (``"both"`` is ``"sim"`` then ``"formal"``)."""

_seconds_per_golden: dict[tuple[str, int], float] = {}
"""Observed seconds of the last job per (judge, golden hash): the slowest go first next
time, so one heavy problem does not leave a core idle at the end of a batch."""
_GOLDENS_REMEMBERED = 4096


@dataclasses.dataclass(frozen=True)
class CheckRequest:
    """One (golden, candidate) pair for :func:`check_requests`."""

    golden: str
    candidate: str
    top: str | None = None
    candidate_top: str | None = None


def check_requests(
    requests: Sequence[CheckRequest],
    settings: CheckSettings | None = None,
    *,
    progress: bool = False,
    **knobs: Any,
) -> list[Verdict]:
    """Check many (golden, candidate) pairs, possibly of different problems, on every core.

    ``settings`` (:class:`CheckSettings`, default ``CheckSettings()``) says how; keyword
    arguments named like its fields override it for this call
    (``check_requests(reqs, method="both")``). ``settings.method`` picks the judge:
    ``"sim"`` (seeded random simulation), ``"formal"`` (Yosys + ABC proof, see
    :mod:`verilog_env.formal`) or ``"both"`` (simulation first; candidates that pass it
    are then checked formally, see :func:`verilog_env.formal.combine`).

    Requests that share a golden are grouped ``batch_size`` at a time into one simulator
    run (the golden is recorded alone once per worker and cached); a group whose
    shared run fails is re-run one candidate at a time, so verdicts never depend on the
    grouping. Identical requests are checked once (each gets its own copy of the
    verdict). Returns one :class:`Verdict` per request, in order.

    ``seed`` picks the stimulus (same seed, same verdict); ``None`` draws a fresh one for
    this call (:func:`~verilog_env.equiv.settings.fresh_seed`). Each verdict records its
    seed in ``details["seed"]``.
    """
    settings = resolve(settings, knobs).with_seed()
    if settings.method == "formal":
        return _judge(FORMAL, requests, settings, progress)
    if settings.method == "sim":
        return _simulation(requests, settings, progress)
    FORMAL.require(settings)  # before the simulation: a missing Yosys is a set-up error
    verdicts = _simulation(requests, settings, progress)
    passed = [i for i, verdict in enumerate(verdicts) if verdict.status is Status.EQUIVALENT]
    proofs = _judge(FORMAL, [requests[i] for i in passed], settings, progress)
    for i, proof in zip(passed, proofs):
        verdicts[i] = combine(verdicts[i], proof, settings.formal_fallback)
    return verdicts


def _simulation(requests: Sequence[CheckRequest], settings: CheckSettings, progress: bool) -> list[Verdict]:
    """The simulation judge's verdicts; with ``simulator="both"``, each simulator's, combined
    (:func:`~verilog_env.equiv.simcheck.combine_simulators`)."""
    names = simulators_of(settings)
    if len(names) == 1:
        verdicts = _judge(SIMULATION, requests, settings, progress)
        # Where Icarus can compute X or Z, a 2-state simulator computes a number (an
        # out-of-range select, a division by 0, a Z literal: Design.xz_lines), so a pass
        # with such lines in the answer or the golden is confirmed by Icarus (about 20 ms).
        unsure = [i for i, v in enumerate(verdicts)
                  if v.equivalent and (v.details.get("xz_lines") or v.details.get("golden_xz_lines"))]
        if unsure:
            second = _judge(SIMULATION, [requests[i] for i in unsure],
                            dataclasses.replace(settings, simulator="icarus", lint=False), progress)
            for i, verdict in zip(unsure, second):
                verdicts[i] = combine_simulators({names[0]: verdicts[i], "icarus": verdict})
        return verdicts
    SIMULATION.require(settings)  # every simulator present before any runs
    # Lint does not depend on the simulator: Verilator's run takes it (the combined verdict keeps it).
    each = {name: _judge(SIMULATION, requests,
                         dataclasses.replace(settings, simulator=name, lint=settings.lint and name == "verilator"), progress)
            for name in names}
    return [combine_simulators({name: each[name][i] for name in names}) for i in range(len(requests))]


def check_many(
    golden: str,
    candidates: Sequence[str],
    settings: CheckSettings | None = None,
    *,
    top: str | None = None,
    candidate_top: str | None = None,
    progress: bool = False,
    **knobs: Any,
) -> list[Verdict]:
    """Check many candidates against one golden (see :func:`check_requests`)."""
    return check_requests(
        [CheckRequest(golden, c, top, candidate_top) for c in candidates], settings, progress=progress, **knobs
    )


def check_equivalence(
    golden: str,
    candidate: str,
    settings: CheckSettings | None = None,
    *,
    top: str | None = None,
    candidate_top: str | None = None,
    **knobs: Any,
) -> Verdict:
    """Decide whether ``candidate`` behaves like ``golden``; never raises on bad designs.

    ``golden`` is trusted reference Verilog; ``top`` names its top module when it has
    several. ``candidate`` is untrusted text (typically extracted from an LLM answer);
    its top is the module named ``candidate_top`` (default: the golden's top name) or
    else its only uninstantiated module. ``settings`` (:class:`CheckSettings`; keyword
    arguments named like its fields override it) say how: both designs are driven with
    the same seeded random stimulus for ``cycles`` cycles of the first clock; the same
    seed gives the same verdict. ``timeout`` bounds each compile and each simulation in
    seconds.

    ``method="formal"`` proves equivalence with Yosys and ABC instead (``formal_budget``
    seconds, default :data:`verilog_env.formal.DEFAULT_BUDGET`): ``equivalent`` only when
    proven, ``mismatch`` with a counterexample replayed in simulation, ``timeout`` when
    only a bounded check finished, ``unsupported`` when the formal model does not cover
    the design; ``details["formal"]`` says which. ``method="both"`` simulates first and
    checks formally only what simulation passed (see :func:`verilog_env.formal.combine`):
    ``equivalent`` then means proven, or simulated with formal stopped by something other
    than the candidate (the reason says which); with ``formal_fallback="reject"`` (the
    default) an answer formal cannot check though it can check the reference is
    ``rejected`` (``timeout`` when time ran out), with ``"simulation"`` it keeps
    simulation's verdict.

    Raises :class:`~verilog_env.sim.icarus.SimulatorNotFoundError` when Icarus Verilog
    is not installed (and :class:`~verilog_env.formal.YosysNotFoundError` when a formal
    method is asked for without Yosys); every problem with the designs themselves is a
    :class:`Verdict`.
    """
    return check_many(golden, [candidate], settings, top=top, candidate_top=candidate_top, **knobs)[0]


def resolve(settings: CheckSettings | None, knobs: dict[str, Any]) -> CheckSettings:
    """``settings`` (default ``CheckSettings()``) with the keyword overrides of one call."""
    base = CheckSettings() if settings is None else settings
    if not isinstance(base, CheckSettings):
        raise TypeError(f"settings must be a CheckSettings, got {type(settings).__name__}")
    return dataclasses.replace(base, **knobs) if knobs else base  # an unknown name is replace's TypeError


def shutdown() -> None:
    """Stop every judge's worker pool (each restarts on its next job, with nothing cached)
    and forget the goldens' observed costs: the next call starts as the first did."""
    workers.shutdown()
    _seconds_per_golden.clear()


# --------------------------------------------------------------------------- one judge


def _judge(judge: Judge, requests: Sequence[CheckRequest], settings: CheckSettings, progress: bool) -> list[Verdict]:
    """Every request's verdict from ``judge``: deduped, grouped by golden, in its pool."""
    if not requests:
        return []
    judge.require(settings)
    verdicts: list[Verdict | None] = [None] * len(requests)
    by_golden: dict[tuple, list[int]] = {}
    texts: dict[int, str] = {}
    first_of: dict[tuple, int] = {}
    duplicates: dict[int, int] = {}
    for i, request in enumerate(requests):
        golden = _as_text(request.golden, "golden")
        candidate = _as_text(request.candidate, "candidate")
        if isinstance(golden, Verdict) or isinstance(candidate, Verdict):
            verdicts[i] = golden if isinstance(golden, Verdict) else candidate
            continue
        key = (golden, request.top, request.candidate_top)
        first = first_of.setdefault((key, candidate), i)
        if first != i:  # RL groups repeat answers: an identical request is checked once
            duplicates[i] = first
            continue
        texts[i] = candidate
        by_golden.setdefault(key, []).append(i)

    parts: list[tuple[list[int], str, CheckOptions]] = []  # (requests, golden, options): one golden's share
    size = judge.job_size(settings, spread=len(by_golden) < workers.default_workers())
    for (golden, top, candidate_top), indices in by_golden.items():
        options = CheckOptions(
            top=top, candidate_top=candidate_top, seed=settings.seed, cycles=settings.cycles, timeout=settings.timeout,
            simulator=settings.simulator, lint=settings.lint,
        )
        step = size or len(indices)
        parts.extend((indices[start : start + step], golden, options) for start in range(0, len(indices), step))
    parts.sort(key=lambda part: -_seconds_per_golden.get((judge.name, hash(part[1])), 0.0))  # slow ones first
    jobs = _mixed_jobs(parts, judge.mix_size(settings), workers.default_workers())

    in_process = not settings.isolate or workers.in_process()

    def submit(job: list[tuple[list[int], str, CheckOptions]]):
        args = ([(golden, [texts[i] for i in group], options) for group, golden, options in job], settings)
        if in_process:
            try:
                return judge.judge(*args)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict
                return exc
        pool = workers.get_pool(judge.pool)
        candidates = sum(len(group) for group, _, _ in job)
        return pool.schedule(workers.guarded, args=(judge.judge, *args), timeout=judge.guard_seconds(settings, candidates))

    def store(job: list[tuple[list[int], str, CheckOptions]], result) -> None:
        if isinstance(result, BaseException):
            if len(job) > 1:  # blame nobody for a shared failure: retry each golden's part alone
                for part in job:
                    store([part], _outcome(submit([part])))
                return
            group, golden, options = job[0]
            if len(group) > 1:  # and then one by one
                for i in group:
                    store([([i], golden, options)], _outcome(submit([([i], golden, options)])))
                return
            result = [[_failed(result, judge)]]
        for (group, _, _), part_verdicts in zip(job, result):
            for i, verdict in zip(group, part_verdicts):
                verdicts[i] = verdict

    bar = _progress(len(requests), progress, judge.name)
    bar.update(len(requests) - len(texts) - len(duplicates))
    submitted = [(job, submit(job)) for job in jobs]
    for job, future in submitted:
        store(job, _outcome(future))
        for group, golden, _ in job:
            key = (judge.name, hash(golden))
            _seconds_per_golden.pop(key, None)  # re-insert: the dict stays in recency order
            _seconds_per_golden[key] = max((verdicts[i].timings.get("total", 0.0) for i in group), default=0.0)
            bar.update(len(group))
        while len(_seconds_per_golden) > _GOLDENS_REMEMBERED:  # a long-lived server sees many goldens
            del _seconds_per_golden[next(iter(_seconds_per_golden))]
    for i, first in duplicates.items():
        verdicts[i] = copy.deepcopy(verdicts[first])
    bar.update(len(duplicates))
    bar.close()
    return verdicts  # type: ignore[return-value]


def _mixed_jobs(parts: list, mix: int, workers_: int) -> list[list]:
    """``parts`` (one golden's requests each) packed into jobs: consecutive parts smaller than
    ``mix`` candidates share a job of at most ``mix`` (one simulator run for several
    goldens, :func:`verilog_env.equiv.simcheck.check_mixed`), and never so many that fewer
    jobs than ``workers_`` are left to keep every core busy."""
    total = sum(len(group) for group, _, _ in parts)
    mix = min(mix, -(-total // max(1, workers_)))
    jobs: list[list] = []
    load = 0
    for part in parts:
        n = len(part[0])
        if jobs and n < mix and load + n <= mix:  # (a job begun by a part of mix or more is full)
            jobs[-1].append(part)
            load += n
        else:
            jobs.append([part])
            load = n
    return jobs


def _as_text(source: object, role: str) -> str | Verdict:
    if isinstance(source, bytes):
        return source.decode("utf-8", "replace")
    if isinstance(source, str):
        return source
    return Verdict(Status.COMPILE_ERROR, f"{role} must be Verilog text, got {type(source).__name__}")


def _outcome(future):
    """The verdicts of a finished job, or the exception that ended it."""
    if not hasattr(future, "result"):
        return future
    try:
        return future.result()
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a verdict
        return exc


def _failed(exc: BaseException, judge: Judge) -> Verdict:
    sandbox.sweep_stale_workdirs()  # the worker may have been killed mid-simulation
    if isinstance(exc, FutureTimeout):
        return Verdict(
            Status.TIMEOUT,
            "checking did not finish in time (the design is too large or pathological to analyse)",
        )
    if workers.out_of_memory(exc):
        # The worker's memory limit stopped the analysis (pyslang raises std::bad_alloc
        # as MemoryError): the design, not the checker, is at fault.
        plan = workers.pool_plans().get(judge.pool.name)
        limit = (plan.worker_bytes if plan else judge.pool.memory_bytes) // 2**20
        return Verdict(Status.REJECTED, f"analysing the design exceeded the checker's {limit} MiB memory limit")
    if isinstance(exc, pebble.ProcessExpired):
        return Verdict(Status.INTERNAL_ERROR, f"checker worker died (exit code {exc.exitcode}) on this input")
    return Verdict(Status.INTERNAL_ERROR, f"checker failed: {type(exc).__name__}: {exc}")


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, judge: str):
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="check", desc="checking" if judge == "sim" else f"checking ({judge})")
