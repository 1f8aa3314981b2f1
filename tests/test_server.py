"""The HTTP reward service (``verilog-env serve``), tested as a real server.

Most tests talk to one ``python -m verilog_env.cli serve`` subprocess over HTTP with
httpx, exactly as a trainer would. Its work directories go to a private
``VERILOG_ENV_TMPDIR``, so the last test can check that stopping the server leaves no
simulator process, pool worker or work directory behind. A few tests run the app
in-process (uvicorn in a thread) with a fake scorer, to reach paths a real check
cannot reach on demand: a scorer that raises, and one that outlives the request timeout.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from verilog_env.hdl.design import analyze
from verilog_env.problems import DEFAULT_SYSTEM_PROMPT
from verilog_env.suites import load_suite

SIMULATOR_NAMES = {"iverilog", "ivl", "ivlpp", "vvp"}
MAX_BATCH = 64
MAX_BYTES = 1 << 20
CHECK_TIMEOUT = 2.0

STARTER = load_suite("starter")
SEQ = next(
    p for p in STARTER if "sequential" in p.tags and len(analyze(p.golden, name="g.v", role="golden").clocks) == 1
)
COMB = next(p for p in STARTER if "combinational" in p.tags)
CLK = analyze(SEQ.golden, name="g.v", role="golden").clocks[0]


def wrap(code: str) -> str:
    return f"<think>\nLet me design it.\n</think>\n<answer>\n```verilog\n{code.strip()}\n```\n</answer>"


@functools.lru_cache(maxsize=None)
def wrong(problem) -> str:
    """A surely wrong answer: the golden, renamed, behind a wrapper that inverts its
    first output (a random mutant may happen to be equivalent)."""
    design = analyze(problem.golden, name="golden.v", role="golden", top=problem.top)
    top = design.top
    inner = re.sub(rf"\bmodule\s+{re.escape(top)}\b", f"module {top}_inner", problem.golden)
    flipped = design.outputs[0].name

    def decl(port) -> str:
        signed = " signed" if port.signed else ""
        width = f" [{port.width - 1}:0]" if port.width > 1 else ""
        return f"{port.direction}{signed}{width} {port.name}"

    wires = "".join(
        f"  wire{' signed' if p.signed else ''}{f' [{p.width - 1}:0]' if p.width > 1 else ''} {p.name}_w;\n"
        for p in design.outputs
    )
    connections = ", ".join(
        f".{p.name}({p.name}_w)" if p.direction == "output" else f".{p.name}({p.name})" for p in design.ports
    )
    assigns = "".join(
        f"  assign {p.name} = {'~' if p.name == flipped else ''}{p.name}_w;\n" for p in design.outputs
    )
    ports = ",\n  ".join(decl(p) for p in design.ports)
    return (
        f"{inner.strip()}\n\nmodule {top} (\n  {ports}\n);\n{wires}"
        f"  {top}_inner u ({connections});\n{assigns}endmodule\n"
    )


def with_extra(code: str, extra: str) -> str:
    """``code`` with ``extra`` added inside its (last) module."""
    at = code.rstrip().rfind("endmodule")
    return code[:at] + "  " + extra + "\n" + code[at:]


PWNED = [Path("/tmp") / f"pwned_{secrets.token_hex(6)}" for _ in range(3)]
HOSTILE = {
    "zero_delay_oscillator": with_extra(SEQ.golden, "reg hx;\n  initial hx = 1'b0;\n  always @(hx) hx <= ~hx;"),
    "initial_forever": with_extra(SEQ.golden, "reg hy;\n  initial forever #0 hy = ~hy;"),
    "infinite_loop_on_clock": with_extra(SEQ.golden, f"always @(posedge {CLK}) while (1) ;"),
    "system_call": with_extra(SEQ.golden, f'initial $system("touch {PWNED[0]}");'),
    "fopen": with_extra(SEQ.golden, f'integer fd;\n  initial begin fd = $fopen("{PWNED[1]}", "w"); $fclose(fd); end'),
    "fake_pass": with_extra(
        wrong(SEQ), 'initial begin $display("PASS"); $display("ALL TESTS PASSED"); $display("MATCH 2000/2000"); end'
    ),
    "finish_early": with_extra(SEQ.golden, "initial #3 $finish;"),
    "memory_bomb": with_extra(
        SEQ.golden,
        "reg [31:0] mem [0:1<<28];\n  integer mi;\n  initial for (mi = 0; mi < (1<<28); mi = mi + 1) mem[mi] = mi;",
    ),
    "writememh": with_extra(COMB.golden, f'reg [7:0] m [0:1];\n  initial $writememh("{PWNED[2]}", m);'),
}


# --------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("PPid:") and int(line.split()[1]) == pid:
                    out.append(int(entry))
    return out


def simulator_processes(base: Path) -> list[tuple[int, str, str]]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm not in SIMULATOR_NAMES:
                continue
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(base)):
            found.append((int(pid), comm, cwd))
    return found


class Server:
    """``verilog-env serve`` in a subprocess, with its own temp base."""

    def __init__(self, base: Path, log: Path):
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, VERILOG_ENV_TMPDIR=str(base), PYTHONUNBUFFERED="1")
        self._log = open(log, "wb")
        self.log_path = log
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "verilog_env.cli", "serve",
                "--port", str(self.port),
                "--max-batch", str(MAX_BATCH),
                "--max-request-bytes", str(MAX_BYTES),
                "--check-timeout", str(CHECK_TIMEOUT),
                "--request-timeout", "60",
                "--log-level", "info",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.workers: set[int] = set()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        self.note_workers()

    def note_workers(self) -> None:
        self.workers.update(children_of(self.proc.pid))

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("server_tmp")
    srv = Server(base, base.parent / "server.log")
    yield srv
    srv.stop()
    for pid, _, _ in simulator_processes(base):  # never leave a stray simulator running
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def post_reward(client, queries, labels, prompts=None):
    body = {"query": queries, "prompts": prompts if prompts is not None else [""] * len(queries), "labels": labels}
    r = client.post("/reward", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    n = len(queries)
    assert len(data["rewards"]) == n and len(data["scores"]) == n
    for key, values in data["extra_logs"].items():
        assert len(values) == n and all(isinstance(v, float) for v in values), key
    return data


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] and body["error"]["message"] and "\n" not in body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# ------------------------------------------------------------------------- tests


def test_health(client):
    data = client.get("/health").json()
    assert data["status"] == "ok"
    assert data["problems"] >= len(STARTER)
    assert data["suites"] == ["starter"]
    assert data["simulator"].startswith("Icarus Verilog")
    import verilog_env

    assert data["version"] == verilog_env.__version__


def test_problems_lists_ids_and_tags_without_goldens(client):
    listing = client.get("/problems").json()
    by_id = {p["id"]: p for p in listing}
    assert SEQ.id in by_id and COMB.id in by_id
    assert by_id[SEQ.id]["tags"] == list(SEQ.tags)
    assert all(set(p) == {"id", "tags"} for p in listing)
    assert "endmodule" not in json.dumps(listing)


def test_reward_batch_of_correct_wrong_malformed_and_hostile(client, server):
    cases = [
        ("correct_seq", wrap(SEQ.golden), SEQ.id, 1.0),
        ("correct_comb", wrap(COMB.golden), COMB.id, 1.0),
        ("wrong_seq", wrap(wrong(SEQ)), SEQ.id, 0.0),
        ("wrong_comb", wrap(wrong(COMB)), COMB.id, 0.0),
        ("malformed_no_tags", f"```verilog\n{SEQ.golden}\n```", SEQ.id, 0.0),
        ("malformed_two_answers", wrap(COMB.golden) + "<answer>x</answer>", COMB.id, 0.0),
        ("empty", "", SEQ.id, 0.0),
    ]
    cases += [(name, wrap(code), COMB.id if name == "writememh" else SEQ.id, 0.0) for name, code in HOSTILE.items()]
    start = time.monotonic()
    data = post_reward(client, [c[1] for c in cases], [c[2] for c in cases])
    seconds = time.monotonic() - start
    server.note_workers()
    got = {name: r for (name, *_), r in zip(cases, data["rewards"])}
    assert got == {name: expected for name, _, _, expected in cases}
    assert data["scores"] == data["rewards"]
    logs = data["extra_logs"]
    assert logs["correct"][:2] == [1.0, 1.0] and sum(logs["correct"]) == 2.0
    assert logs["format_ok"][4:6] == [0.0, 0.0]
    assert logs["label_error"] == [0.0] * len(cases)
    assert sum(logs["timeout"]) >= 1.0  # the zero-delay loops ran into the check timeout
    assert seconds < 30, seconds
    assert not [p for p in PWNED if p.exists()], "a candidate wrote outside its sandbox"


def test_concurrent_batches_are_all_answered_correctly(client, server):
    problems = [STARTER[i] for i in range(0, len(STARTER), max(1, len(STARTER) // 8))][:8]
    answers = {p.id: (wrap(p.golden), wrap(wrong(p))) for p in problems}

    def work(t: int) -> list[tuple[float, float]]:
        out = []
        for round_ in range(2):
            queries, labels, expected = [], [], []
            for k in range(6):
                p = problems[(t + round_ + k) % len(problems)]
                kind = (t + k) % 3
                queries.append([answers[p.id][0], answers[p.id][1], "no tags at all"][kind])
                labels.append(p.id)
                expected.append(1.0 if kind == 0 else 0.0)
            with httpx.Client(base_url=server.url, timeout=60) as c:
                data = post_reward(c, queries, labels)
            out += list(zip(data["rewards"], expected))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [pair for chunk in pool.map(work, range(16)) for pair in chunk]
    server.note_workers()
    assert len(results) == 16 * 2 * 6
    assert [got for got, _ in results] == [want for _, want in results]


def chat_prompt(problem) -> str:
    return (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
        f"<|im_start|>user\n{problem.user_prompt()}<|im_end|>\n<|im_start|>assistant\n"
    )


def test_openrlhf_single_item_requests_are_micro_batched(client, server):
    """OpenRLHF 0.11.2 posts one sample per request: query = prompt + response.

    The prompt's system turn spells out the tags, so it must be stripped before the
    format check; concurrent single requests must share score_many calls.
    """
    assert "<think>" in DEFAULT_SYSTEM_PROMPT and "<answer>" in DEFAULT_SYSTEM_PROMPT
    samples = []
    for i in range(32):
        p = [SEQ, COMB][i % 2]
        response, want = [(wrap(p.golden), 1.0), (wrap(wrong(p)), 0.0), ("I don't know.", 0.0)][i % 3]
        prompt = chat_prompt(p)
        samples.append((prompt + response + "<|im_end|>", prompt, p.id, want))
    before = client.get("/health").json()["stats"]

    def one(sample):
        query, prompt, label, want = sample
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post("/reward", json={"query": [query], "prompts": [prompt], "labels": [label]})
        assert r.status_code == 200, r.text
        data = r.json()
        return data["rewards"], data["scores"], data["extra_logs"], want

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(one, samples))
    for rewards, scores, logs, want in answers:
        assert rewards == [want] and scores == [want]
        assert all(len(v) == 1 for v in logs.values())
    after = client.get("/health").json()["stats"]
    batches = after["batches"] - before["batches"]
    items = after["items"] - before["items"]
    assert items == 32
    calls = after["score_many_calls"] - before["score_many_calls"]
    assert batches < 32, f"{batches} micro-batches for 32 concurrent single-item requests"
    assert calls < 32, f"{calls} score_many calls for 32 concurrent single-item requests of 2 problems"
    # Without the prompt, the assistant marker of the chat template is where the response starts.
    query, _, label, want = samples[0]
    assert post_reward(client, [query], [label], prompts=[None])["rewards"] == [want]


def test_label_forms(client):
    response = wrap(COMB.golden)
    labels = [
        COMB.id,
        COMB.golden,
        json.dumps({"problem_id": COMB.id}),
        json.dumps({"golden": COMB.golden, "top": "TopModule"}),
        {"golden": COMB.golden},
        SEQ.id,  # a real problem, but not the one answered
        "no_such_problem",
        json.dumps({"problem_id": "no_such_problem"}),
        "{not json",
        None,
        "",
        42,
    ]
    data = post_reward(client, [response] * len(labels), labels)
    assert data["rewards"] == [1.0] * 5 + [0.0] * 7
    assert data["extra_logs"]["label_error"] == [0.0] * 6 + [1.0] * 6
    assert data["extra_logs"]["format_ok"] == [1.0] * len(labels)


def test_score_endpoint(client):
    body = {
        "items": [
            {"response": wrap(SEQ.golden), "problem_id": SEQ.id},
            {"response": wrap(wrong(SEQ)), "problem_id": SEQ.id},
            {"response": wrap(COMB.golden), "golden": COMB.golden, "top": None},
            {"response": wrap(COMB.golden), "problem_id": "no_such_problem"},
            {"response": f"```verilog\n{COMB.golden}\n```", "problem_id": COMB.id},
        ]
    }
    results = client.post("/score", json=body).json()["results"]
    assert [r["reward"] for r in results] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert [r["status"] for r in results] == ["equivalent", "mismatch", "equivalent", "label_error", "format_error"]
    assert results[1]["verdict"]["counterexample"] is not None
    assert "no_such_problem" in results[3]["reason"]
    # Per-request reward config: check malformed answers, with a penalty.
    body["config"] = {"require_format": False, "format_penalty": 0.25}
    results = client.post("/score", json=body).json()["results"]
    assert [r["reward"] for r in results] == [1.0, 0.0, 1.0, 0.0, 0.75]
    assert_error(client.post("/score", json={"items": [], "config": {"bogus": 1}}), 422, "invalid_request")
    assert_error(client.post("/score", json={"items": [], "config": {"partial_credit": "yes"}}), 422)
    assert_error(client.post("/score", json={"items": [{"response": "x"}]}), 422, "invalid_request")
    assert_error(client.post("/score", json={"items": [{"response": 1, "problem_id": SEQ.id}]}), 422)
    assert client.post("/score", json={"items": []}).json() == {"results": []}


def test_bad_requests_get_structured_errors(client, server):
    ok = {"query": ["a"], "prompts": ["p"], "labels": [SEQ.id]}
    assert_error(client.post("/reward", json={**ok, "labels": [SEQ.id, SEQ.id]}), 422, "invalid_request")
    assert_error(client.post("/reward", json={**ok, "prompts": []}), 422, "invalid_request")
    assert_error(client.post("/reward", json={**ok, "query": "a"}), 422, "invalid_request")
    assert_error(client.post("/reward", json={**ok, "query": [1]}), 422, "invalid_request")
    assert_error(client.post("/reward", json={"prompts": ["p"], "labels": [SEQ.id]}), 422, "invalid_request")
    assert_error(client.post("/reward", json=[1, 2]), 422, "invalid_request")
    # Strict schemas: an unknown field, anywhere, is refused rather than ignored.
    assert_error(client.post("/reward", json={**ok, "lables": [SEQ.id]}), 422, "invalid_request")
    assert_error(client.post("/score", json={"items": [], "seed": 3}), 422, "invalid_request")
    item = {"response": "x", "problem_id": SEQ.id, "method": "both"}
    assert_error(client.post("/score", json={"items": [item]}), 422, "invalid_request")
    assert_error(client.post("/reward", content=b"{not json"), 400, "invalid_json")
    assert_error(client.post("/reward", content=b"\xff\xfe\x00garbage"), 400, "invalid_json")
    assert_error(client.post("/reward", content=b"[" * 100_000 + b"]" * 100_000), 400, "invalid_json")
    assert_error(client.post("/reward", content=b""), 400, "invalid_json")
    # Too many items, too many bytes (declared, and streamed without a length).
    n = MAX_BATCH + 1
    assert_error(client.post("/reward", json={"query": ["a"] * n, "prompts": [""] * n, "labels": ["x"] * n}), 413)
    big = json.dumps({"query": ["x" * (MAX_BYTES + 10)], "prompts": [""], "labels": [SEQ.id]}).encode()
    assert_error(client.post("/reward", content=big), 413, "request_too_large")

    def chunks():
        for _ in range(MAX_BYTES // 65536 + 2):
            yield b" " * 65536

    assert_error(client.post("/reward", content=chunks()), 413, "request_too_large")
    # Unknown routes and methods are structured too.
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/reward"), 405, "method_not_allowed")
    # An empty batch is fine, and the server is still serving.
    assert post_reward(client, [], [])["rewards"] == []
    assert client.get("/health").json()["status"] == "ok"
    assert server.proc.poll() is None


# ---------------------------------------------------- in-process: failure paths


@pytest.fixture
def fake_app(monkeypatch):
    """The app in uvicorn in a thread, with ``score_many`` replaced by a fake."""
    import verilog_env.server as server_module
    import verilog_env.service as service_module
    from verilog_env.reward import Score, parse_response

    calls: list[int] = []

    def fake_score_many(items, config, **kw):
        calls.append(len(items))
        responses = [r for _, r in items]
        if "BOOM" in responses:
            raise RuntimeError("scorer exploded")
        if "SLOW" in responses:
            time.sleep(2.0)
        return [Score(1.0 if r == "GOOD" else 0.0, parse_response(r)) for r in responses]

    monkeypatch.setattr(service_module, "score_many", fake_score_many)  # what the service's batcher calls
    config = server_module.ServerConfig(request_timeout=0.5, warmup=False, batch_window=0.02)
    from loopback_server import running

    with running(server_module.create_app(config)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c, calls


def test_scoring_failure_is_500_and_the_server_keeps_serving(fake_app):
    c, calls = fake_app
    assert_error(c.post("/reward", json={"query": ["BOOM"], "labels": [SEQ.id]}), 500, "internal_error")
    assert c.post("/reward", json={"query": ["GOOD"], "labels": [SEQ.id]}).json()["rewards"] == [1.0]


def test_request_timeout_is_504_and_the_server_keeps_serving(fake_app):
    c, calls = fake_app
    start = time.monotonic()
    assert_error(c.post("/reward", json={"query": ["SLOW"], "labels": [SEQ.id]}), 504, "timeout")
    assert time.monotonic() - start < 1.5
    assert c.post("/score", json={"items": [{"response": "GOOD", "problem_id": SEQ.id}]}).json()["results"][0][
        "reward"
    ] == 1.0


def test_micro_batcher_merges_concurrent_requests(fake_app):
    c, calls = fake_app
    url = str(c.base_url)

    def one(i):
        with httpx.Client(base_url=url, timeout=10) as own:
            return own.post("/reward", json={"query": ["GOOD" if i % 2 else "bad"], "labels": [SEQ.id]}).json()

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(one, range(24)))
    assert [a["rewards"] for a in answers] == [[1.0 if i % 2 else 0.0] for i in range(24)]
    assert sum(calls) == 24 and len(calls) < 24, calls


def test_importing_the_package_does_not_import_the_server():
    code = "import sys, verilog_env; sys.exit(int('verilog_env.server' in sys.modules or 'fastapi' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------ shutdown (last)


def test_shutdown_leaves_no_process_or_workdir(server):
    server.note_workers()
    assert server.workers, "expected checker pool workers under the server"
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: exit status -SIGTERM.
    assert server.stop() in (0, -signal.SIGTERM), server.log_path.read_text()[-2000:]
    assert "Application shutdown complete" in server.log_path.read_text()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [pid for pid in server.workers if Path(f"/proc/{pid}").exists()]
        if not alive and not simulator_processes(server.base):
            break
        time.sleep(0.1)
    alive = []
    for pid in server.workers:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    assert not alive, f"pool workers still running: {alive}"
    assert not simulator_processes(server.base)
    assert not list(server.base.iterdir()), f"left in the temp base: {list(server.base.iterdir())}"
    assert not [p for p in PWNED if p.exists()]
