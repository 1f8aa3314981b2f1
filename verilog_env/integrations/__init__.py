"""Reward functions in the shapes other RL libraries call (verl, TRL, plain Python).

They share one :class:`~verilog_env.labels.ProblemIndex`, built on first use from the
suites named in ``$VERILOG_ENV_SUITES`` (comma-separated, default ``starter``) or set
with :func:`configure`. They never raise on a bad sample: it scores 0.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from ..labels import LabelError, ProblemIndex
from ..problems import Problem
from ..reward import RewardConfig, Score, score_many
from ..suites import load_suite

_lock = threading.Lock()
_index: ProblemIndex | None = None
_config = RewardConfig()


def configure(suites: Sequence[str] | None = None, reward: RewardConfig | None = None) -> None:
    """Choose the suites labels are looked up in, and the reward rules."""
    global _index, _config
    with _lock:
        if suites is not None:
            _index = ProblemIndex(load_suite(name) for name in suites)
        if reward is not None:
            _config = reward


def problem_index() -> ProblemIndex:
    global _index
    with _lock:
        if _index is None:
            names = [s.strip() for s in os.environ.get("VERILOG_ENV_SUITES", "starter").split(",") if s.strip()]
            _index = ProblemIndex(load_suite(name) for name in names)
        return _index


def score_labelled(responses: Sequence[str], labels: Sequence[Any], **kw: Any) -> list[Score | None]:
    """Score each response against the problem its label names (``None``: bad label)."""
    index = problem_index()
    targets: list[Problem | None] = []
    for label in labels:
        try:
            targets.append(index.resolve(label))
        except LabelError:
            targets.append(None)
    todo = [(i, t) for i, t in enumerate(targets) if t is not None]
    scores = score_many([(t, responses[i]) for i, t in todo], _config, **kw) if todo else []
    out: list[Score | None] = [None] * len(responses)
    for (i, _), score in zip(todo, scores):
        out[i] = score
    return out


def reward_fn(prompts: Sequence[Any], responses: Sequence[str], labels: Sequence[Any]) -> list[float]:
    """Plain-Python batch reward: one float per response (0.0 for an unknown label)."""
    if not (len(prompts) == len(responses) == len(labels)):
        raise ValueError(f"prompts, responses and labels differ in length: {len(prompts)}, {len(responses)}, {len(labels)}")
    return [s.reward if s is not None else 0.0 for s in score_labelled(list(responses), list(labels))]
