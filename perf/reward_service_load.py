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
        [--out reports/reward_service_load.json] [--url http://host:port[,http://host2:port...]] \\
        [--samples-per-prompt N] [--compare-unbatched] [--server-config JSON] \\
        [--replicas N [--workers-per-replica 1] [--compare-replicas]]

Without ``--url`` it starts ``verilog-env serve`` in a subprocess (and stops it after).
``--compare-unbatched`` also runs the same load against a server that scores every
request on its own (no micro-batching), for comparison.

Scale-out: ``--replicas N`` starts N ``verilog-env serve`` subprocesses, each on its own
port with ``VERILOG_ENV_WORKERS=--workers-per-replica``, and the clients send request
after request to the next replica in turn, as OpenRLHF does with a comma-separated
``--reward.remote_url`` (``train_ppo_ray`` splits it on commas; ``SingleTurnAgentExecutor``
takes ``next(itertools.cycle(urls))`` for each reward request): no load balancer needed.
``--url`` also takes such a comma-separated list of running servers. ``--compare-replicas``
first measures one replica, then N, with the same workers per replica, and reports the
ratio of their scores per second (``replica_comparison``).

    python -m perf.reward_service_load --replicas 2 --compare-replicas --workers-per-replica 1 \\
        --seconds 15 --clients 32 --out reports/reward_service_replicas.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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


def start_server(
    overrides: dict | None, log_path: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """``verilog-env serve`` in a subprocess; with ``overrides``, a ServerConfig with them;
    with ``env``, that environment (default: this process's)."""
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
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
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


def start_replicas(
    count: int, workers: int, overrides: dict | None, logs: Path, name: str
) -> list[tuple[subprocess.Popen, str]]:
    """``count`` servers (:func:`start_server`), each on its own port with
    ``VERILOG_ENV_WORKERS=workers``; all stopped again if one fails to start."""
    env = dict(os.environ, VERILOG_ENV_WORKERS=str(workers))
    started: list[tuple[subprocess.Popen, str]] = []
    try:
        for k in range(count):
            started.append(start_server(overrides, logs / f"{name}.replica{k}.server.log", env))
    except BaseException:
        for proc, _ in started:
            stop_server(proc)
        raise
    return started


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by ``pids`` and all their descendants, with the children
    they reaped (Linux ``/proc``: the servers, their checker workers, the simulators)."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, list(pids)
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(x) for x in stats[pid][11:15])  # utime, stime, cutime, cstime
            todo.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def cpu_seconds(server_pids: list[int]) -> tuple[float, float, float | None] | None:
    """CPU seconds so far: busy on the whole machine (``/proc/stat``: all but idle and
    iowait), this process's own, and the server processes' trees (None without their
    pids); None where there is no ``/proc``."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        servers = tree_cpu_seconds(server_pids) if server_pids else None
    except (OSError, ValueError):
        return None
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK"), time.process_time(), servers


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_load(
    url: str | list[str], stream: SampleStream, clients: int, seconds: float, warmup: float,
    server_pids: list[int] | None = None,
) -> dict:
    """The load against one server, or against several (``url`` a list) taken in turn
    request by request, as OpenRLHF takes the URLs of ``--reward.remote_url``; with the
    ``server_pids`` (servers started here), their CPU use too."""
    urls = [url] if isinstance(url, str) else list(url)
    rotation = itertools.cycle(urls)  # shared by all clients, like one SingleTurnAgentExecutor's
    kinds = [kind for kind, _ in MIX]
    records: list[tuple[float, float, str, int, float | None]] = []  # (start, latency, kind, status, reward)
    errors: list[str] = []
    async with httpx.AsyncClient(timeout=300) as http:

        async def stats() -> list[dict]:
            return [(await http.get(u + "/health")).json().get("stats", {}) for u in urls]

        before = await stats()
        t0 = time.monotonic()
        measure_from, stop_at = t0 + warmup, t0 + warmup + seconds
        measured_stats: dict = {}

        async def snapshot() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            measured_stats["cpu_start"] = cpu_seconds(server_pids or [])
            measured_stats["start"] = await stats()
            await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
            measured_stats["cpu_end"] = cpu_seconds(server_pids or [])

        async def client(k: int) -> None:
            # One connection per client (per server): a pool shared by many concurrent
            # requests costs httpx CPU time quadratic in their number (it rescans them all
            # on every completion), which would make the load generator the bottleneck.
            async with httpx.AsyncClient(timeout=300) as own:
                while time.monotonic() < stop_at:
                    await one_request(own)

        async def one_request(own: httpx.AsyncClient) -> None:
            kind, body = stream.next()
            start = time.monotonic()
            try:
                r = await own.post(next(rotation) + "/reward", json=body)
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
        after_each = await stats()

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
    start_each = measured_stats.get("start", before)

    def delta(key: str, i: int | None = None) -> int:
        pairs = zip(after_each, start_each) if i is None else [(after_each[i], start_each[i])]
        return sum(a.get(key, 0) - b.get(key, 0) for a, b in pairs)

    after = {"largest_batch": max((a.get("largest_batch") or 0 for a in after_each), default=None)}
    if len(urls) == 1:
        after = after_each[0]
    batches, calls, items = delta("batches"), delta("score_many_calls"), delta("items")
    result = {
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
    cpu_start, cpu_end = measured_stats.get("cpu_start"), measured_stats.get("cpu_end")
    if cpu_start and cpu_end and ok:
        busy, own = cpu_end[0] - cpu_start[0], cpu_end[1] - cpu_start[1]
        result["cpu"] = {
            "machine_busy_cores": round(busy / seconds, 2),
            "load_generator_cores": round(own / seconds, 2),
        }
        if cpu_start[2] is not None and cpu_end[2] is not None:
            servers = cpu_end[2] - cpu_start[2]
            result["cpu"].update(
                servers_cores=round(servers / seconds, 2),
                servers_core_ms_per_score=round(1000 * servers / len(ok), 2),
                other_processes_cores=round(max(0.0, busy - own - servers) / seconds, 2),
            )
        result["cpu"]["note"] = (
            "over the measured window: busy cores of the whole machine (/proc/stat), of this load generator, of "
            "the servers started here with their workers and simulators (/proc/PID/stat), and of everything else"
        )
    if len(urls) > 1:
        result["replicas"] = [
            {"url": u, "requests": delta("requests", i), "items": delta("items", i)} for i, u in enumerate(urls)
        ]
    return result


def replica_comparison(results: dict[str, dict], modes: list[str], counts: list[int]) -> dict:
    """Per mode and samples-per-prompt: scores per second with each replica count and the
    ratio of the last to the first."""
    out: dict[str, dict] = {}
    for name in modes:
        first, last = (results[f"{name}, replicas={c}"] for c in (counts[0], counts[-1]))
        for key in first:
            a, b = first[key]["scores_per_second"], last[key]["scores_per_second"]
            out.setdefault(name, {})[key] = {
                "scores_per_second": {f"replicas={counts[0]}": a, f"replicas={counts[-1]}": b},
                "ratio": round(b / a, 2) if a else None,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default: 64)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds (default: 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default: 5)")
    parser.add_argument(
        "--url", help="an already running server, or several comma-separated, taken in turn (default: start one)"
    )
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
    parser.add_argument(
        "--replicas", type=int, default=None, metavar="N",
        help="start N servers and send requests to them in turn, as OpenRLHF does with a comma-separated "
        "--reward.remote_url (default: one server, workers as verilog-env serve picks them)",
    )
    parser.add_argument(
        "--workers-per-replica", type=int, default=1, metavar="W",
        help="VERILOG_ENV_WORKERS of each started replica, with --replicas (default: 1)",
    )
    parser.add_argument(
        "--compare-replicas", action="store_true",
        help="with --replicas N: measure 1 replica, then N, and report the ratio of their scores per second",
    )
    parser.add_argument("--out", default="reports/reward_service_load.json", help="JSON report path")
    args = parser.parse_args(argv)
    if args.replicas is not None and (args.url or args.replicas < 1 or args.workers_per_replica < 1):
        parser.error("--replicas needs no --url, and N >= 1 and --workers-per-replica >= 1")
    if args.compare_replicas and args.replicas is None:
        parser.error("--compare-replicas needs --replicas N")

    samples = build_samples(args.suite, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    modes = [("batched", args.server_config)]
    if args.compare_unbatched and not args.url:
        modes.append(("unbatched", {**(args.server_config or {}), "batch_items": 1, "batch_window": 0.0}))
    logs = Path(tempfile.mkdtemp(prefix="reward_service_load_"))
    results: dict[str, dict] = {}
    simulator = None
    # Replica counts to measure: None is the one server started as before (or --url).
    counts: list[int | None] = [None]
    if args.replicas is not None:
        counts = [1, args.replicas] if args.compare_replicas and args.replicas != 1 else [args.replicas]
    for name, overrides in modes:
        for count in counts:
            key = name if count is None else f"{name}, replicas={count}"
            servers: list[tuple[subprocess.Popen, str]] = []
            if count is not None:
                servers = start_replicas(count, args.workers_per_replica, overrides, logs, key.replace(", ", "_"))
                urls = [url for _, url in servers]
            elif args.url is None:
                servers = [start_server(overrides, logs / f"{name}.server.log")]
                urls = [servers[0][1]]
            else:
                urls = [u.strip() for u in args.url.split(",") if u.strip()]
            try:
                simulator = httpx.get(urls[0] + "/health", timeout=10).json().get("simulator")
                for per_prompt in args.samples_per_prompt:
                    print(
                        f"{key}, {per_prompt} sample(s) per prompt: {args.clients} clients for {args.seconds:g} s "
                        f"(+{args.warmup:g} s warm-up) against {', '.join(urls)}"
                    )
                    stream = SampleStream(samples, per_prompt, args.seed)
                    target = urls[0] if len(urls) == 1 else urls
                    pids = [proc.pid for proc, _ in servers]
                    r = asyncio.run(run_load(target, stream, args.clients, args.seconds, args.warmup, pids))
                    results.setdefault(key, {})[f"samples_per_prompt={per_prompt}"] = r
                    print(
                        f"  {r['scores_per_second']} scores/s, latency median {r['latency_ms']['median']} ms, "
                        f"p95 {r['latency_ms']['p95']} ms, errors {r['errors']}, "
                        f"{r['server_batching']['mean_items_per_batch']} items per micro-batch, "
                        f"{r['server_batching']['mean_items_per_score_many_call']} per score_many call"
                    )
                    if "cpu" in r:
                        print("  CPU cores busy: " + ", ".join(
                            f"{k.removesuffix('_cores')} {v}" for k, v in r["cpu"].items() if k.endswith("_cores")
                        ) + f"; servers {r['cpu'].get('servers_core_ms_per_score')} core-ms per score")
                    if "replicas" in r:
                        print("  per replica (requests): " + ", ".join(str(x["requests"]) for x in r["replicas"]))
            finally:
                for proc, _ in servers:
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
    if args.replicas is not None:
        report["settings"].update(
            replicas=counts,
            workers_per_replica=args.workers_per_replica,
            replica_routing="request by request to the next replica in turn (itertools.cycle over the URLs, shared "
            "by all clients), as OpenRLHF's SingleTurnAgentExecutor does over a comma-separated --reward.remote_url",
        )
    if args.compare_replicas and len(counts) == 2:
        report["replica_comparison"] = replica_comparison(results, [name for name, _ in modes], counts)
        for name, per_prompt in report["replica_comparison"].items():
            for key, c in per_prompt.items():
                print(f"{name}, {key}: {c['scores_per_second']} scores/s, ratio {c['ratio']}")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
