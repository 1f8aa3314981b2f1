"""Scoring shared by the OpenRLHF reward file and agent: bounded in time, never raising.

OpenRLHF calls the reward function (and the agent's ``step``) inside its vLLM rollout
actors, one sample at a time, from many threads at once. This module

* resolves each label (problem id, golden source or JSON object) through
  :func:`verilog_env.integrations.problem_index` (suites from ``$VERILOG_ENV_SUITES``);
* merges the samples that arrive within a few milliseconds into one
  :func:`verilog_env.score_many` call (candidates of one golden share a simulator run);
* waits at most an overall deadline per call: an item still unscored then gets 0 and
  the ``reward_timeout`` log;
* turns every failure into an :class:`Outcome` with reward 0 and a log counter instead
  of an exception (an exception in OpenRLHF's reward path silently drops the reward).

It imports only :mod:`verilog_env` and the standard library (no torch, no OpenRLHF).
Settings come from environment variables (read once per process, see
:meth:`Settings.from_env`), because OpenRLHF gives the reward file no other channel.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from verilog_env.equiv.settings import DEFAULT_CYCLES, DEFAULT_TIMEOUT
from verilog_env.labels import LabelError
from verilog_env.problems import Problem
from verilog_env.reward import RewardConfig, Score, parse_response, score_many

log = logging.getLogger("verilog_env.openrlhf")

LOG_KEYS: tuple[str, ...] = (
    "correct",
    "format_ok",
    "compile_error",
    "mismatch",
    "check_timeout",
    "rejected",
    "label_error",
    "reward_timeout",
    "reward_internal_error",
    "check_seconds",
)
"""The ``extra_logs`` keys of every answer, always all of them: OpenRLHF batches the
logs of a step's samples by the first sample's keys, so a key missing from one sample
would crash its ``make_experience_batch``."""


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


def _env_seed(env: Mapping[str, str], name: str) -> int | None:
    """An integer stimulus seed, or None for ``random`` (a fresh seed for every scoring call)."""
    text = env.get(name, "0").strip()
    if text.lower() in ("random", "none"):
        return None
    return int(_env_float(env, name, 0))


@dataclasses.dataclass(frozen=True)
class Settings:
    """How answers are scored.

    Environment variables (all optional):

    ``VERILOG_REWARD_REQUIRE_FORMAT`` (1), ``VERILOG_REWARD_FORMAT_PENALTY`` (0),
    ``VERILOG_REWARD_PARTIAL_CREDIT`` (0), ``VERILOG_REWARD_THINK_PREFILLED`` (0): the
    :class:`~verilog_env.reward.RewardConfig` fields; ``VERILOG_REWARD_DEADLINE`` (120):
    seconds one reward call may take in all; ``VERILOG_REWARD_CHECK_TIMEOUT`` (checker
    default, 10): seconds per compile and per simulation; ``VERILOG_REWARD_CYCLES`` and
    ``VERILOG_REWARD_SEED``: the checker's stimulus (``random``: a fresh seed for every
    scoring call, so no answer tuned to one stimulus keeps earning); ``VERILOG_REWARD_BATCH_WINDOW``
    (0.02): seconds to wait for more samples to score together. Labels are looked up in
    the suites of ``VERILOG_ENV_SUITES`` (default ``starter``).
    """

    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    deadline: float = 120.0
    check_timeout: float = DEFAULT_TIMEOUT
    cycles: int = DEFAULT_CYCLES
    seed: int | None = 0
    batch_window: float = 0.02
    batch_items: int = 256

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
            deadline=_env_float(env, "VERILOG_REWARD_DEADLINE", 120.0, low=0.001),
            check_timeout=_env_float(env, "VERILOG_REWARD_CHECK_TIMEOUT", DEFAULT_TIMEOUT, low=0.001),
            cycles=int(_env_float(env, "VERILOG_REWARD_CYCLES", DEFAULT_CYCLES, low=1)),
            seed=_env_seed(env, "VERILOG_REWARD_SEED"),
            batch_window=_env_float(env, "VERILOG_REWARD_BATCH_WINDOW", 0.02),
        )

    def key(self) -> tuple:
        """Settings that change a score (items with equal keys may share a call)."""
        return (self.reward, self.check_timeout, self.cycles, self.seed)


@dataclasses.dataclass
class Outcome:
    """One answer's reward, its score in [0, 1] and its log values (every key of
    :data:`LOG_KEYS`); ``score_obj`` is the checker's :class:`~verilog_env.reward.Score`
    when the answer was scored (the agent turns it into feedback)."""

    reward: float
    score: float
    logs: dict[str, float]
    score_obj: Score | None = None
    error: str = ""

    @property
    def correct(self) -> bool:
        return self.score_obj is not None and self.score_obj.correct


def _logs(**values: float) -> dict[str, float]:
    out = {key: 0.0 for key in LOG_KEYS}
    out.update(values)
    return out


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def outcome_of(score: Score) -> Outcome:
    verdict = score.verdict
    status = verdict.status.value if verdict is not None else ""
    seconds = float(verdict.timings.get("total", 0.0) or 0.0) if verdict is not None else 0.0
    reward = _finite(float(score.reward))
    return Outcome(
        reward=reward,
        score=min(1.0, max(0.0, reward)),
        logs=_logs(
            correct=float(score.correct),
            format_ok=float(score.parsed.format_ok),
            compile_error=float(status == "compile_error"),
            mismatch=float(status == "mismatch"),
            check_timeout=float(status == "timeout"),
            rejected=float(status == "rejected"),
            check_seconds=_finite(seconds),
        ),
        score_obj=score,
    )


def failed(kind: str, error: str = "", response: Any = None, config: RewardConfig | None = None) -> Outcome:
    """A zero-reward outcome with counter ``kind`` set (``label_error``,
    ``reward_timeout`` or ``reward_internal_error``)."""
    format_ok = 0.0
    if response is not None:
        try:
            format_ok = float(
                parse_response(response, think_prefilled=bool(config and config.think_prefilled)).format_ok
            )
        except Exception:  # noqa: BLE001 - only a log value
            format_ok = 0.0
    return Outcome(0.0, 0.0, _logs(**{kind: 1.0, "format_ok": format_ok}), None, error)


# --------------------------------------------------------------------------- batching


@dataclasses.dataclass
class _Job:
    items: list[tuple[Problem, str]]
    settings: Settings
    future: concurrent.futures.Future


class Batcher:
    """Merges the items of concurrent :meth:`submit` calls into few ``score_many`` calls.

    A daemon thread closes a batch ``settings.batch_window`` seconds after its first
    item (or at ``batch_items`` items) and hands it to a small thread pool, so a slow
    batch never holds up the next one.
    """

    def __init__(self, workers: int = 8):
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verilog-reward")

    def submit(self, items: list[tuple[Problem, str]], settings: Settings) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not items:
            future.set_result([])
            return future
        with self._cond:
            self._ensure_thread()
            self._pending.append(_Job(items, settings, future))
            self._cond.notify_all()
        return future

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="verilog-reward-batcher", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                with self._cond:
                    while not self._pending:
                        self._cond.wait()
                    first = self._pending[0]
                    close_at = time.monotonic() + first.settings.batch_window
                    while sum(len(j.items) for j in self._pending) < first.settings.batch_items:
                        left = close_at - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    batch, self._pending = self._pending, []
                self._executor.submit(self._run, batch)
            except Exception:
                log.exception("reward batcher failed; continuing")
                time.sleep(0.01)

    @staticmethod
    def _run(batch: list[_Job]) -> None:
        groups: dict[tuple, list[_Job]] = {}
        for job in batch:
            groups.setdefault(job.settings.key(), []).append(job)
        for jobs in groups.values():
            settings = jobs[0].settings
            items = [item for job in jobs for item in job.items]
            try:
                scores = score_many(
                    items, settings.reward, seed=settings.seed, cycles=settings.cycles, timeout=settings.check_timeout
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting callers
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                continue
            start = 0
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(scores[start : start + len(job.items)])
                start += len(job.items)


_batcher_lock = threading.Lock()
_batcher: Batcher | None = None
_settings: Settings | None = None


def batcher() -> Batcher:
    """This process's batcher (a new one after a fork)."""
    global _batcher
    with _batcher_lock:
        if _batcher is None or _batcher._pid != os.getpid():
            _batcher = Batcher()
        return _batcher


