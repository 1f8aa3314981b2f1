"""What a policy's answer text turns into (verilog_env.reward.parse_response / code_block),
attacked the way a reward-hunting policy would (issue 16 item 15).

The documented rule: the code is the last fenced block labelled verilog/systemverilog/sv/v
(any case) of the <answer>; without one, the last bare block; a fence counts only at the
start of a line; a final block never closed runs to the end of the answer; reasoning is
never the answer, even when the format is not required. Verdicts come from real checks.
"""

from __future__ import annotations

import pytest

from verilog_env import Problem, RewardConfig, parse_response, score_response
from verilog_env.reward import code_block

ADDER = "module TopModule(input [3:0] a, b, output [4:0] s);\n  assign s = a + b;\nendmodule"
WRONG = ADDER.replace("a + b", "a - b")
STRICT = RewardConfig()
LENIENT = RewardConfig(require_format=False)


def respond(answer: str, think: str = "add them") -> str:
    return f"<think>{think}</think>\n<answer>\n{answer}\n</answer>"


def fenced(code: str, label: str = "verilog") -> str:
    return f"```{label}\n{code}\n```"


def assert_scores(target, text: str, reward: float, config: RewardConfig = STRICT) -> None:
    score = score_response(target, text, config, seed=0)
    assert score.reward == reward, (score.status, score.reason)


# --- notes after the code -------------------------------------------------------------

@pytest.mark.parametrize(
    "notes",
    [
        fenced("// This module adds a and b; the sum keeps the carry.", ""),  # bare, says "module"
        fenced("module-level notes: no state, purely combinational", ""),
        fenced("The module is combinational.", "text"),
        fenced("The module is combinational.", "Markdown notes"),
    ],
)
def test_a_notes_block_after_the_code_does_not_displace_it(notes):
    text = respond(f"{fenced(ADDER)}\nSome notes:\n{notes}")
    assert parse_response(text).code == ADDER
    assert_scores(ADDER, text, 1.0)


@pytest.mark.parametrize("label", ["Verilog", "SYSTEMVERILOG", "sv", "V", "verilog  (TopModule)"])
def test_labelled_blocks_are_preferred_in_any_case(label):
    text = respond(f"{fenced(ADDER, label)}\n{fenced('// how the module works: it adds', '')}")
    assert parse_response(text).code == ADDER


def test_a_labelled_wrong_block_beats_a_later_bare_correct_one():
    """Hedging (a wrong labelled answer, then a correct bare one) earns nothing: the
    labelled block is the answer."""
    text = respond(f"{fenced(WRONG)}\nOr maybe:\n{fenced(ADDER, '')}")
    assert parse_response(text).code == WRONG
    assert_scores(ADDER, text, 0.0)


def test_bare_blocks_count_only_without_a_labelled_one_and_other_labels_never():
    assert parse_response(respond(fenced(ADDER, ""))).code == ADDER
    assert parse_response(respond(f"{fenced(WRONG, '')}\n{fenced(ADDER, '')}")).code == ADDER
    for label in ("text", "python", "vhdl", "c"):
        p = parse_response(respond(fenced(ADDER, label)))
        assert p.code is None and "no ```verilog code block" in p.problem, label


# --- fences inside the code -----------------------------------------------------------

FENCE_IN_CODE = {
    "line comment": ADDER.replace("  assign", "  // answers come in ```verilog fences\n  assign"),
    "string literal": ADDER.replace("  assign", '  localparam [23:0] FENCE = "```";\n  assign'),
    "block comment mid-line": ADDER.replace("  assign", "  /* a ``` here is code */ assign"),
    "after code on a line": ADDER.replace("a + b;", "a + b; // not a fence: ```"),
}


@pytest.mark.parametrize("case", sorted(FENCE_IN_CODE))
def test_backticks_inside_a_line_of_code_do_not_end_the_block(case):
    code = FENCE_IN_CODE[case]
    text = respond(fenced(code))
    assert parse_response(text).code == code
    assert_scores(ADDER, text, 1.0)


def test_a_longer_fence_keeps_a_line_of_three_backticks_as_code():
    code = ADDER.replace("  assign", "  /*\n```\n  */\n  assign")
    text = respond(f"````verilog\n{code}\n````")
    assert parse_response(text).code == code
    assert_scores(ADDER, text, 1.0)


def test_an_opening_fence_inside_a_line_of_prose_is_not_a_fence():
    assert code_block(f"Here it is: ```verilog {ADDER}```") is None
    assert code_block(f"Here it is:\n  ```verilog\n{ADDER}\n  ```") == ADDER  # indented fences count


