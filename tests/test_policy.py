"""The candidate policy, attacked one class at a time.

Every hostile candidate here is otherwise a *correct* design (unless the attack is to copy
the golden's output), so only the policy or the checker's own defences can make it fail:
a check that says ``equivalent`` means the attack worked. Each REJECTED verdict must name
the offending construct, so an LLM (or a person) can tell what to remove.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

import verilog_env
from verilog_env import Status, check_equivalence, check_many

# --------------------------------------------------------------------------- designs

GOLDEN_SEQ = """
module top(input clk, input reset, input [7:0] a, input [7:0] b, output reg [7:0] q);
  always @(posedge clk)
    if (reset) q <= 8'd0;
    else q <= a + b;
endmodule
"""

GOLDEN_COMB = """
module top(input [7:0] a, input [7:0] b, output [7:0] y);
  assign y = a + b;
endmodule
"""

# A parameterised golden, for defparam attacks: q = a + b + K with K = 1.
GOLDEN_PARAM = """
module top #(parameter K = 1) (input clk, input reset, input [7:0] a, input [7:0] b, output reg [7:0] q);
  always @(posedge clk)
    if (reset) q <= 8'd0;
    else q <= a + b + K;
endmodule
"""

# A golden whose top instantiates a submodule `inv`.
GOLDEN_INV = """
module inv(input a, output y);
  assign y = ~a;
endmodule
module top(input [3:0] a, output [3:0] y);
  inv i0(.a(a[0]), .y(y[0]));
  inv i1(.a(a[1]), .y(y[1]));
  inv i2(.a(a[2]), .y(y[2]));
  inv i3(.a(a[3]), .y(y[3]));
