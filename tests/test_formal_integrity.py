"""Issue 13, classes 3 and 4: method="both" accepts no wrong answer that formal could catch.

**Class 3** (formal proved another design than the one simulated): comments, attributes
and case modifiers that only synthesis reads, a part-select in a sensitivity list taken
for the whole signal, a tri-state golden whose Z was a don't-care, names Yosys reads
differently. Now both engines read one canonical text, the list is checked bit for bit,
Z is modelled, and what Yosys would read differently makes formal say ``unknown``.

**Class 4** (the candidate switches formal off): a construct formal does not take (a
delay, ``real``, ``do``/``while``, an event, a UDP, a gated clock, an incomplete
sensitivity list elsewhere), a size bomb, a decoy whose counterexamples the simulator
does not reproduce, or a formal check that does not finish. With
``formal_fallback="reject"`` (the default) such an answer is not accepted while the
reference is formally tractable; ``"simulation"`` keeps simulation's verdict.

Every attack hides a rare-input bug (``a == 32'hDEADBEEF`` and the like) that random
simulation misses (:func:`test_random_simulation_misses_every_attack`), so each was
``equivalent`` with method="both" on the code before issue 13 (commit 790496b), except
where a test says otherwise; none is ``equivalent`` now. Benign uses of the constructs
formal now reads (functions with ``return``, ``always_ff``/``always_comb``, ``for``
loops, nonblocking delays) are proven.
"""

from __future__ import annotations

import concurrent.futures

import pebble
import pytest

from verilog_env import (
    CheckSettings,
    Status,
    check_equivalence,
    check_many,
    check_requests,
    formal,
    score_response,
)
from verilog_env.formal import judge as formal_judge
from verilog_env import CheckRequest
from verilog_env.equiv.verdict import Verdict
from verilog_env.formal import combine

pytestmark = pytest.mark.skipif(
    not formal.available() or formal.tools().abc is None, reason="Yosys and ABC (yosys-abc) not installed"
)

BUDGET = 6.0

ADD = "module top(input [31:0] a, input [31:0] b, output [31:0] y);\n  assign y = a + b;\nendmodule\n"
BUGGY = "(a == 32'hDEADBEEF) ? a - b : a + b"
"""The rare-input bug: wrong on one value of ``a`` in 2^32 (not a literal of the golden,
so the stimulus's dictionary of the golden's literals does not contain it)."""


def formal_info(verdict: Verdict) -> dict:
    return verdict.details.get("formal", {})


# --------------------------------------------------------------------- class 3

HIDDEN_FROM_SYNTHESIS = {
    "synopsys translate_off": """
module top(input [31:0] a, input [31:0] b, output reg [31:0] y);
  always @* begin
    y = a + b;
    // synopsys translate_off
    if (a == 32'hDEADBEEF) y = a - b;
    // synopsys translate_on
  end
endmodule
""",
    "synthesis translate_off block comment": """
module top(input [31:0] a, input [31:0] b, output reg [31:0] y);
  always @* begin
    y = a + b;
    /* synthesis translate_off */
    if (a == 32'hDEADBEEF) y = 32'd0;
    /* synthesis translate_on */
  end
endmodule
""",
    "synthesis translate_off line comment": """
module top(input [31:0] a, input [31:0] b, output reg [31:0] y);
  always @* begin
    y = a + b;
    // synthesis translate_off
    if (a == 32'hDEADBEEF) y = ~y;
    // synthesis translate_on
  end
endmodule
""",
    "translate_off around a driver": """
module top(input [31:0] a, input [31:0] b, output [31:0] y);
  wire [31:0] fix;
  // synopsys translate_off
  assign fix = (a == 32'hDEADBEEF) ? 32'd1 : 32'd0;
  // synopsys translate_on
  assign y = a + b + fix;
endmodule
""",
}


def overlapping(modifier: str) -> str:
    """Two overlapping case items: the simulator takes the first (the bug, on the rare
    value), a parallel case ORs both (0 | a + b: right)."""
    return f"""
module top(input [31:0] a, input [31:0] b, output logic [31:0] y);
  always_comb begin
    {modifier}casez ({{a == 32'hDEADBEEF, 1'b1}})
      2'b1?: y = 32'd0;
      2'b?1: y = a + b;
    endcase
  end
endmodule
"""


