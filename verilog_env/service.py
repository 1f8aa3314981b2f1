"""The reward-service core: label -> verdict -> reward, the one path every adapter takes.

The HTTP reward service (:mod:`verilog_env.server`), the OpenRLHF reward file and agent
(``trainers/openrlhf``) and the verl / TRL / plain-Python reward functions
(:mod:`verilog_env.integrations`) differ only in how they are called and how they hand
results back. Between the call and the answer they all run this module:

1. :meth:`RewardService.prepare` resolves each label (a problem id, the golden's source or
   a JSON object; see :mod:`verilog_env.labels`). A label that names nothing gives its
   answer reward 0 and ``label_error`` (never an exception); so does a response that is
   not text (``reward_internal_error``).
2. A :class:`Batcher` scores the resolved answers with one
   :class:`~verilog_env.reward.RewardConfig` and one :class:`~verilog_env.CheckSettings`
   (``method="both"`` and every other setting reach the checker only this way). It
   merges the answers of concurrent calls that arrive within ``window`` seconds (or until
   ``max_items`` wait) into one batch, and scores the answers of each golden that fill a
   simulator run in one :func:`~verilog_env.score_many` call, and the rest (lone answers
   to many goldens) in one more, whose runs mix goldens; the calls run at once on the
   checker's pool. An answer whose check hangs until its timeout holds up the callers of
   its call only. At most ``concurrency`` batches are scored at once; while all slots are
   busy, arriving answers join the next batch. It is driven by threads and hands back :class:`concurrent.futures.Future`
   objects: a thread waits with ``future.result(timeout)``, an event loop awaits
   ``asyncio.wrap_future(future)`` (cancelling either drops answers not yet scored).
3. Each :class:`~verilog_env.reward.Score` becomes an :class:`Outcome`: the reward, the
   score clipped to [0, 1], and one float per key of :data:`LOG_KEYS`.

:meth:`RewardService.score` runs the three steps within a deadline and never raises:
an answer still unscored when the deadline passes gets reward 0 and ``reward_timeout``,
one whose scoring failed gets 0 and ``reward_internal_error``. The HTTP service awaits
the batcher itself and answers 504 / 500 instead (a remote client retries).

This module imports no web framework, no torch and nothing of ``trainers`` or
``benchmarks``; importing it starts no thread (a batcher starts its dispatcher on the
first answer submitted).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from .equiv.settings import CheckSettings
from .labels import LabelError, ProblemIndex
from .problems import Problem
from .reward import RewardConfig, Score, parse_response, score_many

log = logging.getLogger("verilog_env.service")

LOG_KEYS: tuple[str, ...] = (
    "correct",
    "format_ok",
    "compile_error",
    "mismatch",
    "timeout",
    "rejected",
    "label_error",
    "reward_timeout",
    "reward_internal_error",
    "check_seconds",
)
"""The ``extra_logs`` keys of every answer, all of them always, in this order:

``correct``
    1 when the answer earned the full reward (its verdict is ``equivalent``).
``format_ok``
    1 when the response has the expected ``<think>``/``<answer>`` format.
``compile_error``, ``mismatch``, ``timeout``, ``rejected``
    1 when the checker's verdict has that :class:`~verilog_env.Status` (``timeout``: a
    compile or simulation of the answer ran past the check timeout).
``label_error``
    1 when the label named no problem and was no golden.
``reward_timeout``
    1 when the caller's deadline passed before the answer was scored.
``reward_internal_error``
    1 when the answer could not be scored (the scorer failed, the response was not text).
``check_seconds``
    the checker's wall time for the answer (0 when it was not checked).

