"""The reward service's limits on hostile clients (issue 13, class 7), on a real server.

``verilog-env serve`` runs in a subprocess with short limits; the tests speak raw HTTP
over loopback sockets, as a slow or flooding client would, and check that the server
closes what it must, within its limits, and keeps serving everyone else. Reward options
are validated wherever they enter: a request's ``config``, the command line, Python.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from verilog_env.reward import RewardConfig  # noqa: E402

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS = 24
SLACK = 2.0


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


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"", every: float = 0.3) -> float | None:
    """Seconds until the server closed ``sock`` (reading EOF or a reset), sending a byte of
    ``trickle`` every ``every`` s meanwhile; None if it is still open after ``seconds``."""
    start = time.monotonic()
    position = 0
    while time.monotonic() - start < seconds:
        if position < len(trickle):
            try:
                sock.sendall(trickle[position : position + 1])
            except OSError:
                return time.monotonic() - start
            position += 1
        try:
            data = sock.recv(65536)
        except socket.timeout:
            time.sleep(max(0.0, every - 0.2))
            continue
        except OSError:
            return time.monotonic() - start
        if data == b"" or data.startswith(b"HTTP/1.1 408"):
            return time.monotonic() - start
    return None


def healthy(url: str) -> bool:
    return httpx.get(url + "/health", timeout=5).status_code == 200


SLOW_HEADS = {  # (sent at once, then trickled a byte at a time)
    "sends_nothing": (b"", b""),
    "stalls_after_the_request_line": (b"POST /reward HTTP/1.1\r\n", b""),
    "stalls_inside_the_headers": (b"POST /reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: ", b""),
    "trickles_a_header_forever": (b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: " + b"a" * 10_000),
}


@pytest.mark.parametrize("head, trickle", [pytest.param(*h, id=k) for k, h in SLOW_HEADS.items()])
def test_a_slow_request_head_is_cut_off(server, head, trickle):
    port, url = server
    sock = connect(port)
    try:
        if head:
            sock.sendall(head)
        seconds = closed_within(sock, HEADER_TIMEOUT + 4 * SLACK, trickle=trickle)
        assert healthy(url)
    finally:
        sock.close()
    assert seconds is not None, "the connection is still open"
    assert seconds <= HEADER_TIMEOUT + SLACK


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
        sock.settimeout(0.2)
        seconds = closed_within(sock, HEADER_TIMEOUT + 4 * SLACK, trickle=b"GET /health HTTP/1.1\r\nX-Slow: " + b"b" * 100)
    finally:
        sock.close()
    assert seconds is not None and seconds <= HEADER_TIMEOUT + SLACK


def test_a_connection_flood_is_refused_and_the_server_recovers(server):
    port, url = server
    flood = [connect(port) for _ in range(MAX_CONNECTIONS + 20)]
    try:
        time.sleep(0.3)
        closed = [sock for sock in flood if closed_within(sock, 0.5) is not None]
        # Those beyond the limit are closed at once (the others wait for their head timeout).
        assert len(closed) >= 20
    finally:
        for sock in flood:
            sock.close()
    time.sleep(0.3)
    assert healthy(url)


@pytest.mark.parametrize("sent", [0, 10, 900])
def test_a_slow_request_body_gets_408(server, sent):
    port, url = server
    body = json.dumps({"items": [{"response": "x" * 1000, "problem_id": "nope"}]}).encode()
    head = (f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = connect(port)
    try:
        sock.sendall(head + body[:sent])
        start = time.monotonic()
        seconds = closed_within(sock, BODY_TIMEOUT + 4 * SLACK, trickle=body[sent : sent + 40], every=0.3)
        assert healthy(url)
    finally:
        sock.close()
    assert seconds is not None, "the request is still waiting for its body"
    assert time.monotonic() - start <= BODY_TIMEOUT + 2 * SLACK


BAD_OPTIONS = [
    ({"format_penalty": -5}, "format_penalty"),
    ({"format_penalty": 1.5}, "format_penalty"),
    ({"format_penalty": -0.0001}, "format_penalty"),
    ({"format_penalty": "0.5"}, "format_penalty"),
    ({"require_format": 1}, "require_format"),
    ({"partial_credit": "yes"}, "partial_credit"),
]


@pytest.mark.parametrize("options, field", BAD_OPTIONS)
def test_reward_options_outside_their_range_are_refused(server, options, field):
    _, url = server
    item = {"response": "no tags at all", "problem_id": "alu8"}
    r = httpx.post(url + "/score", json={"items": [item], "config": options}, timeout=30)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["message"]


def test_infinite_penalty_in_raw_json_is_refused(server):
    _, url = server
    body = b'{"items": [{"response": "no tags", "problem_id": "alu8"}], "config": {"format_penalty": 1e400}}'
    r = httpx.post(url + "/score", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 422, r.text


def test_rewards_stay_in_the_documented_range(server):
    _, url = server
    responses = ["no tags at all", "<answer>```verilog\nmodule x; endmodule\n```</answer>", ""]
    r = httpx.post(url + "/score", json={"items": [{"response": t, "problem_id": "alu8"} for t in responses],
                                         "config": {"format_penalty": 1.0, "require_format": False}}, timeout=60)
    assert r.status_code == 200, r.text
    assert all(-1.0 <= result["reward"] <= 1.0 for result in r.json()["results"])
    r = httpx.post(url + "/reward", json={"query": responses, "prompts": [""] * 3, "labels": ["alu8"] * 3}, timeout=60)
    assert all(0.0 <= s <= 1.0 for s in r.json()["scores"]) and all(-1.0 <= s <= 1.0 for s in r.json()["rewards"])


@pytest.mark.parametrize("kwargs", [{"format_penalty": -5}, {"format_penalty": 2}, {"format_penalty": float("nan")},
                                    {"format_penalty": float("inf")}, {"require_format": "no"}])
def test_reward_config_validates_itself(kwargs):
    with pytest.raises(ValueError, match="RewardConfig"):
        RewardConfig(**kwargs)


def test_the_command_line_refuses_a_penalty_outside_its_range():
    done = subprocess.run([sys.executable, "-m", "verilog_env.cli", "serve", "--format-penalty", "-5"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "format_penalty must be a number in [0, 1]" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
