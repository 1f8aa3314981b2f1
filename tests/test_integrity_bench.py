"""Integrity of the benchmark scorer's screen (issue 13): what Icarus compiles is what the
screen inspected, a sample the screen cannot analyse is refused, the analysis is bounded
in memory and time outside the scorer's process, and the official flows' simulations
cannot write outside their work directory.

Every test runs the real official flows (iverilog, vvp) on real problems of the shared
benchmark data, except the sandbox tests, which run processes through the sandbox itself.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest
from shared_data import REPO
from test_bench_suites import child_processes, problem, workdirs

from benchmarks import get_eval_suite
from benchmarks.official import reference_as_sample

VE = "verilogeval-v2-spec-to-rtl"
ZERO = "module TopModule(output zero);\n  assign zero = 1'b0;\nendmodule\n"
WRONG_ZERO = "module TopModule(output zero);\n  assign zero = 1'b1;\n"  # + a trick + endmodule
BANNER = '$display("===========Your Design Passed===========");'
# Hides every mismatch from VerilogEval's testbench (test_bench_suites.FAKE_VERDICTS): a sample
# carrying it must never run.
CHEAT = "  always @(tb.stats1.errors) tb.stats1.errors = 0;\n"


def suites(name: str):
    """(screening suite, upstream suite): the second scores as upstream does (``--no-screen``)."""
    suite = get_eval_suite(name)
    upstream = copy.copy(suite)
    upstream.screen_samples = False
    return suite, upstream


def wrong_accu() -> str:
    """RTLLM accu's reference, renamed as a solution names it, with its adder made a subtractor."""
    return reference_as_sample(problem("rtllm-v1.1", "accu")).replace("data_out + data_in", "data_out - data_in")


def outside_path() -> Path:
    return Path("/tmp") / f"verilog_env_integrity_{uuid.uuid4().hex}"


# --- 1. the official flow compiles exactly the text the screen inspected ---------------

PREDEFINED = {
    # `ifdef on a macro only Icarus defines: pyslang skips the block, Icarus compiles it.
    "icarus": "`ifdef __ICARUS__\n  initial $finish;\n`endif\n",
    "icarus-else": "`ifndef __ICARUS__\n`else\n  initial $finish;\n`endif\n",
    # `ifndef on macros only pyslang defines (its own name; the standard's coverage constants).
    "slang": "`ifndef __slang__\n  initial $finish;\n`endif\n",
    "sv-cov": "`ifndef SV_COV_START\n  initial $finish;\n`endif\n",
}


@pytest.mark.shared
@pytest.mark.parametrize("variant", sorted(PREDEFINED))
def test_verilogeval_finish_hidden_behind_a_predefined_macro_is_not_compiled(variant):
    """`initial $finish;` makes VerilogEval print `Mismatches: 0 in 0 samples` (a pass) for a
    wrong design; hidden from pyslang behind a macro only one tool defines, the screen
    missed it and Icarus compiled it."""
    suite, upstream = suites(VE)
    p = problem(VE, "Prob001_zero")
    code = WRONG_ZERO + PREDEFINED[variant] + "endmodule\n"
    assert upstream.score(p, code).passed, "the trick no longer fools the upstream flow; update this test"
    score = suite.score(p, code)
    assert (score.passed, score.outcome) == (False, "R"), score  # the wrong design, run to the end


@pytest.mark.shared
def test_rtllm_banner_hidden_behind_ifdef_icarus_is_not_compiled():
    suite, upstream = suites("rtllm-v1.1")
    p = problem("rtllm-v1.1", "accu")
    code = wrong_accu().replace("endmodule", f"`ifdef __ICARUS__\ninitial #1 {BANNER}\n`endif\nendmodule", 1)
    assert upstream.score(p, code).passed, "the trick no longer fools the upstream flow; update this test"
    score = suite.score(p, code)
    assert (score.passed, score.outcome) == (False, "fail"), score


def right_answer_with(suite_name: str, extra: str):
    """A problem of the suite and a right answer to it with ``extra`` inside its module."""
    if suite_name == VE:
        return problem(VE, "Prob001_zero"), ZERO.replace("endmodule", extra + "endmodule")
    p = problem("rtllm-v1.1", "accu")
    return p, reference_as_sample(p).replace("endmodule", extra + "endmodule", 1)


