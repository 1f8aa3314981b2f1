"""RTLLM (hkust-zhiyao/RTLLM): suites ``rtllm-v1.1`` (29 designs) and ``rtllm-v2`` (50 designs).

**Data.** ``git clone https://github.com/hkust-zhiyao/RTLLM`` (its main branch is v2, designs
grouped in category folders such as ``Arithmetic/Adder/adder_8bit/``). RTLLM v1.1 is the
29-design release, laid out flat (one folder per design), as in CodeV-R1's copy
(``test/testbench/RTLLM_v1.1/Original_problem/`` in https://github.com/IPRC-DIP/CodeV-R1) and
in the shared layout (``shared/benchmarks/rtllm_v1_1/``). A design is a folder holding
``design_description.txt`` and ``testbench.v``; its name is the folder name, and its
reference is ``reference.v`` (shared layout) or ``verified_<design>.v`` (upstream; the one
``verified_*.v`` when the name differs, e.g. ``multi_booth_8bit/verified_booth4_mul.v``).
Data files the testbench reads (``reference.dat``, ``tri_gen.txt``...) sit beside it.

Where the designs are looked for under the given root:

* ``rtllm-v1.1``: ``rtllm_v1_1/``, ``RTLLM_v1.1/Original_problem/``, ``RTLLM_v1.1/``,
  ``test/testbench/RTLLM_v1.1/Original_problem/``, then the root itself; design folders
  must be direct children (a v2 tree of category folders is not mistaken for v1.1);
* ``rtllm-v2``: ``rtllm_v2/``, ``RTLLM_v2/``, ``RTLLM_v2.0/``, ``RTLLM/``, then the root
  itself, walked to any depth (hidden folders and v1.1 folders are skipped, so
  ``shared/benchmarks`` does not pass v1.1 off as v2).

Module names come from a pyslang token scan (no regex, no preprocessing of includes): the
top a sample must define is the module the testbench instantiates and does not declare
(normally the folder name); the reference's top is its module that no other module of
the file instantiates (``verified_<design>``, or ``verified_multi_pipe`` in
``multi_pipe_4bit``, or already ``freq_div``). ``reference_passes`` comes from the
shared layout's ``manifest.json`` when present, else None (unknown).

**Prompt.** ``design_description.txt`` as shipped (it names the module and its ports).

**Official scoring.** Upstream runs Synopsys VCS; the Icarus flow here (the shared data's
``rtllm_v1_1/SOURCE.md``): a fresh sandboxed directory holding a copy of the design
folder's files (testbench and data files; the reference is left out), the sample saved as
``<design>.v`` and used as given (it must name its module as the testbench expects)::

    iverilog -g2012 -o sim.vvp <design>.v testbench.v        (compile error -> compile_error)
    timeout 20 vvp -n sim.vvp -none

``pass`` iff the simulation output matches ``=+\\s*Your Design Passed\\s*=+`` (every testbench
prints it exactly once, on success only); otherwise ``timeout`` (no pass message within
20 s) or ``fail``. Deviations: ``-none`` turns the testbenches' VCD dumping into a no-op
(no effect on the output matched; see :mod:`benchmarks.verilogeval`); 60 s compile limit,
2 GiB address space and 16 MiB per written file for each step, and each step can write
only its work directory (``bwrap``, see :mod:`benchmarks.official`); with screening (on
unless ``--no-screen``, :mod:`benchmarks.screen`) a sample that could fake the verdict or
that the screen cannot analyse is not run (outcome ``screened``), and ``<design>.v`` holds
the text the screen analysed, not the answer as written. Three v1.1 references fail
under Icarus 11 (two testbench compile errors, one testbench race; ``REFERENCE_CHECK.md``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from . import official, screen
from .official import OfficialRun, OfficialSuite
from .registry import BenchmarkDataError, EvalProblem
from .screen import SCREENED

UPSTREAM = "https://github.com/hkust-zhiyao/RTLLM"
SIM_TIMEOUT = 20.0
DESCRIPTION = "design_description.txt"
TESTBENCH = "testbench.v"
PASS_PATTERN = re.compile(r"=+\s*Your Design Passed\s*=+")

_V11_DIRS = ("rtllm_v1_1", "RTLLM_v1.1/Original_problem", "RTLLM_v1.1", "test/testbench/RTLLM_v1.1/Original_problem")
_V2_DIRS = ("rtllm_v2", "RTLLM_v2", "RTLLM_v2.0", "RTLLM")
_V11_NAMES = {"rtllm_v1_1", "RTLLM_v1.1", "rtllm-v1.1", "RTLLM_v1_1"}

VERSIONS = {
    # version: (description, search subfolders, designs nested in category folders?)
    "v1.1": ("RTLLM v1.1, 29 designs", _V11_DIRS, False),
    "v2": ("RTLLM v2, 50 designs in category folders", _V2_DIRS, True),
}


def module_names(text: str, name: str = "source.v") -> tuple[list[str], set[str]]:
    """(modules declared in ``text``, module types instantiated in it), by a pyslang token scan."""
    from pyslang import syntax

    from verilog_env.hdl.source import parse

    kinds = syntax.SyntaxKind
    declared: list[str] = []
    instantiated: set[str] = set()

    def visit(node):
        kind = getattr(node, "kind", None)
        if kind == kinds.ModuleDeclaration:
            declared.append(node.header.name.valueText)
        elif kind == kinds.HierarchyInstantiation:
            instantiated.add(node.type.valueText)

    parse(text, name).tree.root.visit(visit)
    return declared, instantiated


def _is_design(folder: Path) -> bool:
    return (folder / DESCRIPTION).is_file() and (folder / TESTBENCH).is_file()


def find_designs(base: Path, nested: bool) -> list[Path]:
    """Design folders under ``base``: direct children, or (``nested``) at any depth."""
    if not nested:
        return sorted((p for p in base.iterdir() if p.is_dir() and _is_design(p)), key=lambda p: p.name)
    found = []
    for dirpath, dirnames, _ in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")) and d not in _V11_NAMES)
        folder = Path(dirpath)
        if folder != base and _is_design(folder):
            found.append(folder)
            dirnames[:] = []  # a design folder's subfolders are its data
    return sorted(found, key=lambda p: (p.name, str(p)))


def reference_file(folder: Path) -> Path:
    """``reference.v`` (shared layout), else ``verified_<design>.v``, else the one ``verified_*.v``."""
    for name in ("reference.v", f"verified_{folder.name}.v"):
        if (folder / name).is_file():
            return folder / name
    verified = sorted(folder.glob("verified_*.v"))
    if len(verified) == 1:
        return verified[0]
    what = "several verified_*.v files" if verified else "no reference.v or verified_*.v"
    raise BenchmarkDataError(f"RTLLM design {folder} has {what}; expected one reference (get the data from {UPSTREAM})")


def _reference_top(declared: list[str], instantiated: set[str], design: str) -> str:
    tops = [m for m in declared if m not in instantiated]
    for pick in (f"verified_{design}", design):
        if pick in tops:
            return pick
    verified = [m for m in tops if m.startswith("verified_")]
    return (verified or tops or declared or [design])[0]


def _testbench_top(testbench: str, design: str) -> str:
    declared, instantiated = module_names(testbench, TESTBENCH)
    if design in instantiated:
        return design
    outside = sorted(instantiated - set(declared))
    return outside[0] if len(outside) == 1 else design


class RTLLMSuite(OfficialSuite):
    """One RTLLM release (``v1.1`` or ``v2``) with its testbench-based scoring."""

    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown RTLLM version {version!r}; one of {sorted(VERSIONS)}")
        super().__init__()
        self.version = version
        self.name = f"rtllm-{version}"
        title, self._subdirs, self._nested = VERSIONS[version]
        self.description = f"{title}; the design's own testbench, pass iff 'Your Design Passed' ({UPSTREAM})"
        self.sim_timeout = SIM_TIMEOUT

    # --- data ---------------------------------------------------------------------

    def _expected(self, root) -> str:
        where = " or ".join(f"{d}/" for d in self._subdirs[:2])
        layout = "category folders of" if self._nested else ""
        return (
            f"expected {layout} design folders (design_description.txt + testbench.v + reference.v or verified_<design>.v) "
            f"in {root} or its {where}; get them with `git clone {UPSTREAM}`"
            + (" (v1.1: the 29-design release, also in https://github.com/IPRC-DIP/CodeV-R1 test/testbench/RTLLM_v1.1)"
               if self.version == "v1.1" else "")
        ).replace("  ", " ")

    def locate(self, root: str | os.PathLike | None) -> list[Path]:
        """The design folders of this release under ``root``."""
        what = f"RTLLM {self.version}"
        base = official.as_root(root, what, self._expected(root or "<data>"))
        for path in official.first_existing(base, [*self._subdirs, ""]):
            designs = find_designs(path, self._nested)
            if designs:
                return designs
        raise BenchmarkDataError(f"{what} data not found: {self._expected(base)}")

    def load(self, root: str | os.PathLike | None = None) -> list[EvalProblem]:
        folders = self.locate(root)
        screen.start()
        names = [f.name for f in folders]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise BenchmarkDataError(
                f"RTLLM {self.version} data ambiguous: design names {', '.join(duplicates)} occur in several folders "
                f"under {folders[0].parent}; point the path at one release"
            )
        checks = official.manifest_checks(folders[0].parent)
        problems = []
        for folder in folders:
            design = folder.name
            reference = reference_file(folder)
            testbench = folder / TESTBENCH
            description = folder / DESCRIPTION
            ref_text = reference.read_text(errors="replace")
            declared, instantiated = module_names(ref_text, reference.name)
            data = sorted(
                p for p in folder.iterdir() if p not in (reference, testbench, description) and not p.name.startswith(".")
            )
            passes, note = official.reference_result(checks.get(testbench.resolve()))
            problems.append(
                EvalProblem(
                    suite=self.name,
                    id=design,
                    prompt=description.read_text(errors="replace"),
                    reference=ref_text,
                    top=_testbench_top(testbench.read_text(errors="replace"), design),
                    reference_top=_reference_top(declared, instantiated, design),
                    files={
                        "dir": folder,
                        "description": description,
                        "testbench": testbench,
                        "reference": reference,
                        "data": data,
                    },
                    reference_passes=passes,
                    reference_note=note,
                )
            )
        return problems

    # --- scoring ------------------------------------------------------------------

    def run_official(
        self, problem: EvalProblem, code: str, timeout: float | None = None, workdir: str | os.PathLike | None = None
    ) -> OfficialRun:
        """The Icarus flow on ``code`` (see the module docstring); the full log comes back.

        With screening on, ``code`` is screened first (a refusal is outcome ``screened``)
        and ``<design>.v`` holds the text the screen analysed."""
        seen = self.inspection(problem, code)
        if seen.refusal is not None:
            return OfficialRun(False, SCREENED, seen.refusal)
        iverilog, vvp = official.tools()
        design = problem.id
        sample = f"{design}.v"
        started = time.perf_counter()
        with official.workdir_for(workdir) as wd:
            for path in problem.files.get("data", ()):
                official.place(Path(path), wd / Path(path).name)
            official.place(Path(problem.files["testbench"]), wd / TESTBENCH)
            (wd / sample).write_text(seen.text, encoding="utf-8", errors="surrogateescape")
            comp = official.run_tool([iverilog, "-g2012", "-o", "sim.vvp", sample, TESTBENCH], wd,
                                     official.COMPILE_TIMEOUT, "sandbox-compile.log", confine=False)
            if comp.timed_out:
                return OfficialRun(False, "timeout", f"compilation exceeded {official.COMPILE_TIMEOUT:g} s", comp.log,
                                   comp.seconds, 0.0, time.perf_counter() - started)
            if comp.returncode != 0 or not (wd / "sim.vvp").is_file():
                detail = official.excerpt(comp.log, ("error", "sorry")) or comp.log[-300:].strip()
                return OfficialRun(False, "compile_error", detail, comp.log, comp.seconds, 0.0,
                                   time.perf_counter() - started)
            sim = official.run_tool([vvp, "-n", "sim.vvp", *self.vvp_extended_args], wd, timeout or self.sim_timeout,
                                    "sandbox-sim.log")
        log = comp.log + sim.log
        seconds = time.perf_counter() - started
        found = PASS_PATTERN.search(sim.log)
        if found:
            return OfficialRun(True, "pass", found.group(0), log, comp.seconds, sim.seconds, seconds)
        outcome = "timeout" if sim.timed_out else "fail"
        tail = [ln.strip() for ln in sim.log.splitlines() if ln.strip()][-3:]
        return OfficialRun(False, outcome, " | ".join(tail)[:500], log, comp.seconds, sim.seconds, seconds)
