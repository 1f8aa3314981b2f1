"""Reward functions in the shapes other RL libraries call (verl, TRL, plain Python).

They are thin adapters over one per-process :class:`~verilog_env.service.RewardService`
(the core the HTTP service and the OpenRLHF plugins use too): labels are resolved in one
:class:`~verilog_env.labels.ProblemIndex`, built on first use from the suites named in
``$VERILOG_ENV_SUITES`` (comma-separated, default ``starter``), and answers are scored
with one :class:`~verilog_env.reward.RewardConfig` and one
:class:`~verilog_env.CheckSettings`. The checker settings come from
:func:`configure` (``configure(check=CheckSettings(method="both"))``) or, until it sets
them, from the ``VERILOG_REWARD_*`` variables (:meth:`CheckSettings.from_env
<verilog_env.CheckSettings.from_env>`: the channel that reaches a trainer's worker
processes; a malformed value raises its ValueError at the first call). They never raise
on a bad sample: it scores 0.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..equiv.settings import CheckSettings
from ..labels import ProblemIndex
from ..reward import RewardConfig, Score
from ..service import Outcome, PerProcess, RewardService
from ..suites import load_suite

_lock = threading.Lock()
_index: ProblemIndex | None = None
_config = RewardConfig()
_check: CheckSettings | None = None
_service: PerProcess[RewardService] = PerProcess(lambda: RewardService(problem_index))


def configure(
    suites: Sequence[str] | None = None, reward: RewardConfig | None = None, check: CheckSettings | None = None
) -> None:
    """Choose the suites labels are looked up in, the reward rules and the checker
    settings (each left as it is when not given)."""
    global _index, _config, _check
    with _lock:
        if suites is not None:
            _index = ProblemIndex(load_suite(name) for name in suites)
        if reward is not None:
            _config = reward
        if check is not None:
            _check = check


def problem_index() -> ProblemIndex:
    global _index
    with _lock:
        if _index is None:
            names = [s.strip() for s in os.environ.get("VERILOG_ENV_SUITES", "starter").split(",") if s.strip()]
            _index = ProblemIndex(load_suite(name) for name in names)
        return _index


def check_settings() -> CheckSettings:
    """The checker settings the adapters use: :func:`configure`'s, else the environment's."""
    with _lock:
        check = _check
    return check if check is not None else CheckSettings.from_env(os.environ)


def outcomes(responses: Sequence[Any], labels: Sequence[Any], **overrides: Any) -> list[Outcome]:
    """One :class:`~verilog_env.service.Outcome` per response, scored against the
    problem its label names; ``overrides`` name :class:`~verilog_env.CheckSettings`
    fields (``method="both"``) that replace :func:`check_settings`' for this call."""
    check = check_settings().updated(overrides)
    with _lock:
        reward = _config
    return _service.get().score(list(responses), list(labels), reward=reward, check=check)


def score_labelled(responses: Sequence[Any], labels: Sequence[Any], **overrides: Any) -> list[Score | None]:
    """Score each response against the problem its label names (``None``: not scored,
    e.g. a bad label)."""
    return [o.score_obj for o in outcomes(responses, labels, **overrides)]


def rewards(responses: Sequence[Any], labels: Sequence[Any], **overrides: Any) -> list[float]:
    """One reward per response (0.0 for one not scored); see :func:`outcomes`."""
    return [o.reward for o in outcomes(responses, labels, **overrides)]


def reward_fn(prompts: Sequence[Any], responses: Sequence[str], labels: Sequence[Any]) -> list[float]:
    """Plain-Python batch reward: one float per response (0.0 for an unknown label)."""
    if not (len(prompts) == len(responses) == len(labels)):
        raise ValueError(f"prompts, responses and labels differ in length: {len(prompts)}, {len(responses)}, {len(labels)}")
    return rewards(responses, labels)


def split_overrides(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments that name :class:`~verilog_env.CheckSettings` fields (a
    library's configured reward kwargs, e.g. verl's ``reward_kwargs``); the library's
    own keywords are left out."""
    from dataclasses import fields

    names = {f.name for f in fields(CheckSettings)}
    return {k: v for k, v in kwargs.items() if k in names}
