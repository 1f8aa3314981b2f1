"""The built-in evaluation suites: loaders, layouts, registry, official scoring.

The acceptance test scores every shipped reference (top renamed as a solution names it)
with the benchmark's own testbench and checks the result against ``manifest.json``'s
``reference_check``: pass where it says pass, fail (reported) where it says fail.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared_data import shared_benchmarks

from benchmarks import BenchmarkDataError, EvalSuite, get_eval_suite, list_eval_suites
from benchmarks.official import (
    default_data_root,
    reference_as_sample,
    reference_report,
)
from benchmarks.scoring import score_pairs

SUITES = ["verilogeval-v2-spec-to-rtl", "verilogeval-v2-code-complete", "rtllm-v1.1", "rtllm-v2"]
MANIFEST_SUITE = {
    "verilogeval-v2-spec-to-rtl": "verilogeval_v2/spec-to-rtl",
    "verilogeval-v2-code-complete": "verilogeval_v2/code-complete",
    "rtllm-v1.1": "rtllm_v1_1",
}
COUNTS = {"verilogeval-v2-spec-to-rtl": (156, 151), "verilogeval-v2-code-complete": (156, 152), "rtllm-v1.1": (29, 26)}


def manifest_entries(suite: str) -> dict[str, dict]:
    data = json.loads((shared_benchmarks() / "manifest.json").read_text())
    return {e["id"]: e for e in data["problems"] if e["suite"] == MANIFEST_SUITE[suite]}


_LOADED: dict[str, list] = {}


def loaded(suite: str) -> list:
    if suite not in _LOADED:
        _LOADED[suite] = get_eval_suite(suite).load(shared_benchmarks())
    return _LOADED[suite]


def problem(suite: str, pid: str):
    return next(p for p in loaded(suite) if p.id == pid)


def workdirs() -> set[str]:
    base = os.environ.get("VERILOG_ENV_TMPDIR") or "/dev/shm"
    return {p.name for p in Path(base).glob(f"verilog_env_{os.getpid()}_*")}


def child_processes() -> set[str]:
    """This process's children (pid and command), the `ps` that lists them left out."""
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())], capture_output=True, text=True, check=False).stdout
    return {ln.strip() for ln in out.splitlines() if ln.strip() and ln.split()[-1] != "ps"}


# --- registry, import weight, errors (no data needed) ---------------------------------

def test_registry_lists_the_builtin_suites():
    assert set(SUITES) <= set(list_eval_suites())
    for name in SUITES:
        suite = get_eval_suite(name)
        assert isinstance(suite, EvalSuite) and suite.name == name and suite.description
    with pytest.raises(KeyError, match="available"):
        get_eval_suite("no-such-suite")


