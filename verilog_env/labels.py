"""What RL libraries hand a reward function, turned into (golden, response) pairs.

Trainers pass a *label* per sample saying which problem it answers, and often the
whole decoded sequence (prompt + response) rather than the response alone. A label is:

* a problem id of a known suite (``"counter_mod10"``);
* Verilog source of the golden itself (anything containing ``module``);
* a JSON object ``{"problem_id": ...}`` or ``{"golden": ..., "top": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .problems import Problem
from .suites import Suite

ASSISTANT_MARKERS = ("<|im_start|>assistant", "<|start_header_id|>assistant<|end_header_id|>", "<｜Assistant｜>")


class LabelError(ValueError):
    """A label names no known problem and is not a golden."""


class ProblemIndex:
    """Problems by id, across one or more suites."""

    def __init__(self, suites: Iterable[Suite] = ()):
        self._by_id: dict[str, Problem] = {}
        for suite in suites:
            for problem in suite:
                self._by_id.setdefault(problem.id, problem)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, problem_id: str) -> Problem | None:
        return self._by_id.get(problem_id)

    def resolve(self, label: Any) -> Problem:
        """The problem (or an ad-hoc one wrapping a golden) that ``label`` identifies."""
        if isinstance(label, Problem):
            return label
        if isinstance(label, Mapping):
            return self._from_mapping(label)
        if not isinstance(label, str) or not label.strip():
            raise LabelError(f"label must be a problem id, golden Verilog or JSON object, got {type(label).__name__}")
        text = label.strip()
        known = self._by_id.get(text)
        if known is not None:
            return known
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                raise LabelError("label looks like JSON but does not parse") from None
            if isinstance(data, Mapping):
                return self._from_mapping(data)
        if "module" in text:
            return Problem(id="golden", spec="(given by label)", golden=label)
        raise LabelError(f"unknown problem id {text[:80]!r} ({len(self)} problems loaded) and not Verilog source")

    def _from_mapping(self, data: Mapping[str, Any]) -> Problem:
        if data.get("problem_id") is not None:
            known = self._by_id.get(str(data["problem_id"]))
            if known is None:
                raise LabelError(f"unknown problem id {str(data['problem_id'])[:80]!r}")
            return known
        golden = data.get("golden")
        if isinstance(golden, str) and golden.strip():
            top = data.get("top")
            return Problem(id=str(data.get("id", "golden")), spec="(given by label)", golden=golden, top=top if isinstance(top, str) else None)
        raise LabelError("label object needs 'problem_id' or 'golden'")


def response_of(query: str, prompt: str | None = None) -> str:
    """The response part of a decoded ``query`` (prompt + response).

    Strips ``prompt`` when the query starts with it (or contains it); otherwise cuts
    after the last assistant-turn marker of common chat templates. The prompt must go:
    system prompts mention the ``<think>``/``<answer>`` tags, which would spoil the
    format check.
    """
    if prompt:
        if query.startswith(prompt):
            return query[len(prompt) :]
        at = query.rfind(prompt)
        if at >= 0:
            return query[at + len(prompt) :]
    cut = max((query.rfind(m) + len(m) if m in query else -1) for m in ASSISTANT_MARKERS)
    return query[cut:] if cut >= 0 else query
