"""Compiler messages name the user's file, at the user's lines, with the user's module
names, never the checker's work files or the testbench's names (issue 16 item 12).

Real Icarus compiles throughout: the broken answers below pass pyslang's analysis (so the
simulator, not the analysis, reports them) unless a test says otherwise.
"""

from __future__ import annotations

import json
import re

import pytest

from verilog_env import Problem, VerilogSpecEnv, check_equivalence, score_response
from verilog_env.cli import main
from verilog_env.equiv.diagnostics import ANSWER_FILE, shown_as, translate_log
from verilog_env.equiv.prepare import CheckOptions, candidate_prefix
from verilog_env.equiv.testbench import module_name
from verilog_env.hdl.design import analyze

GOLDEN = "module TopModule(input [3:0] a, b, output [4:0] s);\n  assign s = a + b;\nendmodule\n"

# Line 12: an Icarus elaboration error; line 4: a warning that names the helper module,
# which the simulator saw renamed c<nonce>_0_sub.
ELABORATION = """// my adder, with a helper
module TopModule(input [3:0] a, b, output [4:0] s);
  wire [4:0] w;
  sub u_add(.i(a), .k({1'b0, b}), .o(w));
  assign s = w;
endmodule
module sub(input [3:0] i, k, output [4:0] o);
  logic [3:0] m [0:1];
  logic [3:0] n [0:1];
  always_comb begin
    m[0] = i; m[1] = k;
    n = m;
  end
  assign o = n[0] + n[1];
endmodule
"""

# Directives and a multi-line macro shift every line of the simulator's work file.
MACROS = """`timescale 1ns/1ps
// header comment
`define ADD(x, y) \\
   ((x) + \\
    (y))
module TopModule(input [3:0] a, b, output [4:0] s);
  sub u_add(.i(a), .k(b), .o(s));
endmodule
module sub(input [3:0] i, k, output [4:0] o);
  wire [4:0] w = `ADD(i,
     k);
  assign o = {<<{w}};
endmodule
"""

STREAMING = GOLDEN.replace("  assign s = a + b;\n", "  wire [4:0] t = a + b;\n  assign s = {<<{t}};\n")  # line 3

INTERNAL = re.compile(r"candidate|vlenv_g_|verilog_env_tb|tb\.v|\bc_0_|(?<![\d.])[0-9a-f]{16}")  # the nonce: 16 hex digits


def assert_no_internal_names(text: str) -> None:
    found = INTERNAL.search(text)
    assert found is None, f"internal name {found.group(0)!r} in:\n{text}"


def run_cli(tmp_path, capsys, golden: str, candidate: str, *flags: str) -> tuple[int, str]:
    (tmp_path / "G.v").write_text(golden)
    (tmp_path / "my_design.v").write_text(candidate)
    code = main(["check", str(tmp_path / "G.v"), str(tmp_path / "my_design.v"), *flags])
    return code, capsys.readouterr().out


# --- the command line names the user's files ------------------------------------------

def test_cli_names_the_users_file_at_the_users_lines(tmp_path, capsys):
    code, out = run_cli(tmp_path, capsys, GOLDEN, ELABORATION)
    mine = str(tmp_path / "my_design.v")
    assert code == 1 and out.startswith("compile_error: ")
    assert f"{mine}:12: error: Cannot assign to array n" in out
    assert f"{mine}:4: warning: Port 2 (k) of sub expects 4 bits, got 5." in out
    assert_no_internal_names(out.replace(str(tmp_path), "DIR"))