CASE_MODIFIERS = {
    "(* parallel_case *)": overlapping("(* parallel_case *) "),
    "(* parallel_case, full_case *)": overlapping("(* parallel_case, full_case *) "),
    "// synopsys parallel_case": overlapping("").replace("1'b1})\n", "1'b1}) // synopsys parallel_case\n"),
    "unique casez": overlapping("unique "),
    "unique0 casez": overlapping("unique0 "),
}

# A select in the list covers only what it selects: a[0] changing alone leaves y stale
# in simulation, which matters only while a[31:1] holds the rare value.
SELECT_GOLDEN = """
module top(input [31:0] a, input b, output y);
  assign y = (a[31:1] == 31'h6F56DF77) ? a[0] : b;
endmodule
"""
SENSITIVITY_SELECT = {
    "part-select": """
module top(input [31:0] a, input b, output reg y);
  always @(a[31:1] or b) y = (a[31:1] == 31'h6F56DF77) ? a[0] : b;
endmodule
""",
    "two part-selects": """
module top(input [31:0] a, input b, output reg y);
  always @(a[31:16] or a[15:1] or b) y = (a[31:1] == 31'h6F56DF77) ? a[0] : b;
endmodule
""",
    "indexed part-select": """
module top(input [31:0] a, input b, output reg y);
  always @(a[1 +: 31], b) y = (a[31:1] == 31'h6F56DF77) ? a[0] : b;
endmodule
""",
}

# A tri-state golden releases its output on a rare value (rotated, so the stimulus's
# dictionary of the golden's literals does not contain it); a driver that never releases
# the output is wrong: a golden Z is a value.
RELEASED = "{a[15:0], a[31:16]} == 32'hBEEFDEAD"
TRISTATE = {
    "continuous assignment": (
        f"module top(input [31:0] a, input b, output y);\n  assign y = ({RELEASED}) ? 1'bz : b;\nendmodule\n",
        "module top(input [31:0] a, input b, output y);\n  assign y = b;\nendmodule\n",
    ),
    "procedural bus": (
        f"""
module top(input [31:0] a, input [7:0] b, output reg [7:0] y);
  always @* if ({RELEASED}) y = 8'bz; else y = b;
endmodule
""",
        "module top(input [31:0] a, input [7:0] b, output [7:0] y);\n  assign y = b;\nendmodule\n",
    ),
    "registered release": (
        f"""
module top(input clk, input rst, input [31:0] a, input b, output reg y);
  always @(posedge clk) if (rst) y <= 1'b0; else y <= ({RELEASED}) ? 1'bz : b;
endmodule
""",
        """
module top(input clk, input rst, input [31:0] a, input b, output reg y);
  always @(posedge clk) if (rst) y <= 1'b0; else y <= b;
endmodule
""",
    ),
}

CLASS3: dict[str, tuple[str, str]] = {
    **{f"hidden from synthesis: {k}": (ADD, v) for k, v in HIDDEN_FROM_SYNTHESIS.items()},
    **{f"case modifier: {k}": (ADD, v) for k, v in CASE_MODIFIERS.items()},
    **{f"sensitivity select: {k}": (SELECT_GOLDEN, v) for k, v in SENSITIVITY_SELECT.items()},
    **{f"tri-state golden: {k}": v for k, v in TRISTATE.items()},
}


# --------------------------------------------------------------------- class 4

COUNTER_GOLDEN = """
module top(input clk, input rst, input [31:0] d, output reg [31:0] q);
  always @(posedge clk) if (rst) q <= 32'd0; else q <= q ^ d;
endmodule
"""


def adder(body: str, out: str = "output reg [31:0] y") -> str:
    return f"module top(input [31:0] a, input [31:0] b, {out});\n{body}\nendmodule\n"