@pytest.mark.shared
@pytest.mark.parametrize("suite_name", [VE, "rtllm-v1.1"])
def test_file_write_hidden_behind_ifdef_icarus_never_happens(suite_name):
    """An `ifdef`'d $fopen of an absolute path wrote a file on the host."""
    suite, _ = suites(suite_name)
    target = outside_path()
    writer = (f'`ifdef __ICARUS__\n  integer f;\n  initial begin f = $fopen("{target}", "w"); '
              f'$fwrite(f, "pwned\\n"); $fclose(f); end\n`endif\n')
    p, code = right_answer_with(suite_name, writer)
    try:
        score = suite.score(p, code)
        assert not target.exists(), "the sample wrote outside its work directory"
        assert score.passed, score  # the design is right; the hidden block was never compiled
    finally:
        target.unlink(missing_ok=True)


@pytest.mark.shared
def test_the_sample_file_holds_the_inspected_tokens_and_the_token_cache_agrees(tmp_path):
    """With screening, the sample file is pyslang's expansion (the branch it took, macros
    expanded, directives gone, the sample's `timescale first); without, the sample as given.
    A pass then answers a sample with the same tokens, and the answer is the verdict that
    sample gets when it is compiled."""
    suite, upstream = suites(VE)
    p = problem(VE, "Prob001_zero")
    code = ("`timescale 1ns/1ps\n`define VALUE 1'b0\n`ifdef __ICARUS__\nmodule TopModule(output zero);\n"
            "  assign zero = 1'b1;\nendmodule\n`else\nmodule TopModule(output zero);\n  assign zero = `VALUE;\n"
            "endmodule\n`endif\n")
    run = suite.run_official(p, code, workdir=tmp_path / "screened")
    compiled = (tmp_path / "screened" / "Prob001_zero_sample01.sv").read_text()
    assert compiled.startswith("`timescale 1ns/1ps\n")
    assert "`ifdef" not in compiled and "`define" not in compiled and "1'b1" not in compiled
    assert "assign zero = 1'b0;" in compiled
    assert run.passed, run.detail
    upstream.run_official(p, code, workdir=tmp_path / "raw")
    assert (tmp_path / "raw" / "Prob001_zero_sample01.sv").read_text() == code

    first = suite.score(p, code)
    respaced = code.replace("  assign zero = `VALUE;", "\tassign zero = `VALUE;   // the value")
    again = suite.score(p, respaced)
    assert first.passed and first.seconds > 0
    assert again.passed and again.seconds == 0.0  # answered by the pass with the same tokens
    assert suite.run_official(p, respaced).passed  # ... which is what compiling it says


# --- 2. a sample the screen cannot analyse is refused -----------------------------------

def cheat_with(extra: str) -> str:
    """A wrong Prob001 design that hides its mismatches, plus ``extra`` after it."""
    return WRONG_ZERO + CHEAT + "endmodule\n" + extra


DEEP = "module deep(output y);\n  assign y = " + "(" * 300 + "1'b0" + ")" * 300 + ";\nendmodule\n"
UNANALYSABLE = {
    # (sample, words the refusal must contain)
    "over-256-KiB": (cheat_with(("// " + "x" * 77 + "\n") * 4000), "larger than 256 KiB"),
    "nul-byte": (cheat_with("// a\x00b\n"), "NUL bytes"),
    # Text pyslang cannot take at all: nesting beyond its recursion limit, a byte that is not UTF-8.
    "deep-nesting": (DEEP + cheat_with(""), "sample cannot be parsed"),
    "invalid-utf8": (cheat_with("// caf\udce9\n"), "cannot be parsed"),
    # pyslang parse errors in text Icarus accepts (two `default`s; an empty `elsif).
    "parse-error": (cheat_with("module two(input a, output reg y);\n  always @* case (a) 1'b0: y = 0; "
                               "default: y = 1; default: y = 1; endcase\nendmodule\n"),
                    "pyslang cannot parse the sample: sample.sv:"),
    "too-deep": (cheat_with(DEEP), "error: language constructs are too deeply nested"),
    "preprocessor-error": ("`ifdef NOT_DEFINED\n`elsif\n`endif\n" + cheat_with(""),
                           "pyslang cannot parse the sample: sample.sv:"),
}


@pytest.mark.shared
@pytest.mark.parametrize("variant", sorted(UNANALYSABLE))
def test_a_sample_the_screen_cannot_analyse_is_refused(variant):
    code, words = UNANALYSABLE[variant]
    suite, upstream = suites(VE)
    p = problem(VE, "Prob001_zero")
    assert upstream.score(p, code).passed, "Icarus no longer accepts this sample; update this test"
    score = suite.score(p, code)
    assert (score.passed, score.outcome) == (False, "screened"), score
    assert words in score.detail, score.detail


