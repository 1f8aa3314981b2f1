"""Suites without a known reference status (no manifest: ``rtllm-v2``, a user's suite):
``bench score``/``bench run`` check each reference against its own testbench, once per
content (cached on disk), so problems no answer can pass are excluded from the headline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import official
from verilog_env.cache import CACHE_ENV
from verilog_env.cli import main as cli_main

TESTBENCH = """`timescale 1ns/1ps
module tb;
  reg [3:0] a, b; wire [4:0] s; integer errors = 0, i;
  {top} dut(.a(a), .b(b), .s(s));
  initial begin
    for (i = 0; i < 16; i = i + 1) begin
      a = i; b = 15 - i; #1;
      if (s !== a + b) errors = errors + 1;
    end
    if (errors == 0) $display("=========== Your Design Passed ===========");
    else $display("=========== Test completed with %d failures ===========", errors);
    $finish;
  end
endmodule
"""
GOOD = "module verified_{top}(input [3:0] a, input [3:0] b, output [4:0] s);\n  assign s = a + b;\nendmodule\n"
BAD = "module verified_{top}(input [3:0] a, input [3:0] b, output [4:0] s);\n  assign s = a - b;\nendmodule\n"


def rtllm_v2_tree(root: Path) -> Path:
    """An RTLLM v2-layout tree of two designs: ``adder`` (its reference passes its own
    testbench) and ``broken_adder`` (its reference fails it, as ``asyn_fifo``'s does upstream
    under Icarus)."""
    for category, top, reference in (("Arithmetic", "adder", GOOD), ("Arithmetic", "broken_adder", BAD)):
        folder = root / "RTLLM" / category / "Adder" / top
        folder.mkdir(parents=True)
        (folder / "design_description.txt").write_text(f"Module {top}: s = a + b (5 bits).\n")
        (folder / "testbench.v").write_text(TESTBENCH.format(top=top))
        (folder / f"verified_{top}.v").write_text(reference.format(top=top))
    return root / "RTLLM"


def score_cli(data: Path, samples: Path, out: Path, *options: str, suite: str = "rtllm-v2") -> dict:
    assert cli_main(["bench", "score", "--suite", suite, "--data", str(data), "--samples", str(samples),
                     "--out", str(out), "--no-progress", *options]) == 0
    return json.loads((out / "summary.json").read_text())["suites"][suite]


def test_bench_score_excludes_a_reference_that_fails_its_own_testbench(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    data = rtllm_v2_tree(tmp_path)
    samples = tmp_path / "samples.jsonl"
    right = GOOD.replace("verified_{top}", "{top}")
    samples.write_text("".join(json.dumps({"problem_id": top, "code": right.format(top=top)}) + "\n"
                               for top in ("adder", "broken_adder")))
    summary = score_cli(data, samples, tmp_path / "out")
    assert [x["id"] for x in summary["excluded"]] == ["broken_adder"]
    note = summary["excluded"][0]["note"]
    assert note.startswith("reference fails its own testbench here (checked by verilog-env: fail, ")
    assert summary["headline"]["problems"] == 1 and summary["headline"]["pass@1"] == 1.0
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| rtllm-v2 | 1 |" in markdown and "| broken_adder | 1 | 1 | 100.0 | reference fails" in markdown
    cache = tmp_path / "cache" / "reference-checks"
    entries = {json.loads(f.read_text())["id"]: f for f in cache.glob("*.json")}
    assert sorted(entries) == ["adder", "broken_adder"]

    # a second run answers from the cache: an entry's note, changed here, is what it reports
    entry = json.loads(entries["broken_adder"].read_text())
    entries["broken_adder"].write_text(json.dumps({**entry, "note": "as the cache says"}))
    again = score_cli(data, samples, tmp_path / "again")
    assert [(x["id"], x["note"]) for x in again["excluded"]] == [("broken_adder", "as the cache says")]
    # a changed testbench is another content: checked again
    tb = data / "Arithmetic" / "Adder" / "broken_adder" / "testbench.v"
    tb.write_text(tb.read_text().replace("#1;", "#2;"))
    third = score_cli(data, samples, tmp_path / "third")
    assert [(x["id"], x["note"]) for x in third["excluded"]] == [("broken_adder", note)]
    assert len(list(cache.glob("*.json"))) == 3
    # so are a changed data file and a changed reference
    folder = data / "Arithmetic" / "Adder" / "broken_adder"
    (folder / "stimulus.txt").write_text("1\n")
    score_cli(data, samples, tmp_path / "data1")
    (folder / "stimulus.txt").write_text("2\n")
    score_cli(data, samples, tmp_path / "data2")
    (folder / "verified_broken_adder.v").write_text(BAD.format(top="broken_adder") + "// edited\n")
    score_cli(data, samples, tmp_path / "reference")
    assert len(list(cache.glob("*.json"))) == 6
    # an emptied cache: checked again
    for f in cache.glob("*.json"):
        f.unlink()
    assert [x["id"] for x in score_cli(data, samples, tmp_path / "fourth")["excluded"]] == ["broken_adder"]
    assert len(list(cache.glob("*.json"))) == 2
    # unscreened scoring can judge a reference otherwise: its checks are cached apart
    assert [x["id"] for x in score_cli(data, samples, tmp_path / "fifth", "--no-screen")["excluded"]] == ["broken_adder"]
    assert len(list(cache.glob("*.json"))) == 4


def test_cache_folder_defaults(tmp_path):
    """Without $VERILOG_ENV_CACHE the checks go to ~/.cache/verilog-env/reference-checks, or
    $XDG_CACHE_HOME/verilog-env/reference-checks where that is set (a real bench score)."""
    data = rtllm_v2_tree(tmp_path)
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"problem_id": "adder", "code": GOOD.replace("verified_{top}", "adder")}) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in (CACHE_ENV, "XDG_CACHE_HOME")}
    command = [sys.executable, "-m", "verilog_env.cli", "bench", "score", "--suite", "rtllm-v2", "--data", str(data),
               "--samples", str(samples), "--no-progress"]
    for extra, where in (({"HOME": str(tmp_path / "home")}, tmp_path / "home" / ".cache"),
                         ({"HOME": str(tmp_path / "home2"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}, tmp_path / "xdg")):
        run = subprocess.run([*command, "--out", str(where.parent / "out")], env={**env, **extra}, check=False,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert len(list((where / "verilog-env" / "reference-checks").glob("*.json"))) == 1


def test_a_check_the_harness_failed_stays_unknown_and_is_not_cached(tmp_path, monkeypatch):
    """A reference whose scoring call raised (outcome harness_error) is neither excluded nor
    cached: the next run checks it again."""
    from benchmarks.rtllm import RTLLMSuite

    class Flaky(RTLLMSuite):  # a user's suite whose scorer fails once on adder
        fail = True

        def score(self, problem, code, timeout=None):
            if self.fail and problem.id == "adder":
                raise RuntimeError("scorer crashed")
            return super().score(problem, code, timeout)

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    suite = Flaky("v2")
    problems = suite.load(rtllm_v2_tree(tmp_path))
    checked = official.check_unknown_references(suite, problems, workers=1)
    assert {p.id: p.reference_passes for p in checked} == {"adder": None, "broken_adder": False}
    cached = [json.loads(f.read_text())["id"] for f in (tmp_path / "cache" / "reference-checks").glob("*.json")]
    assert cached == ["broken_adder"]
    suite.fail = False
    checked = official.check_unknown_references(suite, problems, workers=1)
    assert {p.id: p.reference_passes for p in checked} == {"adder": True, "broken_adder": False}


@pytest.mark.shared
def test_rtllm_v2_layout_of_real_designs_excludes_asyn_fifo(tmp_path, monkeypatch):
    """The issue's case: RTLLM's asyn_fifo (the shared v1.1 copy, in v2's category layout,
    where no manifest records its status) fails its own testbench under Icarus, so bench
    score leaves it out of rtllm-v2's headline and summary.md says it was checked here."""
    from shared_data import shared_benchmarks

    from benchmarks import get_eval_suite

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    for design, category in (("asyn_fifo", "Memory/FIFO"), ("adder_8bit", "Arithmetic/Adder")):
        shutil.copytree(shared_benchmarks() / "rtllm_v1_1" / design, tmp_path / "RTLLM" / category / design)
    problems = get_eval_suite("rtllm-v2").load(tmp_path / "RTLLM")
    assert {p.id: p.reference_passes for p in problems} == {"adder_8bit": None, "asyn_fifo": None}
    samples = tmp_path / "samples.jsonl"  # each design's reference, as a correct answer looks
    samples.write_text("".join(json.dumps({"problem_id": p.id, "code": official.reference_as_sample(p)}) + "\n"
                               for p in problems))
    summary = score_cli(tmp_path / "RTLLM", samples, tmp_path / "out")
    assert [x["id"] for x in summary["excluded"]] == ["asyn_fifo"]
    assert summary["headline"]["problems"] == 1 and summary["headline"]["pass@1"] == 1.0
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| asyn_fifo | 1 | 0 | 0.0 | reference fails its own testbench here (checked by verilog-env: " in markdown


@pytest.mark.shared
def test_unknown_status_of_real_rtllm_references_is_found_as_the_manifest_records(tmp_path, monkeypatch):
    """The shared RTLLM v1.1 references with their manifest status forgotten (as rtllm-v2's
    upstream tree has none): the check finds exactly the ones the manifest records failing
    under Icarus (asyn_fifo among them)."""
    import dataclasses

    from test_bench_suites import loaded, manifest_entries

    from benchmarks import get_eval_suite

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    problems = [dataclasses.replace(p, reference_passes=None, reference_note="") for p in loaded("rtllm-v1.1")]
    checked = official.check_unknown_references(get_eval_suite("rtllm-v1.1"), problems, workers=2)
    expected = {pid for pid, e in manifest_entries("rtllm-v1.1").items() if e["reference_check"]["result"] != "pass"}
    assert "asyn_fifo" in expected
    assert {p.id for p in checked if p.reference_passes is False} == expected
    assert all(p.reference_passes is True for p in checked if p.id not in expected)