DELAYS = {
    "continuous assignment delay": adder(f"  assign #1 y = {BUGGY};", "output [31:0] y"),
    "net delay": adder(f"  wire [31:0] #2 w = {BUGGY};\n  assign y = w;", "output [31:0] y"),
    "blocking intra-assignment delay": adder(f"  always @* y = #1 {BUGGY};"),
}
RETURNS = {
    "if/else returns": adder(
        "  function automatic [31:0] f(input [31:0] x, input [31:0] z);\n"
        "    if (x == 32'hDEADBEEF) return x - z; else return x + z;\n  endfunction\n  always @* y = f(a, b);"
    ),
    "early return": adder(
        "  function automatic [31:0] f(input [31:0] x, input [31:0] z);\n"
        "    if (x == 32'hDEADBEEF) return x - z;\n    return x + z;\n  endfunction\n  always @* y = f(a, b);"
    ),
    "return in a loop": adder(
        "  function automatic [31:0] f(input [31:0] x, input [31:0] z);\n"
        "    for (int i = 0; i < 4; i++) if (x == 32'hDEADBEEF + i) return x - z;\n    return x + z;\n"
        "  endfunction\n  always @* y = f(a, b);"
    ),
}
REALS = {
    "real variable": adder(f"  real r;\n  always @* begin r = a; y = {BUGGY}; end"),
    "realtime variable": adder(f"  realtime r;\n  always @* begin r = b; y = {BUGGY}; end"),
    "$itor of a signal": adder(f"  real r;\n  always @* begin r = $itor(a); y = {BUGGY}; end"),
}
LOOPS = {
    "do-while": adder(f"  integer i;\n  always @* begin i = 0; do i = i + 1; while (i < 2); y = {BUGGY}; end"),
    "do-while in a function": adder(
        "  function automatic [31:0] f(input [31:0] x, input [31:0] z);\n    integer i;\n"
        "    begin i = 0; f = x + z; do begin if (x == 32'hDEADBEEF) f = x - z; i = i + 1; end while (i < 1); end\n"
        "  endfunction\n  always @* y = f(a, b);"
    ),
    "while": adder(f"  integer i;\n  always @* begin i = 0; while (i < 2) i = i + 1; y = {BUGGY}; end"),
}
EVENTS = {
    "named event": adder(f"  event e;\n  always @(a or b) -> e;\n  always @(e) y = {BUGGY};"),
    "unused event": adder(f"  event e;\n  always @* y = {BUGGY};"),
    "event trigger beside the logic": adder(f"  event e;\n  always @* begin y = {BUGGY}; -> e; end"),
}
UDP_XOR = "primitive px(output o, input i, input j);\n  table 0 0 : 0; 0 1 : 1; 1 0 : 1; 1 1 : 0; endtable\nendprimitive\n"
UDPS = {
    "combinational UDP": UDP_XOR + adder(f"  wire u;\n  px g(u, a[0], b[0]);\n  always @* y = {BUGGY};"),
    "UDP driving an output bit": UDP_XOR + adder(
        "  wire [31:0] s = (a == 32'hDEADBEEF) ? a - b : a + b;\n  px g(y[0], s[0], 1'b0);\n  assign y[31:1] = s[31:1];",
        "output [31:0] y",
    ),
    "unused UDP": UDP_XOR + adder(f"  always @* y = {BUGGY};"),
}
GATED_CLOCKS = {
    "clock through an AND gate": """
module top(input clk, input rst, input [31:0] d, output reg [31:0] q);
  wire g = clk & ~rst | clk;
  always @(posedge g) if (rst) q <= 32'd0; else q <= (d == 32'hDEADBEEF) ? q : q ^ d;
endmodule
""",
    "inverted clock, other edge": """
module top(input clk, input rst, input [31:0] d, output reg [31:0] q);
  wire n = ~clk;
  always @(negedge n) if (rst) q <= 32'd0; else q <= (d == 32'hDEADBEEF) ? q : q ^ d;
endmodule
""",
    "latch-based clock gate": """
module top(input clk, input rst, input [31:0] d, output reg [31:0] q);
  reg en;
  always @* if (!clk) en = 1'b1;
  wire g = clk & en;
  always @(posedge g) if (rst) q <= 32'd0; else q <= (d == 32'hDEADBEEF) ? q : q ^ d;
endmodule
""",
}
UNRELATED_SENSITIVITY = {
    "incomplete list on an unused register": adder(f"  reg [31:0] t;\n  always @(a) t = a & b;\n  always @* y = {BUGGY};"),
    "incomplete list masked in the output": adder(
        f"  reg [31:0] t;\n  always @(b) t = a;\n  always @* y = ({BUGGY}) ^ (t & 32'd0);"
    ),
    "always @* reading nothing": adder(f"  reg k;\n  always @* k = 1'b0;\n  always @* y = {BUGGY};"),
}
SIZE_BOMBS = {
    "wide multiplier chain": adder(
        "  wire [511:0] p = {16{a}} * {16{b}} * {16{a ^ b}};\n"
        f"  always @* y = ({BUGGY}) ^ (p[31:0] & 32'd0);"
    ),
    "unrolled loop": adder(
        "  reg [31:0] acc;\n  integer i;\n"
        "  always @* begin acc = a; for (i = 0; i < 300; i = i + 1) acc = acc * b + i; "
        f"y = ({BUGGY}) ^ (acc & 32'd0); end"
    ),
    "wide divider": adder(
        "  wire [1023:0] q = {32{a}} / {32{b | 32'd1}};\n"
        f"  always @* y = ({BUGGY}) ^ (q[31:0] & 32'd0);"
    ),
}
# The model's X semantics are the gate-level ones: `u === 1'bx` on an X register is X
# there but 1 in the simulator. Every input sequence gives the model a difference the
# simulator does not reproduce: after MAX_EXCLUSIONS of them the search gives up.
DECOYS = {
    "case equality with X everywhere": adder(f"  reg u;\n  always @* y = (u === 1'bx) ? {BUGGY} : 32'd0;"),
    "case inequality with X everywhere": adder(f"  reg u;\n  always @* y = (u !== 1'bx) ? 32'd0 : {BUGGY};"),
    "X-compare on a register": """
module top(input [31:0] a, input [31:0] b, output reg [31:0] y);
  reg [1:0] u;
  always @* y = (u === 2'bxx) ? ((a == 32'hDEADBEEF) ? a - b : a + b) : ~(a + b);
endmodule
""",
}