@pytest.mark.shared
def test_modules_outside_the_design_are_refused():
    """Two more ways around the hierarchical check: instantiating the reference model, and
    (RTLLM, compiled without -s) a module nothing instantiates, which Icarus runs beside the
    testbench, writing into it."""
    suite, upstream = suites(VE)
    p = problem(VE, "Prob001_zero")
    borrow = "module TopModule(output zero);\n  RefModule r(.zero(zero));\nendmodule\n"
    assert upstream.score(p, borrow).passed
    score = suite.score(p, borrow)
    assert score.outcome == "screened" and "RefModule" in score.detail, score

    rtllm, rtllm_upstream = suites("rtllm-v1.1")
    accu = problem("rtllm-v1.1", "accu")
    side = wrong_accu() + "\nmodule side;\n  always @(tb_valid_ready.error) tb_valid_ready.error = 0;\nendmodule\n"
    assert rtllm_upstream.score(accu, side).passed
    score = rtllm.score(accu, side)
    assert score.outcome == "screened" and "tb_valid_ready.error" in score.detail, score
    assert rtllm.score(accu, reference_as_sample(accu)).passed


# --- 3. the screen runs outside the scorer, under memory and time limits ------------------

def macro_bomb(levels: int = 24) -> str:
    """~600 bytes whose macro expansion doubles at every level (2**24 tokens)."""
    lines = ["`define A0 x"] + [f"`define A{i} `A{i - 1} `A{i - 1}" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nmodule TopModule(output zero);\n  wire `A{levels};\n  assign zero = 1'b0;\nendmodule\n"


def score_in_a_child(setup: str = "") -> dict:
    """Score the macro bomb in a fresh Python process (address space capped at 6 GiB, so the
    old in-process screen fails instead of exhausting the machine); its verdict, wall time
    and how much its own peak memory grew."""
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        sys.path[:0] = [{str(REPO / 'tests')!r}, {str(REPO)!r}]
        from shared_data import shared_benchmarks
        from benchmarks import get_eval_suite, screen
        from test_integrity_bench import macro_bomb
        {setup}
        suite = get_eval_suite({VE!r})
        p = next(p for p in suite.load(shared_benchmarks()) if p.id == "Prob001_zero")
        assert suite.score(p, "module TopModule(output zero); assign zero = 1'b0; endmodule").passed
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        score = suite.score(p, macro_bomb())
        seconds = time.perf_counter() - started
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) << 10
        after = suite.score(p, "module TopModule(output zero);\\n  assign zero = 1'b0;\\nendmodule\\n")
        print(json.dumps({{"outcome": score.outcome, "detail": score.detail, "seconds": seconds,
                           "grown_bytes": grown, "next_passes": after.passed}}))
    """)
    done = subprocess.run(["prlimit", f"--as={6 << 30}", "--", sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.shared
def test_a_macro_bomb_is_screened_by_the_memory_limit_quickly_and_the_scorer_does_not_grow():
    result = score_in_a_child()
    assert result["outcome"] == "screened", result
    assert "exceeded the screen's 1024 MiB memory limit" in result["detail"], result
    assert result["seconds"] < 10, result
    assert result["grown_bytes"] < 100 << 20, result  # the scorer's own memory did not grow
    assert result["next_passes"], result  # a fresh worker took over


@pytest.mark.shared
def test_an_analysis_that_runs_too_long_is_screened_by_the_time_limit():
    result = score_in_a_child("screen.SECONDS = 0.5; screen.MEMORY_BYTES = 2 << 30")
    assert result["outcome"] == "screened", result
    assert "exceeded the screen's 0.5 s time limit" in result["detail"], result
    assert result["seconds"] < 5 and result["grown_bytes"] < 100 << 20, result
    assert result["next_passes"], result


@pytest.mark.shared
def test_the_scorer_process_never_parses_a_sample(monkeypatch):
    """The analysis happens in the screen's workers: pyslang's parser is never called in the
    scorer's process (the workers were forked before the parser was replaced here)."""
    from verilog_env.hdl import source

    suite, upstream = suites(VE)
    p = problem(VE, "Prob001_zero")  # loading the problems started the screen's workers
    calls: list[str] = []
    parse = source.parse

    def recording(text: str, name: str):
        calls.append(name)
        return parse(text, name)

    monkeypatch.setattr(source, "parse", recording)
    before, children = workdirs(), child_processes()
    fresh = ZERO.replace("1'b0;", "1'b0; // never seen before " + uuid.uuid4().hex)
    assert suite.score(p, fresh).passed and upstream.score(p, fresh + "//").passed
    assert suite.score(p, cheat_with("")).outcome == "screened"
    assert calls == []
    assert workdirs() == before and child_processes() <= children


# --- 4. simulations cannot write outside their work directory ---------------------------

def confined_or_skip() -> None:
    from verilog_env.sim import sandbox

    why = sandbox.confinement_unavailable()
    if why is not None:
        pytest.skip(f"confinement unavailable here: {why}")


def test_a_confined_process_writes_its_work_directory_and_nothing_else(tmp_path):
    from verilog_env.sim import sandbox

    confined_or_skip()
    limits = sandbox.Limits(wall_seconds=10)
    targets = [outside_path(), Path("/dev/shm") / f"verilog_env_integrity_{uuid.uuid4().hex}",
               REPO / f"integrity_{uuid.uuid4().hex}", tmp_path / "outside"]
    script = "; ".join(f"echo x > {t} && echo WROTE {t}" for t in targets)
    try:
        with sandbox.Workdir() as wd:
            outside = sandbox.run(["sh", "-c", script + "; true"], wd, limits, confine=True)
            inside = sandbox.run(["sh", "-c", "echo x > inside.txt && mkdir sub && echo y > sub/f && cat inside.txt"],
                                 wd, limits, confine=True)
            assert "WROTE" not in outside.output and "Read-only file system" in outside.output, outside.output
            assert not any(t.exists() for t in targets)
            assert inside.ok and inside.output.strip() == "x", inside.output
            assert (wd / "inside.txt").read_text() == "x\n" and (wd / "sub" / "f").read_text() == "y\n"
            unconfined = sandbox.run(["sh", "-c", script], wd, limits)
            assert unconfined.ok and (tmp_path / "outside").exists()  # the default is unchanged: no confinement
    finally:
        for target in targets:
            target.unlink(missing_ok=True)


def test_a_confined_process_keeps_the_sandbox_limits_and_is_killed_on_timeout():
    from verilog_env.sim import sandbox

    confined_or_skip()
    with sandbox.Workdir() as wd:
        big = sandbox.run(["sh", "-c", "while :; do echo 0123456789abcdef; done > big"], wd,
                          sandbox.Limits(wall_seconds=10, output_bytes=4096), confine=True)
        assert big.signal_name == "SIGXFSZ", big  # reported as the signal, like an unconfined run
        before = child_processes()
        hang = sandbox.run(["sleep", "30"], wd, sandbox.Limits(wall_seconds=0.5), confine=True)
        assert hang.timed_out and hang.seconds < 5
        assert child_processes() <= before


@pytest.mark.shared
@pytest.mark.parametrize("suite_name", [VE, "rtllm-v1.1"])
def test_upstream_flow_without_screen_cannot_write_outside_its_work_directory(suite_name):
    """``--no-screen`` compiles samples as given; confinement still keeps their $fopen in
    the work directory (upstream's flow would have written the host's file)."""
    _, upstream = suites(suite_name)
    target = outside_path()
    writer = (f'  integer f;\n  initial begin f = $fopen("{target}", "w"); $fwrite(f, "pwned\\n"); '
              f'$fclose(f); end\n')
    p, code = right_answer_with(suite_name, writer)
    try:
        score = upstream.score(p, code)
        assert not target.exists(), "the sample wrote outside its work directory"
        assert score.passed, score  # the steps themselves (iverilog's temporary files) still work
    finally:
        target.unlink(missing_ok=True)


@pytest.mark.shared
def test_the_run_summary_says_how_simulations_were_confined(tmp_path):
    from benchmarks import harness, rundir

    confined_or_skip()
    suite = get_eval_suite(VE)
    p = problem(VE, "Prob001_zero")
    sample = {"suite": VE, "problem_id": p.id, "sample_index": 0, "code": ZERO, "format_ok": True}
    (tmp_path / rundir.SAMPLES).write_text(json.dumps(sample) + "\n")
    summary = harness.run(suite, [p], None, tmp_path, progress=False)
    assert summary["confinement"].startswith("bwrap: each simulation step can write only")
    assert json.loads((tmp_path / "summary.json").read_text())["suites"][VE]["confinement"] == summary["confinement"]
    assert "Filesystem confinement of the simulations: bwrap" in (tmp_path / "summary.md").read_text()


def test_without_bwrap_runs_are_unconfined_with_one_warning(monkeypatch, tmp_path):
    from benchmarks.official import confinement
    from verilog_env.sim import sandbox

    monkeypatch.setattr(sandbox, "_BWRAP", None)
    monkeypatch.setattr(sandbox, "_confinement", [])
    probe = tmp_path / "written_from_outside"
    with sandbox.Workdir() as wd:
        with pytest.warns(RuntimeWarning, match="without filesystem confinement.*bwrap is not installed"):
            first = sandbox.run(["sh", "-c", f"echo x > {probe}"], wd, sandbox.Limits(), confine=True)
        assert first.ok and probe.exists()  # the policy alone: nothing stopped the write
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert sandbox.run(["true"], wd, sandbox.Limits(), confine=True).ok  # warned once only
    assert confinement().startswith("none (bwrap is not installed")