endmodule
"""

SEQ_HEADER = "module top(input clk, input reset, input [7:0] a, input [7:0] b, output reg [7:0] q);\n"
SEQ_WIRE_HEADER = "module top(input clk, input reset, input [7:0] a, input [7:0] b, output [7:0] q);\n"
SEQ_BODY = "  always @(posedge clk)\n    if (reset) q <= 8'd0;\n    else q <= a + b;\n"
SEQ_WRONG_BODY = "  always @(posedge clk)\n    if (reset) q <= 8'd0;\n    else q <= a - b;\n"
COMB_HEADER = "module top(input [7:0] a, input [7:0] b, output [7:0] y);\n"
COMB_BODY = "  assign y = a + b;\n"


def seq(extra: str = "", pre: str = "", post: str = "", body: str = SEQ_BODY) -> str:
    """A correct registered adder (unless ``body`` says otherwise) with ``extra`` inside."""
    return f"{pre}{SEQ_HEADER}{body}  {extra}\nendmodule\n{post}"


def comb(extra: str = "", pre: str = "", post: str = "", body: str = COMB_BODY) -> str:
    """A correct combinational adder (unless ``body`` says otherwise) with ``extra`` inside."""
    return f"{pre}{COMB_HEADER}{body}  {extra}\nendmodule\n{post}"


GOLDENS = {"seq": GOLDEN_SEQ, "comb": GOLDEN_COMB}


def check(golden: str, candidate: str, **kw) -> verilog_env.Verdict:
    kw.setdefault("cycles", 100)
    kw.setdefault("timeout", 5.0)
    return check_equivalence(golden, candidate, **kw)


@pytest.fixture(autouse=True, scope="module")
def _fresh_pool():
    verilog_env.shutdown()
    yield
    verilog_env.shutdown()


# ------------------------------------------------------------------ control group


def test_plain_candidates_are_equivalent():
    """The base candidates every attack below is grafted onto are correct."""
    assert check(GOLDEN_SEQ, seq()).status is Status.EQUIVALENT
    assert check(GOLDEN_COMB, comb()).status is Status.EQUIVALENT
    assert check(GOLDEN_PARAM, GOLDEN_PARAM).status is Status.EQUIVALENT
    assert check(GOLDEN_INV, GOLDEN_INV).status is Status.EQUIVALENT


# --------------------------------------------------- system tasks and directives

PROBE = "/tmp/verilog_env_policy_probe"

REJECTED_CASES = [
    # id, golden, candidate, text the reason must contain
    ("fopen", "seq", seq(f'integer fd; initial fd = $fopen("{PROBE}", "w");'), "$fopen"),
    ("fwrite", "seq", seq("initial $fwrite(32'h8000_0001, \"hello\");"), "$fwrite"),
    ("fdisplay", "comb", comb("initial $fdisplay(32'h8000_0001, \"hello\");"), "$fdisplay"),
    ("fscanf", "seq", seq('integer fd, v, r; initial r = $fscanf(fd, "%d", v);'), "$fscanf"),
    ("readmemh", "seq", seq('reg [7:0] mem [0:3]; initial $readmemh("/etc/passwd", mem);'), "$readmemh"),
    ("readmemb", "comb", comb('reg [7:0] mem [0:3]; initial $readmemb("/etc/passwd", mem);'), "$readmemb"),
    ("writememh", "seq", seq(f'reg [7:0] mem [0:3]; initial $writememh("{PROBE}", mem);'), "$writememh"),
    ("system", "seq", seq(f'initial $system("touch {PROBE}");'), "$system"),
    ("dumpfile", "seq", seq(f'initial $dumpfile("{PROBE}.vcd");'), "$dumpfile"),
    ("dumpvars", "comb", comb("initial $dumpvars(0, top);"), "$dumpvars"),
    ("finish", "seq", seq("initial #100 $finish;"), "$finish"),
    ("stop", "seq", seq("initial #100 $stop;"), "$stop"),
    ("fatal", "comb", comb('initial #100 $fatal(1, "bye");'), "$fatal"),
    ("exit", "seq", seq("initial #100 $exit;"), "$exit"),
    ("value_plusargs", "seq", seq('integer v; initial if ($value$plusargs("v=%d", v)) $display("%0d", v);'),
     "$value$plusargs"),
    ("test_plusargs", "comb", comb('initial if ($test$plusargs("debug")) $display("debug");'), "$test$plusargs"),
    ("unknown_system_task", "seq", seq("initial $foo;"), "$foo"),
    ("unknown_system_function", "comb", comb("integer r; initial r = $bar(1);"), "$bar"),
    ("include_absolute", "seq", seq(pre='`include "/etc/passwd"\n'), "`include"),
    ("include_relative", "comb", comb(pre='`include "defs.vh"\n'), "`include"),
    ("line_directive", "seq", seq(pre='`line 1 "golden.v" 0\n'), "`line"),
    ("pragma_directive", "comb", comb(pre="`pragma protect begin\n"), "`pragma"),
    ("macro_expands_to_fopen", "seq",
     seq(f'integer fd; initial fd = `OPEN("{PROBE}", "w");', pre="`define OPEN $fopen\n"), "$fopen"),
    ("token_pasted_macro_makes_fopen", "seq",
     seq(f'integer fd; initial fd = `F(open)("{PROBE}", "w");', pre="`define F(x) $f``x\n"), "$fopen"),
    ("macro_expands_to_finish", "comb", comb("initial #50 `BYE;", pre="`define BYE $finish\n"), "$finish"),
    ("root_reference", "comb", comb("wire [7:0] peek = $root.verilog_env_tb.g_y;"), "$root"),
    ("force", "seq", seq("initial #20 force q = 8'd0;"), "force"),
    ("release", "seq", seq("initial #20 release q;"), "release"),
    ("bind", "seq", seq(post="module spy(input x); endmodule\nbind top spy u_spy(.x(clk));\n"), "bind"),
    ("dpi_import", "seq", seq('import "DPI-C" function int system(input string cmd);'), "DPI"),
    ("dpi_export", "comb", comb('export "DPI-C" function f;\n  function int f(); return 0; endfunction'), "DPI"),
    ("program_block", "seq", seq(post='program p;\n  initial $display("hi");\nendprogram\n'), "program"),
    ("config_block", "comb", comb(post="config cfg;\n  design top;\nendconfig\n"), "config"),
    # Time and randomness: outputs may depend only on inputs and state (issue 13, class 2).
    ("random_in_unused_logic", "seq", seq("integer r;\n  always @(posedge clk) r = $random;"), "$random"),
    ("urandom_range", "comb", comb("integer r;\n  initial r = $urandom_range(3, 0);"), "$urandom_range"),
    ("dist_uniform", "seq", seq("integer r, s;\n  always @(posedge clk) r = $dist_uniform(s, 0, 9);"), "$dist_uniform"),
    ("time_in_display", "seq", seq('always @(posedge clk) $display("q=%0d at %0t", q, $time);'), "$time"),
    ("stime", "comb", comb("integer t;\n  initial t = $stime;"), "$stime"),
    ("realtime", "seq", seq("real t;\n  always @(posedge clk) t = $realtime;"), "$realtime"),
]


@pytest.mark.parametrize(
    "golden, candidate, fragment",
    [pytest.param(GOLDENS[g], c, f, id=i) for i, g, c, f in REJECTED_CASES],
)
def test_forbidden_construct_is_rejected_and_named(golden, candidate, fragment):
    verdict = check(golden, candidate)
    assert verdict.status is Status.REJECTED, verdict.summary()
    assert fragment in verdict.reason, verdict.reason
    assert "policy" in verdict.reason, verdict.reason
    assert not Path(PROBE).exists() and not Path(PROBE + ".vcd").exists()


def test_rejection_reports_the_line_of_the_use_not_of_the_macro():
    """A macro hiding `$fopen` is reported where it is used (line 7 of the text)."""
    candidate = seq(f'integer fd; initial fd = `OPEN("{PROBE}", "w");', pre="`define OPEN $fopen\n")
    verdict = check(GOLDEN_SEQ, candidate)
    assert verdict.status is Status.REJECTED
    use_line = candidate.splitlines().index(next(l for l in candidate.splitlines() if "`OPEN(" in l)) + 1
    assert f"line {use_line}:" in verdict.reason, verdict.reason


def test_unknown_system_task_reason_is_not_misattributed_to_file_io():
    """`$foo` is refused because it is not on the allow-list, not explained as file I/O
    just because its name starts with "$f" like $fopen/$fwrite/...."""
    verdict = check(GOLDEN_SEQ, seq("initial $foo;"))
    assert verdict.status is Status.REJECTED
    assert "file I/O" not in verdict.reason, verdict.reason
    assert "allow-list" in verdict.reason, verdict.reason


# ---------------------------------------------------------- hierarchical escapes

TOP_COPY = "module top(input clk, input reset, input [7:0] a, input [7:0] b, output [7:0] q);\n"

HIERARCHICAL_CASES = [
    # id, golden, candidate, candidate_top, the reference the reason must name if rejected
    ("tb_u_gold_q", GOLDEN_SEQ, TOP_COPY + "  assign q = verilog_env_tb.u_gold.q;\nendmodule\n", None,
     "verilog_env_tb.u_gold.q"),
    ("upward_u_gold_q", GOLDEN_SEQ, TOP_COPY + "  assign q = u_gold.q;\nendmodule\n", None, "u_gold.q"),
    ("tb_wire_g_q", GOLDEN_SEQ, TOP_COPY + "  assign q = verilog_env_tb.g_q;\nendmodule\n", None,
     "verilog_env_tb.g_q"),
    ("golden_module_name_RefModule_q", GOLDEN_SEQ.replace("module top", "module RefModule"),
     TOP_COPY.replace("module top", "module TopModule") + "  assign q = RefModule.q;\nendmodule\n", "TopModule",
     "RefModule.q"),
    ("prefixed_golden_name", GOLDEN_SEQ, TOP_COPY + "  assign q = vlenv_g_top.q;\nendmodule\n", None,
     "vlenv_g_top.q"),
    ("golden_internal_in_always", GOLDEN_SEQ,
     SEQ_HEADER + "  always @(posedge clk) q <= verilog_env_tb.u_gold.q;\nendmodule\n", None,
     "verilog_env_tb.u_gold.q"),
    ("write_testbench_failed_flag", GOLDEN_SEQ,
     seq("initial #1 verilog_env_tb.failed0 = 1'b1;", body=SEQ_WRONG_BODY), None, "verilog_env_tb.failed0"),
    ("write_testbench_alive_counter", GOLDEN_SEQ,
     seq("initial #1 verilog_env_tb.alive = 0;", body=SEQ_WRONG_BODY), None, "verilog_env_tb.alive"),
    ("read_testbench_expected_record", GOLDEN_SEQ,
     TOP_COPY + "  assign q = verilog_env_tb.expected[verilog_env_tb.tick][7:0];\nendmodule\n", None,
     "verilog_env_tb.expected"),
    ("defparam_golden_full_path", GOLDEN_PARAM,
     seq("defparam verilog_env_tb.u_gold.K = 5;", body=SEQ_BODY.replace("a + b", "a + b + 5")), None,
     "verilog_env_tb.u_gold.K"),
    ("defparam_golden_upward", GOLDEN_PARAM,
     seq("defparam u_gold.K = 5;", body=SEQ_BODY.replace("a + b", "a + b + 5")), None, "u_gold.K"),
]


@pytest.mark.parametrize(
    "golden, candidate, candidate_top, reference",
    [pytest.param(g, c, t, r, id=i) for i, g, c, t, r in HIERARCHICAL_CASES],
)
def test_hierarchical_reference_outside_the_design_is_refused(golden, candidate, candidate_top, reference):
    verdict = check(golden, candidate, candidate_top=candidate_top)
    assert verdict.status in (Status.REJECTED, Status.COMPILE_ERROR), verdict.summary()
    if verdict.status is Status.REJECTED:
        assert reference in verdict.reason, verdict.reason


def test_hierarchical_references_inside_the_design_stay_allowed():
    """Reading one's own submodule's signal, and defparam on one's own instance, are fine."""
    own = """
module add #(parameter K = 7) (input [7:0] x, input [7:0] z, output [7:0] s);
  assign s = x + z + K;
endmodule
module top(input [7:0] a, input [7:0] b, output [7:0] y);
  wire [7:0] unused;
  add u_add(.x(a), .z(b), .s(unused));
  defparam u_add.K = 0;
  assign y = u_add.s;
endmodule
"""
    verdict = check(GOLDEN_COMB, own)
    assert verdict.status is Status.EQUIVALENT, verdict.summary()