A key missing from one answer would break trainers that stack the logs of a step by the
first answer's keys (OpenRLHF's ``make_experience_batch``)."""

_LABEL_ERRORS = (LabelError, ValueError, TypeError)
"""What resolving a malformed label raises (any other exception is an internal error)."""


# ------------------------------------------------------------------------- outcomes


@dataclasses.dataclass
class Outcome:
    """One answer's reward, its score in [0, 1] and its log values (every key of
    :data:`LOG_KEYS`); ``score_obj`` is the checker's :class:`~verilog_env.reward.Score`
    when the answer was scored (feedback and ``/score`` results come from it), ``kind``
    what stopped it otherwise (``label_error``, ``reward_timeout`` or
    ``reward_internal_error``) and ``error`` why, in words."""

    reward: float
    score: float
    logs: dict[str, float]
    score_obj: Score | None = None
    error: str = ""
    kind: str = ""

    @property
    def correct(self) -> bool:
        return self.score_obj is not None and self.score_obj.correct

    def info(self) -> dict[str, Any]:
        """The scored answer's :meth:`Score.info`, or the same keys for one not scored
        (``status`` is then ``kind``; ``verdict`` is ``None``)."""
        if self.score_obj is not None:
            return self.score_obj.info()
        return {
            "reward": self.reward,
            "correct": False,
            "status": self.kind,
            "reason": one_line(self.error),
            "format_ok": bool(self.logs["format_ok"]),
            "verdict": None,
        }


def one_line(text: Any, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _logs(**values: float) -> dict[str, float]:
    out = dict.fromkeys(LOG_KEYS, 0.0)
    out.update(values)
    return out


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def outcome_of(score: Score) -> Outcome:
    """The outcome of a scored answer."""
    verdict = score.verdict
    status = verdict.status.value if verdict is not None else ""
    seconds = float(verdict.timings.get("total", 0.0) or 0.0) if verdict is not None else 0.0
    reward = _finite(float(score.reward))
    statuses = {key: float(status == key) for key in ("compile_error", "mismatch", "timeout", "rejected")}
    logs = _logs(correct=float(score.correct), format_ok=float(score.parsed.format_ok), check_seconds=_finite(seconds))
    logs.update(statuses)
    return Outcome(reward=reward, score=min(1.0, max(0.0, reward)), logs=logs, score_obj=score)


def failed(kind: str, error: str = "", response: Any = None, config: RewardConfig | None = None) -> Outcome:
    """A zero-reward outcome with counter ``kind`` set (``label_error``,
    ``reward_timeout`` or ``reward_internal_error``); ``format_ok`` is still the
    response's, when it is text."""
    format_ok = 0.0
    if isinstance(response, str):
        try:
            format_ok = float(parse_response(response, think_prefilled=bool(config and config.think_prefilled)).format_ok)
        except Exception:  # noqa: BLE001 - only a log value
            format_ok = 0.0
    return Outcome(0.0, 0.0, _logs(**{kind: 1.0, "format_ok": format_ok}), None, error, kind)


def log_columns(outcomes: Sequence[Outcome]) -> dict[str, list[float]]:
    """``extra_logs`` of a batch: every key of :data:`LOG_KEYS`, one float per outcome
    (empty lists for an empty batch)."""
    return {key: [float(o.logs.get(key, 0.0)) for o in outcomes] for key in LOG_KEYS}


