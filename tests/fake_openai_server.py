"""A fake OpenAI-compatible chat server and a tiny evaluation suite, for the benchmark tests.

Run as a program it serves, on loopback, what ``vllm serve`` exposes:

* ``GET /v1/models`` -> one model, ``fake-model``;
* ``POST /v1/chat/completions`` -> ``n`` canned choices for the problem named in the last
  user message (``[problem: NAME]``). The sample index of choice ``i`` is ``seed + i``
  (the harness seeds a request for samples ``j..`` with ``j``), or a per-problem counter
  without a seed; the choice's kind is ``PATTERNS[NAME][index % len]``. Same request,
  same answer: nothing random.
* ``GET /stats`` -> request counts and every ``[problem, index]`` served;
  ``POST /reset`` (JSON body: any of ``fail_first``, ``fail_statuses``, ``fail_after``,
  ``fail_after_status``, ``max_n``, ``delay``, ``script``) clears the counters and sets
  the failure mode: ``fail_first`` requests fail with the statuses in turn (429 with
  ``Retry-After: 0``), requests after ``fail_after`` successful ones get HTTP 400 (or
  ``fail_after_status``), ``n > max_n`` gets HTTP 400.

**Scripted answers** (``script``, used by the data-synthesis tests): a list of rules
``{"name", "model", "match", "responses": [...]}``. A request is answered by the first
rule whose ``model`` (when set) is the request's model and whose ``match`` string occurs
in its last user message; requests no rule matches fall through to the problems above.
Choice ``i`` is ``responses[(seed + i) % len]`` (a per-rule counter without a seed); a
response is ``{"text", "finish_reason" (default stop), "delay" (seconds before the
server answers: longer than the client's timeout, it times out), "completion_tokens"
(default 50)}``. Usage: ``prompt_tokens`` 100 per request plus the completion tokens.
``/stats`` lists each scripted choice served as ``[rule name, index]`` in ``served``.

    python tests/fake_openai_server.py [--port 0]    # prints "PORT <n>" when ready

:func:`register_tiny_suite` registers the tiny suite ``tiny`` (five problems), whose
official scorer is the equivalence checker, except problem ``inv``'s deliberately lenient
one; importing this module does it when ``VERILOG_ENV_TEST_TINY_SUITE=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fake-model"

# ---------------------------------------------------------------- the tiny suite's problems

PROBLEMS = {
    "and2": {
        "spec": "Implement a 2-input AND gate: y = a AND b.",
        "reference": "module RefModule(input a, input b, output y);\n  assign y = a & b;\nendmodule\n",
        "correct": "module TopModule(input a, input b, output y);\n  assign y = a & b;\nendmodule",
        "wrong": "module TopModule(input a, input b, output y);\n  assign y = a | b;\nendmodule",
    },
    "mux2": {
        "spec": "Implement a 2-to-1 multiplexer: y = sel ? b : a.",
        "reference": "module RefModule(input a, input b, input sel, output y);\n  assign y = sel ? b : a;\nendmodule\n",
        "correct": "module TopModule(input a, input b, input sel, output y);\n  assign y = sel ? b : a;\nendmodule",
        "wrong": "module TopModule(input a, input b, input sel, output y);\n  assign y = sel ? a : b;\nendmodule",
    },
    "counter": {  # a completion task: the header is given
        "spec": "Complete the 4-bit counter with synchronous active-high reset.",
        "header": "module TopModule(input clk, input reset, output reg [3:0] q);",
        "reference": (
            "module RefModule(input clk, input reset, output reg [3:0] q);\n"
            "  always @(posedge clk) if (reset) q <= 4'd0; else q <= q + 4'd1;\nendmodule\n"
        ),
        "correct": (
            "module TopModule(input clk, input reset, output reg [3:0] q);\n"
            "  always @(posedge clk) if (reset) q <= 4'd0; else q <= q + 4'd1;\nendmodule"
        ),
        "body": "  always @(posedge clk) begin\n    if (reset) q <= 0;\n    else q <= q + 1;\n  end\nendmodule",
        "wrong": (
            "module TopModule(input clk, input reset, output reg [3:0] q);\n"
            "  always @(posedge clk) if (reset) q <= 4'd0; else q <= q + 4'd2;\nendmodule"
        ),
    },
    "xor2": {  # pretend its reference fails its own testbench: excluded from the headline
        "spec": "Implement y = a XOR b.",
        "reference": "module RefModule(input a, input b, output y);\n  assign y = a ^ b;\nendmodule\n",
        "correct": "module TopModule(input a, input b, output y);\n  assign y = a ^ b;\nendmodule",
        "wrong": "module TopModule(input a, input b, output y);\n  assign y = a ~^ b;\nendmodule",
        "reference_passes": False,
        "reference_note": "pretend testbench bug",
    },
    "inv": {  # the official scorer is lenient: passes any code mentioning ~a
        "spec": "Implement an inverter y = NOT a.",
        "reference": "module RefModule(input a, output y);\n  assign y = ~a;\nendmodule\n",
        "correct": "module TopModule(input a, output y);\n  assign y = ~a;\nendmodule",
        "lenient": "module TopModule(input a, output y);\n  assign y = ~a | 1'b1;\nendmodule",
        "wrong": "module TopModule(input a, output y);\n  assign y = a;\nendmodule",
    },
}

# Kinds: C correct (format ok), B correct in a bare ```verilog block (no tags: format not
# ok, still scored), W wrong, M malformed (no code), T truncated (finish_reason length,
# no code), H completion body only (the header must be prepended), L lenient-only pass.
PATTERNS = {
    "and2": "CCBWWMTWWW",  # c = 3 of 10
    "mux2": "WMWMWTWWWW",  # c = 0
    "counter": "HCHCHCHCHB",  # c = 10
    "xor2": "CCCCCWWWWW",  # c = 5 (excluded problem)
    "inv": "CLLWWWWWWW",  # official c = 3, equivalent c = 1
}
PASSES_OFFICIAL = set("CBHL")


def wrap(code: str) -> str:
    return f"<think>\nLet me write it.\n</think>\n<answer>\nHere it is.\n```verilog\n{code}\n```\n</answer>"


def canned(problem: str, index: int) -> tuple[str, str]:
    """(text, finish_reason) of sample ``index`` of ``problem``."""
    p = PROBLEMS[problem]
    kind = PATTERNS[problem][index % len(PATTERNS[problem])]
    if kind == "C":
        return wrap(p["correct"]), "stop"
    if kind == "B":
        return f"Sure:\n```verilog\n{p['correct']}\n```\n", "stop"
    if kind == "W":
        return wrap(p["wrong"]), "stop"
    if kind == "M":
        return "<think>I am not sure.</think><answer>No idea, sorry.</answer>", "stop"
    if kind == "T":
        return "<think>\nFirst, consider the inputs. Then, consider", "length"
    if kind == "H":
        return wrap(p["body"]), "stop"
    if kind == "L":
        return wrap(p["lenient"]), "stop"
    raise ValueError(kind)


def register_tiny_suite():
    """Register (or re-register) the ``tiny`` evaluation suite; returns it."""
    from benchmarks.registry import register_eval_suite

    return register_eval_suite(TinySuite(), overwrite=True)


class TinySuite:
    name = "tiny"
    description = "five toy problems for the harness tests"
    default_data = None

    def load(self, root):
        from benchmarks.registry import EvalProblem

        out = []
        for pid, p in PROBLEMS.items():
            prompt = f"[problem: {pid}] {p['spec']}"
            if p.get("header"):
                prompt += f"\n\n{p['header']}"
            out.append(
                EvalProblem(
                    suite=self.name,
                    id=pid,
                    prompt=prompt,
                    reference=p["reference"],
                    top="TopModule",
                    reference_top="RefModule",
                    files={},
                    header=p.get("header"),
                    reference_passes=p.get("reference_passes", True),
                    reference_note=p.get("reference_note", ""),
                )
            )
        return out

    def messages(self, problem, system_prompt):
        out = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return out + [{"role": "user", "content": problem.prompt}]

    def score(self, problem, code, timeout=None):
        from benchmarks.registry import SampleScore

        if problem.id == "inv":
            ok = "~a" in code
            return SampleScore(ok, "." if ok else "R", "" if ok else "lenient check: no ~a")
        from verilog_env import check_equivalence

        verdict = check_equivalence(
            problem.reference, code, top=problem.reference_top, candidate_top=problem.top, timeout=timeout or 10.0
        )
        return SampleScore(verdict.equivalent, "." if verdict.equivalent else verdict.status.value, verdict.reason or "")


# ---------------------------------------------------------------- the server

_MARK = re.compile(r"\[problem: ([\w.-]+)\]")


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset({})

    def reset(self, config: dict) -> None:
        self.fail_first = int(config.get("fail_first", 0))
        self.fail_statuses = list(config.get("fail_statuses", [500]))
        self.fail_after = config.get("fail_after")
        self.fail_after_status = int(config.get("fail_after_status", 400))
        self.script = list(config.get("script") or [])
        self.script_counters: dict[str, int] = {}
        self.max_n = config.get("max_n")
        self.delay = float(config.get("delay", 0.0))
        self.require_key = config.get("require_key")
        self.requests = 0
        self.failed = 0
        self.ok = 0
        self.served: list[list] = []
        self.counters: dict[str, int] = {}


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def _send_scripted(self, body: dict, picked: list[dict]) -> None:
        delay = max((float(r.get("delay", 0.0)) for r in picked), default=0.0)
        if delay:
            time.sleep(delay)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": r.get("text", "")},
             "finish_reason": r.get("finish_reason", "stop")}
            for i, r in enumerate(picked)
        ]
        completion = sum(int(r.get("completion_tokens", 50)) for r in picked)
        usage = {"prompt_tokens": 100, "completion_tokens": completion, "total_tokens": 100 + completion}
        try:
            self._send(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model"),
                             "choices": choices, "usage": usage})
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            self.close_connection = True

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        elif self.path == "/stats":
            with STATE.lock:
                self._send(200, {"requests": STATE.requests, "ok": STATE.ok, "failed": STATE.failed, "served": STATE.served})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        if self.path == "/reset":
            with STATE.lock:
                STATE.reset(self._body())
            self._send(200, {"ok": True})
            return
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        body = self._body()
        with STATE.lock:
            STATE.requests += 1
            if STATE.require_key and self.headers.get("Authorization") != f"Bearer {STATE.require_key}":
                STATE.failed += 1
                self._send(401, {"error": {"message": "bad key"}})
                return
            if STATE.failed < STATE.fail_first:
                status = STATE.fail_statuses[STATE.failed % len(STATE.fail_statuses)]
                STATE.failed += 1
                self._send(status, {"error": {"message": "try again"}}, {"Retry-After": "0"} if status == 429 else None)
                return
            n = int(body.get("n", 1))
            if STATE.max_n is not None and n > STATE.max_n:
                STATE.failed += 1
                self._send(400, {"error": {"message": f"n must be at most {STATE.max_n}"}})
                return
            if STATE.fail_after is not None and STATE.ok >= STATE.fail_after:
                STATE.failed += 1
                self._send(STATE.fail_after_status, {"error": {"message": "refusing (fail_after)"}})
                return
            user = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
            rule = _scripted_rule(body.get("model"), user[-1] if user else "")
            if rule is not None:
                name = rule.get("name") or rule.get("match", "")
                if body.get("seed") is not None:
                    base = int(body["seed"])
                else:
                    base = STATE.script_counters.get(name, 0)
                    STATE.script_counters[name] = base + n
                STATE.ok += 1
                STATE.served.extend([name, base + i] for i in range(n))
                picked = [rule["responses"][(base + i) % len(rule["responses"])] for i in range(n)]
            else:
                match = _MARK.search(user[-1] if user else "")
                if not match or match.group(1) not in PROBLEMS:
                    STATE.failed += 1
                    self._send(400, {"error": {"message": "unknown problem"}})
                    return
                problem = match.group(1)
                if body.get("seed") is not None:
                    base = int(body["seed"])
                else:
                    base = STATE.counters.get(problem, 0)
                    STATE.counters[problem] = base + n
                STATE.ok += 1
                STATE.served.extend([problem, base + i] for i in range(n))
                delay = STATE.delay
        if rule is not None:
            self._send_scripted(body, picked)
            return
        if delay:
            time.sleep(delay)
        choices = []
        for i in range(n):
            text, finish = canned(problem, base + i)
            choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish})
        usage = {"prompt_tokens": 10, "completion_tokens": 7 * n, "total_tokens": 10 + 7 * n}
        self._send(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model"),
                         "choices": choices, "usage": usage})


def _scripted_rule(model, user: str) -> dict | None:
    for rule in STATE.script:
        if rule.get("model") not in (None, model):
            continue
        if rule.get("match", "") in user:
            return rule
    return None


@contextlib.contextmanager
def running():
    """Start this server in its own process on a free loopback port; yield its URL."""
    import subprocess

    proc = subprocess.Popen([sys.executable, __file__, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def reset(url: str, **config) -> None:
    """Clear the server's counters and set its behaviour (see ``/reset``)."""
    import httpx

    httpx.post(f"{url}/reset", json=config, timeout=5).raise_for_status()


def stats(url: str) -> dict:
    """The server's request counters."""
    import httpx

    return httpx.get(f"{url}/stats", timeout=5).json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
elif os.environ.get("VERILOG_ENV_TEST_TINY_SUITE") == "1":  # `verilog-env bench ... --import fake_openai_server`
    register_tiny_suite()