# A decoy module named like the testbench (or the golden's instance) must not make a
# hierarchical reference resolve: the decoy's declaration is renamed with the candidate
# prefix before simulation, but the first component of a reference is not, so in Icarus
# it would bind to whatever the real testbench has under that name.
DECOY_CASES = [
    # Targets that do not exist in the candidate's simulation (the golden runs in its
    # own): none of these may end EQUIVALENT.
    ("copy_tb_wire_via_decoy_tb_module", GOLDEN_SEQ,
     TOP_COPY + "  assign q = verilog_env_tb.g_q;\nendmodule\n"
     "module verilog_env_tb;\n  wire [7:0] g_q;\nendmodule\n"),
    ("copy_golden_via_decoy_u_gold_module", GOLDEN_SEQ,
     TOP_COPY + "  assign q = u_gold.q;\nendmodule\n"
     "module u_gold;\n  wire [7:0] q;\nendmodule\n"),
    ("copy_golden_via_decoy_tb_with_u_gold_instance", GOLDEN_SEQ,
     TOP_COPY + "  assign q = verilog_env_tb.u_gold.q;\nendmodule\n"
     "module verilog_env_tb;\n  g u_gold();\nendmodule\nmodule g;\n  wire [7:0] q;\nendmodule\n"),
    ("defparam_golden_via_decoy_tb_module", GOLDEN_PARAM,
     seq("defparam verilog_env_tb.u_gold.K = 5;", body=SEQ_BODY.replace("a + b", "a + b + 5"),
         post="module verilog_env_tb;\n  g u_gold();\nendmodule\nmodule g #(parameter K = 0) ();\nendmodule\n")),
]


