"""The OpenRLHF reward file's and agent's settings, over :mod:`verilog_env.service`.

OpenRLHF calls the reward function (and the agent's ``step``) inside its vLLM rollout
actors, one sample at a time, from many threads at once, and gives the file no channel
for settings but environment variables. This module maps those variables to the reward
service core (:class:`Settings`) and keeps one :class:`~verilog_env.service.RewardService`
per process; the core resolves labels (suites from ``$VERILOG_ENV_SUITES``, through
:func:`verilog_env.integrations.problem_index`), merges concurrent samples into few
checker calls, bounds each call by the deadline (an answer still unscored then gets 0
and ``reward_timeout``) and turns every failure into an :class:`Outcome` with reward 0
and a log counter instead of an exception (an exception in OpenRLHF's reward path
silently drops the reward). ``extra_logs`` keys: :data:`LOG_KEYS` (the core's; the HTTP
service logs the same).

A malformed checker variable (``VERILOG_REWARD_METHOD=proof``) fails loudly: importing
the reward file or the agent raises the ValueError that names it (OpenRLHF then cannot
start its rollout actors), and should the environment turn malformed later, the error is
logged once and every answer scores 0 with ``reward_internal_error``.

It imports only :mod:`verilog_env` and the standard library (no torch, no OpenRLHF).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from verilog_env.equiv.settings import CheckSettings
from verilog_env.reward import RewardConfig
from verilog_env.service import (
    LOG_KEYS,
    Batcher,
    Outcome,
    PerProcess,
    RewardService,
    failed,
)

__all__ = ["LOG_KEYS", "Outcome", "Settings", "failed", "score_responses", "settings"]

log = logging.getLogger("verilog_env.openrlhf")

ENV_PREFIXES = ("VERILOG_REWARD_", "VERILOG_ENV_SUITES")
"""The variables that change the settings (a change is picked up at the next call)."""


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    log.warning("ignoring %s=%r (expected 0/1/true/false)", name, value)
    return default


def _env_float(env: Mapping[str, str], name: str, default: float, low: float = 0.0) -> float:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < low:
        log.warning("ignoring %s=%r (expected a number >= %s)", name, value, low)
        return default
    return number


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the reward file and the agent score answers.

    Environment variables (all optional):

    * the checker (:meth:`verilog_env.CheckSettings.from_env`): ``VERILOG_REWARD_SEED``
      (0; ``random``: a fresh seed for every scoring call, so no answer tuned to one
      stimulus keeps earning), ``_CYCLES``, ``_CHECK_TIMEOUT`` (seconds per compile and
      per simulation), ``_METHOD`` (``sim``, ``both``, ``formal``), ``_FORMAL_BUDGET``,
      ``_FORMAL_FALLBACK``, ``_BATCH_SIZE``, ``_ISOLATE``. A malformed value is a
      ValueError naming the variable.
    * the reward (:class:`~verilog_env.reward.RewardConfig`):
      ``VERILOG_REWARD_REQUIRE_FORMAT`` (1), ``_FORMAT_PENALTY`` (0), ``_PARTIAL_CREDIT``
      (0), ``_THINK_PREFILLED`` (0); a malformed value is logged and ignored.
    * the call: ``VERILOG_REWARD_DEADLINE`` (120): seconds one reward call may take in
      all; ``VERILOG_REWARD_BATCH_WINDOW`` (0.02): seconds to wait for more samples to
      score together (read when the process's batcher starts). Malformed: logged, ignored.

    Labels are looked up in the suites of ``VERILOG_ENV_SUITES`` (default ``starter``).
    """

    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    check: CheckSettings = dataclasses.field(default_factory=CheckSettings)
    deadline: float = 120.0
    batch_window: float = 0.02

    @property
    def seed(self) -> int | None:
        return self.check.seed

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reward = RewardConfig(
            require_format=_env_bool(env, "VERILOG_REWARD_REQUIRE_FORMAT", True),
            format_penalty=_env_float(env, "VERILOG_REWARD_FORMAT_PENALTY", 0.0),
            partial_credit=_env_bool(env, "VERILOG_REWARD_PARTIAL_CREDIT", False),
            think_prefilled=_env_bool(env, "VERILOG_REWARD_THINK_PREFILLED", False),
        )
        return cls(
            reward=reward,
            check=CheckSettings.from_env(env),
            deadline=_env_float(env, "VERILOG_REWARD_DEADLINE", 120.0, low=0.001),
            batch_window=_env_float(env, "VERILOG_REWARD_BATCH_WINDOW", 0.02),
        )


_lock = threading.Lock()
_cached: tuple[tuple, Settings | ValueError] | None = None


def _snapshot() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)))


def settings() -> Settings:
    """The settings from this process's environment, read again only when it changed.
    A malformed checker variable raises its ValueError (logged once per environment)."""
    global _cached
    snapshot = _snapshot()
    with _lock:
        if _cached is None or _cached[0] != snapshot:
            try:
                value: Settings | ValueError = Settings.from_env()
            except ValueError as exc:
                log.error("OpenRLHF reward settings: %s; every answer scores 0 until it is fixed", exc)
                value = exc
            _cached = (snapshot, value)
        value = _cached[1]
    if isinstance(value, ValueError):
        raise value
    return value


def _make_service() -> RewardService:
    from verilog_env.integrations import problem_index

    return RewardService(problem_index, batcher=Batcher(window=settings().batch_window))


_service: PerProcess[RewardService] = PerProcess(_make_service)


def score_responses(responses: Sequence[Any], labels: Sequence[Any], config: Settings | None = None) -> list[Outcome]:
    """One :class:`Outcome` per response, within ``config.deadline`` seconds; never raises."""
    try:
        config = config or settings()
        service = _service.get()
    except Exception as exc:  # logged where it arose (settings) or here
        if not isinstance(exc, ValueError):
            log.exception("reward service unavailable")
        return [failed("reward_internal_error", str(exc), r) for r in responses]
    return service.score(responses, labels, reward=config.reward, check=config.check, deadline=config.deadline)
