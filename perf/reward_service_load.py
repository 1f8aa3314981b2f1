"""Load test of the HTTP reward service, the way OpenRLHF drives it.

N concurrent clients each post OpenRLHF-style single-item requests to ``/reward``
(``{"query": [prompt + response], "prompts": [prompt], "labels": [problem id]}``, as
OpenRLHF 0.11.2 does: one sample per request), back to back, for a fixed time, each on
its own connection. Samples are drawn from a mix over the starter suite: 60% correct
answers (the golden), 25% wrong ones (a mutant of the golden: usually, not always,
inequivalent), 15% malformed (no ``<think>``/``<answer>`` tags). Problems come in
shuffled rounds, each ``--samples-per-prompt`` times in a row, as a trainer's rollouts
do (OpenRLHF's ``n_samples_per_prompt``). Reports sustained scores per second, request
latency (median, p95, max), errors, mean reward per kind of answer, and how the server
batched the requests (from ``/health``), and writes it all as JSON.

    python -m perf.reward_service_load [--clients 64] [--seconds 30] \\
        [--out reports/reward_service_load.json] [--url http://host:port] \\
        [--samples-per-prompt N] [--compare-unbatched] [--server-config JSON]

Without ``--url`` it starts ``verilog-env serve`` in a subprocess (and stops it after).
``--compare-unbatched`` also runs the same load against a server that scores every
request on its own (no micro-batching), for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from verilog_env.problems import DEFAULT_SYSTEM_PROMPT
from verilog_env.suites import load_suite
from verilog_env.testing.mutation import mutants

MIX = (("correct", 0.60), ("wrong", 0.25), ("malformed", 0.15))


def chat_prompt(problem) -> str:
    return (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
        f"<|im_start|>user\n{problem.user_prompt()}<|im_end|>\n<|im_start|>assistant\n"
    )


def answer(code: str) -> str:
    think = "<think>\nThe spec asks for ... let me write it.\n</think>\n"
    return f"{think}<answer>\n```verilog\n{code.strip()}\n```\n</answer>"


def build_samples(suite_name: str, seed: int) -> list[dict[str, dict]]:
    """Per problem, per kind, the OpenRLHF request body (query, prompts, labels)."""
    samples: list[dict[str, dict]] = []
    for problem in load_suite(suite_name):
        bodies: dict[str, dict] = {}
        prompt = chat_prompt(problem)
        texts = {
            "correct": answer(problem.golden),
            "malformed": f"Here is the module:\n```verilog\n{problem.golden.strip()}\n```",
        }
        wrong = mutants(problem.golden, seed=seed, limit=1)
        if wrong:
            texts["wrong"] = answer(wrong[0].text)
        for kind, text in texts.items():
            bodies[kind] = {"query": [prompt + text + "<|im_end|>"], "prompts": [prompt], "labels": [problem.id]}
        samples.append(bodies)
    return samples


class SampleStream:
    """What the clients post next, shared by all of them, like a trainer's rollouts.

    Problems come in shuffled rounds, each ``samples_per_prompt`` times in a row
    (OpenRLHF's ``n_samples_per_prompt``: rollouts of one prompt finish, and are
    rewarded, at about the same time); each sample's kind is drawn from :data:`MIX`.
    """

    def __init__(self, samples: list[dict[str, dict]], samples_per_prompt: int, seed: int):
        self._samples = samples
        self._per_prompt = max(1, samples_per_prompt)
        self._rng = random.Random(seed)
        self._order: list[int] = []
        self._left = 0
        self._current = 0

    def next(self) -> tuple[str, dict]:
        if self._left == 0:
            if not self._order:
                self._order = list(range(len(self._samples)))
                self._rng.shuffle(self._order)
            self._current = self._order.pop()
            self._left = self._per_prompt
        self._left -= 1
        bodies = self._samples[self._current]
        kinds = [kind for kind, _ in MIX if kind in bodies]
        kind = self._rng.choices(kinds, [w for k, w in MIX if k in bodies])[0]
        return kind, bodies[kind]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(overrides: dict | None, log_path: Path) -> tuple[subprocess.Popen, str]:
    """``verilog-env serve`` in a subprocess; with ``overrides``, a ServerConfig with them."""
    port = free_port()
    if not overrides:
        argv = [sys.executable, "-m", "verilog_env.cli", "serve", "--port", str(port), "--log-level", "warning"]
    else:
        code = (
            "import json, sys; from verilog_env.server import ServerConfig, serve; "
            f"serve(ServerConfig(**json.loads(sys.argv[1])), port={port}, log_level='warning')"
        )
        argv = [sys.executable, "-c", code, json.dumps(overrides)]
    log = open(log_path, "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"reward_service_load: server exited ({proc.returncode}); see {log_path}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"reward_service_load: server did not come up; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_load(url: str, stream: SampleStream, clients: int, seconds: float, warmup: float) -> dict:
    kinds = [kind for kind, _ in MIX]
    records: list[tuple[float, float, str, int, float | None]] = []  # (start, latency, kind, status, reward)
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        before = (await http.get("/health")).json().get("stats", {})
        t0 = time.monotonic()
        measure_from, stop_at = t0 + warmup, t0 + warmup + seconds
        measured_stats: dict = {}

        async def snapshot() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            measured_stats["start"] = (await http.get("/health")).json().get("stats", {})

        async def client(k: int) -> None:
            # One connection per client: a pool shared by many concurrent requests costs
            # httpx CPU time quadratic in their number (it rescans them all on every
            # completion), which would make the load generator the bottleneck.
            async with httpx.AsyncClient(base_url=url, timeout=300) as own:
                while time.monotonic() < stop_at:
                    await one_request(own)

        async def one_request(own: httpx.AsyncClient) -> None:
            kind, body = stream.next()
            start = time.monotonic()
            try:
                r = await own.post("/reward", json=body)
                status = r.status_code
                reward = r.json()["rewards"][0] if status == 200 else None
                if status != 200:
                    errors.append(f"{status}: {r.text[:200]}")
            except Exception as exc:  # noqa: BLE001 - counted as an error
                status, reward = 0, None
                errors.append(f"{type(exc).__name__}: {exc}")
            records.append((start, time.monotonic() - start, kind, status, reward))

        snap = asyncio.create_task(snapshot())
        await asyncio.gather(*(client(k) for k in range(clients)))
        ended = time.monotonic()
        await snap
        after = (await http.get("/health")).json().get("stats", {})

    # Requests that started in the window and finished by its end count as sustained work.
    window = [rec for rec in records if measure_from <= rec[0] and rec[0] + rec[1] <= stop_at]
    ok = [rec for rec in window if rec[3] == 200]
    latencies = [rec[1] for rec in ok]
    by_kind = {}
    for kind in kinds:
        rewards = [rec[4] for rec in ok if rec[2] == kind]
        by_kind[kind] = {
            "requests": len(rewards),
            "mean_reward": round(statistics.fmean(rewards), 4) if rewards else None,
            "reward_1": sum(1 for r in rewards if r == 1.0),
        }
    start_stats = measured_stats.get("start", before)
    batches = after.get("batches", 0) - start_stats.get("batches", 0)
    calls = after.get("score_many_calls", 0) - start_stats.get("score_many_calls", 0)
    items = after.get("items", 0) - start_stats.get("items", 0)
    return {
        "window_seconds": round(seconds, 2),
        "requests_total": len(records),
        "requests_in_window": len(window),
        "scores_per_second": round(len(ok) / seconds, 2),
        "latency_ms": {
            "median": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95": round(percentile(latencies, 0.95) * 1000, 1),
            "max": round(max(latencies) * 1000, 1) if latencies else None,
        },
        "errors": len(errors),
        "error_samples": errors[:5],
        "by_kind": by_kind,
        "server_batching": {
            "micro_batches": batches,
            "score_many_calls": calls,
            "items": items,
            "mean_items_per_batch": round(items / batches, 2) if batches else None,
            "mean_items_per_score_many_call": round(items / calls, 2) if calls else None,
            "largest_batch": after.get("largest_batch"),
        },
        "drain_seconds": round(ended - stop_at, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default: 64)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds (default: 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default: 5)")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--suite", default="starter", help="problems to draw from (default: starter)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--samples-per-prompt", type=int, nargs="+", default=[1], metavar="N",
        help="consecutive samples of one problem, like OpenRLHF's n_samples_per_prompt; "
        "several values: one run each (default: 1)",
    )
    parser.add_argument(
        "--compare-unbatched", action="store_true", help="also measure a server without micro-batching"
    )
    parser.add_argument(
        "--server-config", type=json.loads, default=None, metavar="JSON",
        help="ServerConfig fields for the started server, e.g. '{\"max_concurrency\": 8}'",
    )
    parser.add_argument("--out", default="reports/reward_service_load.json", help="JSON report path")
    args = parser.parse_args(argv)

    samples = build_samples(args.suite, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    modes = [("batched", args.server_config)]
    if args.compare_unbatched and not args.url:
        modes.append(("unbatched", {**(args.server_config or {}), "batch_items": 1, "batch_window": 0.0}))
    logs = Path(tempfile.mkdtemp(prefix="reward_service_load_"))
    results: dict[str, dict] = {}
    simulator = None
    for name, overrides in modes:
        proc = None
        url = args.url
        if url is None:
            proc, url = start_server(overrides, logs / f"{name}.server.log")
        try:
            simulator = httpx.get(url + "/health", timeout=10).json().get("simulator")
            for per_prompt in args.samples_per_prompt:
                print(
                    f"{name}, {per_prompt} sample(s) per prompt: {args.clients} clients for {args.seconds:g} s "
                    f"(+{args.warmup:g} s warm-up) against {url}"
                )
                stream = SampleStream(samples, per_prompt, args.seed)
                r = asyncio.run(run_load(url, stream, args.clients, args.seconds, args.warmup))
                results.setdefault(name, {})[f"samples_per_prompt={per_prompt}"] = r
                print(
                    f"  {r['scores_per_second']} scores/s, latency median {r['latency_ms']['median']} ms, "
                    f"p95 {r['latency_ms']['p95']} ms, errors {r['errors']}, "
                    f"{r['server_batching']['mean_items_per_batch']} items per micro-batch, "
                    f"{r['server_batching']['mean_items_per_score_many_call']} per score_many call"
                )
        finally:
            if proc is not None:
                stop_server(proc)
    report = {
        "benchmark": "reward_service_load",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "simulator": simulator,
            "note": "load generator, server and simulators share the machine",
        },
        "settings": {
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "suite": args.suite,
            "samples_per_prompt": args.samples_per_prompt,
            "clients_detail": "each client: its own HTTP connection, requests back to back",
            "mix": dict(MIX),
            "request_shape": "OpenRLHF 0.11.2: one sample per POST /reward",
            "url": args.url or "subprocess: verilog-env serve",
            "server_config": {name: overrides or "defaults" for name, overrides in modes},
        },
        "results": results,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