@pytest.mark.parametrize("golden, candidate", [pytest.param(g, c, id=i) for i, g, c in DECOY_CASES])
def test_decoy_module_does_not_unlock_hierarchical_escape(golden, candidate):
    """Every one of these candidates is wrong (or copies the golden); none may pass."""
    verdict = check(golden, candidate)
    assert verdict.status in (Status.REJECTED, Status.COMPILE_ERROR, Status.MISMATCH), verdict.summary()


# Targets that do exist in the candidate testbench: its per-candidate `failed` flag, and
# the golden's recorded outputs it compares against (`expected`, indexed by `tick`).
DECOY_TESTBENCH = "module verilog_env_tb;\n  integer tick;\n  reg failed0;\n  reg [15:0] expected [0:199];\nendmodule\n"
TESTBENCH_DECOY_CASES = [
    ("silence_comparison_via_decoy_tb_module",
     seq("initial #1 verilog_env_tb.failed0 = 1'b1;", body=SEQ_WRONG_BODY, post=DECOY_TESTBENCH)),
    ("copy_expected_record_via_decoy_tb_module",
     TOP_COPY + "  assign q = verilog_env_tb.expected[verilog_env_tb.tick][7:0];\nendmodule\n" + DECOY_TESTBENCH),
]


@pytest.mark.parametrize("candidate", [pytest.param(c, id=i) for i, c in TESTBENCH_DECOY_CASES])
def test_decoy_testbench_module_does_not_unlock_hierarchical_escape(candidate):
    """Both candidates are wrong; neither may pass.

    A decoy `module verilog_env_tb` makes the references resolve in the candidate's own
    text; bound to the real testbench they would set `failed0` (suppressing the
    candidate's MISMATCH and PASS records) or read `expected` (copying the golden's
    recorded outputs).
    """
    verdict = check(GOLDEN_SEQ, candidate, candidate_top="top")
    assert verdict.status in (Status.REJECTED, Status.COMPILE_ERROR, Status.MISMATCH), verdict.summary()


