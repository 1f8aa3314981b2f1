"""The endpoints and error handlers: module-level functions reading ``request.app.state``.

:func:`verilog_env.server.create_app` puts there: ``config`` (the
:class:`~verilog_env.server.ServerConfig`), ``index`` (the problems labels may name),
``listing`` (``/problems``'s answer), ``simulator`` (its version, ``None`` when missing),
``stats`` (:class:`~verilog_env.service.Stats`) and, while the app runs, ``service``
(the :class:`~verilog_env.service.RewardService` every score goes through). A handler
validates its body (:mod:`.schemas`), lets the service resolve labels and score, and
answers in the service's shapes; the service's micro-batcher runs in threads, awaited
here through ``asyncio.wrap_future``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..labels import response_of
from ..reward import Score
from ..service import Prepared, ServiceClosed, reward_reply
from ..sim import icarus
from ..sim.icarus import SimulatorNotFoundError
from .errors import HTTP_CODES, ApiError, error_response, json_response
from .schemas import RewardRequest, ScoreRequest, parse

log = logging.getLogger("verilog_env.server")

OFFLOAD_JSON_BYTES = 1 << 20
"""Bodies larger than this are decoded in a thread, not on the event loop."""


# ------------------------------------------------------------------------- endpoints


async def health(request: Request):
    state = request.app.state
    from .. import __version__

    return json_response(
        {
            "status": "ok" if state.simulator is not None else "degraded",
            "version": __version__,
            "problems": len(state.index),
            "suites": list(state.config.suites),
            "simulator": state.simulator,
            "stats": state.stats.to_dict(),
        }
    )


async def problems(request: Request):
    return json_response(request.app.state.listing)


async def reward(request: Request):
    """OpenRLHF's remote reward: ``{"query", "prompts", "labels"}`` in,
    ``{"rewards", "scores", "extra_logs"}`` out."""
    started = time.monotonic()
    state = request.app.state
    state.stats.requests += 1
    body = parse(RewardRequest, await read_json(request))
    _check_batch_size(request, len(body.query))
    prompts = body.prompts or [None] * len(body.query)
    responses = [response_of(query, prompt) for query, prompt in zip(body.query, prompts)]
    prepared = state.service.prepare(responses, body.labels)
    outcomes = prepared.complete(await _scores(request, prepared, started))
    return json_response(reward_reply(outcomes))


async def score(request: Request):
    """The native form: ``{"items": [...], "config": {...}}`` in, ``{"results": [...]}`` out."""
    started = time.monotonic()
    state = request.app.state
    state.stats.requests += 1
    body = parse(ScoreRequest, await read_json(request))
    _check_batch_size(request, len(body.items))
    config = body.config.apply(state.config.reward) if body.config is not None else state.config.reward
    prepared = state.service.prepare([item.response for item in body.items], [item.label() for item in body.items], config)
    outcomes = prepared.complete(await _scores(request, prepared, started))
    return json_response({"results": [outcome.info() for outcome in outcomes]})


ROUTES = (("GET", "/health", health), ("GET", "/problems", problems), ("POST", "/reward", reward), ("POST", "/score", score))


# ---------------------------------------------------------------------------- errors


async def api_error(request: Request, exc: ApiError):
    return error_response(exc.status, exc.code, exc.message)


async def validation_error(request: Request, exc: RequestValidationError):
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")


async def http_error(request: Request, exc: StarletteHTTPException):
    code = HTTP_CODES.get(exc.status_code, "server_error" if exc.status_code >= 500 else "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def internal_error(request: Request, exc: Exception):
    log.exception("unhandled error on %s", request.url.path)
    return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")


ERROR_HANDLERS = (
    (ApiError, api_error),
    (RequestValidationError, validation_error),
    (StarletteHTTPException, http_error),
    (Exception, internal_error),
)


# --------------------------------------------------------------------------- helpers


def _check_batch_size(request: Request, n: int) -> None:
    limit = request.app.state.config.max_batch
    if n > limit:
        raise ApiError(413, "batch_too_large", f"{n} items exceed the limit of {limit} per request")


async def _scores(request: Request, prepared: Prepared, started: float) -> list[Score]:
    """The scores of ``prepared``'s items from the service's batcher, within what is left
    of the request timeout (504 after it; the checks still finish in the background)."""
    if not prepared.items:
        return []
    state = request.app.state
    if state.simulator is None:
        raise ApiError(503, "simulator_unavailable", icarus.INSTALL_HINT)
    timeout = state.config.request_timeout
    future = state.service.submit(prepared)
    try:
        left = timeout - (time.monotonic() - started)
        return await asyncio.wait_for(asyncio.wrap_future(future), max(left, 0.001))
    except asyncio.TimeoutError:  # cancels the future: its answers leave the queue
        state.stats.timeouts += 1
        raise ApiError(504, "timeout", f"scoring did not finish within the {timeout:g} s request timeout") from None
    except ServiceClosed:
        raise ApiError(503, "shutting_down", "the server is shutting down") from None
    except SimulatorNotFoundError as exc:
        state.stats.errors += 1
        raise ApiError(503, "simulator_unavailable", str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a scoring failure fails this request only
        state.stats.errors += 1
        log.exception("scoring failed")
        raise ApiError(500, "internal_error", f"scoring failed: {type(exc).__name__}: {exc}") from None


async def read_json(request: Request) -> Any:
    """The request's JSON body; 413 past ``max_request_bytes`` (declared or actual), 408
    when it takes more than ``body_timeout`` seconds to arrive, 400 if not JSON."""
    config = request.app.state.config
    seconds = config.body_timeout
    try:
        body = await asyncio.wait_for(_read_body(request, config.max_request_bytes), seconds)
    except asyncio.TimeoutError:  # a class of its own before Python 3.11
        raise ApiError(408, "request_timeout", f"the request body did not arrive within {seconds:g} s") from None
    if not body.strip():
        raise ApiError(400, "invalid_json", "request body is empty; send a JSON object")
    try:
        if len(body) > OFFLOAD_JSON_BYTES:
            return await asyncio.to_thread(json.loads, body)
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


async def _read_body(request: Request, limit: int) -> bytes:
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
