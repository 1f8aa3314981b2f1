"""Response parsing and reward rules (verilog_env.reward)."""

from __future__ import annotations

import pytest

from verilog_env import Problem, RewardConfig, Status, Verdict, parse_response, score_many, score_response
from verilog_env.equiv.verdict import Counterexample
from verilog_env.reward import ParsedResponse, candidate_code, reward_of

ADDER = "module TopModule(input [3:0] a, b, output [4:0] s);\n  assign s = a + b;\nendmodule"
WRONG = ADDER.replace("a + b", "a - b")


def answer(code: str, think: str = "add them") -> str:
    return f"<think>{think}</think>\n<answer>Here it is:\n```verilog\n{code}\n```\n</answer>"


# --- parsing --------------------------------------------------------------------------

def test_parse_well_formed_response():
    p = parse_response(answer(ADDER))
    assert p.format_ok and p.problem == ""
    assert p.code == ADDER
    assert p.think == "add them"
    assert p.answer.startswith("Here it is:")


def test_parse_takes_last_verilog_block_of_the_answer():
    text = f"<think>```verilog\nmodule draft; endmodule\n```</think><answer>```verilog\n{WRONG}\n```\nfinal:\n```systemverilog\n{ADDER}\n```</answer>"
    assert parse_response(text).code == ADDER


def test_parse_ignores_code_in_think_when_answer_has_none():
    text = f"<think>```verilog\n{ADDER}\n```</think><answer>no code, sorry</answer>"
    p = parse_response(text)
    assert p.format_ok and p.code is None
    assert "no ```verilog code block" in p.problem


@pytest.mark.parametrize(
    "text, problem",
    [
        ("just ```verilog\nmodule m; endmodule\n```", "expected exactly one <think>"),
        ("<think>a</think><think>b</think><answer>x</answer>", "expected exactly one <think>, found 2"),
        ("<answer>x</answer><think>a</think>", "tags out of order"),
        ("<think>a</think><answer>x", "expected exactly one </answer>, found 0"),
    ],
)
def test_parse_reports_format_problems(text, problem):
    p = parse_response(text)
    assert not p.format_ok
    assert problem in p.problem


def test_parse_malformed_still_finds_code_for_lenient_rules():
    p = parse_response(f"Sure!\n```verilog\n{ADDER}\n```")
    assert not p.format_ok and p.code == ADDER


def test_parse_think_prefilled_template():
    text = f"I add.</think><answer>```verilog\n{ADDER}\n```</answer>"
    assert not parse_response(text).format_ok
    assert parse_response(text, think_prefilled=True).format_ok


def test_parse_non_text_is_a_clear_problem():
    p = parse_response(None)  # type: ignore[arg-type]
    assert p.code is None and not p.format_ok and "not text" in p.problem


def test_completion_task_gets_header_prepended_to_a_body_only_answer():
    header = "module TopModule(input [3:0] a, b, output [4:0] s);"
    problem = Problem(id="p", spec="add", golden=ADDER, header=header)
    body = "  assign s = a + b;\nendmodule"
    assert candidate_code(parse_response(answer(body)), problem) == f"{header}\n{body.strip()}"
    assert candidate_code(parse_response(answer(ADDER)), problem) == ADDER


# --- the rule (pure) ------------------------------------------------------------------

def ok(code: str = ADDER) -> ParsedResponse:
    return ParsedResponse(code, "t", "a", True)


def bad_format(code: str = ADDER) -> ParsedResponse:
    return ParsedResponse(code, None, None, False, "expected exactly one <think>, found 0")


def mismatch(tick: int, ticks: int) -> Verdict:
    cex = Counterexample(tick=tick, time=0.0, mismatched=["s"], expected={"s": "0"}, actual={"s": "1"}, inputs=[], seed=0)
    return Verdict(Status.MISMATCH, "differs", counterexample=cex, details={"ticks": ticks})


def test_reward_of_defaults_are_binary():
    cfg = RewardConfig()
    assert reward_of(ok(), Verdict(Status.EQUIVALENT), cfg) == 1.0
    assert reward_of(ok(), mismatch(500, 1000), cfg) == 0.0
    assert reward_of(ok(), Verdict(Status.COMPILE_ERROR, "x"), cfg) == 0.0
    assert reward_of(bad_format(), None, cfg) == 0.0


