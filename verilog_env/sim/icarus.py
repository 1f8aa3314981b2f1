"""Icarus Verilog back end: compile with ``iverilog``, run with ``vvp``, both sandboxed."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from . import sandbox
from .sandbox import Limits, RunResult


class SimulatorNotFoundError(RuntimeError):
    """Icarus Verilog is not installed (or not on PATH)."""


INSTALL_HINT = (
    "Icarus Verilog not found: install it (Debian/Ubuntu: apt-get install iverilog; "
    "macOS: brew install icarus-verilog) or put iverilog and vvp on PATH"
)
COMPILED = "sim.vvp"
NAME = "icarus"
LABEL = "Icarus Verilog"


@functools.lru_cache(maxsize=1)
def tools() -> tuple[str, str]:
    """Paths of ``iverilog`` and ``vvp``; raises :class:`SimulatorNotFoundError`."""
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if not iverilog or not vvp:
        raise SimulatorNotFoundError(INSTALL_HINT)
    return iverilog, vvp


@functools.lru_cache(maxsize=1)
def version() -> str:
    iverilog, _ = tools()
    out = subprocess.run([iverilog, "-V"], capture_output=True, text=True, timeout=10).stdout
    return out.splitlines()[0] if out else "unknown"


def compile(workdir: Path, files: list[str], top: str, limits: Limits, ticks: int = 0) -> RunResult:
    """Compile ``files`` (already in ``workdir``) with root module ``top`` into sim.vvp
    (``ticks``, the run's length, changes nothing here)."""
    return start_compile(workdir, files, top, limits).wait()


TWO_STATE = False
GOLDEN_RUNS = ((),)
CANDIDATE_RUNS = ((),)
"""One run each: Icarus is 4-state (X is X)."""


def simulate(workdir: Path, limits: Limits, args: tuple[str, ...] = ()) -> RunResult:
    """Run the compiled simulation in ``workdir`` (``args`` go to the program: none here)."""
    return start_simulate(workdir, limits, args).wait()


MULTI_TOP = True
"""One run may hold several testbenches (``top`` a list of root modules)."""


def start_compile(workdir: Path, files: list[str], top: str | list[str], limits: Limits, ticks: int = 0) -> sandbox.Process:
    """:func:`compile`, started without waiting (``.wait()`` gives its result); ``top`` may
    name several root modules (:data:`MULTI_TOP`)."""
    iverilog, _ = tools()
    roots = [x for name in ([top] if isinstance(top, str) else top) for x in ("-s", name)]
    return sandbox.start([iverilog, "-g2012", "-o", COMPILED, *roots, *files], workdir, limits, log_name="compile.log")


def start_simulate(workdir: Path, limits: Limits, args: tuple[str, ...] = ()) -> sandbox.Process:
    """:func:`simulate`, started without waiting (``.wait()`` gives its result)."""
    _, vvp = tools()
    return sandbox.start([vvp, "-n", COMPILED, *args], workdir, limits, log_name="sim.log")