CLASS4: dict[str, tuple[str, str]] = {
    **{f"delay: {k}": (ADD, v) for k, v in DELAYS.items()},
    **{f"return: {k}": (ADD, v) for k, v in RETURNS.items()},
    **{f"real: {k}": (ADD, v) for k, v in REALS.items()},
    **{f"loop: {k}": (ADD, v) for k, v in LOOPS.items()},
    **{f"event: {k}": (ADD, v) for k, v in EVENTS.items()},
    **{f"UDP: {k}": (ADD, v) for k, v in UDPS.items()},
    **{f"gated clock: {k}": (COUNTER_GOLDEN, v) for k, v in GATED_CLOCKS.items()},
    **{f"unrelated sensitivity: {k}": (ADD, v) for k, v in UNRELATED_SENSITIVITY.items()},
    **{f"size bomb: {k}": (ADD, v) for k, v in SIZE_BOMBS.items()},
    **{f"decoy: {k}": (ADD, v) for k, v in DECOYS.items()},
}

# Names Yosys resolves differently: a task's or function's static variable read from
# outside (pyslang and Icarus: the variable; Yosys: an implicitly declared 1-bit wire,
# so the comparison below is 0 there), $bits of an unpacked array (Icarus: one element).
NAMES = {
    "function variable": adder(
        "  function [31:0] f(input [31:0] x); reg [31:0] k; begin k = x; f = k; end endfunction\n"
        "  wire [31:0] t = f(a);\n  always @* y = (f.k == 32'hDEADBEEF) ? a - b : a + b;"
    ),
    "task variable": adder(
        "  task tk(input [31:0] x); reg [31:0] k; begin k = x; end endtask\n"
        "  always @* begin tk(a); y = (tk.k == 32'hDEADBEEF) ? a - b : a + b; end"
    ),
    "$bits of an unpacked array": adder(
        "  reg [3:0] mem [0:7];\n  always @* y = (a == 32'hDEADBEEF && $bits(mem) == 4) ? a - b : a + b;"
    ),
}

CLASS3: dict[str, tuple[str, str]] = {
    **{f"hidden from synthesis: {k}": (ADD, v) for k, v in HIDDEN_FROM_SYNTHESIS.items()},
    **{f"case modifier: {k}": (ADD, v) for k, v in CASE_MODIFIERS.items()},
    **{f"sensitivity select: {k}": (SELECT_GOLDEN, v) for k, v in SENSITIVITY_SELECT.items()},
    **{f"tri-state golden: {k}": v for k, v in TRISTATE.items()},
    **{f"name: {k}": (ADD, v) for k, v in NAMES.items()},
}
ATTACKS = {**CLASS3, **CLASS4}

