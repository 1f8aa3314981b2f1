"""The reward service's limits on hostile clients (issue 13, class 7), on a real server.

``verilog-env serve`` runs in a subprocess with short limits; the tests speak raw HTTP
over loopback sockets, as a slow or flooding client would, and check that the server
closes what it must, within its limits, and keeps serving everyone else. One test runs
the connection guard (:func:`verilog_env.server.guarded_protocol`) under uvicorn with an
app that never answers, to show the guard needs no help from the app. Reward options are
validated wherever they enter: a request's ``config``, the command line, Python.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from verilog_env.reward import RewardConfig  # noqa: E402

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS = 24
SLACK = 2.0  # a shared 2-core machine: timers fire late, never early


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("guarded") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "verilog_env.cli", "serve", "--port", str(port),
             "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
             "--max-connections", str(MAX_CONNECTIONS), "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    yield port, url
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(0.2)
    return sock


def watch(sock: socket.socket, start: float, seconds: float, trickle: bytes = b"") -> tuple[float | None, bytes]:
    """Read ``sock`` until the server closes it (EOF or a reset), sending one byte of
    ``trickle`` every 0.3 s meanwhile. Returns the seconds from ``start`` to the close
    (``None``: still open ``seconds`` after ``start``) and what the server sent."""
    received = b""
    position = 0
    while time.monotonic() - start < seconds:
        if position < len(trickle):
            try:
                sock.sendall(trickle[position : position + 1])
            except OSError:
                return time.monotonic() - start, received
            position += 1
        try:
            data = sock.recv(65536)
        except socket.timeout:
            time.sleep(0.1)
            continue
        except OSError:
            return time.monotonic() - start, received
        if data == b"":
            return time.monotonic() - start, received
        received += data
    return None, received


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(0.2)


def healthy(url: str) -> bool:
    return httpx.get(url + "/health", timeout=5).status_code == 200


# ----------------------------------------------------------------- request heads

SLOW_HEADS = {  # (sent at once, then trickled a byte every 0.3 s)
    "sends_nothing": (b"", b""),
    "stalls_after_the_request_line": (b"POST /reward HTTP/1.1\r\n", b""),
    "stalls_inside_the_headers": (b"POST /reward HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Pad: ", b""),
    "trickles_a_header_forever": (b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: " + b"a" * 10_000),
}


@pytest.mark.parametrize("head, trickle", [pytest.param(*h, id=k) for k, h in SLOW_HEADS.items()])
def test_a_slow_request_head_is_cut_off_while_others_are_served(server, head, trickle):
    port, url = server
    sock = connect(port)
    start = time.monotonic()
    try:
        if head:
            sock.sendall(head)
        assert healthy(url)  # while the slow head is pending
        seconds, received = watch(sock, start, HEADER_TIMEOUT + 4 * SLACK, trickle)
    finally:
        sock.close()
    assert seconds is not None, "the connection is still open"
    assert HEADER_TIMEOUT - 0.1 <= seconds <= HEADER_TIMEOUT + SLACK
    assert received == b""
    assert healthy(url)


def test_a_slow_head_after_a_request_on_the_same_connection_is_cut_off(server):
    """Keep-alive: after one answered request, the next head has the same deadline."""
    port, url = server
    sock = connect(port)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        answer = b""
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            try:
                answer += sock.recv(65536)
            except socket.timeout:
                pass
        assert answer.startswith(b"HTTP/1.1 200")
        next_head = b"GET /health HTTP/1.1\r\nX-Slow: " + b"b" * 100
        seconds, _ = watch(sock, time.monotonic(), HEADER_TIMEOUT + 4 * SLACK, next_head)
    finally:
        sock.close()
    assert seconds is not None and seconds <= HEADER_TIMEOUT + SLACK


# ------------------------------------------------------------------- connections


def test_a_connection_flood_is_refused_and_the_server_recovers(server):
    port, url = server
    start = time.monotonic()
    flood = [connect(port) for _ in range(MAX_CONNECTIONS + 20)]
    try:
        time.sleep(0.3)
        closed = sum(is_closed(sock) for sock in flood)
        # Well before any head timeout, those beyond the limit are closed, the rest open.
        assert time.monotonic() - start < HEADER_TIMEOUT - 0.2, "too slow to tell; the machine is overloaded"
        assert closed >= 20
        assert len(flood) - closed >= MAX_CONNECTIONS - 2  # a closing connection may still count
    finally:
        for sock in flood:
            sock.close()
    time.sleep(0.3)
    assert healthy(url)


# ------------------------------------------------------------------ request bodies


def slow_body_request(method: str, path: str, length: int) -> tuple[bytes, bytes]:
    """A request head declaring a ``length``-byte body, and the first bytes of that body."""
    body = json.dumps({"items": [{"response": "x" * 1000, "problem_id": "nope"}]}).encode()[:length]
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    return head, body


@pytest.mark.parametrize("sent", [0, 10, 900])
def test_a_slow_request_body_gets_408_and_its_connection_closed(server, sent):
    port, url = server
    head, body = slow_body_request("POST", "/score", 1100)
    sock = connect(port)
    try:
        sock.sendall(head + body[:sent])
        start = time.monotonic()
        assert healthy(url)  # while the body trickles
        seconds, received = watch(sock, start, BODY_TIMEOUT + 4 * SLACK, body[sent : sent + 40])
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b'"code":"request_timeout"' in received
    assert seconds is not None, "the connection is still open after its 408"
    assert BODY_TIMEOUT - 0.1 <= seconds <= BODY_TIMEOUT + SLACK
    assert healthy(url)


UNREAD_BODIES = {  # answered before the body ends: the rest must not hold the connection
    "unknown_path_404": ("POST", "/nope", 100_000, b"HTTP/1.1 404"),
    "get_with_a_body": ("GET", "/health", 100_000, b"HTTP/1.1 200"),
    "declared_too_large_413": ("POST", "/score", 10**12, b"HTTP/1.1 413"),
}


@pytest.mark.parametrize("method, path, length, status", [pytest.param(*v, id=k) for k, v in UNREAD_BODIES.items()])
def test_a_body_trickled_after_its_answer_is_cut_off(server, method, path, length, status):
    port, _ = server
    head, body = slow_body_request(method, path, length)
    sock = connect(port)
    try:
        sock.sendall(head)
        start = time.monotonic()
        seconds, received = watch(sock, start, BODY_TIMEOUT + 4 * SLACK, body[:60])
    finally:
        sock.close()
    assert received.startswith(status), received[:200]
    assert seconds is not None, "the connection is still open, its body still trickling"
    assert BODY_TIMEOUT - 0.1 <= seconds <= BODY_TIMEOUT + SLACK


def test_the_guard_cuts_off_a_body_the_app_neither_reads_nor_answers():
    """The protocol bounds a body by itself: here the app never reads it and never
    answers, so the connection is closed a grace period after the body's deadline."""
    from verilog_env.server import BODY_GRACE as _BODY_GRACE, ServerConfig, guarded_protocol

    async def stalled_app(scope, receive, send) -> None:
        await asyncio.sleep(3600)

    config = ServerConfig(header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT, warmup=False)
    server = uvicorn.Server(uvicorn.Config(stalled_app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="critical", http=guarded_protocol(config)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (server.started and server.servers) and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        head, body = slow_body_request("POST", "/score", 1100)
        sock = connect(port)
        try:
            sock.sendall(head + body[:10])
            start = time.monotonic()
            seconds, received = watch(sock, start, BODY_TIMEOUT + _BODY_GRACE + 4 * SLACK, body[10:60])
        finally:
            sock.close()
    finally:
        server.should_exit = server.force_exit = True
        thread.join(10)
    assert received == b""
    assert seconds is not None, "the connection is still open"
    assert BODY_TIMEOUT + _BODY_GRACE - 0.1 <= seconds <= BODY_TIMEOUT + _BODY_GRACE + SLACK


# ------------------------------------------------------------------ reward options

NO_TAGS = {"response": "no tags at all", "problem_id": "alu8"}

BAD_OPTIONS = [
    ({"format_penalty": -5}, "format_penalty"),
    ({"format_penalty": 1.5}, "format_penalty"),
    ({"format_penalty": -0.0001}, "format_penalty"),
    ({"format_penalty": "0.5"}, "format_penalty"),
    ({"format_penalty": "nan"}, "format_penalty"),
    ({"format_penalty": True}, "format_penalty"),
    ({"require_format": 1}, "require_format"),
    ({"partial_credit": "yes"}, "partial_credit"),
    ({"think_prefilled": None}, "think_prefilled"),
]


@pytest.mark.parametrize("options, field", BAD_OPTIONS)
def test_reward_options_outside_their_range_are_refused(server, options, field):
    _, url = server
    r = httpx.post(url + "/score", json={"items": [NO_TAGS], "config": options}, timeout=30)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error"}
    assert field in r.json()["error"]["message"]


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_penalties_in_raw_json_are_refused(server, literal):
    """Python's JSON reader turns these into inf or nan; none may reach a reward."""
    _, url = server
    body = ('{"items": [{"response": "no tags", "problem_id": "alu8"}], "config": {"format_penalty": %s}}' % literal)
    r = httpx.post(url + "/score", content=body.encode(), headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error"} and "format_penalty" in r.json()["error"]["message"]


def test_no_reward_option_pays_outside_the_documented_range(server):
    """Rewards lie in [-format_penalty, 1]: across every option above and the valid
    extremes, no answer of /score or /reward carries a reward outside it."""
    _, url = server
    responses = ["no tags at all", "<answer>```verilog\nmodule x; endmodule\n```</answer>", ""]
    items = [{"response": t, "problem_id": "alu8"} for t in responses]
    options = [o for o, _ in BAD_OPTIONS] + [{"format_penalty": 1.0, "require_format": False},
                                             {"format_penalty": 0.0, "partial_credit": True}]
    for config in options:
        r = httpx.post(url + "/score", json={"items": items, "config": config}, timeout=60)
        if r.status_code != 200:
            assert 400 <= r.status_code < 500 and set(r.json()) == {"error"}, r.text
            continue
        penalty = config.get("format_penalty", 0.0)
        rewards = [result["reward"] for result in r.json()["results"]]
        assert all(-penalty <= reward <= 1.0 for reward in rewards), (config, rewards)
        assert all(-1.0 <= reward <= 1.0 for reward in rewards), (config, rewards)
    r = httpx.post(url + "/reward", json={"query": responses, "prompts": [""] * 3, "labels": ["alu8"] * 3}, timeout=60)
    assert r.status_code == 200, r.text
    assert all(0.0 <= s <= 1.0 for s in r.json()["scores"])
    assert all(0.0 <= s <= 1.0 for s in r.json()["rewards"])  # this server's penalty is 0


@pytest.mark.parametrize("kwargs", [{"format_penalty": -5}, {"format_penalty": 2}, {"format_penalty": math.nan},
                                    {"format_penalty": math.inf}, {"format_penalty": "0.1"},
                                    {"require_format": "no"}, {"partial_credit": 1}])
def test_reward_config_validates_itself(kwargs):
    with pytest.raises(ValueError, match="RewardConfig"):
        RewardConfig(**kwargs)


def test_the_command_line_refuses_a_penalty_outside_its_range():
    done = subprocess.run([sys.executable, "-m", "verilog_env.cli", "serve", "--port", str(free_port()),
                           "--format-penalty", "-5"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "format_penalty must be a number in [0, 1]" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kwargs", [{"header_timeout": math.inf}, {"body_timeout": math.inf}, {"header_timeout": 0},
                                    {"body_timeout": math.nan}, {"max_connections": 0}])
def test_server_limits_cannot_be_switched_off(kwargs):
    from verilog_env.server import ServerConfig

    with pytest.raises(ValueError, match="ServerConfig"):
        ServerConfig(**kwargs)