def test_cli_json_verdict_names_the_users_file(tmp_path, capsys):
    code, out = run_cli(tmp_path, capsys, GOLDEN, ELABORATION, "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["status"] == "compile_error"
    assert verdict["reason"].startswith(f"{tmp_path / 'my_design.v'}:12: error:")


def test_cli_lines_survive_directives_and_multi_line_macros(tmp_path, capsys):
    code, out = run_cli(tmp_path, capsys, GOLDEN, MACROS)
    assert code == 1
    assert f"{tmp_path / 'my_design.v'}:12: sorry: Streaming concatenation not supported." in out


def test_cli_analysis_errors_name_the_users_file_too(tmp_path, capsys):
    """pyslang's diagnostics (most syntax errors) carry the same name."""
    broken = GOLDEN.replace("  assign s = a + b;", "  wire [4:0] t\n  assign s = a + b;")
    code, out = run_cli(tmp_path, capsys, GOLDEN, broken)
    assert code == 1 and f"{tmp_path / 'my_design.v'}:2:15: error: expected ';'" in out
    assert_no_internal_names(out.replace(str(tmp_path), "DIR"))


def test_cli_names_the_users_golden_when_the_golden_does_not_compile(tmp_path, capsys):
    code, out = run_cli(tmp_path, capsys, STREAMING, GOLDEN)
    assert code == 1 and out.startswith("unsupported: golden does not compile under Icarus Verilog")
    assert f"{tmp_path / 'G.v'}:3: sorry: Streaming concatenation not supported." in out
    assert_no_internal_names(out.replace(str(tmp_path), "DIR"))


# --- the reward path: verdicts, env feedback, the service's JSON ----------------------

def test_verdicts_name_answer_v_at_the_users_lines():
    verdict = check_equivalence(GOLDEN, ELABORATION)
    assert verdict.status.value == "compile_error"
    assert verdict.reason.startswith(f"{ANSWER_FILE}:12: error: Cannot assign to array n")
    assert f"{ANSWER_FILE}:4: warning: Port 2 (k) of sub expects" in verdict.reason
    assert_no_internal_names(json.dumps(verdict.to_dict()))


def test_multi_turn_feedback_quotes_answer_v_at_the_lines_of_the_code_block():
    env = VerilogSpecEnv([Problem(id="add", spec="Add a and b.", golden=GOLDEN)], max_turns=2)
    env.reset(options={"problem_id": "add"})
    response = f"<think>I add them.</think><answer>\n```verilog\n{MACROS}```\n</answer>"
    obs, reward, terminated, _, info = env.step(response)
    feedback = obs[-1]["content"]
    assert (reward, terminated, info["status"]) == (0.0, False, "compile_error")
    assert f"{ANSWER_FILE}:12: sorry: Streaming concatenation not supported." in feedback
    assert_no_internal_names(feedback)
    assert_no_internal_names(json.dumps(info["verdict"].to_dict()))
    env.close()


def test_the_services_json_carries_the_same_message():
    response = f"<think>t</think><answer>```verilog\n{ELABORATION}```</answer>"
    info = json.loads(json.dumps(score_response(GOLDEN, response).info()))  # what POST /score returns
    assert info["reason"].startswith(f"{ANSWER_FILE}:12: error:")
    assert info["verdict"]["reason"] == info["reason"]
    assert_no_internal_names(json.dumps(info))


def test_formal_compile_check_quotes_the_same_way():
    """Formal's own Icarus compile of a proven candidate (replay.compiles) uses the same translation."""
    from verilog_env.formal import replay

    design = analyze(MACROS, name=ANSWER_FILE, role="candidate")
    log = replay.compiles(design, CheckOptions())
    assert log.startswith(f"{ANSWER_FILE}:12: sorry: Streaming concatenation not supported.")
    assert_no_internal_names(log)


# --- the translation itself -----------------------------------------------------------

def test_testbench_names_read_as_the_users_design():
    """What a simulator says about the testbench's instance of the design and its modules,
    in the user's names (a log in Icarus's shape over the renamed work file)."""
    design = analyze(ELABORATION, name=ANSWER_FILE, role="candidate")
    nonce = "0123456789abcdef"
    prefix, bench = candidate_prefix(0, nonce), module_name(nonce)
    log = "\n".join([
        f"candidate0.v:13: error: Unable to bind wire/reg/memory `q' in `{bench}.u{nonce}_0.u_add'",
        f"candidate0.v:5: warning: Port 2 (k) of {prefix}sub expects 4 bits, got 5.",
        f"tb.v:31: error: port mismatch in {bench}",
        f"candidate1.v:3: error: another candidate's problem in {candidate_prefix(1, nonce)}TopModule",
        f"candidate0.v:3: note: instance u{nonce}_0 of {prefix}TopModule; {bench} drives it",
        "1 error(s) during elaboration.",
    ])
    text = translate_log(log, design, work_file="candidate0.v", prefix=prefix, nonce=nonce)
    assert text.splitlines() == [
        "answer.v:12: error: Unable to bind wire/reg/memory `q' in `TopModule.u_add'",
        "answer.v:4: warning: Port 2 (k) of sub expects 4 bits, got 5.",
        "answer.v:2: note: instance TopModule of TopModule; testbench drives it",
        "1 error(s) during elaboration.",
    ]


def test_a_prefix_like_user_name_is_left_alone():
    """Only the renamed modules get their names back: an identifier of the user's that
    happens to start like the prefix is theirs."""
    design = analyze(GOLDEN, name=ANSWER_FILE, role="candidate")
    log = "candidate0.v:3: error: c_0_TopModule.c_0_carry is not c_0_unrelated"
    text = translate_log(log, design, work_file="candidate0.v", prefix=candidate_prefix(0))
    assert text == "answer.v:2: error: TopModule.c_0_carry is not c_0_unrelated"


@pytest.mark.parametrize("name", ["my design.v", "rtl/adder.sv"])
def test_shown_as_only_renames_the_file_at_line_starts(name):
    verdict = check_equivalence(GOLDEN, ELABORATION)
    shown = shown_as(verdict, candidate=name)
    assert shown.reason.startswith(f"{name}:12: error:") and ANSWER_FILE not in shown.reason
    assert verdict.reason.startswith(ANSWER_FILE)  # the verdict itself is not changed


def test_yosys_messages_name_the_answer_at_its_own_lines():
    """Formal's Yosys messages quote the file Yosys read (``candidate.v``/``golden.v``,
    the canonical text: a `timescale line first, modules renamed): they come back as
    ``answer.v``/``golden.v`` at the user's line numbers, like the simulator's."""
    from verilog_env import check_equivalence, formal

    if not formal.available():
        pytest.skip("Yosys not installed (scripts/ensure_yosys.sh)")
    golden = "module TopModule(input [3:0] a, output [3:0] y);\n  assign y = a;\nendmodule\n"
    candidate = "// notes\nmodule TopModule(input [3:0] a, output [3:0] y);\n\n  real r;\n  assign y = a;\nendmodule\n"
    verdict = check_equivalence(golden, candidate, method="formal", formal_fallback="reject")
    reason = verdict.details["formal"]["reason"]
    assert reason.startswith("Yosys cannot read the candidate: answer.v:4: ERROR:"), reason
    assert "candidate.v" not in reason
    # a golden Yosys cannot read: the same translation, as golden.v
    verdict = check_equivalence(candidate.replace("real r;", "real q;"), golden, method="formal")
    reason = verdict.details["formal"]["reason"]
    assert "golden.v:4: ERROR:" in reason and "vlenv_g_" not in reason, reason