# What each kind of attack must come to now: (status, words in the reason).
EXPECTED = {
    "hidden from synthesis": (Status.MISMATCH, "random simulation missed it"),
    "case modifier": (Status.MISMATCH, "random simulation missed it"),
    "sensitivity select": (Status.REJECTED, "names only part of it"),
    "tri-state golden": (Status.MISMATCH, "random simulation missed it"),
    "name": (Status.REJECTED, "cannot check this answer"),
    "delay": (Status.REJECTED, "uses a delay"),
    "return": (Status.MISMATCH, "random simulation missed it"),
    "real": (Status.REJECTED, "Yosys cannot read the candidate"),
    "loop": (Status.REJECTED, "Yosys cannot read the candidate"),
    "event": (Status.REJECTED, "cannot check this answer"),
    "UDP": (Status.REJECTED, "Yosys cannot read the candidate"),
    "gated clock": (None, ""),  # refuted, or rejected: "not clocked directly by clk"
    "unrelated sensitivity": (Status.REJECTED, "always"),
    "size bomb": (Status.TIMEOUT, "did not finish reading the candidate"),
    "decoy": (Status.REJECTED, "not reproduced by the simulator"),
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[Verdict, Verdict]]:
    """(simulation, method="both") verdicts of every attack, checked in two batches."""
    requests = [CheckRequest(golden, candidate) for golden, candidate in ATTACKS.values()]
    simulated = check_requests(requests)
    checked = check_requests(requests, method="both", formal_budget=BUDGET)
    return dict(zip(ATTACKS, zip(simulated, checked)))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_random_simulation_misses_every_attack(verdicts, name):
    simulated, _ = verdicts[name]
    assert simulated.status is Status.EQUIVALENT, simulated.reason


@pytest.mark.parametrize("name", list(ATTACKS))
def test_no_attack_is_equivalent_with_both(verdicts, name):
    _, verdict = verdicts[name]
    assert verdict.status is not Status.EQUIVALENT, verdict.reason
    status, words = EXPECTED[name.split(":")[0]]
    if status is None:
        assert verdict.status is Status.MISMATCH or "not clocked directly by clk" in verdict.reason, verdict.reason
        return
    assert verdict.status is status, verdict.reason
    assert words in verdict.reason
    if status is Status.MISMATCH:
        assert formal_info(verdict)["result"] == "refuted"
    else:  # not accepted: the reason says what stopped formal, and that simulation had passed it
        assert formal_info(verdict)["blame"] == "candidate"
        assert verdict.details["simulation"]["status"] == "equivalent"
        assert "formal_fallback='simulation'" in verdict.reason


def test_a_priority_case_with_a_missing_item_was_never_a_hole():
    """``priority case`` (and ``(* full_case *)``) with an item missing: Yosys makes the
    missing item a don't-care, which the miter's X tracking counts as a difference, so it
    was refuted on the old code too; the simulator keeps y (a latch), also refuted."""
    candidate = adder("  always @* begin\n    priority case (a == 32'hDEADBEEF)\n      1'b0: y = a + b;\n"
                      "    endcase\n  end")
    verdict = check_equivalence(ADD, candidate, method="both", formal_budget=BUDGET)
    assert verdict.status is Status.MISMATCH and formal_info(verdict)["result"] == "refuted"


# --------------------------------------------------------------------- class 4: the option


LENIENT = ["delay: continuous assignment delay", "real: real variable", "UDP: combinational UDP",
           "gated clock: clock through an AND gate", "decoy: case equality with X everywhere"]


def test_the_lenient_fallback_keeps_simulations_verdict():
    requests = [CheckRequest(*ATTACKS[name]) for name in LENIENT]
    for name, verdict in zip(LENIENT, check_requests(requests, method="both", formal_budget=BUDGET,
                                                     formal_fallback="simulation")):
        assert verdict.status is Status.EQUIVALENT, (name, verdict.reason)
        assert formal_info(verdict)["result"] == "unknown" and formal_info(verdict)["blame"] == "candidate"
        assert "not proven" in verdict.reason


