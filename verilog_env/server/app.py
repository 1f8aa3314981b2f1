"""``create_app`` wires the service together; ``serve`` runs it under uvicorn.

FastAPI, uvicorn and the route modules are imported inside the functions, so importing
:mod:`verilog_env.server` needs no server extra; calling them without it raises
:class:`~verilog_env.extras.MissingExtra` (``pip install 'verilog-env[serve]'``).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..extras import require_extra
from ..labels import ProblemIndex
from ..service import Batcher, RewardService, Stats
from .config import ServerConfig
from .protocol import guarded_protocol

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

log = logging.getLogger("verilog_env.server")


def _simulator_version() -> str | None:
    from ..sim import icarus

    try:
        return icarus.version()
    except Exception as exc:  # noqa: BLE001 - served as "degraded", scoring answers 503
        log.error("simulator unavailable: %s", exc)
        return None


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """While the app runs: its reward service (a fresh batcher), warmed up; closed after."""
    from ..checking import shutdown as shutdown_pool

    state = app.state
    config: ServerConfig = state.config
    batcher = Batcher(
        window=config.batch_window,
        max_items=config.batch_items,
        concurrency=config.max_concurrency,
        stats=state.stats,
    )
    state.service = RewardService(state.index, config.reward, config.check, batcher=batcher)
    if config.warmup and state.simulator is not None and state.listing:
        first = state.index.get(state.listing[0]["id"])
        response = f"<think></think><answer>```verilog\n{first.golden}\n```</answer>"
        try:  # fork the worker pool now, before serving (and prove the checker works)
            await asyncio.wrap_future(state.service.submit(state.service.prepare([response], [first])))
        except Exception:  # noqa: BLE001
            log.exception("warm-up check failed")
    try:
        yield
    finally:
        batcher.close()
        await asyncio.to_thread(shutdown_pool)


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI application serving ``config`` (see :mod:`verilog_env.server`): loads
    the suites, fills ``app.state`` and registers :mod:`.routes`' handlers."""
    FastAPI = require_extra("fastapi", "serve", "the reward service").FastAPI

    from .. import __version__
    from ..suites import load_suite
    from . import routes

    config = config or ServerConfig()
    suites = [load_suite(name) for name in config.suites]
    listing: list[dict[str, Any]] = []
    seen: set[str] = set()
    for suite in suites:
        for problem in suite:
            if problem.id not in seen:
                seen.add(problem.id)
                listing.append({"id": problem.id, "tags": list(problem.tags)})

    app = FastAPI(
        title="verilog-env reward service", version=__version__, lifespan=_lifespan, docs_url=None, redoc_url=None
    )
    app.state.config = config
    app.state.index = ProblemIndex(suites)
    app.state.listing = listing
    app.state.simulator = _simulator_version()
    app.state.stats = Stats()
    for method, path, handler in routes.ROUTES:
        app.add_api_route(path, handler, methods=[method])
    for error, handler in routes.ERROR_HANDLERS:
        app.add_exception_handler(error, handler)
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
    uvicorn = require_extra("uvicorn", "serve", "the reward service")

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
