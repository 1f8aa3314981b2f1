"""Icarus Verilog back end: compile with ``iverilog``, run with ``vvp``, both sandboxed."""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass
class SimulationRun:
    compile: RunResult
    simulate: RunResult | None


def compile_and_run(
    workdir: Path,
    files: list[str],
    top: str,
    compile_limits: Limits,
    sim_limits: Limits,
) -> SimulationRun:
    """Compile ``files`` (already written in ``workdir``) with root ``top`` and run it."""
    iverilog, vvp = tools()
    compiled = sandbox.run(
        [iverilog, "-g2012", "-o", "sim.vvp", "-s", top, *files],
        workdir,
        compile_limits,
        log_name="compile.log",
    )
    if not compiled.ok or not (workdir / "sim.vvp").exists():
        return SimulationRun(compiled, None)
    simulated = sandbox.run([vvp, "-n", "sim.vvp"], workdir, sim_limits, log_name="sim.log")
    return SimulationRun(compiled, simulated)
