"""Worker pools: where judges (and the benchmark screen) run hostile input, one module for all.

A :class:`PoolSpec` names a pool and its resource limits; :func:`get_pool` returns that
pool (a ``pebble.ProcessPool``), started on first use and replaced when it broke. A worker
that hangs (pathological elaboration) is killed by the job's timeout, one that dies (a
parser crash on hostile bytes, its memory limit) is replaced: the caller turns either into
a verdict, and its own process never hangs or crashes. :func:`shutdown` stops every pool
(they start again on the next job) and runs at interpreter exit.

Workers are forked: a fork starts in milliseconds and never re-runs the caller's script
(forkserver/spawn would re-run an unguarded user script's top level in every worker).
Workers only parse text and start sandboxed subprocesses.

**Memory budget.** The workers of all pools share one budget: ``$VERILOG_ENV_MEMORY``
(``"48G"``, ``"4096M"``, bytes), by default the machine's memory. Each pool may take its
share, in proportion to what it asks for (workers x limit) among the pools declared in
this process (:func:`declare`; the checker declares simulation and formal), and never more
than the pools already running leave. Within it each worker's limit is cut (never below
:data:`MIN_WORKER_BYTES`), then, if need be, the pool has fewer workers; where not even one
worker fits, :func:`get_pool` raises :class:`MemoryBudgetError`. Limits are address space
(``RLIMIT_AS``; data for formal under WebAssembly), which bounds what a worker can hold,
not what it does hold (a check worker holds about 0.2 GiB). A worker's simulator and
prover processes have limits of their own (1-2 GiB each, one or two at a time).
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import os
import re
import resource
import threading
from collections.abc import Callable
from typing import Any

import pebble

from .sim import sandbox

WORKERS_ENV = "VERILOG_ENV_WORKERS"
"""Environment variable capping every pool's size (default: one worker per core). Where
several checker processes share a node (OpenRLHF starts one per rollout actor), give each
its share of the cores (cores / processes), or their workers oversubscribe the CPUs and
honest checks hit their timeouts."""

MEMORY_ENV = "VERILOG_ENV_MEMORY"
"""Environment variable: the memory all checker workers of this process may hold together
(see the module docstring). Where several checker processes share a node, give each its
share, as with :data:`WORKERS_ENV`."""
DEFAULT_MEMORY_FRACTION = 1.0
"""The budget when :data:`MEMORY_ENV` is unset: this fraction of the machine's memory."""
MIN_WORKER_BYTES = 1 << 30
"""The smallest limit a worker is started with (a check worker maps about 0.9 GiB of address
space after importing pyslang and numpy)."""


class MemoryBudgetError(RuntimeError):
    """The memory budget cannot hold one more worker (a set-up error: raise the budget)."""


OUT_OF_MEMORY = 86
"""Exit code of a worker that ran out of memory: it leaves, a fresh one replaces it
(after ``std::bad_alloc`` its heap is near the limit and every later job would fail too)."""


@dataclasses.dataclass(frozen=True)
class PoolSpec:
    """A pool of worker processes and the limits each worker runs under.

    name: the pool's identity (one pool per name).
    memory_bytes: the worker's memory limit.
    limit_kind: which limit (a ``resource.RLIMIT_*`` constant, or a function returning one
        when the pool starts: yowasp's WebAssembly Yosys reserves far more address space
        than it uses, so formal workers limit ``RLIMIT_DATA`` there).
    beyond_held: count ``memory_bytes`` on top of what the worker holds after importing
        ``warm`` (a scorer that loaded torch holds gigabytes of address space).
    warm: modules each worker imports when it starts.
    max_workers: the pool's size at most (default and cap: :func:`default_workers`).
    """

    name: str
    memory_bytes: int
    limit_kind: int | Callable[[], int] = resource.RLIMIT_AS
    beyond_held: bool = False
    warm: tuple[str, ...] = ()
    max_workers: int | None = None

    @property
    def workers(self) -> int:
        """The pool's size before the memory budget: ``max_workers``, capped by :func:`default_workers`."""
        return min(self.max_workers or default_workers(), default_workers())

    @property
    def demand(self) -> int:
        """What the pool asks of the memory budget: its workers at their full limit."""
        return self.workers * self.memory_bytes


@dataclasses.dataclass(frozen=True)
class PoolPlan:
    """How a pool was started within the memory budget."""

    workers: int
    worker_bytes: int
    """Each worker's memory limit (``spec.memory_bytes`` or less)."""

    @property
    def total_bytes(self) -> int:
        return self.workers * self.worker_bytes


_pools: dict[str, pebble.ProcessPool] = {}
_plans: dict[str, PoolPlan] = {}
_declared: dict[str, PoolSpec] = {}


def declare(spec: PoolSpec) -> PoolSpec:
    """Make ``spec`` known to the memory budget before its pool starts (its share is kept
    for it); returns ``spec``."""
    _declared[spec.name] = spec
    return spec
