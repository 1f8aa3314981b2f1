"""Reward rules: parse an LLM response, extract its Verilog, and score it against a golden.

Response format (CodeV-R1)::

    <think> reasoning </think><answer> ... ```verilog
    module TopModule(...); ... endmodule
    ``` ... </answer>

The format holds when each of the four tags appears exactly once, in that order. The
code is the last Verilog block of the answer (:func:`code_block`). Reasoning is never
the answer: when the format is off, the code is looked for after the last ``</think>``
(in the last ``<answer>`` there, if any; nowhere when a ``<think>`` is never closed).
Default reward: 1.0 if the code is equivalent to the golden, else 0.0, and 0.0 without
even checking when the format is wrong. :class:`RewardConfig` can relax the format, add
a format penalty, or give partial credit.
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from collections.abc import Sequence
from typing import Any

from .checking import CheckRequest, check_requests, resolve
from .equiv import CheckSettings, Status, Verdict
from .problems import Problem

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_LANG = re.compile(r"[ \t]*([A-Za-z]*)")
_FENCE = re.compile(r"^[ \t]*(`{3,})(.*)$", re.MULTILINE)
VERILOG_LABELS = frozenset({"verilog", "systemverilog", "sv", "v"})
"""Info strings (first word, any case) that label a fenced block as Verilog."""
_MODULE = re.compile(r"\bmodule\b")


@dataclasses.dataclass(frozen=True)
class ParsedResponse:
    """What :func:`parse_response` found. ``problem`` says why ``code`` is ``None``
    or the format is off (empty when all is well)."""

    code: str | None
    think: str | None
    answer: str | None
    format_ok: bool
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _format_problem(text: str) -> str:
    counts = [text.count(tag) for tag in TAGS]
    for tag, count in zip(TAGS, counts):
        if count != 1:
            return f"expected exactly one {tag}, found {count}"
    positions = [text.find(tag) for tag in TAGS]
    if positions != sorted(positions):
        return "tags out of order: expected <think>…</think> then <answer>…</answer>"
    return ""


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(label, body) of each fenced block of ``text``, in order (see :func:`code_block`).

    A fence is three or more backticks at the start of a line (after spaces or tabs); a
    block closes at the next fence line with at least as many backticks, whatever follows
    them on that line (``</answer>``, say). Backticks inside a line - in a ``//`` comment,
    in a string - are code. Linear in the text: one pass over the fence lines.
    """
    blocks: list[tuple[str, str]] = []
    opened: tuple[int, str, int] | None = None  # (backticks, label, where the body starts)
    for fence in _FENCE.finditer(text):
        ticks, info = len(fence.group(1)), fence.group(2)
        if opened is not None:
            if ticks >= opened[0]:
                blocks.append((opened[1], text[opened[2] : fence.start()]))
                opened = None
            continue
        label = _LANG.match(info).group(1)
        if label == "module":  # "```module m(...);": code right after the fence, no label
            line = info.rstrip()
            if len(line) > 3 and line.endswith("```"):  # the whole block on one line
                blocks.append(("", line.rstrip("`")))
            else:
                opened = (ticks, "", fence.start(2))
        else:
            opened = (ticks, label.lower(), fence.end() + 1)
    if opened is not None:  # never closed: runs to the end, less a ``` glued to its last line
        body = text[opened[2] :].rstrip()
        blocks.append((opened[1], body.rstrip("`") if body.endswith("```") else body))
    return blocks


def code_block(text: str) -> str | None:
    """The code of ``text`` (an answer): its last fenced block labelled Verilog.

    * Labels: verilog, systemverilog, sv, v (:data:`VERILOG_LABELS`: the first word of
      the info string, any case). Without a labelled block, the last unlabelled block (a
      bare fence) is the code; a block labelled anything else (text, python, ...) never
      is. So notes after the code, fenced bare or as text, do not displace it; what a
      block contains is never looked at.
    * A fence counts only at the start of a line (see :func:`_fenced_blocks`): three
      backticks in a comment or a string inside the code do not end the block; a line
      that starts with them does, even inside a block comment.
    * A final block never closed (``</answer>`` came first, or the text ends) runs to the
      end of ``text``; a fence glued to its last line (``endmodule`` then the backticks)
      closes it there. A block opened with ``module`` right after the fence has no label
      and may close on the same line.
    * An opening fence inside a line (``Here: `` then the backticks) is prose, and an
      empty block is no block.

    ``None`` when there is no such block.
    """
    blocks = [(label, body.strip()) for label, body in _fenced_blocks(text) if body.strip()]
    labelled = [body for label, body in blocks if label in VERILOG_LABELS]
    candidates = labelled or [body for label, body in blocks if label == ""]
    return candidates[-1] if candidates else None


