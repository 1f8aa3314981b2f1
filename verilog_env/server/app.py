"""An HTTP reward service: score LLM-written Verilog for remote RL trainers.

Run it with ``verilog-env serve`` (needs the ``[serve]`` extra: fastapi, uvicorn) or::

    from verilog_env.server import ServerConfig, serve
    serve(ServerConfig(suites=["starter"]), host="0.0.0.0", port=8000)

Endpoints:

* ``GET /health``: status, package version, problem count, suites, simulator version,
  and counters (requests, items, batches).
* ``POST /reward``: OpenRLHF's remote reward contract (``--remote_rm_url``). Body
  ``{"query": [str], "prompts": [str], "labels": [str]}``; ``query[i]`` is the decoded
  prompt + response, ``labels[i]`` a problem id, golden Verilog or JSON object (see
  :mod:`verilog_env.labels`). Reply ``{"rewards": [float], "scores": [float],
  "extra_logs": {name: [float]}}``, one entry per item; ``scores`` are the rewards
  clipped to [0, 1]. A label that names nothing gives that item reward 0 (and
  ``extra_logs["label_error"] = 1``), never a failed request.
* ``POST /score``: the native form. ``{"items": [{"response": str, "problem_id": str} |
  {"response": str, "golden": str, "top": str | null}], "config": {RewardConfig
  overrides}}`` -> ``{"results": [Score.info(), ...]}``.
* ``GET /problems``: ``[{"id": ..., "tags": [...]}]`` (no goldens).

Every error is ``{"error": {"code": "<snake_case>", "message": "<one line>"}}``.

Scoring happens off the event loop, in :func:`verilog_env.reward.score_many` (the
checker's process pool, every core). Trainers often send one sample per request
(OpenRLHF 0.11.2 does), so requests are *micro-batched*: items arriving within
``batch_window`` seconds of each other (or until ``batch_items`` are waiting) form one
batch, whose items of each problem are scored by one ``score_many`` call (the checker
then simulates up to 8 candidates of a golden in one run: the rollouts of one prompt
arrive together), and each request gets its own results back. At most
``max_concurrency`` batches are scored at once; while all slots are busy, arriving
requests keep joining the next batch, so batches grow with load. A request waits at
most ``request_timeout`` seconds in all (504 after that).

Limits on clients (:class:`ServerConfig`, enforced by :func:`guarded_protocol`): a
connection must deliver each request head within ``header_timeout`` seconds (else it is
closed; uvicorn alone has no such limit) and each body within ``body_timeout`` of its head
(else 408 and the connection is closed; a body still arriving after an early answer, such
as a 404 or 413, is cut off at the same deadline); at most ``max_connections`` are open at
once (one beyond is closed); idle keep-alive connections close after 5 s (uvicorn's
default); a head still incomplete after 16 KiB gets 400 (h11's limit), a body beyond
``max_request_bytes`` 413. They bound what slow or flooding clients can hold on a trusted
(cluster) network; anything reachable from elsewhere belongs behind a reverse proxy
(nginx, with TLS, authentication and per-client rate limits).

This module imports FastAPI only inside :func:`create_app` and :func:`serve`, so
``import verilog_env`` never needs the server extra.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations
# (``request: Request``, imported lazily inside create_app) as objects.

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .env import CheckSettings
from .equiv.check import DEFAULT_CYCLES, DEFAULT_TIMEOUT
from .labels import LabelError, ProblemIndex, response_of
from .problems import Problem
from .reward import RewardConfig, Score, parse_response, score_many
from .sim.icarus import SimulatorNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

log = logging.getLogger("verilog_env.server")

SERVE_EXTRA_HINT = "verilog-env serve needs the server extra: pip install 'verilog-env[serve]'"
_OFFLOAD_JSON_BYTES = 1 << 20
"""Bodies larger than this are decoded in a thread, not on the event loop."""
_BODY_GRACE = 1.0
"""Seconds past a body's deadline the connection stays open for the endpoint's own 408."""


@dataclasses.dataclass
class ServerConfig:
    """Settings of the reward service.

    suites: names (or ``.jsonl``/``.parquet`` paths) of the problem suites whose ids
        labels may name; the first suite wins when two share an id.
    reward: how a verdict becomes a reward (format rule, penalty, partial credit); the
        ``/score`` endpoint may override it per request.
    seed: stimulus seed of every check (same seed, same verdict); ``None``: a fresh seed
        for every scoring call (each micro-batch), so no answer tuned to one stimulus keeps
        earning (``verilog-env serve --seed random``).
    cycles: clock cycles simulated per check.
    check_timeout: seconds allowed to each compile and each simulation of a check.
    method: ``"sim"`` (seeded random simulation), ``"both"`` (simulation, then a formal
        check of what it passes) or ``"formal"``; see :class:`verilog_env.CheckSettings`.
    formal_budget: seconds of formal effort per check (``None``: the default).
    formal_fallback: with ``method="both"``, ``"reject"`` (default) or ``"simulation"``;
        see :class:`verilog_env.CheckSettings`.
    request_timeout: seconds a request may take in all, waiting in the queue included;
        past it the request gets 504 (its checks still finish in the background).
    max_batch: most items one request may carry (413 beyond it).
    max_request_bytes: largest request body accepted (413 beyond it, before parsing).
    max_concurrency: batches scored at once; further requests wait in a queue.
    batch_window: seconds a micro-batch stays open for more requests after its first
        item arrives (requests arriving meanwhile are scored together).
    batch_items: a micro-batch is closed early once it holds this many items; a single
        larger request is scored as one batch of its own.
    warmup: check one problem at start-up, so the worker pool is forked before the
        first request (and a missing simulator shows in the log at once).
    header_timeout: seconds a connection has to deliver a complete request head, from
        its start or from the end of its previous response; past it the connection is
        closed (a client that sends headers slowly, or nothing, cannot hold it open).
    body_timeout: seconds a request has to deliver its whole body, from the end of its
        head: 408 and the connection closed after that (a body still arriving after an
        early answer, such as a 404 or 413, is cut off at the same deadline).
    max_connections: open connections at most; one beyond it is closed at once. The
        default stays well below the usual limit of 1024 open files per process, and
        bounds the bodies held in memory at once (each up to ``max_request_bytes``).

    These bound what a slow or flooding client can hold on a trusted network (a
    cluster's). A service reachable from anywhere else belongs behind a reverse proxy
    (nginx, with TLS, authentication and per-client limits).
    """

    suites: list[str] = dataclasses.field(default_factory=lambda: ["starter"])
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    seed: int | None = 0
    cycles: int = DEFAULT_CYCLES
    check_timeout: float = DEFAULT_TIMEOUT
    method: str = "sim"
    formal_budget: float | None = None
    formal_fallback: str = "reject"
    request_timeout: float = 120.0
    max_batch: int = 4096
    max_request_bytes: int = 64 << 20
    max_concurrency: int = 4
    batch_window: float = 0.005
    batch_items: int = 256
    warmup: bool = True
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.suites, str):
            self.suites = [self.suites]
        if not self.suites:
            raise ValueError("ServerConfig.suites must name at least one suite")
        for name in ("cycles", "max_batch", "max_request_bytes", "max_concurrency", "batch_items", "max_connections"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ServerConfig.{name} must be at least 1")
        for name in ("check_timeout", "request_timeout"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"ServerConfig.{name} must be positive")
        for name in ("header_timeout", "body_timeout"):  # infinite would switch the guard off
            if not 0 < float(getattr(self, name)) < math.inf:
                raise ValueError(f"ServerConfig.{name} must be a positive, finite number of seconds")
        if float(self.batch_window) < 0:
            raise ValueError("ServerConfig.batch_window must not be negative")
        _ = self.check  # CheckSettings validates method and formal_budget

    @property
    def check(self) -> CheckSettings:
        """The checker settings every score uses."""
        return CheckSettings(
            self.seed, self.cycles, self.check_timeout, self.method, self.formal_budget, self.formal_fallback
        )


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _one_line(text: Any, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _dumps(content: Any) -> bytes:
    """JSON bytes that are always valid: ASCII (lone surrogates escaped), no NaN."""
    try:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:  # NaN/inf somewhere: make it null
        return json.dumps(_finite(content), ensure_ascii=True, separators=(",", ":")).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_response(content: Any, status: int = 200):
    from starlette.responses import Response

    return Response(_dumps(content), status_code=status, media_type="application/json")


def _error_response(status: int, code: str, message: str):
    response = _json_response({"error": {"code": code, "message": _one_line(message)}}, status)
    if status == 408:  # the request was given up on: end its connection too (RFC 9110, 15.5.9)
        response.headers["connection"] = "close"
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


# ------------------------------------------------------------------------ batching


@dataclasses.dataclass
class _Job:
    """One request's items, waiting to be scored."""

    items: list[tuple[Problem, str]]
    config: RewardConfig
    future: asyncio.Future
    arrived: float


@dataclasses.dataclass
class Stats:
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


class MicroBatcher:
    """Merges concurrent requests into few :func:`score_many` calls.

    :meth:`submit` queues a request's items; a dispatcher task closes a batch
    ``window`` seconds after its first item arrived (or once ``max_items`` wait), takes
    one of ``concurrency`` slots (waiting, and gathering more requests, while all are
    busy), and scores it. Within a batch, the items of one problem (same golden, same
    reward config) from all requests go to one ``score_many`` call, where candidates
    of a golden share simulator runs; calls for different problems run concurrently
    on the checker's pool, so a problem whose check hangs until the timeout holds up
    only its own requests, and each request is answered as soon as its items are done.
    """

    def __init__(self, config: ServerConfig, stats: Stats):
        self._config = config
        self._stats = stats
        self._window = float(config.batch_window)
        self._max_items = int(config.batch_items)
        self._slots = asyncio.Semaphore(config.max_concurrency)
        # Threads mostly wait on the checker pool; one per (batch, golden) group in flight.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(64, 16 * config.max_concurrency), thread_name_prefix="verilog-env-score"
        )
        self._pending: list[_Job] = []
        self._arrival = asyncio.Event()
        self._running: set[asyncio.Task] = set()
        self._dispatcher: asyncio.Task | None = None

    def start(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch_forever())

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            try:
                await self._dispatcher
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._dispatcher = None
        for task in list(self._running):
            task.cancel()
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(ApiError(503, "shutting_down", "the server is shutting down"))
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, items: list[tuple[Problem, str]], config: RewardConfig) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        job = _Job(items, config, loop.create_future(), loop.time())
        if not items:
            job.future.set_result([])
            return job.future
        self.start()
        self._pending.append(job)
        self._arrival.set()
        return job.future

    def _prune(self) -> int:
        """Drop jobs whose requests gave up; return the items still waiting."""
        self._pending = [job for job in self._pending if not job.future.done()]
        return sum(len(job.items) for job in self._pending)

    def _take(self) -> list[_Job]:
        self._prune()
        batch, count = [], 0
        while self._pending and (not batch or count + len(self._pending[0].items) <= self._max_items):
            job = self._pending.pop(0)
            batch.append(job)
            count += len(job.items)
        return batch

    async def _dispatch_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                while not self._prune():
                    self._arrival.clear()
                    await self._arrival.wait()
                deadline = self._pending[0].arrived + self._window
                while self._prune() < self._max_items:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    self._arrival.clear()
                    try:
                        await asyncio.wait_for(self._arrival.wait(), left)
                    except asyncio.TimeoutError:
                        break
                await self._slots.acquire()
                batch = self._take()
                if not batch:
                    self._slots.release()
                    continue
                task = loop.create_task(self._score(batch))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any bug
                log.exception("micro-batch dispatcher failed; continuing")
                await asyncio.sleep(0.01)

    async def _score(self, batch: list[_Job]) -> None:
        """Score ``batch``, one :func:`score_many` call per (reward config, golden)
        group, the groups concurrently; a request is answered as soon as every group
        holding one of its items is done."""
        try:
            size = sum(len(job.items) for job in batch)
            self._stats.batches += 1
            self._stats.items += size
            self._stats.largest_batch = max(self._stats.largest_batch, size)
            groups: dict[tuple, list[tuple[int, int]]] = {}
            for j, job in enumerate(batch):
                for k, (problem, _) in enumerate(job.items):
                    key = (job.config, problem.golden, problem.top)
                    groups.setdefault(key, []).append((j, k))
            results: list[list[Score | None]] = [[None] * len(job.items) for job in batch]
            missing = [len(job.items) for job in batch]
            loop = asyncio.get_running_loop()

            async def run(key: tuple, where: list[tuple[int, int]]) -> None:
                items = [batch[j].items[k] for j, k in where]
                self._stats.score_many_calls += 1
                try:
                    scores = await loop.run_in_executor(self._executor, self._score_blocking, items, key[0])
                except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                    error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                    for j in {j for j, _ in where}:
                        if not batch[j].future.done():
                            batch[j].future.set_exception(error)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    return
                for (j, k), score in zip(where, scores):
                    results[j][k] = score
                    missing[j] -= 1
                    if missing[j] == 0 and not batch[j].future.done():
                        batch[j].future.set_result(results[j])

            await asyncio.gather(*(run(key, where) for key, where in groups.items()))
        finally:
            self._slots.release()

    def _score_blocking(self, items: list[tuple[Problem, str]], config: RewardConfig) -> list[Score]:
        return score_many(items, config, **self._config.check.kwargs())