_lock = threading.Lock()


def get_pool(spec: PoolSpec) -> pebble.ProcessPool:
    """The pool of ``spec`` (started on first use, replaced if it broke)."""
    with _lock:
        pool = _pools.get(spec.name)
        if pool is None or not pool.active:
            sandbox.sweep_stale_workdirs()  # left by a process killed before it cleaned up
            kind = spec.limit_kind() if callable(spec.limit_kind) else spec.limit_kind
            _declared[spec.name] = spec
            budget = memory_budget()
            held = sum(p.total_bytes for name, p in _plans.items() if name != spec.name and name in _pools)
            share = budget * spec.demand // max(1, sum(s.demand for s in _declared.values()))
            plan = _plans[spec.name] = plan_pool(spec, min(share, budget - held))
            pool = _pools[spec.name] = pebble.ProcessPool(
                max_workers=plan.workers,
                context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(kind, plan.worker_bytes, spec.beyond_held, spec.warm),
            )
        return pool


def plan_pool(spec: PoolSpec, available: int) -> PoolPlan:
    """The pool's size and per-worker limit within ``available`` bytes: all its workers at
    ``spec.memory_bytes`` if they fit, else each limit cut to its share (down to
    :data:`MIN_WORKER_BYTES`), else fewer workers; :class:`MemoryBudgetError` if not one fits."""
    workers = spec.workers
    least = min(spec.memory_bytes, MIN_WORKER_BYTES)
    while workers >= 1:
        share = available // workers
        if share >= least:
            return PoolPlan(workers, min(spec.memory_bytes, share))
        workers -= 1
    raise MemoryBudgetError(
        f"the memory budget leaves {available / 2**30:.1f} GiB for the {spec.name!r} workers, and one needs "
        f"{least / 2**30:.1f} GiB: raise {MEMORY_ENV} (now {memory_budget() / 2**30:.1f} GiB) or stop other pools"
    )


def memory_budget() -> int:
    """``$VERILOG_ENV_MEMORY`` in bytes (``"48G"``, ``"512M"``, ``"1.5T"``, plain bytes; anything
    else is a ValueError naming it), else :data:`DEFAULT_MEMORY_FRACTION` of physical memory."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return int(DEFAULT_MEMORY_FRACTION * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    value = int(float(match[1]) * (1 << (10 * " KMGT".index(match[2].upper() or " ")))) if match else 0
    if value < 1:
        raise ValueError(f"{MEMORY_ENV} must be an amount of memory such as 48G or 4096M, got {text!r}")
    return value


def pool_plans() -> dict[str, PoolPlan]:
    """How each live pool was sized (the out-of-memory verdict quotes its worker's limit)."""
    with _lock:
        return {name: plan for name, plan in _plans.items() if name in _pools}


def default_workers() -> int:
    """Workers per pool: ``$VERILOG_ENV_WORKERS`` when set (a positive integer; anything
    else is a ValueError naming it), else one per core."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{WORKERS_ENV} must be a positive integer (workers per checker pool), got {text!r}")
    return value


def in_process() -> bool:
    """Whether jobs must run in the calling process: a daemonic process (a Gymnasium
    AsyncVectorEnv worker, say) may not start a pool; it is itself disposable."""
    return multiprocessing.current_process().daemon


def _start_worker(kind: int, memory_bytes: int, beyond_held: bool, warm: tuple[str, ...]) -> None:
    import importlib

    for module in warm:
        importlib.import_module(module)
    limit = address_space_used() + memory_bytes if beyond_held else memory_bytes
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(kind, (limit, limit))


def address_space_used() -> int:
    """Bytes of address space this process holds."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def guarded(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function(*args)`` in a worker; a worker out of memory leaves with
    :data:`OUT_OF_MEMORY` (the caller sees ``pebble.ProcessExpired`` with that exit code)."""
    try:
        return function(*args)
    except MemoryError:
        os._exit(OUT_OF_MEMORY)
    except SystemError:
        # A binding that failed to allocate can also surface as "error return without
        # exception set" (seen on this machine): out of memory if the address space is full.
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY and address_space_used() > 0.9 * limit:
            os._exit(OUT_OF_MEMORY)
        raise


def out_of_memory(error: BaseException) -> bool:
    """Whether a job's failure was its worker running out of memory."""
    return isinstance(error, MemoryError) or (
        isinstance(error, pebble.ProcessExpired) and error.exitcode == OUT_OF_MEMORY
    )


def shutdown(name: str | None = None) -> None:
    """Stop the pool ``name`` (default: every pool); each starts again on its next job."""
    with _lock:
        names = list(_pools) if name is None else [name]
        for key in names:
            pool = _pools.pop(key, None)
            if pool is not None:
                pool.stop()
                pool.join()
    sandbox.sweep_stale_workdirs()


atexit.register(shutdown)