def parse_response(text: str, *, think_prefilled: bool = False) -> ParsedResponse:
    """Split ``text`` into reasoning, answer and code (:func:`code_block` of the answer;
    see the module docstring for where the answer is when the format is off).

    ``think_prefilled``: the chat template already opened ``<think>`` (as DeepSeek-R1
    distilled models' templates do), so the response starts inside the reasoning.
    """
    if not isinstance(text, str):
        return ParsedResponse(None, None, None, False, f"response is {type(text).__name__}, not text")
    if think_prefilled and "<think>" not in text:
        text = "<think>" + text
    problem = _format_problem(text)
    think = answer = None
    if not problem:
        think = text[text.find("<think>") + 7 : text.find("</think>")].strip()
        answer = text[text.find("<answer>") + 8 : text.find("</answer>")].strip()
        region = answer
    else:
        # Reasoning is never the answer, even when the format is not required: a draft (or
        # a whole <answer>) inside <think> must not be checked in place of the final code.
        closed = text.rfind("</think>")
        region = text[closed + 8 :] if closed >= 0 else "" if "<think>" in text else text
        start = region.rfind("<answer>")
        if start >= 0:
            end = region.find("</answer>", start)
            answer = region = region[start + 8 : end if end >= 0 else len(region)].strip()
    code = code_block(region)
    if code is None and not problem:
        problem = "no ```verilog code block in the answer"
    return ParsedResponse(code, think, answer, not _format_problem(text), problem)


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """How a verdict becomes a reward.

    require_format: a response with malformed tags gets ``-format_penalty`` and is not
        checked (CodeV-R1's rule, with penalty 0).
    format_penalty: subtracted from the reward of a malformed response (when the format
        is not required, a malformed but correct answer earns ``1 - format_penalty``).
    partial_credit: a mismatching candidate earns the fraction of sampled ticks it
        matched before its first mismatch. Off by default: it is hackable by design (a
        policy learns to delay its first wrong output, not to be right).
    think_prefilled: see :func:`parse_response`.
    lint_penalty: subtracted from the reward of an equivalent answer that Verilator's lint
        warns about (``CheckSettings(lint=True)`` needed: scoring refuses it otherwise). Off
        (0) by default. A shaping term: RL will optimise it, towards answers free of the
        curated warnings, and away from whatever else it could learn.

    Rewards lie in ``[-format_penalty, 1]``, within ``[-1, 1]``: ``format_penalty`` must be
    a finite number in ``[0, 1]`` (a negative one would pay for malformed answers) and the
    flags must be bools; anything else raises ``ValueError``.
    """

    require_format: bool = True
    format_penalty: float = 0.0
    partial_credit: bool = False
    think_prefilled: bool = False
    lint_penalty: float = 0.0

    def __post_init__(self) -> None:
        for name in ("require_format", "partial_credit", "think_prefilled"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"RewardConfig.{name} must be true or false, got {getattr(self, name)!r}")
        penalty = self.format_penalty
        if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not 0.0 <= penalty <= 1.0:
            raise ValueError(f"RewardConfig.format_penalty must be a number in [0, 1], got {penalty!r}")
        object.__setattr__(self, "format_penalty", float(penalty))
        lint = self.lint_penalty
        if isinstance(lint, bool) or not isinstance(lint, numbers.Real) or not 0.0 <= lint <= 1.0:
            raise ValueError(f"RewardConfig.lint_penalty must be a number in [0, 1], got {lint!r}")
        object.__setattr__(self, "lint_penalty", float(lint))