# Text that pyslang (policy + elaboration) skips but Icarus compiles: Icarus predefines
# `__ICARUS__`, pyslang predefines `__slang__`.
DIVERGENT_PREPROCESSOR_CASES = [
    ("ifdef_icarus_hides_hierarchical_copy", GOLDEN_SEQ,
     TOP_COPY + "`ifdef __ICARUS__\n  assign q = verilog_env_tb.expected[verilog_env_tb.tick][7:0];\n"
                "`else\n  assign q = a;\n`endif\nendmodule\n"),
    ("ifndef_slang_hides_hierarchical_copy", GOLDEN_SEQ,
     TOP_COPY + "`ifndef __slang__\n  assign q = verilog_env_tb.expected[verilog_env_tb.tick][7:0];\n"
                "`else\n  assign q = a;\n`endif\nendmodule\n"),
    ("ifdef_icarus_hides_silencing_the_comparison", GOLDEN_SEQ,
     seq("`ifdef __ICARUS__\n  initial #1 verilog_env_tb.failed0 = 1'b1;\n`endif", body=SEQ_WRONG_BODY)),
    ("ifdef_icarus_hides_include", GOLDEN_COMB,
     "`ifdef __ICARUS__\n`include \"/etc/hostname\"\n`endif\n" + comb()),
]


# What each divergent case is worth once only the code pyslang analysed is compiled.
DIVERGENT_EXPECTED = {
    "ifdef_icarus_hides_hierarchical_copy": Status.MISMATCH,  # visible: assign q = a
    "ifndef_slang_hides_hierarchical_copy": Status.MISMATCH,
    "ifdef_icarus_hides_silencing_the_comparison": Status.MISMATCH,  # visible body is wrong
    "ifdef_icarus_hides_include": Status.EQUIVALENT,  # visible design is correct; no file read
}


@pytest.mark.parametrize("name, golden, candidate",
                         [pytest.param(i, g, c, id=i) for i, g, c in DIVERGENT_PREPROCESSOR_CASES])
def test_tool_specific_conditionals_compile_only_what_was_analysed(name, golden, candidate):
    """Icarus defines `__ICARUS__`, pyslang defines `__slang__`: text that only one of them
    would compile must never reach the simulator unpoliced. The simulator is given
    pyslang's macro-expanded token stream, so the hidden code does not exist for it and
    the verdict is that of the visible code."""
    verdict = check(golden, candidate)
    assert verdict.status is DIVERGENT_EXPECTED[name], verdict.summary()