def test_import_benchmarks_is_light():
    code = (
        "import sys, benchmarks; heavy = [m for m in ('torch', 'httpx', 'pyslang', 'verilog_env', 'tqdm') "
        "if m in sys.modules]; print(heavy); assert not heavy; assert len(benchmarks.list_eval_suites()) >= 4"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


@pytest.mark.parametrize("name", SUITES)
def test_missing_data_is_a_one_line_error(name, tmp_path):
    suite = get_eval_suite(name)
    for root in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(BenchmarkDataError) as err:
            suite.load(root)
        message = str(err.value)
        assert "\n" not in message and str(root) in message, message
        assert "git clone https://github.com/" in message, message


def test_default_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("VERILOG_ENV_BENCHMARKS", raising=False)
    work = tmp_path / "work" / "main"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert default_data_root() is None
    assert get_eval_suite("rtllm-v1.1").default_data is None
    with pytest.raises(BenchmarkDataError, match="VERILOG_ENV_BENCHMARKS"):
        get_eval_suite("rtllm-v1.1").load(None)
    (tmp_path / "work" / "shared" / "benchmarks").mkdir(parents=True)
    assert default_data_root() == str((tmp_path / "work" / "shared" / "benchmarks").resolve())
    monkeypatch.setenv("VERILOG_ENV_BENCHMARKS", "/data/bench")
    assert get_eval_suite("verilogeval-v2-spec-to-rtl").default_data == "/data/bench"


def test_messages_put_the_prompt_after_an_optional_system_prompt():
    from benchmarks.registry import EvalProblem

    p = EvalProblem(suite="x", id="a", prompt="Build it.", reference="", top="t", reference_top="t")
    suite = get_eval_suite("rtllm-v1.1")
    assert suite.messages(p, None) == [{"role": "user", "content": "Build it."}]
    assert suite.messages(p, "SYS") == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Build it."}]


# --- loaders on the shared layout -----------------------------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("name", ["verilogeval-v2-spec-to-rtl", "verilogeval-v2-code-complete"])
def test_verilogeval_loader(name):
    problems = loaded(name)
    entries = manifest_entries(name)
    task_dir = shared_benchmarks() / MANIFEST_SUITE[name]
    assert len(problems) == 156 == len(entries)
    assert [p.id for p in problems] == (task_dir / "problems.txt").read_text().split()
    assert sum(p.reference_passes is True for p in problems) == COUNTS[name][1]
    for p in problems:
        entry = entries[p.id]
        assert p.suite == name and p.key == f"{name}/{p.id}"
        assert (p.top, p.reference_top) == ("TopModule", "RefModule") == (entry["top_module"], entry["reference_module"])
        assert p.prompt == (task_dir / f"{p.id}_prompt.txt").read_text()
        assert p.reference == (shared_benchmarks() / entry["files"]["reference"]).read_text()
        assert p.reference_passes == (entry["reference_check"]["result"] == "pass")
        assert Path(p.files["testbench"]).name == f"{p.id}_test.sv"
        if name.endswith("code-complete"):
            assert p.header == (task_dir / f"{p.id}_ifc.txt").read_text()
            assert p.prompt.rstrip().endswith(p.header.strip())
        else:
            assert p.header is None
    spec = problem(name, "Prob001_zero").prompt
    assert "TopModule" in spec and "output zero" in spec


@pytest.mark.shared
def test_rtllm_loader_matches_the_manifest():
    problems = loaded("rtllm-v1.1")
    entries = manifest_entries("rtllm-v1.1")
    assert len(problems) == 29 and {p.id for p in problems} == set(entries)
    assert sum(p.reference_passes is True for p in problems) == 26
    for p in problems:
        entry = entries[p.id]
        assert p.top == entry["top_module"] == p.id
        assert p.reference_top == entry["reference_module"], p.id  # pyslang scan, incl. freq_div, multi_pipe_4bit
        assert p.prompt == (shared_benchmarks() / entry["files"]["description"]).read_text()
        assert sorted(Path(d).name for d in p.files["data"]) == sorted(Path(d).name for d in entry["files"]["data"])
        assert p.reference_passes == (entry["reference_check"]["result"] == "pass")
        assert p.header is None


@pytest.mark.shared
def test_any_root_from_the_suite_folder_up_works():
    root = shared_benchmarks()
    for name, subs in {
        "verilogeval-v2-spec-to-rtl": ["verilogeval_v2", "verilogeval_v2/spec-to-rtl"],
        "verilogeval-v2-code-complete": ["verilogeval_v2", "verilogeval_v2/code-complete"],
        "rtllm-v1.1": ["rtllm_v1_1"],
    }.items():
        for sub in subs:
            assert len(get_eval_suite(name).load(root / sub)) == COUNTS[name][0], (name, sub)
    # a task folder is not taken for the other task; v1.1 is not passed off as v2
    with pytest.raises(BenchmarkDataError):
        get_eval_suite("verilogeval-v2-code-complete").load(root / "verilogeval_v2" / "spec-to-rtl")
    with pytest.raises(BenchmarkDataError):
        get_eval_suite("verilogeval-v2-spec-to-rtl").load(root / "verilogeval_v2" / "code-complete")
    with pytest.raises(BenchmarkDataError, match="RTLLM v2"):
        get_eval_suite("rtllm-v2").load(root)


# --- upstream layouts (small fake checkouts built from the shared files) ----------------

VE_UPSTREAM = {"spec-to-rtl": "dataset_spec-to-rtl", "code-complete": "dataset_code-complete-iccad2023"}
VE_PICK = ["Prob001_zero", "Prob035_count1to10", "Prob062_bugs_mux2"]


def fake_verilog_eval(tmp: Path) -> Path:
    repo = tmp / "verilog-eval"
    for task, folder in VE_UPSTREAM.items():
        src, dest = shared_benchmarks() / "verilogeval_v2" / task, repo / folder
        dest.mkdir(parents=True)
        for pid in VE_PICK:
            for f in src.glob(f"{pid}_*"):
                shutil.copy(f, dest / f.name)
        shutil.copy(src / "Prob062_bugs_mux2.sv", dest)  # the stray upstream file: not a problem
        (dest / "problems.txt").write_text("\n".join(VE_PICK) + "\n")
    (repo / "scripts").mkdir()
    return repo


RTLLM_PICK = ["accu", "alu", "freq_div", "multi_booth_8bit", "multi_pipe_4bit"]


def copy_design_upstream(entry: dict, dest: Path) -> None:
    src = shared_benchmarks() / Path(entry["files"]["testbench"]).parent
    dest.mkdir(parents=True)
    for f in src.iterdir():
        name = entry["original_reference_file"] if f.name == "reference.v" else f.name
        shutil.copy(f, dest / name)
    (dest / "makefile").write_text("# VCS-only upstream makefile\n")


@pytest.mark.shared
def test_upstream_verilog_eval_checkout_loads_and_scores(tmp_path):
    repo = fake_verilog_eval(tmp_path)
    for name in ("verilogeval-v2-spec-to-rtl", "verilogeval-v2-code-complete"):
        suite = get_eval_suite(name)
        for root in (repo, tmp_path, repo / VE_UPSTREAM[name.split("v2-")[1]]):
            problems = suite.load(root)
            assert [p.id for p in problems] == VE_PICK
            assert all(p.reference_passes is None for p in problems)  # no manifest: unknown
        for p in problems:
            shared = problem(name, p.id)
            assert (p.prompt, p.reference, p.header, p.top) == (shared.prompt, shared.reference, shared.header, shared.top)
        scores = score_pairs(suite, [(p, reference_as_sample(p)) for p in problems], workers=2, progress=False)
        assert [s.outcome for s in scores] == ["."] * 3


@pytest.mark.shared
def test_upstream_rtllm_v11_layout_finds_verified_references(tmp_path):
    entries = manifest_entries("rtllm-v1.1")
    base = tmp_path / "CodeV-R1" / "test" / "testbench" / "RTLLM_v1.1" / "Original_problem"
    for design in RTLLM_PICK:
        copy_design_upstream(entries[design], base / design)
    (base.parent / "_chatgpt4").mkdir()  # LLM outputs beside the designs: ignored
    problems = get_eval_suite("rtllm-v1.1").load(tmp_path / "CodeV-R1")
    assert [p.id for p in problems] == RTLLM_PICK
    for p in problems:
        assert Path(p.files["reference"]).name == entries[p.id]["original_reference_file"]
        assert p.reference_top == entries[p.id]["reference_module"] and p.top == p.id
        assert p.reference_passes is None
    by_id = {p.id: p for p in problems}
    assert by_id["freq_div"].reference_top == "freq_div"
    assert by_id["multi_pipe_4bit"].reference_top == "verified_multi_pipe"
    assert by_id["multi_booth_8bit"].reference_top == "verified_multi_booth_8bit"
    assert [Path(d).name for d in by_id["alu"].files["data"]] == ["makefile", "reference.dat"]
    scores = score_pairs(get_eval_suite("rtllm-v1.1"), [(p, reference_as_sample(p)) for p in problems], progress=False)
    assert [s.outcome for s in scores] == ["pass"] * len(problems), scores


@pytest.mark.shared
def test_rtllm_v2_category_tree(tmp_path):
    entries = manifest_entries("rtllm-v1.1")
    repo = tmp_path / "RTLLM"
    copy_design_upstream(entries["adder_8bit"], repo / "Arithmetic" / "Adder" / "adder_8bit")
    copy_design_upstream(entries["alu"], repo / "Miscellaneous" / "RISC-V" / "alu")
    copy_design_upstream(entries["accu"], repo / "_chatgpt4" / "accu")  # not a release folder
    (repo / "Control" / "Finite State Machine").mkdir(parents=True)  # an empty category
    suite = get_eval_suite("rtllm-v2")
    for root in (repo, tmp_path):
        problems = suite.load(root)
        assert [p.id for p in problems] == ["adder_8bit", "alu"]
    assert [p.reference_top for p in problems] == ["verified_adder_8bit", "verified_alu"]
    assert all(p.suite == "rtllm-v2" and p.reference_passes is None for p in problems)
    scores = score_pairs(suite, [(p, reference_as_sample(p)) for p in problems], progress=False)
    assert [s.outcome for s in scores] == ["pass", "pass"]
    with pytest.raises(BenchmarkDataError, match="RTLLM v1.1"):  # category folders are not v1.1's layout
        get_eval_suite("rtllm-v1.1").load(repo)


# --- acceptance: every reference through the official flow ------------------------------

@pytest.mark.shared
def test_every_reference_scores_as_the_manifest_says(capsys):
    started = time.perf_counter()
    for name in ("verilogeval-v2-spec-to-rtl", "verilogeval-v2-code-complete", "rtllm-v1.1"):
        suite = get_eval_suite(name)
        problems = loaded(name)
        report = reference_report(suite, problems, workers=2)
        expected_fail = {pid for pid, e in manifest_entries(name).items() if e["reference_check"]["result"] != "pass"}
        assert not report.disagreements, [(r.id, r.outcome, r.detail) for r in report.disagreements]
        assert {r.id for r in report.failing} == expected_fail
        assert len(report.passing) == COUNTS[name][1]
        markdown = report.to_markdown()
        assert all(pid in markdown for pid in expected_fail)
        with capsys.disabled():
            print(f"\n{name}: {len(report.passing)}/{len(problems)} references pass; reported unsolvable: "
                  f"{sorted((r.id, r.outcome) for r in report.failing)}")
    with capsys.disabled():
        print(f"all references scored in {time.perf_counter() - started:.1f} s")


# --- negative samples, timeouts, hostile samples, cleanup -------------------------------

@pytest.mark.shared
def test_verilogeval_negative_samples():
    suite = get_eval_suite("verilogeval-v2-spec-to-rtl")
    p = problem("verilogeval-v2-spec-to-rtl", "Prob001_zero")
    before, children = workdirs(), child_processes()
    wrong = suite.score(p, "module TopModule(output zero);\n  assign zero = 1'b1;\nendmodule\n")
    assert (wrong.passed, wrong.outcome) == (False, "R") and "Mismatches" in wrong.detail
    syntax = suite.score(p, "module TopModule(output zero);\n  assign zero = ;\nendmodule\n")
    # What the screen cannot analyse is refused, never run (issue 13), with pyslang's error.
    assert (syntax.passed, syntax.outcome) == (False, "screened") and "expected" in syntax.detail
    compile_error = suite.score(p, "module TopModule(output y);\n  assign y = 1'b0;\nendmodule\n")
    assert (compile_error.passed, compile_error.outcome) == (False, "C") and "error" in compile_error.detail
    missing = suite.score(p, "module Other(output zero);\n  assign zero = 1'b0;\nendmodule\n")
    assert missing.outcome == "m"
    started = time.perf_counter()
    hang = suite.score(p, "module TopModule(output reg zero);\n  initial forever zero = 1'b0;\nendmodule\n", timeout=2)
    assert (hang.passed, hang.outcome) == (False, "T")
    assert time.perf_counter() - started < 10
    assert suite.score(p, reference_as_sample(p)).passed
    assert workdirs() == before and child_processes() <= children


@pytest.mark.shared
def test_rtllm_negative_samples():
    suite = get_eval_suite("rtllm-v1.1")
    p = problem("rtllm-v1.1", "accu")
    right = reference_as_sample(p)
    assert suite.score(p, right).outcome == "pass"
    wrong = suite.score(p, right.replace("data_out + data_in", "data_out - data_in"))
    assert (wrong.passed, wrong.outcome) == (False, "fail")
    broken = suite.score(p, right.replace("endmodule", "endmodul"))
    assert (broken.passed, broken.outcome) == (False, "screened")  # pyslang cannot parse it: refused, never run
    unnamed = suite.score(p, p.reference)  # used as given: verified_accu is not the `accu` the testbench wants
    assert unnamed.outcome == "compile_error" and "accu" in unnamed.detail
    started = time.perf_counter()
    hang = suite.score(p, right.replace("endmodule", "initial forever data_out = 0;\nendmodule", 1), timeout=2)
    assert (hang.passed, hang.outcome) == (False, "timeout")
    assert time.perf_counter() - started < 10
    # the testbench's data files are in the work directory (alu reads reference.dat)
    alu = problem("rtllm-v1.1", "alu")
    assert suite.score(alu, reference_as_sample(alu)).passed


@pytest.mark.shared
def test_hostile_sample_is_contained_and_cleaned_up():
    suite = get_eval_suite("verilogeval-v2-spec-to-rtl")
    upstream = copy.copy(suite)
    upstream.screen_samples = False  # the sandbox alone, as upstream runs samples
    p = problem("verilogeval-v2-spec-to-rtl", "Prob001_zero")
    before, children = workdirs(), child_processes()
    writer = (
        "module TopModule(output zero);\n  assign zero = 1'b0;\n  integer f;\n"
        "  initial begin f = $fopen(\"junk.txt\", \"w\"); $fdisplay(f, \"x\"); $fclose(f); end\nendmodule\n"
    )
    assert upstream.score(p, writer).passed  # the sandbox's work directory took the file
    assert suite.score(p, writer).outcome == "screened"
    system = upstream.score(p, "module TopModule(output zero);\n  assign zero = 1'b0;\n"
                               "  initial $system(\"touch /tmp/verilog_env_pwned\");\nendmodule\n")
    assert not system.passed and not Path("/tmp/verilog_env_pwned").exists()  # Icarus has no $system
    flood = upstream.score(p, "module TopModule(output zero);\n  assign zero = 1'b0;\n"
                              "  initial forever $display(\"spam spam spam spam spam spam spam spam\");\nendmodule\n",
                           timeout=5)
    assert not flood.passed
    assert workdirs() == before and child_processes() <= children


FAKE_VERDICTS = {
    # VerilogEval reads `Mismatches: 0 in N samples`; ending the simulation at time 0 prints it with N = 0.
    "finish": ("verilogeval-v2-spec-to-rtl", "Prob001_zero",
               "module TopModule(output zero);\n  assign zero = 1'b1;\n  initial $finish;\nendmodule\n",
               "$finish"),
    # ... and a hierarchical write into the testbench's error counter hides every mismatch.
    "hierarchical": ("verilogeval-v2-spec-to-rtl", "Prob001_zero",
                     "module TopModule(output zero);\n  assign zero = 1'b1;\n"
                     "  always @(tb.stats1.errors) tb.stats1.errors = 0;\nendmodule\n",
                     "tb.stats1.errors"),
    # RTLLM passes any log with the banner in it.
    "banner": ("rtllm-v1.1", "accu", None, "$display"),
}


@pytest.mark.shared
@pytest.mark.parametrize("trick", sorted(FAKE_VERDICTS))
def test_samples_that_fake_the_verdict_pass_upstream_but_are_screened(trick):
    suite_name, pid, code, named = FAKE_VERDICTS[trick]
    suite = get_eval_suite(suite_name)
    p = problem(suite_name, pid)
    if code is None:
        right = reference_as_sample(p)
        code = right.replace("data_out + data_in", "data_out - data_in").replace(
            "endmodule", 'initial #1 $display("===========Your Design Passed===========");\nendmodule', 1)
    upstream = copy.copy(suite)
    upstream.screen_samples = False
    assert upstream.score(p, code).passed, "the trick no longer fools the upstream flow; update this test"
    screened = suite.score(p, code)
    assert (screened.passed, screened.outcome) == (False, "screened")
    assert named in screened.detail
    assert suite.score(p, reference_as_sample(p)).passed


def fake_suite(passes):
    """(suite, calls, problem): a suite whose official run passes ``code`` iff ``passes(code)``,
    recording every code it runs in ``calls``."""
    from benchmarks.official import OfficialRun, OfficialSuite
    from benchmarks.registry import EvalProblem

    calls = []

    class Fake(OfficialSuite):
        name = "fake"
        description = "fake"

        def run_official(self, problem, code, timeout=None, workdir=None):
            calls.append(code)
            return OfficialRun(passes(code), "pass" if passes(code) else "fail", "", seconds=0.5)

    problem = EvalProblem(suite="fake", id="p", prompt="", reference="", top="t", reference_top="t")
    return Fake(), calls, problem


def test_score_cache_and_score_pairs_order(tmp_path):
    """score() memoizes identical (problem, code); score_pairs keeps order and dedups the batch."""
    from benchmarks.registry import EvalProblem

    suite, calls, p = fake_suite(lambda code: code == "good")
    assert suite.score(p, "good").seconds == 0.5 and suite.score(p, "good").seconds == 0.0
    assert calls == ["good"]
    scores = score_pairs(suite, [(p, "bad"), (p, "good"), (p, "bad"), (p, "x")], workers=2, progress=False)
    assert [s.outcome for s in scores] == ["fail", "pass", "fail", "fail"]
    assert sorted(calls) == ["bad", "good", "x"]
    other = EvalProblem(suite="other", id="p", prompt="", reference="", top="t", reference_top="t")
    assert score_pairs(suite, [(other, "good")], progress=False)[0].outcome == "harness_error"


@pytest.mark.shared
def test_problems_whose_watchdog_fires_first_are_not_simulated():
    """Prob082's testbench watchdog ends every run before its stimulus (the reference gets T).

    A screened sample cannot end the run early, so the verdict is T whatever the design:
    it is compiled (a compile error still says so) but not simulated.
    """
    suite = get_eval_suite("verilogeval-v2-spec-to-rtl")
    p = problem("verilogeval-v2-spec-to-rtl", "Prob082_lfsr32")
    skipped = suite.run_official(p, reference_as_sample(p))
    assert (skipped.outcome, skipped.sim_seconds) == ("T", 0.0) and "not simulated" in skipped.detail
    assert suite.run_official(p, "module TopModule(input clk, input reset, output [31:0] q);\n").outcome != "T"
    upstream = copy.copy(suite)
    upstream.screen_samples = False  # `initial $finish;` could pass upstream: simulate as it does
    simulated = upstream.run_official(p, reference_as_sample(p))
    assert simulated.outcome == "T" and simulated.sim_seconds > 0 and not simulated.timed_out


def test_a_pass_answers_samples_with_the_same_tokens():
    """Whitespace and comments aside, equal samples compile to the same program."""
    suite, calls, p = fake_suite(lambda code: "y = 1" in code and "y = 0" not in code)
    base = "module t(output y);\n  assign y = 1;\nendmodule\n"
    spaced = "// answer\nmodule   t(output y);\n\tassign y = 1; /* done */\nendmodule"
    icarus_only = "`ifdef __ICARUS__\nmodule t(output y); assign y = 0; endmodule\n`else\n" + base + "`endif\n"
    wrong = "module t(output y);\n  assign y = 0;\nendmodule\n"
    wrong_spaced = "module t(output y); assign y = 0; endmodule"
    scores = score_pairs(suite, [(p, base), (p, spaced), (p, icarus_only), (p, wrong), (p, wrong_spaced)],
                        workers=3, progress=False)
    assert [s.passed for s in scores] == [True, True, False, False, False]
    # One of the two passing spellings ran and answered the other; fails answer nothing.
    assert len(calls) == 4 and len({base, spaced} & set(calls)) == 1
    assert {icarus_only, wrong, wrong_spaced} <= set(calls)
