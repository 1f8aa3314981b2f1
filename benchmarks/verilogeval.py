"""VerilogEval v2 (NVlabs/verilog-eval, ``main`` branch): spec-to-RTL and code completion.

Suites ``verilogeval-v2-spec-to-rtl`` and ``verilogeval-v2-code-complete``, 156 problems each.

**Data.** ``git clone https://github.com/NVlabs/verilog-eval``; :meth:`VerilogEvalSuite.load`
takes the checkout (it holds ``dataset_spec-to-rtl/`` and ``dataset_code-complete-iccad2023/``),
the shared layout (``verilogeval_v2/spec-to-rtl/``, ``verilogeval_v2/code-complete/`` under
``shared/benchmarks``, byte-for-byte copies of those folders), a parent of either, or the task
folder itself. The problem list is the folder's ``problems.txt`` (never a glob: upstream
ships a stray ``Prob062_bugs_mux2.sv``). Per problem: ``<P>_prompt.txt``, ``<P>_ref.sv``
(``module RefModule``), ``<P>_test.sv`` (``module tb``) and, for completion, ``<P>_ifc.txt``.
When the data has a ``manifest.json`` (the shared layout), ``reference_passes`` is its
``reference_check.result``; otherwise unknown (None).

**Prompt.** The ``_prompt.txt`` text as shipped. For spec-to-RTL it asks for ``module
TopModule``; for completion it is the description followed by the module header, which
is also :attr:`EvalProblem.header` (the ``_ifc.txt``). Upstream's ``sv-generate`` wraps
this text in its own framing (``Question:``/``Answer:``, comment prefixes); CodeV-R1, like
this harness, sends its system prompt plus the problem text. The answer must define
``module TopModule`` (the complete module, for both tasks).

**Official scoring** (upstream ``Makefile.in`` and ``scripts/sv-iv-analyze``), in a fresh
sandboxed directory per sample, with the upstream file names::

    iverilog -Wall -Winfloop -Wno-timescale -g2012 -s tb -o P_sample01 P_sample01.sv P_test.sv P_ref.sv  &>  log
    timeout 30 vvp P_sample01 -none                                                              &>> log
    (exit 124 -> echo TIMEOUT >> log)

and the combined log is classified by :func:`analyze_result`, a line-for-line port of
upstream ``analyze_result()``: ``.`` is a pass; ``S`` syntax error, ``e`` explicit cast,
``0`` zero-width constant, ``n`` no sensitivities, ``w`` declared as wire, ``m`` unknown
module, ``p``/``c`` unable to bind (``clk``), ``T`` timeout, ``C`` other compile error,
``R``/``r`` runtime mismatch (``r``: the sample uses an asynchronous ``reset``).

Deviations, none of which changes a verdict of the shipped references (the acceptance
tests score every reference through this flow and compare with ``manifest.json``):

* ``vvp ... -none`` (Icarus's extended argument; ``vvp P_sample01 -none`` is accepted by
  Icarus 11 and prints ``VCD info: dumping is suppressed.``) turns the testbenches'
  ``$dumpfile``/``$dumpvars`` into no-ops. The waveform is never read by the verdict, and
  neither log line matches an ``analyze_result`` pattern. Measured on this project's 2-vCPU
  machine (Icarus 11, reference as sample): Prob144_conwaylife, the slowest problem,
  simulates in 5.7 s instead of 6.9 s (and 14.7 s instead of 18.2 s, median of 3, on the
  same machine under heavy load from other jobs): about 17-20 % less; Prob082_lfsr32
  1.2 s instead of 1.6 s. ``perf.scoring_speed --profile`` repeats the measurement.
  It also means no ``wave.vcd`` counts against the sandbox's file-size limit. Set
  ``suite.dump_waveforms = True`` for upstream's exact command line.
* Screening (on unless ``--no-screen``, :mod:`benchmarks.screen`): a sample that could
  fake the verdict, or that the screen cannot analyse, is not run (outcome ``screened``);
  for the others ``P_sample01.sv`` holds the text the screen analysed (macros expanded,
  directives and ```ifdef``-disabled code gone, the sample's ```timescale`` first), not
  the answer as written, so its ```define`` directives no longer reach ``P_test.sv`` and
  ``P_ref.sv``.
* Resource limits: ``iverilog`` 60 s wall (exceeded: a ``TIMEOUT`` line, i.e. ``T``;
  upstream has no compile limit), 2 GiB address space and 16 MiB per written file (log
  included) for each step; beyond that the OS stops the process and the log is judged as
  it stands. Each step can write only its work directory (``bwrap``, see
  :mod:`benchmarks.official`).
* When compilation produced no executable, upstream's next Makefile line fails with a shell
  message; this port appends an equivalent line (it matches no pattern).
* Upstream pins Icarus Verilog 12; on Icarus 11, 5 spec-to-rtl and 4 code-complete
  references fail (``REFERENCE_CHECK.md``: enum casts Icarus 11 rejects, and testbench
  watchdogs shorter than the stimulus). Their ``reference_passes`` is False: report them
  apart, they cannot be passed.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from . import official, screen
from .official import OfficialRun, OfficialSuite
from .registry import BenchmarkDataError, EvalProblem
from .screen import SCREENED

UPSTREAM = "https://github.com/NVlabs/verilog-eval"
SIM_TIMEOUT = 30.0
TOP = "TopModule"
REFERENCE_TOP = "RefModule"
TESTBENCH_TOP = "tb"

TASKS = {
    # task: (shared-layout folder, upstream folder)
    "spec-to-rtl": ("spec-to-rtl", "dataset_spec-to-rtl"),
    "code-complete": ("code-complete", "dataset_code-complete-iccad2023"),
}

CODES = {
    ".": "pass",
    "S": "syntax error",
    "e": "explicit cast required",
    "0": "sized numeric constant of size zero",
    "n": "no sensitivities",
    "w": "declared as wire",
    "m": "unknown module type",
    "p": "unable to bind wire/reg",
    "c": "unable to bind wire/reg `clk'",
    "T": "timeout",
    "C": "compiler error",
    "R": "runtime mismatch",
    "r": "runtime mismatch (sample uses an asynchronous reset)",
}
"""``sv-iv-analyze`` result codes (``SampleScore.outcome``) and what they mean."""

_MISMATCH_LINE = re.compile(r"^Mismatches: (\d+) in \d+ samples$")


def analyze_result(log: str, verilog: str) -> tuple[str, int]:
    """Port of upstream ``scripts/sv-iv-analyze:analyze_result()``: (result code, mismatches).

    ``log`` is the combined compile + simulation log, ``verilog`` the sample's source (its
    asynchronous-reset lines turn ``R`` into ``r``). The first matching line decides.
    """
    passfail = "?"
    num_mismatch = 0
    error_c = error_p = no_mismatch = False
    for line in log.splitlines(keepends=True):
        if "syntax error" in line:
            passfail = "S"
            break
        if "error" in line:
            error_c = True
        if "error: This assignment requires an explicit cast" in line:
            passfail = "e"
            break
        if "error: Sized numeric constant must have a size greater than zero" in line:
            passfail = "0"
            break
        if "warning: always_comb process has no sensitivities" in line:
            passfail = "n"
            break
        if "found no sensitivities so it will never trigger" in line:
            passfail = "n"
            break
        if "is declared here as wire" in line:
            passfail = "w"
            break
        if "Unknown module type" in line:
            passfail = "m"
            break
        if "Unable to bind wire/reg" in line:
            error_p = True
        if "Unable to bind wire/reg/memory `clk'" in line:
            passfail = "c"
            break
        if "TIMEOUT" in line:
            passfail = "T"
            break
        match = _MISMATCH_LINE.match(line.rstrip("\n"))
        if match:
            if int(match.group(1)) == 0:
                no_mismatch = True
            else:
                num_mismatch = int(match.group(1))
    if passfail == "?" and error_p:
        passfail = "p"
    if passfail == "?" and error_c:
        passfail = "C"
    if passfail == "?" and no_mismatch:
        passfail = "."
    if passfail == "?":
        passfail = "R"
        for line in verilog.splitlines():
            if "posedge reset" in line or "negedge reset" in line or "posedge r)" in line:
                passfail = "r"
                break
    return passfail, num_mismatch


def _detail(code: str, log: str) -> str:
    if code == ".":
        found = official.excerpt(log, ("Mismatches: 0",))
    elif code in ("R", "r"):
        found = official.excerpt(log, ("Mismatches:", "Hint: Output"), limit=4)
    else:
        found = official.excerpt(log, ("error", "TIMEOUT", "Unknown module", "Unable to bind", "sorry", "warning"))
    return found or log[-300:].strip()


def read_problem_list(dataset: Path) -> list[str]:
    names = []
    for line in (dataset / "problems.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


class VerilogEvalSuite(OfficialSuite):
    """One VerilogEval v2 task (``spec-to-rtl`` or ``code-complete``) with its official scoring."""

    def __init__(self, task: str) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown VerilogEval task {task!r}; one of {sorted(TASKS)}")
        super().__init__()
        self.task = task
        self.name = f"verilogeval-v2-{task}"
        kind = "specification to RTL" if task == "spec-to-rtl" else "code completion (spec + module header)"
        self.description = (
            f"VerilogEval v2 {kind}, 156 problems; official testbench and sv-iv-analyze pass criterion ({UPSTREAM})"
        )
        self.sim_timeout = SIM_TIMEOUT
        self._watchdog: dict[tuple[str, str], bool] = {}
        self._watchdog_lock = threading.Lock()

    # --- data ---------------------------------------------------------------------

    def _expected(self, root: Path) -> str:
        shared, upstream = TASKS[self.task]
        return (
            f"expected {upstream}/ (a checkout of {UPSTREAM}: git clone {UPSTREAM}) or verilogeval_v2/{shared}/ "
            f"(shared layout), with problems.txt and <P>_prompt.txt/_ref.sv/_test.sv"
            + ("/_ifc.txt" if self.task == "code-complete" else "")
            + f", under {root}"
        )

    def locate(self, root: str | os.PathLike | None) -> Path:
        """The task's dataset folder under ``root`` (see the module docstring for layouts)."""
        what = f"VerilogEval v2 {self.task}"
        base = official.as_root(root, what, self._expected(Path(root) if root else Path("<data>")))
        shared, upstream = TASKS[self.task]
        other_shared, other_upstream = TASKS["code-complete" if self.task == "spec-to-rtl" else "spec-to-rtl"]
        for path in official.first_existing(
            base, [upstream, shared, f"verilogeval_v2/{shared}", f"verilog-eval/{upstream}", ""]
        ):
            if not (path / "problems.txt").is_file():
                continue
            if path == base and base.name in (other_shared, other_upstream):
                continue  # the other task's folder
            has_ifc = any(path.glob("*_ifc.txt"))
            if path == base and has_ifc != (self.task == "code-complete"):
                continue  # a task folder, but the other task's
            return path
        raise BenchmarkDataError(f"{what} data not found: {self._expected(base)}")

    def load(self, root: str | os.PathLike | None = None) -> list[EvalProblem]:
        dataset = self.locate(root)
        screen.start()
        checks = official.manifest_checks(dataset)
        problems = []
        for pid in read_problem_list(dataset):
            files = {
                "prompt": dataset / f"{pid}_prompt.txt",
                "reference": dataset / f"{pid}_ref.sv",
                "testbench": dataset / f"{pid}_test.sv",
            }
            if self.task == "code-complete":
                files["interface"] = dataset / f"{pid}_ifc.txt"
            missing = [p.name for p in files.values() if not p.is_file()]
            if missing:
                raise BenchmarkDataError(
                    f"VerilogEval v2 {self.task} data incomplete: {dataset} lacks {', '.join(missing)} "
                    f"(listed in problems.txt); re-copy it from {UPSTREAM}"
                )
            header = files["interface"].read_text() if "interface" in files else None
            passes, note = official.reference_result(checks.get(files["testbench"].resolve()))
            problems.append(
                EvalProblem(
                    suite=self.name,
                    id=pid,
                    prompt=files["prompt"].read_text(),
                    reference=files["reference"].read_text(),
                    top=TOP,
                    reference_top=REFERENCE_TOP,
                    files=files,
                    header=header,
                    reference_passes=passes,
                    reference_note=note,
                )
            )
        if not problems:
            raise BenchmarkDataError(f"VerilogEval v2 {self.task} data empty: {dataset}/problems.txt lists no problem")
        return problems

    # --- scoring ------------------------------------------------------------------

    def run_official(
        self, problem: EvalProblem, code: str, timeout: float | None = None, workdir: str | os.PathLike | None = None
    ) -> OfficialRun:
        """The upstream flow on ``code`` (see the module docstring); the full log comes back.

        With screening on, ``code`` is screened first (a refusal is outcome ``screened``)
        and the sample file holds the text the screen analysed. A sample of a problem whose testbench watchdog ends the run
        before its stimulus does, even for the reference (Prob082, Prob141 on the shipped
        data, NVlabs/verilog-eval#21), is compiled but not simulated: its verdict is ``T``
        whatever it does, since the stimulus does not depend on the design and a screened
        sample cannot end the simulation early.
        """
        seen = self.inspection(problem, code)
        if seen.refusal is not None:
            return OfficialRun(False, SCREENED, seen.refusal)
        skip = self.screen_samples and self._watchdog_fires_first(problem, timeout)
        return self._run(problem, seen.text, timeout, workdir, simulate=not skip)

    def _watchdog_fires_first(self, problem: EvalProblem, timeout: float | None) -> bool:
        """Does the reference, as a sample, end on the testbench's own ``TIMEOUT`` line? (Cached.)"""
        if problem.reference_passes:  # known to pass (manifest.json): nothing to probe
            return False
        key = (problem.key, str(problem.files["testbench"]))
        with self._watchdog_lock:
            if key not in self._watchdog:
                from .official import reference_as_sample

                run = self._run(problem, self.inspection(problem, reference_as_sample(problem)).text, timeout, None,
                                simulate=True)
                self._watchdog[key] = run.outcome == "T" and not run.timed_out
            return self._watchdog[key]

    def _run(
        self, problem: EvalProblem, text: str, timeout: float | None, workdir: str | os.PathLike | None, simulate: bool
    ) -> OfficialRun:
        iverilog, vvp = official.tools()
        pid = problem.id
        test, ref = Path(problem.files["testbench"]), Path(problem.files["reference"])
        sample, exe = f"{pid}_sample01.sv", f"{pid}_sample01"
        started = time.perf_counter()
        timed_out = False
        with official.workdir_for(workdir) as wd:
            (wd / sample).write_text(text, encoding="utf-8", errors="surrogateescape")
            official.place(test, wd / test.name)
            official.place(ref, wd / ref.name)
            comp = official.run_tool(
                [iverilog, "-Wall", "-Winfloop", "-Wno-timescale", "-g2012", "-s", TESTBENCH_TOP, "-o", exe,
                 sample, test.name, ref.name],
                wd, official.COMPILE_TIMEOUT, "sandbox-compile.log", confine=False,
            )
            log = comp.log
            sim_seconds = 0.0
            if comp.timed_out:
                log += "TIMEOUT\n"
                timed_out = True
            elif not (wd / exe).is_file():
                log += f"/bin/sh: 1: ./{exe}: not found\n"
            elif not simulate:
                log += "TIMEOUT\n"  # what the testbench's watchdog prints in every run
            else:
                sim = official.run_tool([vvp, exe, *self.vvp_extended_args], wd, timeout or self.sim_timeout, "sandbox-sim.log")
                sim_seconds = sim.seconds
                log += sim.log
                if sim.timed_out:  # `timeout 30` exits 124 -> the Makefile appends TIMEOUT
                    log += "TIMEOUT\n"
                    timed_out = True
        result, _ = analyze_result(log, text)
        detail = _detail(result, log)
        if not simulate and result == "T":
            detail = ("not simulated: the testbench's watchdog ends every run before its stimulus does "
                      "(the reference gets T too), so no design can pass")
        return OfficialRun(
            passed=result == ".",
            outcome=result,
            detail=detail,
            log=log,
            compile_seconds=comp.seconds,
            sim_seconds=sim_seconds,
            seconds=time.perf_counter() - started,
            timed_out=timed_out,
        )