def test_icarus_only_finish_does_not_end_the_run_with_a_pass():
    """A `$finish` only Icarus sees ends the run before the testbench's END: not a pass."""
    verdict = check(GOLDEN_SEQ, seq("`ifdef __ICARUS__\n  initial #1 $finish;\n`endif", body=SEQ_WRONG_BODY))
    assert verdict.status in (Status.REJECTED, Status.MISMATCH), verdict.summary()


def test_icarus_only_conditional_text_cannot_write_host_files(tmp_path):
    """`ifdef __ICARUS__ around `$fopen`: the policy never sees it, and neither does Icarus."""
    target = Path("/tmp") / f"pwned_{secrets.token_hex(6)}"
    candidate = seq(
        "`ifdef __ICARUS__\n"
        f'  integer fd; initial begin fd = $fopen("{target}", "w"); $fdisplay(fd, "owned"); $fclose(fd); end\n'
        "`endif"
    )
    try:
        verdict = check(GOLDEN_SEQ, candidate)
        created = target.exists()
    finally:
        if target.exists():
            target.unlink()
    assert not created, f"candidate created {target} (verdict: {verdict.summary()})"
    assert verdict.status is Status.EQUIVALENT, verdict.summary()  # the visible design is correct


# --------------------------------------------------------------- module names


def test_candidate_submodule_named_like_goldens_does_not_replace_it():
    """The candidate's own `inv` (a buffer) must not be used by the golden.

    The candidate's top is y = a, which is right only if the golden's `inv` became a buffer.
    """
    candidate = """
module inv(input a, output y);
  assign y = a;
endmodule
module top(input [3:0] a, output [3:0] y);
  assign y = a;
endmodule
"""
    verdict = check(GOLDEN_INV, candidate)
    assert verdict.status is Status.MISMATCH, verdict.summary()


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param("module vlenv_g_inv(input a, output y);\n  assign y = a;\nendmodule\n", id="module"),
        pytest.param("primitive vlenv_g_inv(y, a);\n  output y;\n  input a;\n  table 0 : 0; 1 : 1; endtable\n"
                     "endprimitive\n", id="udp"),
        pytest.param("module vlenv_g_top(input [3:0] a, output [3:0] y);\n  assign y = a;\nendmodule\n",
                     id="golden_top"),
    ],
)
def test_candidate_cannot_define_the_goldens_prefixed_module_names(definition):
    """Even knowing the `vlenv_g_` prefix, a candidate cannot swap out golden modules."""
    candidate = "module top(input [3:0] a, output [3:0] y);\n  assign y = a;\nendmodule\n" + definition
    verdict = check(GOLDEN_INV, candidate, candidate_top="top")
    assert verdict.status is Status.MISMATCH, verdict.summary()


def test_wrong_candidate_with_fake_testbench_module_is_not_equivalent():
    fake_tb = 'module verilog_env_tb;\n  initial begin $display("PASS"); $display("PASS 0 200"); end\nendmodule\n'
    verdict = check(GOLDEN_SEQ, seq(body=SEQ_WRONG_BODY, post=fake_tb), candidate_top="top")
    assert verdict.status in (Status.MISMATCH, Status.REJECTED), verdict.summary()


def test_correct_candidate_with_harmless_testbench_named_module_is_judged_on_its_behaviour():
    """Defining `verilog_env_tb` changes nothing: a correct design is still equivalent."""
    fake_tb = 'module verilog_env_tb;\n  initial $display("PASS");\nendmodule\n'
    verdict = check(GOLDEN_SEQ, seq(post=fake_tb), candidate_top="top")
    assert verdict.status is Status.EQUIVALENT, verdict.summary()


# -------------------------------------------------------------- forged verdicts