# --- several blocks -------------------------------------------------------------------

def test_the_last_labelled_block_is_checked_even_without_the_word_module():
    """An earlier correct block cannot be smuggled past a last block that lacks `module`:
    the last block is the answer (a body-only answer gets the problem's header)."""
    header = "module TopModule(input [3:0] a, b, output [4:0] s);"
    problem = Problem(id="add", spec="add a and b", golden=ADDER, header=header)
    text = respond(f"{fenced(ADDER)}\nFinal version:\n{fenced('  assign s = a - b;  // fixed' + chr(10) + 'endmodule')}")
    assert parse_response(text).code.startswith("assign s = a - b;")
    assert_scores(problem, text, 0.0)
    assert_scores(ADDER, respond(f"{fenced(ADDER)}\n{fenced(WRONG)}"), 0.0)


# --- reasoning is never the answer ----------------------------------------------------

def test_code_in_the_reasoning_never_counts_with_the_format_required():
    draft = f"a draft:\n{fenced(ADDER)}"
    assert parse_response(respond("no code, sorry", think=draft)).code is None
    assert_scores(ADDER, respond("no code, sorry", think=draft), 0.0)
    assert_scores(ADDER, respond(fenced(WRONG), think=draft), 0.0)
    # A whole <answer> inside the reasoning breaks the format: not checked at all.
    tricked = f"<think><answer>{fenced(ADDER)}</answer> hmm</think>\n{fenced(WRONG)}"
    assert not parse_response(tricked).format_ok
    assert_scores(ADDER, tricked, 0.0)


@pytest.mark.parametrize(
    "text, code",
    [
        (f"<think>\n{fenced(ADDER)}\n</think>\nI could not finish.", None),
        (f"<think>plan: <answer>\n{fenced(ADDER)}\n</answer></think>\nFinal:\n{fenced(WRONG)}", WRONG),
        (f"<think>\n{fenced(ADDER)}\nstill thinking", None),  # reasoning cut off: never closed
        (f"Sure:\n{fenced(ADDER)}", ADDER),  # no reasoning at all: the whole response
    ],
    ids=["draft-then-prose", "answer-inside-think", "unclosed-think", "no-tags"],
)
def test_code_in_the_reasoning_never_counts_with_the_format_relaxed(text, code):
    """require_format=False checks malformed responses, but only after the last </think>."""
    p = parse_response(text)
    assert not p.format_ok and p.code == code
    assert_scores(ADDER, text, 1.0 if code == ADDER else 0.0, LENIENT)


def test_think_prefilled_reasoning_is_not_the_answer():
    text = f"draft:\n{fenced(ADDER)}\n</think>\nFinal:\n{fenced(WRONG)}"
    assert parse_response(text, think_prefilled=True).code == WRONG
    assert parse_response(f"draft:\n{fenced(ADDER)}\n", think_prefilled=True).code is None


# --- unterminated and odd blocks ------------------------------------------------------

def test_a_final_block_never_closed_runs_to_the_end_of_the_answer():
    text = f"<think>t</think><answer>\n```verilog\n{ADDER}\n</answer>"
    p = parse_response(text)
    assert p.format_ok and p.code == ADDER
    assert_scores(ADDER, text, 1.0)
    # A truncated response is still not checked when the format is required.
    truncated = f"<think>t</think><answer>\n```verilog\n{ADDER}"
    assert parse_response(truncated).code == ADDER
    assert_scores(ADDER, truncated, 0.0)


def test_a_fence_glued_to_the_last_line_closes_the_block():
    assert code_block(f"```verilog\n{ADDER}```") == ADDER
    assert code_block("```module m(input a, output y); assign y = a; endmodule```") == (
        "module m(input a, output y); assign y = a; endmodule"
    )


def test_an_empty_block_is_no_block():
    assert code_block(f"{fenced(ADDER, '')}\n```\n\n```") == ADDER
    assert code_block(f"{fenced(ADDER, '')}\n```") == ADDER  # a stray fence after the code


def test_windows_line_endings():
    text = respond(fenced(ADDER, "Verilog")).replace("\n", "\r\n")
    assert parse_response(text).code == ADDER.replace("\n", "\r\n")
    assert_scores(ADDER, text, 1.0)


def test_parsing_stays_linear_on_many_fence_lines():
    import time

    for text in ("```verilog\n" * 200_000, "  ```\n" * 200_000, ("x" * 50 + "\n") * 200_000 + "```"):
        started = time.perf_counter()
        parse_response(respond(text))
        assert time.perf_counter() - started < 2.0, text[:20]