def reward_reply(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """OpenRLHF's reward contract, as lists: ``rewards``, ``scores`` (in [0, 1]) and
    ``extra_logs`` (:func:`log_columns`), one entry per outcome. The HTTP service sends
    it as JSON, the OpenRLHF reward file as tensors."""
    return {
        "rewards": [o.reward for o in outcomes],
        "scores": [o.score for o in outcomes],
        "extra_logs": log_columns(outcomes),
    }


# -------------------------------------------------------------------------- batching


class ServiceClosed(RuntimeError):
    """The batcher was closed before these answers were scored."""


@dataclasses.dataclass
class Stats:
    """Counters of a batcher (and of the HTTP service around it: requests, timeouts,
    errors)."""

    requests: int = 0
    items: int = 0
    batches: int = 0
    score_many_calls: int = 0
    largest_batch: int = 0
    timeouts: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean_batch_items"] = round(self.items / self.batches, 2) if self.batches else 0.0
        return d


@dataclasses.dataclass(eq=False)
class _Job:
    """One caller's answers, waiting to be scored."""

    items: list[tuple[Problem, str]]
    reward: RewardConfig
    check: CheckSettings
    future: concurrent.futures.Future
    arrived: float
    results: list[Score | None] = dataclasses.field(default_factory=list)
    missing: int = 0


def _settle(future: concurrent.futures.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve ``future`` unless its caller already gave up on it."""
    if future.done():
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:  # cancelled meanwhile
        pass


class Batcher:
    """Merges the answers of concurrent :meth:`submit` calls into few ``score_many`` calls.

    A daemon thread closes a batch ``window`` seconds after its first answer arrived (or
    once ``max_items`` wait), takes one of ``concurrency`` slots (waiting, and gathering
    more answers, while all are busy), and hands each group of the batch to a thread pool
    as one ``score_many`` call: a golden's answers are a group (one simulation) when they
    fill a run (``batch_size``), and the answers of goldens with fewer make one group per
    reward config and check settings, whose simulator runs mix goldens
    (:func:`verilog_env.equiv.simcheck.check_mixed`). A caller's future is resolved as
    soon as every group holding one of its answers is done. ``scorer`` replaces :func:`~verilog_env.score_many` (same call shape:
    ``scorer(items, reward_config, settings=check_settings)``).
    """

    def __init__(
        self,
        *,
        window: float = 0.02,
        max_items: int = 256,
        concurrency: int = 4,
        stats: Stats | None = None,
        scorer: Callable[..., list[Score]] | None = None,
    ):
        if not (window >= 0 and math.isfinite(window)):
            raise ValueError(f"batch window must be a finite number of seconds >= 0, got {window!r}")
        if max_items < 1 or concurrency < 1:
            raise ValueError("max_items and concurrency must be at least 1")
        self.window = float(window)
        self.max_items = int(max_items)
        self.stats = stats if stats is not None else Stats()
        self._scorer = scorer
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._inflight: set[_Job] = set()
        self._slots = threading.Semaphore(concurrency)
        # Threads mostly wait on the checker's pool; one per (batch, group) in flight.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(64, 16 * concurrency), thread_name_prefix="verilog-env-score"
        )
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, items: Sequence[tuple[Problem, str]], reward: RewardConfig, check: CheckSettings) -> concurrent.futures.Future:
        """Queue ``items``; the future holds their :class:`~verilog_env.reward.Score` list,
        in order (or the scorer's exception, or :class:`ServiceClosed`)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not items:
            future.set_result([])
            return future
        job = _Job(list(items), reward, check, future, time.monotonic(), [None] * len(items), len(items))
        with self._cond:
            if self._closed:
                future.set_exception(ServiceClosed("the reward service is shutting down"))
                return future
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch_forever, name="verilog-env-batcher", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return future

    def close(self) -> None:
        """Stop: every answer not yet scored fails with :class:`ServiceClosed`."""
        with self._cond:
            self._closed = True
            jobs = self._pending + list(self._inflight)
            self._pending, self._inflight = [], set()
            self._cond.notify_all()
        for job in jobs:
            _settle(job.future, error=ServiceClosed("the reward service is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- the dispatcher thread ---------------------------------------------------------

    def _waiting(self) -> int:
        """Drop jobs whose callers gave up; return the answers still waiting."""
        self._pending = [job for job in self._pending if not job.future.done()]
        return sum(len(job.items) for job in self._pending)

    def _take(self) -> list[_Job]:
        self._waiting()
        batch, count = [], 0
        while self._pending and (not batch or count + len(self._pending[0].items) <= self.max_items):
            job = self._pending.pop(0)
            batch.append(job)
            count += len(job.items)
        self._inflight.update(batch)
        return batch

    def _dispatch_forever(self) -> None:
        while not self._closed:
            try:
                with self._cond:
                    while not self._closed and not self._waiting():
                        self._cond.wait()
                    if self._closed:
                        return
                    close_at = self._pending[0].arrived + self.window
                    while not self._closed and self._waiting() < self.max_items:
                        left = close_at - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                while not self._slots.acquire(timeout=0.5):  # answers keep joining meanwhile
                    if self._closed:
                        return
                with self._cond:
                    batch = [] if self._closed else self._take()
                if batch:
                    self._start(batch)
                else:
                    self._slots.release()
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any bug
                log.exception("reward batcher failed; continuing")
                time.sleep(0.01)

    def _start(self, batch: list[_Job]) -> None:
        size = sum(len(job.items) for job in batch)
        by_golden: dict[tuple, list[tuple[_Job, int]]] = {}
        for job in batch:
            for k, (problem, _) in enumerate(job.items):
                by_golden.setdefault((job.reward, job.check, problem.golden, problem.top), []).append((job, k))
        # A golden's answers make a call of their own (they share simulator runs, and their
        # callers wait for nothing else); goldens with fewer than a run's worth share one
        # call, whose runs mix goldens (verilog_env.equiv.simcheck.check_mixed).
        groups: dict[tuple, list[tuple[_Job, int]]] = {}
        for (reward, check, golden, top), where in by_golden.items():
            key = (reward, check) if len(where) < check.batch_size else (reward, check, golden, top)
            groups.setdefault(key, []).extend(where)
        with self._cond:
            self.stats.batches += 1
            self.stats.items += size
            self.stats.largest_batch = max(self.stats.largest_batch, size)
        left = [len(groups)]
        for key, where in groups.items():
            try:
                self._executor.submit(self._run_group, key, where, left)
            except RuntimeError as exc:  # the pool was shut down: the batcher is closing
                self._group_done(left)
                for job in {job for job, _ in where}:
                    _settle(job.future, error=ServiceClosed(str(exc)))

    def _group_done(self, left: list[int]) -> None:
        with self._cond:
            left[0] -= 1
            if left[0] == 0:
                self._slots.release()

    def _run_group(self, key: tuple, where: list[tuple[_Job, int]], left: list[int]) -> None:
        try:
            items = [job.items[k] for job, k in where]
            with self._cond:
                self.stats.score_many_calls += 1
            scorer = self._scorer if self._scorer is not None else score_many
            try:
                scores = scorer(items, key[0], settings=key[1])
                if len(scores) != len(items):
                    raise RuntimeError(f"the scorer returned {len(scores)} scores for {len(items)} answers")
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
                error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                with self._cond:
                    jobs = {job for job, _ in where}
                    self._inflight.difference_update(jobs)
                for job in jobs:
                    _settle(job.future, error=error)
                return
            done = []
            with self._cond:
                for (job, k), score in zip(where, scores):
                    job.results[k] = score
                    job.missing -= 1
                    if job.missing == 0:
                        done.append(job)
                        self._inflight.discard(job)
            for job in done:
                _settle(job.future, result=job.results)
        finally:
            self._group_done(left)


# --------------------------------------------------------------------------- service


@dataclasses.dataclass
class Prepared:
    """One call's answers after their labels were resolved: ``outcomes`` holds those
    already decided (bad labels, responses that are not text), ``items`` the answers to
    score, for the positions ``where``."""

    responses: list[Any]
    outcomes: list[Outcome | None]
    items: list[tuple[Problem, str]]
    where: list[int]
    reward: RewardConfig

    def complete(self, scores: Sequence[Score]) -> list[Outcome]:
        """Every answer's outcome, given the scores of ``items``."""
        out = list(self.outcomes)
        for i, score in zip(self.where, scores):
            out[i] = outcome_of(score)
        return [o if o is not None else failed("reward_internal_error", "not scored") for o in out]

    def fail(self, kind: str, error: str) -> list[Outcome]:
        """Every answer's outcome when ``items`` could not be scored (``kind`` for them)."""
        out = list(self.outcomes)
        for i in self.where:
            out[i] = failed(kind, error, self.responses[i], self.reward)
        return [o if o is not None else failed("reward_internal_error", "not scored") for o in out]


class RewardService:
    """Labels and responses in, :class:`Outcome` objects out.

    index: the problems labels may name (a :class:`~verilog_env.labels.ProblemIndex`, or
        a function returning one, called at each use: it may load suites lazily).
    reward, check: how answers are scored (per-call overrides in :meth:`prepare`,
        :meth:`submit` and :meth:`score`).
    deadline: seconds :meth:`score` waits in all (``None``: as long as the checks take).
    batcher: the :class:`Batcher` (default: a new one with its defaults).
    """

    def __init__(
        self,
        index: ProblemIndex | Callable[[], ProblemIndex],
        reward: RewardConfig | None = None,
        check: CheckSettings | None = None,
        *,
        deadline: float | None = None,
        batcher: Batcher | None = None,
    ):
        self._index = index
        self.reward = reward if reward is not None else RewardConfig()
        self.check = check if check is not None else CheckSettings()
        self.deadline = deadline
        self.batcher = batcher if batcher is not None else Batcher()

    @property
    def index(self) -> ProblemIndex:
        return self._index if isinstance(self._index, ProblemIndex) else self._index()

    def prepare(self, responses: Sequence[Any], labels: Sequence[Any], reward: RewardConfig | None = None) -> Prepared:
        """Resolve ``labels`` (one per response); nothing is scored yet."""
        reward = reward if reward is not None else self.reward
        responses = list(responses)
        prepared = Prepared(responses, [None] * len(responses), [], [], reward)
        index: ProblemIndex | None = None
        for i, (response, label) in enumerate(zip(responses, labels)):
            try:
                index = index if index is not None else self.index
                problem = index.resolve(label)
            except _LABEL_ERRORS as exc:
                prepared.outcomes[i] = failed("label_error", str(exc), response, reward)
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. a suite that fails to load
                log.warning("label lookup failed: %s: %s", type(exc).__name__, exc)
                prepared.outcomes[i] = failed("reward_internal_error", f"{type(exc).__name__}: {exc}", response, reward)
                continue
            if not isinstance(response, str):
                prepared.outcomes[i] = failed("reward_internal_error", f"response is {type(response).__name__}, not text")
                continue
            prepared.items.append((problem, response))
            prepared.where.append(i)
        return prepared

    def submit(self, prepared: Prepared, check: CheckSettings | None = None) -> concurrent.futures.Future:
        """Queue the answers of ``prepared`` on the batcher (see :meth:`Batcher.submit`)."""
        return self.batcher.submit(prepared.items, prepared.reward, check if check is not None else self.check)

    def score(
        self,
        responses: Sequence[Any],
        labels: Sequence[Any],
        *,
        reward: RewardConfig | None = None,
        check: CheckSettings | None = None,
        deadline: Any = ...,
    ) -> list[Outcome]:
        """One :class:`Outcome` per response within the deadline (default: the
        service's); never raises."""
        deadline = self.deadline if deadline is ... else deadline
        started = time.monotonic()
        try:
            prepared = self.prepare(responses, labels, reward)
        except Exception as exc:  # noqa: BLE001 - a bug: scored 0, counted
            log.exception("reward preparation failed")
            return [failed("reward_internal_error", f"{type(exc).__name__}: {exc}") for _ in responses]
        if not prepared.items:
            return prepared.complete([])
        future: concurrent.futures.Future | None = None
        try:
            future = self.submit(prepared, check)
            left = None if deadline is None else max(0.0, deadline - (time.monotonic() - started))
            return prepared.complete(future.result(timeout=left))
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.warning("reward deadline of %.1f s passed; %d answer(s) get 0", deadline, len(prepared.items))
            return prepared.fail("reward_timeout", f"the {deadline:g} s reward deadline passed")
        except Exception as exc:  # noqa: BLE001 - scored 0, counted
            log.warning("scoring failed: %s: %s", type(exc).__name__, exc)
            return prepared.fail("reward_internal_error", f"{type(exc).__name__}: {exc}")


T = TypeVar("T")


class PerProcess(Generic[T]):
    """A value made on first use in each process: a forked child makes its own (a
    batcher's threads do not survive a fork)."""

    def __init__(self, factory: Callable[[], T]):
        self._factory = factory
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pid = 0

    def get(self) -> T:
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value, self._pid = self._factory(), os.getpid()
            return self._value

    def reset(self) -> None:
        """Forget the value (the next :meth:`get` makes a new one)."""
        with self._lock:
            self._value = None