def test_the_option_is_validated_and_threaded_through():
    with pytest.raises(ValueError, match="formal_fallback must be one of 'reject', 'simulation'"):
        check_equivalence(ADD, ADD, method="both", formal_fallback="accept")
    with pytest.raises(ValueError, match="formal_fallback"):
        CheckSettings(method="both", formal_fallback="lenient")
    settings = CheckSettings(method="both", formal_budget=BUDGET, formal_fallback="simulation")
    assert settings.kwargs()["formal_fallback"] == "simulation"
    assert "formal_fallback" not in CheckSettings(method="both").kwargs()  # the default goes without saying
    response = f"<think>x</think><answer>```verilog\n{UDPS['unused UDP']}\n```</answer>"
    assert score_response(ADD, response, **settings.kwargs()).reward == 1.0
    strict = score_response(ADD, response, method="both", formal_budget=BUDGET)
    assert strict.reward == 0.0 and strict.verdict.status is Status.REJECTED


def test_the_command_line_and_the_reward_service_take_the_fallback(tmp_path, capsys):
    from verilog_env import cli
    from verilog_env.server import ServerConfig

    golden, candidate = tmp_path / "golden.v", tmp_path / "candidate.v"
    golden.write_text(ADD)
    candidate.write_text(UDPS["unused UDP"])
    both = ["check", str(golden), str(candidate), "--method", "both", "--formal-budget", str(BUDGET)]
    assert cli.main(both) == 1 and "rejected" in capsys.readouterr().out
    assert cli.main([*both, "--formal-fallback", "simulation"]) == 0
    assert ServerConfig(method="both", formal_fallback="simulation", warmup=False).check.formal_fallback == "simulation"
    with pytest.raises(ValueError, match="formal_fallback"):
        ServerConfig(method="both", formal_fallback="lenient", warmup=False)


# --------------------------------------------------------------------- class 4: the golden decides


def test_a_reference_formal_cannot_handle_leaves_simulations_verdict():
    """The reference is what stops formal (here: a delay in it), so a simulation pass stands."""
    golden = "module top(input [31:0] a, input [31:0] b, output [31:0] y);\n  assign #1 y = a + b;\nendmodule\n"
    verdict = check_equivalence(golden, REALS["real variable"], method="both", formal_budget=BUDGET)
    assert verdict.status is Status.EQUIVALENT, verdict.reason
    info = formal_info(verdict)
    assert info["result"] == "unknown" and info["blame"] == "golden" and "golden uses a delay" in info["reason"]
    assert "not proven" in verdict.reason


def test_bounded_is_accepted_but_not_called_a_proof():
    passed = Verdict(Status.EQUIVALENT, "outputs matched", timings={"total": 0.1})
    bounded = Verdict(Status.TIMEOUT, "no formal proof within the 6 s budget; no difference is possible in the first "
                      "9 cycles after reset (bounded model check of 21 ticks; not a proof)",
                      details={"formal": {"result": "bounded", "depth": 9, "ticks": 21}})
    merged = combine(passed, bounded)
    assert merged.status is Status.EQUIVALENT and "not proven" in merged.reason and "not a proof" in merged.reason


# --------------------------------------------------------------------- class 4: the formal job itself


@pytest.mark.parametrize("failure", [
    concurrent.futures.TimeoutError(),  # the pool's guard expired
    pebble.ProcessExpired("worker died", code=-9),
    RuntimeError("formal worker crashed"),
])
def test_a_formal_job_that_does_not_finish_is_a_timeout(monkeypatch, failure):
    def failing_job(*args):
        raise failure

    monkeypatch.setattr(formal_judge, "formal_check", failing_job)
    candidate = adder(f"  always @* y = {BUGGY};")
    kw = {"method": "both", "formal_budget": BUDGET, "isolate": False}
    verdict = check_equivalence(ADD, candidate, **kw)
    assert verdict.status is Status.TIMEOUT and "formal verification did not finish" in verdict.reason
    assert verdict.details["simulation"]["status"] == "equivalent"
    lenient = check_equivalence(ADD, candidate, formal_fallback="simulation", **kw)
    assert lenient.status is Status.EQUIVALENT and formal_info(lenient)["result"] == "unknown"


# --------------------------------------------------------------------- class 4: counterexamples that do not replay


# The model flags one input vector (an X in the candidate's gate-level model, a value in
# the simulator): excluded after its replay, the search proves the rest, or finds the bug.
DECOY_ON_ONE_VECTOR = adder(
    "  reg u;\n  wire hit = {a, b} == 64'h0123456789ABCDEF;\n"
    "  always @* y = hit ? ((u === 1'bx) ? a + b : 32'd0) : (%s);"
)


