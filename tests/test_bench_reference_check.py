"""Suites without a known reference status (no manifest: ``rtllm-v2``, a user's suite):
``bench score``/``bench run`` check each reference against its own testbench, once per
content (cached on disk), so problems no answer can pass are excluded from the headline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import official
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


def test_bench_score_excludes_a_reference_that_fails_its_own_testbench(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(official.REFERENCE_CACHE_ENV, str(tmp_path / "cache"))
    data = rtllm_v2_tree(tmp_path)
    samples = tmp_path / "samples.jsonl"
    right = GOOD.replace("verified_{top}", "{top}")
    samples.write_text("".join(json.dumps({"problem_id": top, "code": right.format(top=top)}) + "\n"
                               for top in ("adder", "broken_adder")))
    args = ["bench", "score", "--suite", "rtllm-v2", "--data", str(data), "--samples", str(samples), "--no-progress"]
    assert cli_main([*args, "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["suites"]["rtllm-v2"]
    assert [x["id"] for x in summary["excluded"]] == ["broken_adder"]
    assert "checked by verilog-env" in summary["excluded"][0]["note"]
    assert summary["headline"]["problems"] == 1 and summary["headline"]["pass@1"] == 1.0
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| rtllm-v2 | 1 |" in markdown and "broken_adder" in markdown
    cached = list((tmp_path / "cache" / "reference-checks").glob("*.json"))
    assert len(cached) == 2

    # cached: a second run in a new folder does not score the references again
    calls = []
    real = official.reference_report
    monkeypatch.setattr(official, "reference_report", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert cli_main([*args, "--out", str(tmp_path / "again")]) == 0
    assert calls == []
    again = json.loads((tmp_path / "again" / "summary.json").read_text())["suites"]["rtllm-v2"]
    assert [x["id"] for x in again["excluded"]] == ["broken_adder"]
    # a changed testbench is another content: checked again
    tb = data / "Arithmetic" / "Adder" / "adder" / "testbench.v"
    tb.write_text(tb.read_text().replace("#1;", "#2;"))
    assert cli_main([*args, "--out", str(tmp_path / "third")]) == 0
    assert len(calls) == 1


@pytest.mark.shared
def test_unknown_status_of_real_rtllm_references_is_found_as_the_manifest_records(tmp_path, monkeypatch):
    """The shared RTLLM v1.1 references with their manifest status forgotten (as rtllm-v2's
    upstream tree has none): the check finds exactly the ones the manifest records failing
    under Icarus (asyn_fifo among them)."""
    import dataclasses

    from test_bench_suites import loaded, manifest_entries

    from benchmarks import get_eval_suite

    monkeypatch.setenv(official.REFERENCE_CACHE_ENV, str(tmp_path / "cache"))
    problems = [dataclasses.replace(p, reference_passes=None, reference_note="") for p in loaded("rtllm-v1.1")]
    checked = official.check_unknown_references(get_eval_suite("rtllm-v1.1"), problems, workers=2)
    expected = {pid for pid, e in manifest_entries("rtllm-v1.1").items() if e["reference_check"]["result"] != "pass"}
    assert "asyn_fifo" in expected
    assert {p.id for p in checked if p.reference_passes is False} == expected
    assert all(p.reference_passes is True for p in checked if p.id not in expected)
