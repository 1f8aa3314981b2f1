"""A reward-service app under uvicorn on a loopback port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def running(app: Any, config: Any = None) -> Iterator[str]:
    """Serve ``app`` (with the connection guard of ``config`` when given) on 127.0.0.1
    and yield its base URL; stop it on leaving."""
    import uvicorn

    from verilog_env.server import guarded_protocol

    options = {"http": guarded_protocol(config)} if config is not None else {}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (server.started and server.servers):
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the reward service did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