FAKE_PASS_PRINTS = [
    ("plain", 'initial begin $display("PASS 0 1000"); $display("END"); end'),
    ("every_cycle", 'always @(posedge clk) begin $display("PASS 0 200"); $display("END"); end'),
    ("counter_hex_prefix",
     'reg [63:0] guess = 64\'h0123456789abcdef;\n  always @(posedge clk) begin guess = guess * 64\'d6364136223846793005 + 1; '
     '$display("%016h PASS 0 200", guess); $display("%016h END", guess); end'),
    ("guessed_nonce", 'initial begin $display("0000000000000000 PASS 0 200"); '
                      '$display("0000000000000000 END"); end'),
    ("after_the_end", 'final begin $display("%016h PASS 0 200", 64\'d0); $display("%016h END", 64\'d0); end'),
]


@pytest.mark.parametrize("printing", [pytest.param(p, id=i) for i, p in FAKE_PASS_PRINTS])
def test_wrong_design_printing_fake_pass_records_is_a_mismatch(printing):
    verdict = check(GOLDEN_SEQ, seq(printing, body=SEQ_WRONG_BODY))
    assert verdict.status is Status.MISMATCH, verdict.summary()
    assert verdict.counterexample is not None


def test_unterminated_write_cannot_hide_the_mismatch_record():
    """`$write` without a newline just before each sample (8 ns into every tick) tries to
    glue junk to the front of the testbench's MISMATCH record so it is not recognised.
    Pure Verilog, nothing the policy could refuse: the mismatch must still be reported,
    and a candidate without a record is never a pass.
    """
    candidate = seq('initial begin #7.999; forever begin $write("~"); #10; end end',
                    pre="`timescale 1ns/1ps\n", body=SEQ_WRONG_BODY)
    verdict = check(GOLDEN_SEQ, candidate)
    assert verdict.status in (Status.MISMATCH, Status.REJECTED), verdict.summary()


def test_padding_the_log_cannot_hide_the_mismatch_record():
    """~300 KB of prints (far below the 4 MiB output limit) around the first mismatch.

    The sandbox keeps only the first and last 64 KiB of the log; padding that pushes the
    MISMATCH record into the dropped middle must not turn the mismatch into a pass.
    """
    line = '"' + "J" * 60 + '"'
    # 70 KB at t=0, then 70 KB at 9 ns into every tick: after each compare (at 8 ns) and
    # before the testbench's closing lines; the run stops at the first mismatch.
    candidate = seq(f"initial repeat (1100) $display({line});\n"
                    f"  initial begin #9; forever begin repeat (1100) $display({line}); #10; end end",
                    body=SEQ_WRONG_BODY)
    verdict = check(GOLDEN_SEQ, candidate)
    assert verdict.status in (Status.MISMATCH, Status.REJECTED), verdict.summary()


# ---------------------------------------------------------- allowed constructs

ALLOWED_CASES = [
    ("display", "seq", seq('always @(posedge clk) $display("a=%0d b=%0d q=%0d", a, b, q);')),
    ("write_strobe_monitor", "seq",
     seq('initial $monitor("q=%h", q);\n  always @(posedge clk) begin $write("."); $strobe("q=%b", q); end')),
    ("signed_unsigned", "comb", comb(body="  assign y = $unsigned($signed(a) + $signed(b));\n")),
    ("clog2_bits", "comb", comb(body="  localparam W = $clog2(256);\n  wire [W-1:0] s = a + b;\n"
                                     "  assign y = s[$bits(y)-1:0];\n")),
    ("define_ifdef_undef", "comb",
     comb(body="  assign y = `SUM(a, b);\n", pre="`define USE_ADD\n`ifdef USE_ADD\n`define SUM(x, z) ((x) + (z))\n"
          "`else\n`define SUM(x, z) ((x) - (z))\n`endif\n", post="`undef SUM\n`undef USE_ADD\n")),
    ("timescale_default_nettype_resetall", "seq",
     seq(pre="`resetall\n`timescale 1ns/1ps\n`default_nettype none\n", post="`default_nettype wire\n")),
    ("celldefine", "comb", comb(pre="`celldefine\n", post="`endcelldefine\n")),
    ("always_ff_always_comb", "seq",
     SEQ_HEADER + "  logic [7:0] s;\n  always_comb s = a + b;\n"
                  "  always_ff @(posedge clk) q <= reset ? 8'd0 : s;\nendmodule\n"),
    ("function_and_task", "seq",
     SEQ_HEADER + "  function [7:0] add(input [7:0] x, input [7:0] z);\n    add = x + z;\n  endfunction\n"
                  "  task automatic step;\n    q <= reset ? 8'd0 : add(a, b);\n  endtask\n"
                  "  always @(posedge clk) step;\nendmodule\n"),
    ("generate_ripple_adder", "comb",
     COMB_HEADER + "  wire [8:0] c;\n  assign c[0] = 1'b0;\n  genvar i;\n  generate\n"
                   "    for (i = 0; i < 8; i = i + 1) begin : bit_\n"
                   "      assign y[i] = a[i] ^ b[i] ^ c[i];\n"
                   "      assign c[i+1] = (a[i] & b[i]) | (c[i] & (a[i] ^ b[i]));\n"
                   "    end\n  endgenerate\nendmodule\n"),
    ("submodule", "seq",
     "module adder(input [7:0] x, input [7:0] z, output [7:0] s);\n  assign s = x + z;\nendmodule\n"
     + SEQ_HEADER + "  wire [7:0] s;\n  adder u(.x(a), .z(b), .s(s));\n"
                    "  always @(posedge clk) q <= reset ? 8'd0 : s;\nendmodule\n"),
    ("initial_register_value", "seq", seq("initial q = 8'd0;")),
]


