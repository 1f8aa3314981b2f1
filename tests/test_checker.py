"""Behaviour of check_equivalence on small, hand-written designs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import verilog_env
from verilog_env import Status, check_equivalence, check_many
from verilog_env.hdl.design import DesignError, analyze

COUNTER = """
module top_module(input clk, input reset, input en, output reg [3:0] q);
  always @(posedge clk)
    if (reset) q <= 4'd0;
    else if (en) q <= q + 4'd1;
endmodule
"""

ADDER = """
module adder(input [7:0] a, input [7:0] b, output [8:0] s);
  assign s = a + b;
endmodule
"""


def test_identical_designs_are_equivalent():
    verdict = check_equivalence(COUNTER, COUNTER)
    assert verdict.status is Status.EQUIVALENT, verdict.reason
    assert verdict.counterexample is None
    assert verdict.details["ticks"] == 2 * verilog_env.equiv.settings.DEFAULT_CYCLES
    assert {"compile", "simulate", "analyze", "total"} <= set(verdict.timings)


def test_wrong_design_gives_reproducible_counterexample():
    wrong = COUNTER.replace("q + 4'd1", "q + 4'd2")
    first = check_equivalence(COUNTER, wrong, seed=7)
    second = check_equivalence(COUNTER, wrong, seed=7)
    assert first.status is Status.MISMATCH
    cex = first.counterexample
    assert cex is not None and cex.mismatched == ["q"]
    assert cex.expected["q"] != cex.actual["q"]
    assert cex.inputs[-1]["tick"] == cex.tick and set(cex.inputs[-1]) == {"tick", "reset", "en"}
    assert cex.seed == 7
    assert first.to_dict()["counterexample"] == second.to_dict()["counterexample"]
    assert "q" in cex.table()


def test_verdict_round_trips_through_json():
    verdict = check_equivalence(COUNTER, COUNTER.replace("4'd0", "4'd1"))
    again = verilog_env.Verdict.from_dict(json.loads(verdict.to_json()))
    assert again == verdict


def test_module_names_may_differ():
    renamed = COUNTER.replace("top_module", "TopModule")
    assert check_equivalence(COUNTER, renamed, candidate_top="TopModule").equivalent
    # Without a hint the candidate's only uninstantiated module is its top.
    assert check_equivalence(COUNTER, renamed).equivalent


def test_ambiguous_candidate_top_is_rejected():
    two = COUNTER.replace("top_module", "a") + COUNTER.replace("top_module", "b")
    verdict = check_equivalence(COUNTER, two)
    assert verdict.status is Status.REJECTED
    assert "a, b" in verdict.reason


@pytest.mark.parametrize(
    "candidate, fragment",
    [
        (ADDER.replace("output [8:0] s", "output [7:0] s"), "port s is output [7:0], expected output [8:0]"),
        (ADDER.replace("input [7:0] b, ", "").replace("a + b", "a"), "missing input port b"),
        (ADDER.replace("output [8:0] s", "output [8:0] s, output c").replace("endmodule", "assign c = 0;\nendmodule"),
         "unexpected output port c"),
        (ADDER.replace("input [7:0] b", "output [7:0] b").replace("a + b", "a"), "port b is output"),
    ],
)
def test_interface_differences_are_named(candidate, fragment):
    verdict = check_equivalence(ADDER, candidate)
    assert verdict.status is Status.MISMATCH
    assert fragment in verdict.reason


def test_x_in_golden_is_dont_care_but_x_in_candidate_is_not():
    golden = "module m(input a, output [1:0] y); assign y = {1'bx, a}; endmodule"
    any_high = "module m(input a, output [1:0] y); assign y = {1'b1, a}; endmodule"
    x_low = "module m(input a, output [1:0] y); assign y = {1'b0, 1'bx}; endmodule"
    assert check_equivalence(golden, any_high).equivalent
    verdict = check_equivalence(golden, x_low)
    assert verdict.status is Status.MISMATCH
    assert verdict.counterexample.actual["y"].endswith("x")


def test_registers_without_reset_are_dont_care_until_defined():
    golden = "module m(input clk, input d, output reg q); always @(posedge clk) q <= d; endmodule"
    initialised = "module m(input clk, input d, output reg q = 1'b0); always @(posedge clk) q <= d; endmodule"
    assert check_equivalence(golden, initialised).equivalent


def test_combinational_and_sequential_mismatch_found_quickly():
    verdict = check_equivalence(ADDER, ADDER.replace("a + b", "a - b"))
    assert verdict.status is Status.MISMATCH and verdict.counterexample.tick < 5


def test_async_reset_is_detected_and_exercised():
    golden = """
    module m(input clk, input rst_n, input d, output reg q);
      always @(posedge clk or negedge rst_n) if (!rst_n) q <= 1'b0; else q <= d;
    endmodule"""
    design = analyze(golden, name="g.v", role="golden")
    assert design.clocks == ["clk"]
    assert [(r.name, r.active_high, r.asynchronous) for r in design.resets] == [("rst_n", False, True)]
    sync_only = golden.replace(" or negedge rst_n", "")
    assert check_equivalence(golden, sync_only).status is Status.MISMATCH


def test_sync_reset_polarity_through_a_submodule():
    golden = """
    module top(input clock, input resetn, input [3:0] d, output [3:0] q);
      stage s(.c(clock), .r(resetn), .d(d), .q(q));
    endmodule
    module stage(input c, input r, input [3:0] d, output reg [3:0] q);
      always @(posedge c) if (r == 1'b0) q <= 0; else q <= d;
    endmodule"""
    design = analyze(golden, name="g.v", role="golden")
    assert design.clocks == ["clock"]
    assert [(r.name, r.active_high, r.asynchronous) for r in design.resets] == [("resetn", False, False)]


def test_two_clock_design_is_supported():
    golden = """
    module sync2(input clk_a, input clk_b, input d, output reg qa, output reg qb);
      always @(posedge clk_a) qa <= d;
      always @(posedge clk_b) qb <= qa;
    endmodule"""
    assert analyze(golden, name="g.v", role="golden").clocks == ["clk_a", "clk_b"]
    assert check_equivalence(golden, golden).equivalent
    swapped = golden.replace("always @(posedge clk_b) qb", "always @(posedge clk_a) qb")
    verdict = check_equivalence(golden, swapped)
    assert verdict.status is Status.MISMATCH and verdict.counterexample.mismatched == ["qb"]


def test_negedge_and_both_edge_designs():
    golden = "module m(input clk, input d, output reg q); always @(negedge clk) q <= d; endmodule"
    posedge = golden.replace("negedge", "posedge")
    assert check_equivalence(golden, golden).equivalent
    assert check_equivalence(golden, posedge).status is Status.MISMATCH


def test_parameters_resolve_before_widths_are_compared():
    golden = "module m #(parameter W = 4)(input [W-1:0] a, output [W-1:0] y); assign y = ~a; endmodule"
    fixed = "module m(input [3:0] a, output [3:0] y); assign y = ~a; endmodule"
    assert check_equivalence(golden, fixed).equivalent


@pytest.mark.parametrize(
    "candidate, status",
    [
        ("", Status.COMPILE_ERROR),
        ("module m(input a, output y); assign y = a endmodule", Status.COMPILE_ERROR),
        ("module m(inout a, output y); assign y = a; endmodule", Status.MISMATCH),
        ("module m(input real a, output y); assign y = a > 0.5; endmodule", Status.MISMATCH),
        ("`timescale 1ns/1ps\nmodule m(input a, output y); assign y = a; endmodule\n"
         "`timescale 1ps/1ps\nmodule n; endmodule", Status.UNSUPPORTED),
    ],
)
def test_broken_candidates(candidate, status):
    golden = "module m(input a, output y); assign y = a; endmodule"
    verdict = check_equivalence(golden, candidate)
    assert verdict.status is status
    assert verdict.reason


def test_unsupported_golden_interfaces():
    for golden, fragment in [
        ("module m(inout a, output y); assign y = a; endmodule", "inout"),
        ("module m(input [3:0] a [2], output y); assign y = a[0][0]; endmodule", "not a bit vector"),
        ("module m(input a); endmodule", "no output ports"),
    ]:
        with pytest.raises(DesignError) as info:
            analyze(golden, name="g.v", role="golden")
        assert info.value.status == "unsupported" and fragment in info.value.reason
        verdict = check_equivalence(golden, golden)
        assert verdict.status is Status.UNSUPPORTED and fragment in verdict.reason


def test_batch_verdicts_match_single_verdicts():
    candidates = [
        COUNTER,
        COUNTER.replace("q + 4'd1", "q - 4'd1"),
        "not verilog",
        COUNTER.replace("if (en)", "if (!en)"),
        COUNTER,
    ]
    batch = check_many(COUNTER, candidates, batch_size=5)
    singles = [check_equivalence(COUNTER, c) for c in candidates]
    assert [v.status for v in batch] == [v.status for v in singles]
    assert [v.status for v in batch] == [
        Status.EQUIVALENT, Status.MISMATCH, Status.COMPILE_ERROR, Status.MISMATCH, Status.EQUIVALENT,
    ]
    assert batch[1].counterexample == singles[1].counterexample


def test_in_process_mode_gives_same_verdicts():
    wrong = COUNTER.replace("4'd0", "4'd3")
    assert check_equivalence(COUNTER, wrong, isolate=False).to_dict()["counterexample"] == \
        check_equivalence(COUNTER, wrong).to_dict()["counterexample"]


def test_seed_changes_the_stimulus():
    wrong = ADDER.replace("a + b", "(a == 8'd200) ? 9'd0 : a + b")
    ticks = {check_equivalence(ADDER, wrong, seed=s, cycles=2000).status for s in range(3)}
    assert ticks <= {Status.MISMATCH, Status.EQUIVALENT}


def test_cli_check_json_and_exit_status(tmp_path):
    golden, good, bad = tmp_path / "g.v", tmp_path / "c.v", tmp_path / "b.v"
    golden.write_text(COUNTER)
    good.write_text(COUNTER)
    bad.write_text(COUNTER.replace("4'd1", "4'd2"))
    cli = [sys.executable, "-m", "verilog_env.cli", "check"]
    ok = subprocess.run([*cli, str(golden), str(good), "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "equivalent"
    fail = subprocess.run([*cli, str(golden), str(bad), "--seed", "3", "--cycles", "50"], capture_output=True, text=True)
    assert fail.returncode == 1 and fail.stdout.startswith("mismatch: output q differs")
    missing = subprocess.run([*cli, str(golden), str(tmp_path / "nope.v")], capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"verilog-env: candidate file not found: {tmp_path / 'nope.v'}"


def test_cli_demo_runs():
    out = subprocess.run([sys.executable, "-m", "verilog_env.cli", "demo"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    verdicts = [line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("verdict:")]
    assert verdicts == ["equivalent", "mismatch", "rejected", "compile_error", "timeout"]


def test_missing_simulator_is_a_clear_error(monkeypatch):
    from verilog_env.sim import icarus

    icarus.tools.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(verilog_env.SimulatorNotFoundError, match="apt-get install iverilog"):
            check_equivalence(COUNTER, COUNTER)
    finally:
        monkeypatch.undo()
        icarus.tools.cache_clear()


def test_environment_library_does_not_import_torch():
    code = "import sys, verilog_env, verilog_env.cli; assert 'torch' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_power_on_x_before_the_first_reset_is_not_compared():
    # The golden's `if (s)` turns the unreset X of `s` into a defined output at tick 0;
    # an equally correct `s ^ a` gives X there. Neither is specified before reset.
    golden = """module TopModule(input clk, input reset, input a, output reg y);
  reg s;
  always @(posedge clk) if (reset) s <= 1'b0; else s <= ~s;
  always @* if (s) y = ~a; else y = a;
endmodule"""
    candidate = golden.replace("always @* if (s) y = ~a; else y = a;", "always @* y = s ^ a;")
    assert check_equivalence(golden, candidate).status is Status.EQUIVALENT
    wrong = candidate.replace("s ^ a", "~(s ^ a)")
    assert check_equivalence(golden, wrong).status is Status.MISMATCH


def test_identical_requests_are_checked_once_and_get_their_own_verdicts():
    from verilog_env import CheckRequest, check_requests

    golden = "module TopModule(input [3:0] a, output [3:0] y); assign y = ~a; endmodule"
    wrong = golden.replace("~a", "a")
    verdicts = check_requests([CheckRequest(golden, golden), CheckRequest(golden, wrong), CheckRequest(golden, golden), CheckRequest(golden, wrong)])
    assert [v.status for v in verdicts] == [Status.EQUIVALENT, Status.MISMATCH, Status.EQUIVALENT, Status.MISMATCH]
    assert verdicts[1] is not verdicts[3] and verdicts[1].counterexample == verdicts[3].counterexample
    verdicts[3].details["mine"] = True
    assert "mine" not in verdicts[1].details