def test_reward_of_is_never_negative_zero():
    import math

    assert math.copysign(1.0, reward_of(bad_format(), None, RewardConfig())) == 1.0


def test_format_penalty_applies_to_malformed_responses_only():
    cfg = RewardConfig(require_format=False, format_penalty=0.1)
    assert reward_of(bad_format(), Verdict(Status.EQUIVALENT), cfg) == pytest.approx(0.9)
    assert reward_of(bad_format(), None, cfg) == pytest.approx(-0.1)
    assert reward_of(ok(), Verdict(Status.EQUIVALENT), cfg) == 1.0


def test_partial_credit_is_the_matched_fraction_and_off_by_default():
    assert reward_of(ok(), mismatch(250, 1000), RewardConfig(partial_credit=True)) == pytest.approx(0.25)
    assert reward_of(ok(), mismatch(250, 1000), RewardConfig()) == 0.0
    compile_error = Verdict(Status.COMPILE_ERROR, "x")
    assert reward_of(ok(), compile_error, RewardConfig(partial_credit=True)) == 0.0


# --- end to end with the real checker ---------------------------------------------------

def test_score_response_correct_wrong_and_malformed():
    correct, wrong, malformed = score_many([(ADDER, answer(ADDER)), (ADDER, answer(WRONG)), (ADDER, ADDER)])
    assert (correct.reward, correct.status, correct.correct) == (1.0, "equivalent", True)
    assert (wrong.reward, wrong.status) == (0.0, "mismatch")
    assert wrong.verdict.counterexample is not None
    assert (malformed.reward, malformed.status, malformed.verdict) == (0.0, "format_error", None)
    assert "expected exactly one <think>" in malformed.reason


def test_lenient_format_checks_code_without_tags():
    score = score_response(ADDER, f"```verilog\n{ADDER}\n```", RewardConfig(require_format=False))
    assert score.correct and score.reward == 1.0 and not score.parsed.format_ok


def test_partial_credit_end_to_end_is_between_zero_and_one():
    # Wrong only when a == 15: survives a while, then fails.
    late = ADDER.replace("a + b", "(a == 4'd15 && b == 4'd15) ? 5'd0 : a + b")
    score = score_response(ADDER, answer(late), RewardConfig(partial_credit=True))
    assert score.status == "mismatch"
    assert 0.0 < score.reward < 1.0
    assert score.reward == score.verdict.counterexample.tick / score.verdict.details["ticks"]


def test_score_info_is_json_ready():
    import json

    info = score_response(ADDER, answer(WRONG)).info()
    data = json.loads(json.dumps(info))
    assert data["status"] == "mismatch" and data["verdict"]["counterexample"]["mismatched"] == ["s"]


def test_problem_targets_use_their_top():
    golden = ADDER.replace("TopModule", "RefModule") + "\nmodule helper(input x, output y); assign y = x; endmodule"
    problem = Problem(id="p", spec="add", golden=golden, top="RefModule")
    assert score_response(problem, answer(ADDER)).correct


def test_parse_is_linear_on_hostile_fences():
    import time

    for text in ("```a" * 100_000, "```verilog\n" * 100_000, "<think>" * 100_000, "```\n" + "module " * 200_000):
        started = time.perf_counter()
        parse_response(text)
        assert time.perf_counter() - started < 2.0, text[:20]


def test_parse_fence_variants():
    assert parse_response(f"<think>t</think><answer>```  Verilog title\n{ADDER}\n```</answer>").code == ADDER
    assert parse_response(f"<think>t</think><answer>```{ADDER}```</answer>").code == ADDER
    assert parse_response(f"<think>t</think><answer>```python\nprint(1)\n```</answer>").code is None


def test_bare_code_without_a_fence_reports_the_missing_code_block_first():
    """With require_format=False the format is not the reason an answer scored 0: the
    missing ```verilog block is (issue 16 item 14)."""
    from verilog_env import RewardConfig, score_response

    score = score_response(ADDER, ADDER, RewardConfig(require_format=False))
    assert score.reward == 0.0 and score.reason.startswith("no ```verilog code block in the response")
    assert "expected exactly one <think>" in score.reason  # the format problem is still said, second