# ------------------------------------------------------------------------- request parsing


async def _read_json(request, limit: int, seconds: float) -> Any:
    """The request's JSON body; 413 past ``limit`` bytes (header or actual), 408 when it
    takes more than ``seconds`` to arrive, 400 if not JSON."""
    try:
        body = await asyncio.wait_for(_read_body(request, limit), seconds)
    except asyncio.TimeoutError:  # a class of its own before Python 3.11
        raise ApiError(408, "request_timeout", f"the request body did not arrive within {seconds:g} s") from None
    if not body.strip():
        raise ApiError(400, "invalid_json", "request body is empty; send a JSON object")
    try:
        if len(body) > _OFFLOAD_JSON_BYTES:
            return await asyncio.to_thread(json.loads, body)
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


async def _read_body(request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if declared > limit:
            raise ApiError(413, "request_too_large", f"request body of {declared} bytes exceeds the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request_too_large", f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _list_of(data: Mapping[str, Any], key: str, *, kind: type | None, required: bool, nullable: bool = False):
    if key not in data or data[key] is None:
        if required:
            raise ApiError(422, "invalid_request", f"field {key!r} is required (a list)")
        return None
    value = data[key]
    if not isinstance(value, list):
        raise ApiError(422, "invalid_request", f"field {key!r} must be a list, got {type(value).__name__}")
    if kind is not None:
        for i, v in enumerate(value):
            if not (isinstance(v, kind) or (nullable and v is None)):
                raise ApiError(
                    422, "invalid_request", f"{key}[{i}] must be {kind.__name__}, got {type(v).__name__}"
                )
    return value


_CONFIG_FIELDS = {"require_format": bool, "format_penalty": float, "partial_credit": bool, "think_prefilled": bool}


def _reward_config(base: RewardConfig, override: Any) -> RewardConfig:
    if override is None:
        return base
    if not isinstance(override, dict):
        raise ApiError(422, "invalid_request", "'config' must be an object of RewardConfig fields")
    unknown = sorted(set(override) - set(_CONFIG_FIELDS))
    if unknown:
        raise ApiError(
            422, "invalid_request", f"unknown config field(s) {unknown}; allowed: {sorted(_CONFIG_FIELDS)}"
        )
    changes: dict[str, Any] = {}
    for key, value in override.items():
        if _CONFIG_FIELDS[key] is bool:
            if not isinstance(value, bool):
                raise ApiError(422, "invalid_request", f"config.{key} must be true or false")
            changes[key] = value
        else:
            try:
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            except OverflowError:
                number = None
            if number is None or not math.isfinite(number):
                raise ApiError(422, "invalid_request", f"config.{key} must be a finite number")
            changes[key] = number
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as exc:  # RewardConfig's own validation: the reward's documented range
        raise ApiError(422, "invalid_request", str(exc).replace("RewardConfig.", "config.")) from None


def _label_error_info(response: Any, reason: str, config: RewardConfig) -> dict[str, Any]:
    parsed = parse_response(response, think_prefilled=config.think_prefilled)
    return {
        "reward": 0.0,
        "correct": False,
        "status": "label_error",
        "reason": _one_line(reason),
        "format_ok": parsed.format_ok,
        "verdict": None,
    }


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _reward_logs(score: Score | None, format_ok: bool) -> dict[str, float]:
    verdict = score.verdict if score is not None else None
    status = verdict.status.value if verdict is not None else ""
    seconds = float(verdict.timings.get("total", 0.0) or 0.0) if verdict is not None else 0.0
    return {
        "correct": _flag(score is not None and score.correct),
        "format_ok": _flag(format_ok),
        "compile_error": _flag(status == "compile_error"),
        "timeout": _flag(status == "timeout"),
        "check_seconds": seconds if math.isfinite(seconds) else 0.0,
        "label_error": _flag(score is None),
    }


# ---------------------------------------------------------------------------- the app


def create_app(config: ServerConfig | None = None) -> "FastAPI":
    """The FastAPI application serving ``config`` (see the module docs)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from . import __version__
    from .equiv import shutdown as shutdown_pool
    from .sim import icarus
    from .suites import load_suite

    config = config or ServerConfig()
    suites = [load_suite(name) for name in config.suites]
    index = ProblemIndex(suites)
    listing: list[dict[str, Any]] = []
    seen: set[str] = set()
    for suite in suites:
        for problem in suite:
            if problem.id not in seen:
                seen.add(problem.id)
                listing.append({"id": problem.id, "tags": list(problem.tags)})
    try:
        simulator: str | None = icarus.version()
    except (SimulatorNotFoundError, OSError, Exception) as exc:  # noqa: BLE001
        log.error("simulator unavailable: %s", exc)
        simulator = None
    stats = Stats()
    state: dict[str, MicroBatcher] = {}

    @asynccontextmanager
    async def lifespan(app):
        batcher = MicroBatcher(config, stats)
        state["batcher"] = batcher
        batcher.start()
        if config.warmup and simulator is not None and listing:
            first = index.get(listing[0]["id"])
            try:  # fork the worker pool now, before serving (and prove the checker works)
                await asyncio.to_thread(
                    score_many,
                    [(first, f"<think></think><answer>```verilog\n{first.golden}\n```</answer>")],
                    config.reward,
                    **config.check.kwargs(),
                )
            except Exception:  # noqa: BLE001
                log.exception("warm-up check failed")
        try:
            yield
        finally:
            await batcher.close()
            await asyncio.to_thread(shutdown_pool)

    app = FastAPI(
        title="verilog-env reward service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = config
    app.state.index = index
    app.state.stats = stats

    # -- errors: one shape everywhere ----------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return _error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "server_error" if exc.status_code >= 500 else "http_error")
        return _error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal_error(request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return _error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    # -- helpers --------------------------------------------------------------------

    async def score_items(items: list[tuple[Problem, str]], reward_config: RewardConfig, started: float) -> list[Score]:
        if not items:
            return []
        if simulator is None:
            raise ApiError(503, "simulator_unavailable", icarus.INSTALL_HINT)
        future = state["batcher"].submit(items, reward_config)
        left = config.request_timeout - (time.monotonic() - started)
        try:
            return await asyncio.wait_for(future, max(left, 0.001))
        except asyncio.TimeoutError:
            stats.timeouts += 1
            raise ApiError(
                504, "timeout", f"scoring did not finish within the {config.request_timeout:g} s request timeout"
            ) from None
        except ApiError:
            raise
        except SimulatorNotFoundError as exc:
            stats.errors += 1
            raise ApiError(503, "simulator_unavailable", str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a scoring failure fails this request only
            stats.errors += 1
            log.exception("scoring failed")
            raise ApiError(500, "internal_error", f"scoring failed: {type(exc).__name__}: {exc}") from None

    def check_batch_size(n: int) -> None:
        if n > config.max_batch:
            raise ApiError(413, "batch_too_large", f"{n} items exceed the limit of {config.max_batch} per request")

    # -- endpoints ------------------------------------------------------------------

    @app.get("/health")
    async def health():
        return _json_response(
            {
                "status": "ok" if simulator is not None else "degraded",
                "version": __version__,
                "problems": len(index),
                "suites": list(config.suites),
                "simulator": simulator,
                "stats": stats.to_dict(),
            }
        )

    @app.get("/problems")
    async def problems():
        return _json_response(listing)

    @app.post("/reward")
    async def reward(request: Request):
        started = time.monotonic()
        stats.requests += 1
        data = await _read_json(request, config.max_request_bytes, config.body_timeout)
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_request", "body must be a JSON object with 'query', 'prompts', 'labels'")
        queries = _list_of(data, "query", kind=str, required=True)
        prompts = _list_of(data, "prompts", kind=str, required=False, nullable=True)
        labels = _list_of(data, "labels", kind=None, required=True)
        n = len(queries)
        for key, value in (("prompts", prompts), ("labels", labels)):
            if value is not None and len(value) != n:
                raise ApiError(
                    422, "invalid_request", f"'{key}' has {len(value)} entries but 'query' has {n}; they must match"
                )
        check_batch_size(n)
        responses = [response_of(q, prompts[i] if prompts else None) for i, q in enumerate(queries)]
        items: list[tuple[Problem, str]] = []
        where: list[int] = []
        for i, label in enumerate(labels):
            try:
                problem = index.resolve(label)
            except (LabelError, ValueError, TypeError):
                continue
            items.append((problem, responses[i]))
            where.append(i)
        scores: list[Score | None] = [None] * n
        for i, score in zip(where, await score_items(items, config.reward, started)):
            scores[i] = score
        rewards, clipped = [], []
        logs: dict[str, list[float]] = {}
        for i, score in enumerate(scores):
            if score is None:
                value = 0.0
                format_ok = parse_response(responses[i], think_prefilled=config.reward.think_prefilled).format_ok
            else:
                value = float(score.reward)
                format_ok = score.parsed.format_ok
            rewards.append(value)
            clipped.append(min(1.0, max(0.0, value)))
            for key, v in _reward_logs(score, format_ok).items():
                logs.setdefault(key, []).append(v)
        if not logs:
            logs = {k: [] for k in ("correct", "format_ok", "compile_error", "timeout", "check_seconds", "label_error")}
        return _json_response({"rewards": rewards, "scores": clipped, "extra_logs": logs})

    @app.post("/score")
    async def score(request: Request):
        started = time.monotonic()
        stats.requests += 1
        data = await _read_json(request, config.max_request_bytes, config.body_timeout)
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_request", "body must be a JSON object with 'items'")
        unknown = sorted(set(data) - {"items", "config"})
        if unknown:
            raise ApiError(422, "invalid_request", f"unknown field(s) {unknown}; expected 'items' and 'config'")
        raw = _list_of(data, "items", kind=dict, required=True)
        check_batch_size(len(raw))
        reward_config = _reward_config(config.reward, data.get("config"))
        items: list[tuple[Problem, str]] = []
        where: list[int] = []
        results: list[dict[str, Any] | None] = [None] * len(raw)
        for i, item in enumerate(raw):
            response = item.get("response")
            if not isinstance(response, str):
                raise ApiError(422, "invalid_request", f"items[{i}].response must be a string")
            extra = sorted(set(item) - {"response", "problem_id", "golden", "top"})
            if extra:
                raise ApiError(422, "invalid_request", f"items[{i}] has unknown field(s) {extra}")
            if item.get("problem_id") is not None:
                if not isinstance(item["problem_id"], str):
                    raise ApiError(422, "invalid_request", f"items[{i}].problem_id must be a string")
                problem = index.get(item["problem_id"])
                if problem is None:
                    reason = f"unknown problem id {item['problem_id'][:80]!r} ({len(index)} problems loaded)"
                    results[i] = _label_error_info(response, reason, reward_config)
                    continue
            elif item.get("golden") is not None:
                if not isinstance(item["golden"], str):
                    raise ApiError(422, "invalid_request", f"items[{i}].golden must be a string")
                if item.get("top") is not None and not isinstance(item["top"], str):
                    raise ApiError(422, "invalid_request", f"items[{i}].top must be a string or null")
                try:
                    problem = index.resolve({"golden": item["golden"], "top": item.get("top")})
                except (LabelError, ValueError, TypeError) as exc:
                    results[i] = _label_error_info(response, str(exc), reward_config)
                    continue
            else:
                raise ApiError(422, "invalid_request", f"items[{i}] needs 'problem_id' or 'golden'")
            items.append((problem, response))
            where.append(i)
        for i, s in zip(where, await score_items(items, reward_config, started)):
            results[i] = s.info()
        return _json_response({"results": results})

    return app


def serve(
    config: ServerConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Run the reward service with uvicorn until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    config = config or ServerConfig()
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
        http=guarded_protocol(config),
    )


def guarded_protocol(config: ServerConfig) -> type:
    """uvicorn's h11 protocol with the limits uvicorn lacks (it has no request-head or body
    timeout, and its ``limit_concurrency`` answers 503 only once a request head arrived).

    Every moment a connection waits on its client has a deadline, after which the
    connection is closed; trickled bytes never extend one:

    * a request head: ``config.header_timeout`` seconds from the connection's start, or
      from the end of its previous response, until the head is complete;
    * a request body: ``config.body_timeout`` seconds from the end of its head. The
      endpoints that read a body answer 408 at that deadline themselves (see
      :func:`_read_json`), so the protocol closes the connection ``_BODY_GRACE`` seconds
      later only if no answer went out; a body still arriving after its answer (a 404,
      413 or 408 sent before the body ended; uvicorn keeps reading, and discards, the
      rest) is cut off at the deadline itself.

    At most ``config.max_connections`` connections are open: one beyond is closed at once.
    :func:`serve` installs it; to run :func:`create_app` under uvicorn yourself, pass
    ``http=guarded_protocol(config)``.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _phase: str | None = None  # what the timer waits for: "head", "body", "drain" or nothing
        _body_deadline: float = 0.0

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > config.max_connections:
                log.warning("closing a connection beyond the %d-connection limit", config.max_connections)
                transport.close()
                return
            self._watch()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _watch(self) -> None:
            """Hold the deadline of what the connection waits for now (h11's view of the
            client: a head while idle, a body while sending one); it is set once per wait."""
            if self.transport.is_closing():
                phase = None
            elif self.conn.their_state is h11.IDLE:
                phase = "head"
            elif self.conn.their_state is h11.SEND_BODY:
                phase = "drain" if self.conn.our_state in (h11.DONE, h11.MUST_CLOSE) else "body"
            else:  # the request is in; the app has it
                phase = None
            if phase == self._phase:
                return
            if phase in ("body", "drain") and self._phase not in ("body", "drain"):
                self._body_deadline = self.loop.time() + config.body_timeout
            self._stop_timer()
            self._phase = phase
            if phase == "head":
                when = self.loop.time() + config.header_timeout
                self._timer = self.loop.call_at(when, self._too_slow, "request head", config.header_timeout)
            elif phase is not None:
                when = self._body_deadline + (_BODY_GRACE if phase == "body" else 0.0)
                self._timer = self.loop.call_at(when, self._too_slow, "request body", config.body_timeout)

        def _stop_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self, what: str, seconds: float) -> None:
            self._timer = None
            self._phase = None
            if not self.transport.is_closing():
                log.info("closing a connection: no complete %s within %g s", what, seconds)
                self.transport.close()

    return GuardedH11Protocol
