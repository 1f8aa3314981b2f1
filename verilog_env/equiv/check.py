"""Public entry points: :func:`check_equivalence`, :func:`check_many`, :func:`check_requests`.

By default every check runs in a pool of worker processes, one per core. A worker that
hangs (pathological elaboration) or dies (a parser crash on hostile bytes) is killed and
replaced, and the caller gets a verdict; the caller's process never hangs or crashes.
The pool is created on first use and lives until :func:`shutdown` or interpreter exit.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import multiprocessing
import os
import resource
import secrets
import sys
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Sequence

import pebble

from ..sim import icarus, sandbox
from .settings import DEFAULT_BATCH_SIZE, DEFAULT_CYCLES, DEFAULT_TIMEOUT, METHODS, CheckSettings, fresh_seed
from .simcheck import CheckOptions, check_batch
from .verdict import Status, Verdict

_pool: pebble.ProcessPool | None = None
_seconds_per_golden: dict[int, float] = {}
"""Observed seconds of the last job per golden (by hash): the slowest go first next time,
so one heavy problem does not leave a core idle at the end of a batch."""
_GOLDENS_REMEMBERED = 4096
_pool_lock = threading.Lock()


def _get_pool() -> pebble.ProcessPool:
    global _pool
    with _pool_lock:
        if _pool is None or not _pool.active:
            sandbox.sweep_stale_workdirs()  # left by a process killed before it cleaned up
            # fork, not forkserver/spawn: those re-run an unguarded user script's
            # top level in every worker. Workers only parse and start subprocesses.
            context = multiprocessing.get_context("fork")
            _pool = pebble.ProcessPool(
                max_workers=os.cpu_count() or 1, context=context, initializer=_limit_worker_memory
            )
        return _pool


WORKER_MEMORY_BYTES = 4 << 30
"""Address-space limit of a checker worker: a design that makes elaboration blow up
fails there (the worker dies and is replaced) instead of exhausting the machine."""


_OUT_OF_MEMORY = 86
"""Exit code of a worker that ran out of memory: it leaves, a fresh one replaces it."""


def _check_batch_in_worker(golden: str, candidates: list[str], options: CheckOptions, batch_size: int) -> list[Verdict]:
    # After std::bad_alloc the worker's heap is near its limit (pyslang keeps what it had
    # built), and every later check in it would fail the same way: leave instead.
    try:
        return check_batch(golden, candidates, options, batch_size)
    except MemoryError:
        os._exit(_OUT_OF_MEMORY)
    except SystemError:
        # A binding that failed to allocate can also surface as "error return without
        # exception set" (seen on this machine): out of memory if the address space is full.
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY and _address_space_used() > 0.9 * limit:
            os._exit(_OUT_OF_MEMORY)
        raise


def _address_space_used() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _limit_worker_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))


def shutdown() -> None:
    """Stop the worker pool (it restarts on the next check)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.stop()
            _pool.join()
            _pool = None
    formal_pool = sys.modules.get("verilog_env.formal.pool")
    if formal_pool is not None:
        formal_pool.shutdown()
    sandbox.sweep_stale_workdirs()


atexit.register(shutdown)


def _as_text(source: object, role: str) -> str | Verdict:
    if isinstance(source, bytes):
        return source.decode("utf-8", "replace")
    if isinstance(source, str):
        return source
    return Verdict(Status.COMPILE_ERROR, f"{role} must be Verilog text, got {type(source).__name__}")


def _guard_seconds(options: CheckOptions, n: int) -> float:
    # Compile + simulate per run (analysis takes milliseconds), and a batch may fall back
    # to one run per candidate; past this the worker is presumed stuck and replaced.
    return 2 * options.timeout * (1 + (n if n > 1 else 0)) + 10


