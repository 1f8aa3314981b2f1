"""An HTTP reward service: score LLM-written Verilog for remote RL trainers.

Run it with ``verilog-env serve`` (needs the ``[serve]`` extra: fastapi, uvicorn) or::

    from verilog_env.server import ServerConfig, serve
    serve(ServerConfig(suites=["starter"]), host="0.0.0.0", port=8000)

Endpoints:

* ``GET /health``: status, package version, problem count, suites, simulator version,
  and counters (requests, items, batches).
* ``POST /reward``: OpenRLHF's remote reward contract (``--remote_rm_url``). Body
  ``{"query": [str], "prompts": [str | null] | null, "labels": [...]}``; ``query[i]`` is
  the decoded prompt + response, ``labels[i]`` a problem id, golden Verilog or JSON
  object (see :mod:`verilog_env.labels`). Reply ``{"rewards": [float], "scores":
  [float], "extra_logs": {name: [float]}}``, one entry per item; ``scores`` are the
  rewards clipped to [0, 1]; ``extra_logs`` has every key of
  :data:`verilog_env.service.LOG_KEYS`, the same keys the OpenRLHF reward file logs. A
  label that names nothing gives that item reward 0 (and ``extra_logs["label_error"] =
  1``), never a failed request.
* ``POST /score``: the native form. ``{"items": [{"response": str, "problem_id": str} |
  {"response": str, "golden": str, "top": str | null}], "config": {RewardConfig
  overrides}}`` -> ``{"results": [Score.info(), ...]}``.
* ``GET /problems``: ``[{"id": ..., "tags": [...]}]`` (no goldens).

Request bodies are validated by the strict pydantic models of :mod:`.schemas` (unknown
fields refused). Every error is ``{"error": {"code": "<snake_case>", "message": "<one
line>"}}``.

Scoring goes through :class:`verilog_env.service.RewardService`, the core the OpenRLHF
plugins and :mod:`verilog_env.integrations` use too, off the event loop, with
:attr:`ServerConfig.check` (one :class:`verilog_env.CheckSettings`: seed, method, ...)
for every score. Trainers often send one sample per request (OpenRLHF 0.11.2 does), so
requests are *micro-batched* by its :class:`~verilog_env.service.Batcher`: items
arriving within ``batch_window`` seconds of each other (or until ``batch_items`` are
waiting) form one batch, whose items of each problem are scored by one ``score_many``
call (the checker then simulates up to 8 candidates of a golden in one run: the rollouts
of one prompt arrive together), and each request gets its own results back. At most
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

The package's modules: :mod:`.config` (:class:`ServerConfig`), :mod:`.schemas`
(request and response models), :mod:`.routes` (the endpoints and error handlers,
reading ``request.app.state``), :mod:`.app` (:func:`create_app` wires them; :func:`serve`),
:mod:`.protocol` (:func:`guarded_protocol`), :mod:`.errors` (the error shape). Importing
this package imports neither FastAPI nor pydantic (only :func:`create_app`,
:func:`serve` and :func:`guarded_protocol` do, when called), and ``import verilog_env``
does not import it.
"""
from .app import create_app, serve
from .config import ServerConfig
from .protocol import BODY_GRACE, guarded_protocol

__all__ = ["BODY_GRACE", "ServerConfig", "create_app", "guarded_protocol", "serve"]