def settings() -> Settings:
    """The settings from the environment, read once per process."""
    global _settings
    with _batcher_lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def resolve(label: Any) -> Problem:
    """The problem a label names (raises :class:`~verilog_env.labels.LabelError`)."""
    from verilog_env.integrations import problem_index

    return problem_index().resolve(label)


def score_responses(responses: Sequence[Any], labels: Sequence[Any], config: Settings | None = None) -> list[Outcome]:
    """One :class:`Outcome` per response, within ``config.deadline`` seconds; never raises."""
    config = config or settings()
    started = time.monotonic()
    outcomes: list[Outcome | None] = [None] * len(responses)
    todo: list[tuple[int, Problem, str]] = []
    for i, (response, label) in enumerate(zip(responses, labels)):
        try:
            problem = resolve(label)
        except LabelError as exc:
            outcomes[i] = failed("label_error", str(exc), response, config.reward)
            continue
        except Exception as exc:  # noqa: BLE001 - e.g. a suite that fails to load
            log.warning("label lookup failed: %s: %s", type(exc).__name__, exc)
            outcomes[i] = failed("reward_internal_error", f"{type(exc).__name__}: {exc}", response, config.reward)
            continue
        if not isinstance(response, str):
            outcomes[i] = failed("reward_internal_error", f"response is {type(response).__name__}, not text")
            continue
        todo.append((i, problem, response))
    if todo:
        try:
            future = batcher().submit([(p, r) for _, p, r in todo], config)
            left = max(0.0, config.deadline - (time.monotonic() - started))
            scores = future.result(timeout=left)
            for (i, _, _), score in zip(todo, scores):
                outcomes[i] = outcome_of(score)
        except concurrent.futures.TimeoutError:
            log.warning("reward deadline of %.1f s passed; %d answer(s) get 0", config.deadline, len(todo))
            for i, _, response in todo:
                outcomes[i] = failed("reward_timeout", "reward deadline passed", response, config.reward)
        except Exception as exc:  # noqa: BLE001 - scored 0, counted
            log.warning("scoring failed: %s: %s", type(exc).__name__, exc)
            for i, _, response in todo:
                outcomes[i] = failed("reward_internal_error", f"{type(exc).__name__}: {exc}", response, config.reward)
    return [o if o is not None else failed("reward_internal_error", "not scored") for o in outcomes]