def _failed(exc: BaseException) -> Verdict:
    sandbox.sweep_stale_workdirs()  # the worker may have been killed mid-simulation
    if isinstance(exc, FutureTimeout):
        return Verdict(
            Status.TIMEOUT,
            "checking did not finish in time (the design is too large or pathological to analyse)",
        )
    out_of_memory = isinstance(exc, MemoryError) or (
        isinstance(exc, pebble.ProcessExpired) and exc.exitcode == _OUT_OF_MEMORY
    )
    if out_of_memory:
        # The worker's address-space limit stopped the analysis (pyslang raises
        # std::bad_alloc as MemoryError): the design, not the checker, is at fault.
        limit = WORKER_MEMORY_BYTES // 2**20
        return Verdict(Status.REJECTED, f"analysing the design exceeded the checker's {limit} MiB memory limit")
    if isinstance(exc, pebble.ProcessExpired):
        return Verdict(Status.INTERNAL_ERROR, f"checker worker died (exit code {exc.exitcode}) on this input")
    return Verdict(Status.INTERNAL_ERROR, f"checker failed: {type(exc).__name__}: {exc}")


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
    ``"sim"`` (seeded random simulation, below), ``"formal"`` (Yosys + ABC proof, see
    :mod:`verilog_env.formal`) or ``"both"`` (simulation first; candidates that pass it
    are then checked formally, see :func:`verilog_env.formal.combine`).

    Requests that share a golden are grouped ``batch_size`` at a time into one simulator
    run (the golden is recorded alone once per worker and cached); a group whose
    shared run fails is re-run one candidate at a time, so verdicts never depend on the
    grouping.
    Identical requests are checked once (each gets its own copy of the verdict). Returns one :class:`Verdict` per request, in order.

    ``seed`` picks the stimulus (same seed, same verdict); ``None`` draws a fresh one for
    this call (:func:`fresh_seed`). Each verdict records its seed in ``details["seed"]``.
    """
    settings = resolve(settings, knobs).with_seed()
    seed, cycles, timeout, batch_size, isolate = (
        settings.seed, settings.cycles, settings.timeout, settings.batch_size, settings.isolate
    )
    method, formal_budget, formal_fallback = settings.method, settings.formal_budget, settings.formal_fallback
    if method != "sim":
        return _check_with_formal(
            requests, method=method, formal_budget=formal_budget, formal_fallback=formal_fallback, seed=seed,
            cycles=cycles, timeout=timeout, batch_size=batch_size, isolate=isolate, progress=progress,
        )
    icarus.tools()  # a missing simulator is a set-up error, not a verdict
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

    size = max(1, batch_size)
    # With a golden per worker at least, each golden's candidates go to one worker, which
    # records the golden once for all of them (in runs of `size`); with fewer goldens, runs
    # are spread over the workers so every core works.
    per_job = None if len(by_golden) >= (os.cpu_count() or 1) else size
    jobs: list[tuple[list[int], str, CheckOptions]] = []
    for (golden, top, candidate_top), indices in by_golden.items():
        options = CheckOptions(top=top, candidate_top=candidate_top, seed=seed, cycles=cycles, timeout=timeout)
        step = per_job or len(indices)
        for start in range(0, len(indices), step):
            jobs.append((indices[start : start + step], golden, options))

    # A daemonic process (e.g. a Gymnasium AsyncVectorEnv worker) may not start a pool;
    # it is itself a disposable process, so it checks in-process (simulators still sandboxed).
    in_process = not isolate or multiprocessing.current_process().daemon

    def submit(group: list[int], golden: str, options: CheckOptions):
        args = (golden, [texts[i] for i in group], options, size)
        if in_process:
            try:
                return check_batch(*args)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict
                return exc
        return _get_pool().schedule(_check_batch_in_worker, args=args, timeout=_guard_seconds(options, len(group)))

    def store(group: list[int], golden: str, options: CheckOptions, result) -> None:
        if isinstance(result, BaseException):
            if len(group) > 1:  # blame nobody for a shared failure: retry one by one
                for i in group:
                    store([i], golden, options, _outcome(submit([i], golden, options)))
                return
            result = [_failed(result)]
        for i, verdict in zip(group, result):
            verdicts[i] = verdict

    bar = _progress(len(requests), progress)
    bar.update(len(requests) - len(texts) - len(duplicates))
    jobs.sort(key=lambda job: -_seconds_per_golden.get(hash(job[1]), 0.0))
    submitted = [(group, golden, options, submit(group, golden, options)) for group, golden, options in jobs]
    for group, golden, options, future in submitted:
        store(group, golden, options, _outcome(future))
        _seconds_per_golden.pop(hash(golden), None)  # re-insert: the dict stays in recency order
        _seconds_per_golden[hash(golden)] = max(
            (verdicts[i].timings.get("total", 0.0) for i in group), default=0.0
        )
        while len(_seconds_per_golden) > _GOLDENS_REMEMBERED:  # a long-lived server sees many goldens
            del _seconds_per_golden[next(iter(_seconds_per_golden))]
        bar.update(len(group))
    for i, first in duplicates.items():
        verdicts[i] = copy.deepcopy(verdicts[first])
    bar.update(len(duplicates))
    bar.close()
    return verdicts  # type: ignore[return-value]


def _outcome(future):
    """The verdicts of a finished job, or the exception that ended it."""
    if not hasattr(future, "result"):
        return future
    try:
        return future.result()
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a verdict
        return exc


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
    unknown = sorted(set(knobs) - {f.name for f in dataclasses.fields(CheckSettings)})
    if unknown:
        raise TypeError(f"unknown check setting(s): {', '.join(unknown)}")
    return dataclasses.replace(base, **knobs) if knobs else base


def check_method(method: object, formal_budget: object = None, formal_fallback: object = "reject") -> str:
    """``method`` if the settings it makes are valid, else the ValueError that says why."""
    CheckSettings(method=method, formal_budget=formal_budget, formal_fallback=formal_fallback)  # type: ignore[arg-type]
    return method  # type: ignore[return-value]


def _formal_job(golden: str, candidate: str, options: CheckOptions, budget: float, compile_candidate: bool) -> Verdict:
    from ..formal import FormalOptions, formal_check

    return formal_check(golden, candidate, options, FormalOptions(budget=budget, compile_candidate=compile_candidate))


def _check_with_formal(requests: Sequence[CheckRequest], *, method: str, formal_budget: float | None,
                       formal_fallback: str, seed: int, cycles: int, timeout: float, batch_size: int, isolate: bool,
                       progress: bool) -> list[Verdict]:
    """method="formal": one formal job per distinct request; "both": simulate, then prove what passed."""
    from .. import formal
    from ..formal import pool as formal_pool

    icarus.tools()  # counterexamples are replayed in the simulator
    formal.tools()
    budget = formal.DEFAULT_BUDGET if formal_budget is None else float(formal_budget)
    verdicts: list[Verdict | None] = [None] * len(requests)
    if method == "both":
        verdicts = check_requests(requests, seed=seed, cycles=cycles, timeout=timeout, batch_size=batch_size,
                                  isolate=isolate, progress=progress, method="sim")
    todo: dict[tuple, list[int]] = {}
    for i, request in enumerate(requests):
        if method == "both" and verdicts[i].status is not Status.EQUIVALENT:
            continue
        golden, candidate = _as_text(request.golden, "golden"), _as_text(request.candidate, "candidate")
        if isinstance(golden, Verdict) or isinstance(candidate, Verdict):
            verdicts[i] = golden if isinstance(golden, Verdict) else candidate
            continue
        todo.setdefault((golden, candidate, request.top, request.candidate_top), []).append(i)
    in_process = not isolate or multiprocessing.current_process().daemon
    # The golden's synthesis (2 budgets) and self-check (1), the candidate's budget, and
    # outside it the replays (up to formal.check.MAX_EXCLUSIONS + 1, compile and simulate
    # each) and compiling a proof's candidate. Past this the worker is stuck: a timeout.
    guard = 4 * budget + 12 * timeout + 30
    submitted = []
    for (golden, candidate, top, candidate_top), indices in todo.items():
        options = CheckOptions(top=top, candidate_top=candidate_top, seed=seed, cycles=cycles, timeout=timeout)
        # method="both": simulation compiled the candidate already.
        args = (golden, candidate, options, budget, method == "formal")
        if in_process:
            try:
                job = _formal_job(*args)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict
                job = exc
        else:
            job = formal_pool.get_pool().schedule(_formal_job, args=args, timeout=guard)
        submitted.append((indices, job))
    bar = _progress(len(submitted), progress)
    for indices, job in submitted:
        result = _outcome(job)
        if isinstance(result, BaseException):
            result = _failed(result)
        for k, i in enumerate(indices):
            mine = result if k == 0 else copy.deepcopy(result)
            verdicts[i] = formal.combine(verdicts[i], mine, formal_fallback) if method == "both" else mine
        bar.update(1)
    bar.close()
    return verdicts  # type: ignore[return-value]


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="check", desc="checking")

