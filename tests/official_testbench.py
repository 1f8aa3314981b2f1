"""Run a benchmark's OWN testbench on a candidate (test-only stand-in for the real harness).

Follows ``../shared/benchmarks/REFERENCE_CHECK.md`` and the suites' ``SOURCE.md``:

VerilogEval v2 (spec-to-rtl and code-complete), the upstream ``Makefile.in`` rule::

    iverilog -Wall -Winfloop -Wno-timescale -g2012 -s tb -o P_sample01 \\
        P_sample01.sv P_test.sv P_ref.sv                  &>  log
    timeout 30 vvp P_sample01                             &>> log ; [ $? = 124 ] && echo TIMEOUT >> log

judged by a line-for-line port of upstream ``scripts/sv-iv-analyze:analyze_result()``
(``.`` = pass).

RTLLM v1.1: copy the design folder (testbench and data files) to a fresh directory, save
the candidate as ``<design>.v``, then::

    iverilog -g2012 -o sim.vvp <design>.v testbench.v ; timeout 20 vvp -n sim.vvp

pass iff the output matches ``=+\\s*Your Design Passed\\s*=+``.

The candidate text must already name its top module as the testbench expects
(``Reference.as_candidate``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from shared_data import Reference, shared_benchmarks

VERILOGEVAL_TIMEOUT = 30.0
RTLLM_TIMEOUT = 20.0
COMPILE_TIMEOUT = 60.0
_RTLLM_PASS = re.compile(r"=+\s*Your Design Passed\s*=+")
_MISMATCH_LINE = re.compile(r"^Mismatches: (\d+) in \d+ samples$")


@dataclasses.dataclass
class OfficialResult:
    passed: bool
    code: str  # sv-iv-analyze code for VerilogEval ('.', 'R', 'C', 'T', ...); pass/fail/compile_error/timeout for RTLLM
    detail: str  # a short excerpt of the log saying why
    log: str = dataclasses.field(repr=False, default="")


def _run(argv: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``argv``; (exit status or None on timeout, stdout+stderr). Kills the process group."""
    proc = subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return None, out.decode("utf-8", "replace")


def analyze_result(log: str, verilog: str) -> tuple[str, int]:
    """Port of upstream ``analyze_result()``: (pass/fail code, number of mismatches)."""
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


def _excerpt(log: str, patterns: tuple[str, ...], limit: int = 3) -> str:
    lines = [ln.strip() for ln in log.splitlines() if any(p in ln for p in patterns)]
    return " | ".join(lines[:limit])[:500]


def _verilogeval(ref: Reference, candidate: str, workdir: Path, timeout: float) -> OfficialResult:
    root = shared_benchmarks()
    problem = ref.id
    test = root / ref.entry["files"]["testbench"]
    golden = root / ref.entry["files"]["reference"]
    shutil.copy(test, workdir / test.name)
    shutil.copy(golden, workdir / golden.name)
    sample = f"{problem}_sample01.sv"
    (workdir / sample).write_text(candidate)
    rc, log = _run(
        ["iverilog", "-Wall", "-Winfloop", "-Wno-timescale", "-g2012", "-s", "tb", "-o", f"{problem}_sample01",
         sample, test.name, golden.name],
        workdir, COMPILE_TIMEOUT,
    )
    if (workdir / f"{problem}_sample01").exists():
        rc, sim = _run(["vvp", f"{problem}_sample01"], workdir, timeout)
        log += sim
        if rc is None:  # `timeout 30` exits 124
            log += "TIMEOUT\n"
    else:
        # The Makefile still runs the (missing) executable; its complaint goes to the log.
        log += f"sh: {problem}_sample01: No such file or directory\n"
    code, mismatches = analyze_result(log, candidate)
    if code == ".":
        detail = _excerpt(log, ("Mismatches: 0",))
    elif code in ("R", "r"):
        detail = _excerpt(log, ("Mismatches:", "Hint: Output"), limit=4)
    else:
        detail = _excerpt(log, ("error", "TIMEOUT", "Unknown module", "Unable to bind", "sorry", "warning"))
    return OfficialResult(code == ".", code, detail or log[-300:], log)


def _rtllm(ref: Reference, candidate: str, workdir: Path, timeout: float) -> OfficialResult:
    root = shared_benchmarks()
    design_dir = (root / ref.entry["files"]["testbench"]).parent
    shutil.copytree(design_dir, workdir, dirs_exist_ok=True)
    design = ref.entry["top_module"]
    (workdir / f"{design}.v").write_text(candidate)
    rc, log = _run(["iverilog", "-g2012", "-o", "sim.vvp", f"{design}.v", "testbench.v"], workdir, COMPILE_TIMEOUT)
    if rc != 0 or not (workdir / "sim.vvp").exists():
        return OfficialResult(False, "compile_error", _excerpt(log, ("error", "sorry")) or log[-300:], log)
    rc, out = _run(["vvp", "-n", "sim.vvp"], workdir, timeout)
    log += out
    if _RTLLM_PASS.search(out):
        return OfficialResult(True, "pass", _RTLLM_PASS.search(out).group(0), log)
    code = "timeout" if rc is None else "fail"
    tail = [ln.strip() for ln in out.splitlines() if ln.strip()][-3:]
    return OfficialResult(False, code, " | ".join(tail)[:500], log)


def run_official_detailed(
    ref: Reference, candidate_text: str, workdir: str | os.PathLike, *, timeout: float | None = None
) -> OfficialResult:
    """Run ``ref``'s own testbench on ``candidate_text`` in ``workdir`` (an empty directory)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if ref.suite.startswith("verilogeval"):
        return _verilogeval(ref, candidate_text, workdir, timeout or VERILOGEVAL_TIMEOUT)
    if ref.suite.startswith("rtllm"):
        return _rtllm(ref, candidate_text, workdir, timeout or RTLLM_TIMEOUT)
    raise ValueError(f"unknown suite {ref.suite}")


def run_official(ref: Reference, candidate_text: str, workdir: str | os.PathLike, *, timeout: float | None = None) -> bool:
    """True iff the benchmark's own testbench passes ``candidate_text``."""
    return run_official_detailed(ref, candidate_text, workdir, timeout=timeout).passed