@pytest.mark.parametrize("golden, candidate", [pytest.param(GOLDENS[g], c, id=i) for i, g, c in ALLOWED_CASES])
def test_allowed_construct_stays_allowed(golden, candidate):
    verdict = check(golden, candidate)
    assert verdict.status is Status.EQUIVALENT, verdict.summary()


def test_everything_allowed_at_once():
    candidate = r"""
`timescale 1ns/1ps
`define WIDTH 8
`ifdef WIDTH
`define ADD(x, y) ((x) + (y))
`else
`define ADD(x, y) ((x) - (y))
`endif
module adder #(parameter W = `WIDTH) (input [W-1:0] x, input [W-1:0] y, output [W-1:0] s);
  localparam LOG = $clog2(W);
  wire [W-1:0] bits;
  genvar i;
  generate
    for (i = 0; i < W; i = i + 1) begin : g
      assign bits[i] = x[i] ^ y[i];
    end
  endgenerate
  function [W-1:0] add(input [W-1:0] p, input [W-1:0] r);
    add = `ADD(p, r);
  endfunction
  assign s = (LOG == 3) ? add(x, y) : {W{1'b0}};
endmodule
module top(input clk, input reset, input [7:0] a, input [7:0] b, output reg [7:0] q);
  wire [7:0] s;
  integer count;
  adder #(.W(8)) u_add (.x(a), .y(b), .s(s));
  initial begin q = 8'd0; count = 0; end
  task bump; begin count = count + 1; end endtask
  always_ff @(posedge clk) begin
    if (reset) q <= 8'd0;
    else q <= $unsigned($signed(s));
    bump;
    if (count == 3) $display("candidate says hello at count %0d", count);
  end
endmodule
"""
    verdict = check(GOLDEN_SEQ, candidate)
    assert verdict.status is Status.EQUIVALENT, verdict.summary()


def test_policy_verdicts_do_not_depend_on_batching():
    """A rejected candidate in a batch is rejected; its correct batch-mates still pass."""
    candidates = [
        seq(),
        seq(f'integer fd; initial fd = $fopen("{PROBE}", "w");'),
        TOP_COPY + "  assign q = verilog_env_tb.u_gold.q;\nendmodule\n",
        seq("initial #1 verilog_env_tb.failed0 = 1'b1;", body=SEQ_WRONG_BODY),
        seq(body=SEQ_WRONG_BODY),
        seq('always @(posedge clk) $display("PASS 0 200");'),
    ]
    verdicts = check_many(GOLDEN_SEQ, candidates, cycles=100, timeout=5.0)
    assert [v.status for v in verdicts] == [
        Status.EQUIVALENT, Status.REJECTED, Status.REJECTED, Status.REJECTED, Status.MISMATCH, Status.EQUIVALENT,
    ], [v.summary() for v in verdicts]
    assert "$fopen" in verdicts[1].reason
    assert not os.path.exists(PROBE)
