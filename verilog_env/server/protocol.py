"""The connection guard: uvicorn's h11 protocol with the limits uvicorn lacks.

Installed by :func:`verilog_env.server.serve`; imports uvicorn and h11 only inside
:func:`guarded_protocol`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .config import ServerConfig

log = logging.getLogger("verilog_env.server")

BODY_GRACE = 1.0
"""Seconds past a body's deadline the connection stays open for the endpoint's own 408."""


def guarded_protocol(config: ServerConfig) -> type:
    """uvicorn's h11 protocol with the limits uvicorn lacks (it has no request-head or body
    timeout, and its ``limit_concurrency`` answers 503 only once a request head arrived).

    Every moment a connection waits on its client has a deadline, after which the
    connection is closed; trickled bytes never extend one:

    * a request head: ``config.header_timeout`` seconds from the connection's start, or
      from the end of its previous response, until the head is complete;
    * a request body: ``config.body_timeout`` seconds from the end of its head. The
      endpoints that read a body answer 408 at that deadline themselves (see
      :func:`verilog_env.server.routes.read_json`), so the protocol closes the
      connection :data:`BODY_GRACE` seconds later only if no answer went out; a body still arriving after its answer (a 404,
      413 or 408 sent before the body ended; uvicorn keeps reading, and discards, the
      rest) is cut off at the deadline itself.

    At most ``config.max_connections`` connections are open: one beyond is closed at once.
    :func:`~verilog_env.server.serve` installs it; to run
    :func:`~verilog_env.server.create_app` under uvicorn yourself, pass
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
                when = self._body_deadline + (BODY_GRACE if phase == "body" else 0.0)
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
