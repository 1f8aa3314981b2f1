"""``ServerConfig``: the reward service's settings, validated when made.

Imports neither FastAPI nor pydantic: the command line builds one before it knows
whether the server extra is installed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

from ..equiv.settings import CheckSettings
from ..reward import RewardConfig

_SHORTHANDS = {
    "seed": "seed",
    "cycles": "cycles",
    "check_timeout": "timeout",
    "method": "method",
    "formal_budget": "formal_budget",
    "formal_fallback": "formal_fallback",
}
"""ServerConfig keywords that set a field of its ``check`` (ServerConfig name: CheckSettings name)."""


@dataclasses.dataclass
class ServerConfig:
    """Settings of the reward service.

    suites: names (or ``.jsonl``/``.parquet`` paths) of the problem suites whose ids
        labels may name; the first suite wins when two share an id.
    reward: how a verdict becomes a reward (format rule, penalty, partial credit); the
        ``/score`` endpoint may override it per request.
    check: the checker's settings (:class:`verilog_env.CheckSettings`: seed, cycles,
        timeout, method, formal budget and fallback, batch size, isolation), the same for
        every score. ``seed=None`` draws a fresh seed for every scoring call (each group
        of a micro-batch), so no answer tuned to one stimulus keeps earning
        (``verilog-env serve --seed random``); ``method="both"`` adds a formal check of
        what simulation passes.
    seed, cycles, check_timeout, method, formal_budget, formal_fallback: shorthands for
        the fields of ``check`` (``check_timeout`` is its ``timeout``): given, they
        replace that field of ``check``. Afterwards they are read-only views of
        ``check`` (``dataclasses.replace(config, check=...)`` changes the settings).
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
    check: CheckSettings = dataclasses.field(default_factory=CheckSettings)
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
        for name in ("max_batch", "max_request_bytes", "max_concurrency", "batch_items", "max_connections"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ServerConfig.{name} must be at least 1")
        if not float(self.request_timeout) > 0:
            raise ValueError("ServerConfig.request_timeout must be positive")
        for name in ("header_timeout", "body_timeout"):  # infinite would switch the guard off
            if not 0 < float(getattr(self, name)) < math.inf:
                raise ValueError(f"ServerConfig.{name} must be a positive, finite number of seconds")
        if not 0 <= float(self.batch_window) < math.inf:
            raise ValueError("ServerConfig.batch_window must be a finite number of seconds >= 0")
        if not isinstance(self.check, CheckSettings):
            raise ValueError(f"ServerConfig.check must be a CheckSettings, got {type(self.check).__name__}")


def _with_shorthands(generated: Any) -> Any:
    """The dataclass's ``__init__``, also taking the shorthands as keywords (they are not
    fields, so ``dataclasses.replace(config, check=...)`` never reapplies old ones)."""

    @functools.wraps(generated)
    def __init__(self: ServerConfig, *args: Any, **kwargs: Any) -> None:
        given = {_SHORTHANDS[name]: kwargs.pop(name) for name in list(kwargs) if name in _SHORTHANDS}
        generated(self, *args, **kwargs)
        if given:
            self.check = dataclasses.replace(self.check, **given)  # CheckSettings validates them

    return __init__


def _read_back(field: str) -> property:
    return property(lambda self: getattr(self.check, field), doc=f"``check.{field}`` (read-only).")


ServerConfig.__init__ = _with_shorthands(ServerConfig.__init__)  # type: ignore[method-assign]
for _name, _field in _SHORTHANDS.items():
    setattr(ServerConfig, _name, _read_back(_field))