@dataclasses.dataclass
class Score:
    """A response's reward, with the evidence: the parse and the checker's verdict
    (``None`` when nothing was checked)."""

    reward: float
    parsed: ParsedResponse
    verdict: Verdict | None = None
    format_required: bool = True
    """Whether the format rule applied (:attr:`RewardConfig.require_format`): when it did
    not, a missing code block, not the format, is why nothing was checked."""

    @property
    def correct(self) -> bool:
        return self.verdict is not None and self.verdict.equivalent

    @property
    def status(self) -> str:
        """The verdict's status, or ``format_error``/``no_code`` when nothing was checked."""
        if self.verdict is not None:
            return self.verdict.status.value
        return "no_code" if self.parsed.format_ok else "format_error"

    @property
    def reason(self) -> str:
        if self.verdict is not None:
            return self.verdict.reason
        parsed = self.parsed
        if not self.format_required and parsed.code is None and not parsed.format_ok:
            where = "answer" if parsed.answer is not None else "response"
            return f"no ```verilog code block in the {where}; also {parsed.problem}"
        return parsed.problem

    def info(self) -> dict[str, Any]:
        """JSON-ready summary for ``info`` dicts and HTTP answers."""
        return {
            "reward": self.reward,
            "correct": self.correct,
            "status": self.status,
            "reason": self.reason,
            "format_ok": self.parsed.format_ok,
            "verdict": self.verdict.to_dict() if self.verdict is not None else None,
        }


def reward_of(parsed: ParsedResponse, verdict: Verdict | None, config: RewardConfig) -> float:
    """The reward rule alone (pure): see :class:`RewardConfig`."""
    penalty = 0.0 if parsed.format_ok else config.format_penalty
    if verdict is None:
        return 0.0 - penalty  # not -penalty: that is -0.0 when there is no penalty
    if verdict.equivalent:
        return 1.0 - penalty - (config.lint_penalty if verdict.details.get("lint") else 0.0)
    if config.partial_credit and verdict.status is Status.MISMATCH and verdict.counterexample is not None:
        ticks = verdict.details.get("ticks") or 0
        return (verdict.counterexample.tick / ticks if ticks else 0.0) - penalty
    return 0.0 - penalty


def candidate_code(parsed: ParsedResponse, problem: Problem | None) -> str | None:
    """The code to check: for completion tasks, an answer that omits the module header
    (body only) gets the problem's header prepended."""
    code = parsed.code
    if code and problem is not None and problem.header and not _MODULE.search(code):
        code = f"{problem.header.rstrip()}\n{code}"
    return code


def _should_check(parsed: ParsedResponse, config: RewardConfig) -> bool:
    return parsed.code is not None and (parsed.format_ok or not config.require_format)


def score_many(
    items: Sequence[tuple[Problem | str, str]],
    config: RewardConfig = RewardConfig(),
    settings: CheckSettings | None = None,
    *,
    progress: bool = False,
    **knobs: Any,
) -> list[Score]:
    """Score ``(problem or golden source, response)`` pairs on every core, in order.

    ``settings`` (:class:`~verilog_env.CheckSettings`; keyword arguments named like its
    fields override it) go to :func:`~verilog_env.check_requests`: with
    ``method="both"`` a candidate earns the reward only if random simulation passes it
    and formal verification does not refute it (nor, with ``formal_fallback="reject"``,
    fail to check it because of the candidate). ``seed=None`` draws a fresh stimulus seed
    for this call, so no answer tuned to one stimulus keeps earning; each verdict records
    its seed (``verdict.details["seed"]``).
    """
    settings = resolve(settings, knobs)
    if config.lint_penalty and not settings.lint:
        raise ValueError("RewardConfig.lint_penalty needs CheckSettings(lint=True): without lint no answer is penalised")
    parsed = [parse_response(response, think_prefilled=config.think_prefilled) for _, response in items]
    requests, where = [], []
    for i, ((target, _), p) in enumerate(zip(items, parsed)):
        problem = target if isinstance(target, Problem) else None
        code = candidate_code(p, problem)
        if code is not None and _should_check(p, config):
            golden = problem.golden if problem else target
            requests.append(CheckRequest(golden, code, top=problem.top if problem else None))
            where.append(i)
    verdicts: list[Verdict | None] = [None] * len(items)
    if requests:
        checked = check_requests(requests, settings, progress=progress)
        for i, verdict in zip(where, checked):
            verdicts[i] = verdict
    return [Score(reward_of(p, v, config), p, v, config.require_format) for p, v in zip(parsed, verdicts)]


def score_response(
    target: Problem | str,
    response: str,
    config: RewardConfig = RewardConfig(),
    settings: CheckSettings | None = None,
    **knobs: Any,
) -> Score:
    """Score one response (see :func:`score_many`)."""
    return score_many([(target, response)], config, settings, **knobs)[0]
