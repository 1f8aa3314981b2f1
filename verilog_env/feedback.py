"""Feedback for a failed attempt, worded the way a hardware engineer would give it.

Used as the next user turn of a multi-turn episode: short, specific, and never a copy
of the golden (only its outputs at the failing point). Compiler messages come as the
verdict quotes them (:mod:`verilog_env.equiv.diagnostics`): the answer's code is
``answer.v``, at the lines and with the module names the model wrote.
"""

from __future__ import annotations

from .equiv.diagnostics import ANSWER_FILE
from .reward import Score

MAX_LOG_LINES = 12
MAX_LINT_LINES = 8


def _trim(log: str, max_lines: int = MAX_LOG_LINES) -> str:
    """Keep the diagnostic lines (and their source excerpts), at most ``max_lines``."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


def lint_lines(score: Score) -> str:
    """Verilator's lint warnings on the answer (``CheckSettings(lint=True)``), one a line with
    the answer's line number, at most :data:`MAX_LINT_LINES`; empty without any."""
    found = (score.verdict.details.get("lint") or []) if score.verdict is not None else []
    lines = [f"{ANSWER_FILE}:{w['line']}: {w['code']}: {w['message']}" for w in found[:MAX_LINT_LINES]]
    if len(found) > MAX_LINT_LINES:
        lines.append(f"... ({len(found) - MAX_LINT_LINES} more)")
    return "\n".join(lines)


def feedback_message(score: Score) -> str:
    """What to tell the model about ``score``; empty for a correct answer. With lint on, a
    compiled answer's warnings follow the message."""
    if score.correct:
        return ""
    message = _message(score)
    lint = lint_lines(score)
    return f"{message}\nVerilator's lint also warns:\n{lint}" if lint else message


def _message(score: Score) -> str:
    parsed, verdict = score.parsed, score.verdict
    if verdict is None:
        return (
            f"I could not read your answer: {parsed.problem or 'malformed response'}. "
            "Reply with <think>your reasoning</think><answer>```verilog\n<the complete module>\n```</answer>."
        )
    status = verdict.status.value
    if status == "compile_error":
        return (
            f"Your code does not compile:\n{_trim(verdict.reason)}\n"
            f"Fix the errors ({ANSWER_FILE} is your code) and answer again."
        )
    if status == "mismatch" and verdict.counterexample is not None:
        return (
            "Your design compiles but behaves differently from the specification. "
            f"Simulation shows, with the most recent inputs:\n{verdict.counterexample.table()}\n"
            "Find the cause and answer again with the corrected module."
        )
    if status == "mismatch":  # an interface difference: the reason names the port
        return f"Your module's interface is wrong: {verdict.reason}. Match the ports in the specification exactly."
    if status == "timeout":
        return (
            "Simulating your design did not finish in time (look for combinational loops, "
            "zero-delay feedback or unbounded loops). Answer again with a corrected module."
        )
    if status == "rejected":
        return f"Your code was rejected: {verdict.reason}. Write synthesizable RTL only."
    return f"Your answer could not be checked ({status}): {verdict.reason}"