def test_an_unreproduced_counterexample_is_excluded_and_the_search_goes_on():
    sound, buggy = check_many(ADD, [DECOY_ON_ONE_VECTOR % "a + b", DECOY_ON_ONE_VECTOR % BUGGY],
                              method="both", formal_budget=BUDGET)
    assert sound.status is Status.EQUIVALENT and formal_info(sound)["result"] == "proven", sound.reason
    assert formal_info(sound)["excluded"] == 1 and "simulated instead and matched" in sound.reason
    assert buggy.status is Status.MISMATCH and formal_info(buggy)["result"] == "refuted", buggy.reason
    assert buggy.counterexample.inputs[-1]["a"] == format(0xDEADBEEF, "032b")


# --------------------------------------------------------------------- benign constructs


PRIORITY = """
module top(input [7:0] req, output reg [3:0] idx);
  always @* casez (req)
    8'b???????1: idx = 4'd0; 8'b??????10: idx = 4'd1; 8'b?????100: idx = 4'd2; 8'b????1000: idx = 4'd3;
    8'b???10000: idx = 4'd4; 8'b??100000: idx = 4'd5; 8'b?1000000: idx = 4'd6; 8'b10000000: idx = 4'd7;
    default: idx = 4'd8;
  endcase
endmodule
"""
COUNTER_NBA = COUNTER_GOLDEN.replace("q <= q ^ d", "q <= #1 q ^ d")
BENIGN = {
    "return in a loop": (PRIORITY, """
module top(input [7:0] req, output logic [3:0] idx);
  function automatic logic [3:0] first(input logic [7:0] r);
    for (int i = 0; i < 8; i++) if (r[i]) return i[3:0];
    return 4'd8;
  endfunction
  assign idx = first(req);
endmodule
"""),
    "early returns": (ADD, adder(
        "  function automatic [31:0] sum(input [31:0] x, input [31:0] z);\n"
        "    if (z == 0) return x;\n    if (x == 0) return z;\n    return x + z;\n  endfunction\n"
        "  always_comb y = sum(a, b);", "output logic [31:0] y",
    )),
    "always_ff and always_comb": (COUNTER_GOLDEN, """
module top(input clk, input rst, input [31:0] d, output logic [31:0] q);
  logic [31:0] next;
  always_comb next = q ^ d;
  always_ff @(posedge clk) begin
    if (rst) q <= '0;
    else q <= next;
  end
endmodule
"""),
    "for loop with ++ and +=": ("""
module top(input [7:0] v, output [3:0] n);
  assign n = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
endmodule
""", """
module top(input [7:0] v, output logic [3:0] n);
  always_comb begin
    n = '0;
    for (int i = 0; i < 8; i++) n += v[i];
  end
endmodule
"""),
    "nonblocking delays": (COUNTER_GOLDEN, COUNTER_NBA),
}


def test_benign_constructs_are_proven():
    requests = [CheckRequest(*pair) for pair in BENIGN.values()]
    for name, verdict in zip(BENIGN, check_requests(requests, method="both", formal_budget=BUDGET)):
        assert verdict.status is Status.EQUIVALENT and formal_info(verdict)["result"] == "proven", (name, verdict.reason)


# --------------------------------------------------------------------- what method="both" cannot catch

# A 64-bit semiprime (3815442259 * 3461944807, two random 32-bit primes). Finding the bug means
# factoring it; the proof engines run out of time, and that is not the candidate's doing
# in a way formal can tell from a hard but honest miter (a multiplier rewritten by hand).
FACTORING_LOCK = adder(
    "  always @* y = ({32'd0, a} * {32'd0, b} == 64'hB74F438F53086AE5) ? a - b : a + b;"
)


def test_a_sat_hard_trigger_is_accepted_unproven():
    """The documented limit: a bug behind a SAT-hard condition (or behind a trigger deeper
    than BMC reaches: 2^19 cycles) survives method="both", with a reason saying so."""
    verdict = check_equivalence(ADD, FACTORING_LOCK, method="both", formal_budget=BUDGET)
    assert verdict.status is Status.EQUIVALENT
    assert formal_info(verdict)["blame"] == "budget" and "not proven" in verdict.reason
