"""Verifier speed benchmark: how fast is ``check_equivalence`` on real designs?

Runs every shared benchmark reference against itself (the candidate is the reference
with its top renamed, as a correct answer would be) and against mutants of it, and
writes a JSON report with:

* latency: wall time of single ``check_equivalence`` calls made one after another
  (median, p95, max): the first check of each reference against itself (``self``: the
  golden is simulated alongside and recorded), the same check repeated once the golden's
  record is cached in every worker (``self_repeat``: the usual case in RL, where one
  problem is checked for many rollouts), single-clock designs, and mutants;
* by_simulator: Icarus's and Verilator's cost per check on a sample of references, one
  check after another in one process: first check, repeat, batches of 8 and 16 mutants
  (:func:`per_check_cost`; ``--simulators-only`` measures just this part);
* profile: where a repeat check's time goes (single-clock references, golden recorded):
  the checker's own timings (analysis, compile, simulate), the rest of the check in its
  worker (testbench text, renaming, files, result parsing), the pool's hand-over, and the
  floor: ``iverilog`` and ``vvp`` run bare on the very files of a check, and the cost of
  starting a sandboxed process (:func:`profile`; ``--profile-only`` measures just this);
* throughput: checks per second when everything is submitted at once with
  ``check_requests`` (all cores, grouped simulations), on fresh workers (first pass)
  four times again (golden records cached, slow problems scheduled first; a record lives
  in the worker that made it, and a worker records a golden it has not seen yet, so the
  second and third passes still record some goldens; by the fifth, every worker holds
  nearly every record: the steady state of a service checking the same problems).

    python -m perf.verifier_speed [--data ../shared/benchmarks] [--out reports/verifier_speed.json]

Targets (issue 18): median single-clock repeat check <= 10 ms; >= 500 checks/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.references import Reference
from perf import add_data_argument, references_or_exit, time_stats
from verilog_env import (
    CheckRequest,
    CheckSettings,
    Status,
    check_equivalence,
    check_many,
    check_requests,
    shutdown,
)
from verilog_env.equiv.settings import DEFAULT_CYCLES
from verilog_env.hdl.design import DesignError, analyze
from verilog_env.sim import icarus, sandbox, verilator
from verilog_env.testing.mutation import mutants


def _clock_count(ref: Reference) -> int | None:
    try:
        return len(analyze(ref.golden, name="golden.v", role="golden", top=ref.golden_top).clocks)
    except DesignError:
        return None


def per_check_cost(refs: list[Reference], simulator: str) -> dict:
    """Wall time per check with ``simulator``, one check after another in this process
    (``batch_size`` 16): a reference's first check against itself (its golden recorded), the
    same check repeated (record cached), and batches of 8 and 16 distinct mutants of it (one
    build, one run each). Medians over the references whose self-check is equivalent."""
    settings = CheckSettings(simulator=simulator, batch_size=16, isolate=False)
    first, repeat, batch8, batch16 = [], [], [], []
    for ref in refs:
        def timed(candidates, ref=ref):
            t0 = time.perf_counter()
            verdicts = check_many(ref.golden, candidates, settings, top=ref.golden_top, candidate_top=ref.candidate_top)
            return (time.perf_counter() - t0) / len(candidates), verdicts

        seconds, verdicts = timed([ref.as_candidate()])
        if not verdicts[0].equivalent:
            continue
        first.append(seconds)
        repeat.append(timed([ref.as_candidate()])[0])
        texts = [ref.as_candidate(m.text) for m in mutants(ref.golden, seed=0, limit=16)]
        if len(texts) == 16:
            batch8.append(timed(texts[:8])[0])
            batch16.append(timed(texts)[0])

    def ms(xs):
        return round(1000 * statistics.median(xs), 1) if xs else None

    return {"references": len(first), "first_check_ms": ms(first), "repeat_check_ms": ms(repeat),
            "batch_of_8_ms_per_check": ms(batch8), "batch_of_16_ms_per_check": ms(batch16)}


def profile(refs: list[Reference], repeats: int = 5) -> dict:
    """Where a repeat check's time goes, medians over ``refs`` (each checked against itself
    with its golden recorded, ``repeats`` times): see the module docstring."""
    import shutil
    import subprocess
    import tempfile

    in_process = CheckSettings(isolate=False, seed=0)
    kept = Path(tempfile.mkdtemp(prefix="profile_"))
    parts: dict[str, list[float]] = {k: [] for k in (
        "pool_check", "in_process_check", "analysis", "compile", "simulate", "rest_in_worker", "pool_handover",
        "bare_iverilog", "bare_vvp", "sandboxed_true")}
    original_exit = sandbox.Workdir.__exit__

    def keep_exit(self, *exc):  # keep the last candidate run's files for the bare runs
        if (self.path / "tb.v").exists() and any(self.path.glob("candidate*.v")):
            shutil.rmtree(kept / "run", ignore_errors=True)
            shutil.copytree(self.path, kept / "run")
        original_exit(self, *exc)

    try:
        for ref in refs:
            args = (ref.golden, ref.as_candidate())
            kw = {"top": ref.golden_top, "candidate_top": ref.candidate_top, "seed": 0}
            if not check_equivalence(*args, settings=in_process, **kw).equivalent:
                continue
            for _ in range(os.cpu_count() or 1):
                check_equivalence(*args, **kw)  # every worker has the golden's record
            for _ in range(repeats):
                t0 = time.perf_counter()
                check_equivalence(*args, **kw)
                parts["pool_check"].append(time.perf_counter() - t0)
                sandbox.Workdir.__exit__ = keep_exit
                try:
                    t0 = time.perf_counter()
                    verdict = check_equivalence(*args, settings=in_process, **kw)
                    wall = time.perf_counter() - t0
                finally:
                    sandbox.Workdir.__exit__ = original_exit
                t = verdict.timings
                parts["in_process_check"].append(wall)
                parts["analysis"].append(t.get("analyze", 0.0))
                parts["compile"].append(t.get("compile", 0.0))
                parts["simulate"].append(t.get("simulate", 0.0))
                parts["rest_in_worker"].append(wall - t.get("analyze", 0.0) - t.get("compile", 0.0) - t.get("simulate", 0.0))
                parts["pool_handover"].append(parts["pool_check"][-1] - wall)
                run = kept / "run"
                files = ["tb.v", *sorted(f.name for f in run.glob("candidate*.v"))]
                top = next(line.split()[1].rstrip(";(") for line in (run / "tb.v").read_text().splitlines()
                           if line.startswith("module "))
                iverilog, vvp = icarus.tools()
                for name, argv in (("bare_iverilog", [iverilog, "-g2012", "-o", "bare.vvp", "-s", top, *files]),
                                   ("bare_vvp", [vvp, "-n", "bare.vvp"]),
                                   ("sandboxed_true", None)):
                    t0 = time.perf_counter()
                    if argv is None:
                        sandbox.run(["/bin/true"], run, sandbox.Limits())
                    else:
                        subprocess.run(argv, cwd=run, capture_output=True, check=True)
                    parts[name].append(time.perf_counter() - t0)
        # The fixed cost of the two processes: an empty design compiled and run, bare.
        iverilog, vvp = icarus.tools()
        empty = kept / "empty"
        empty.mkdir()
        (empty / "e.v").write_text("module e; initial $finish; endmodule\n")
        for _ in range(20):
            for name, argv in (("empty_iverilog", [iverilog, "-o", "e.vvp", "e.v"]), ("empty_vvp", [vvp, "-n", "e.vvp"])):
                t0 = time.perf_counter()
                subprocess.run(argv, cwd=empty, capture_output=True, check=True)
                parts.setdefault(name, []).append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(kept, ignore_errors=True)
    medians = {f"{k}_ms": round(1000 * statistics.median(v), 2) for k, v in parts.items() if v}
    medians["floor_ms"] = round(medians["bare_iverilog_ms"] + medians["bare_vvp_ms"], 2)
    medians["checks"] = len(parts["pool_check"])
    medians["references"] = len(parts["pool_check"]) // max(1, repeats)
    return medians


def _update(path: Path, key: str, value: dict) -> int:
    """Write one section into the existing report (``--profile-only``, ``--simulators-only``)."""
    report = json.loads(path.read_text()) if path.exists() else {"benchmark": "verifier_speed"}
    report[key] = value
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(value, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_argument(parser)
    parser.add_argument("--limit", type=int, default=0, help="only the first N references (0: all; a quick run)")
    parser.add_argument("--out", type=Path, default=Path("reports/verifier_speed.json"))
    parser.add_argument("--mutants-per-ref", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=DEFAULT_CYCLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulator-sample", type=int, default=12,
                        help="references (every k-th) for the per-simulator costs (by_simulator)")
    parser.add_argument("--simulators-only", action="store_true",
                        help="only the per-simulator costs, written into the existing report")
    parser.add_argument("--profile-sample", type=int, default=24,
                        help="single-clock references (every k-th) for the profile of a repeat check")
    parser.add_argument("--profile-only", action="store_true",
                        help="only the profile, written into the existing report")
    args = parser.parse_args(argv)

    refs = references_or_exit(args.data, "verifier_speed")[: args.limit or None]
    single = [ref for ref in refs if _clock_count(ref) == 1]
    breakdown = profile(single[:: max(1, len(single) // max(1, args.profile_sample))][: args.profile_sample])
    if args.profile_only:
        return _update(args.out, "profile", breakdown)
    step = max(1, len(refs) // max(1, args.simulator_sample))
    by_simulator = {name: per_check_cost(refs[::step][:args.simulator_sample], name) for name in ("icarus", "verilator")}
    by_simulator["versions"] = {"icarus": icarus.version(), "verilator": verilator.version()}
    if args.simulators_only:
        return _update(args.out, "by_simulator", by_simulator)
    requests: list[tuple[str, CheckRequest, Reference]] = []
    for ref in refs:
        requests.append(("self", CheckRequest(ref.golden, ref.as_candidate(), ref.golden_top, ref.candidate_top), ref))
        for mutant in mutants(ref.golden, seed=args.seed, limit=args.mutants_per_ref):
            text = ref.as_candidate(mutant.text)
            requests.append(("mutant", CheckRequest(ref.golden, text, ref.golden_top, ref.candidate_top), ref))

    clocks = {ref.key: _clock_count(ref) for ref in refs}
    check_equivalence(refs[0].golden, refs[0].as_candidate(), top=refs[0].golden_top)  # start the worker pool

    latency: dict[str, list[float]] = {
        "self": [], "self_single_clock": [], "self_repeat": [], "self_repeat_single_clock": [], "mutant": [], "all": []
    }
    statuses: dict[str, dict[str, int]] = {"self": {}, "mutant": {}}
    for kind, request, ref in tqdm(requests, desc="latency (one check at a time)", unit="check"):
        start = time.perf_counter()
        verdict = check_equivalence(
            request.golden, request.candidate, top=request.top, candidate_top=request.candidate_top,
            seed=args.seed, cycles=args.cycles,
        )
        elapsed = time.perf_counter() - start
        latency[kind].append(elapsed)
        latency["all"].append(elapsed)
        single_clock = clocks[ref.key] is not None and clocks[ref.key] <= 1
        if kind == "self" and single_clock:
            latency["self_single_clock"].append(elapsed)
        statuses[kind][verdict.status.value] = statuses[kind].get(verdict.status.value, 0) + 1
        if kind == "self":  # once more per worker, then time a check with the record cached
            for _ in range(os.cpu_count() or 1):
                check_equivalence(request.golden, request.candidate, top=request.top,
                                  candidate_top=request.candidate_top, seed=args.seed, cycles=args.cycles)
            start = time.perf_counter()
            check_equivalence(request.golden, request.candidate, top=request.top,
                              candidate_top=request.candidate_top, seed=args.seed, cycles=args.cycles)
            repeat = time.perf_counter() - start
            latency["self_repeat"].append(repeat)
            if single_clock:
                latency["self_repeat_single_clock"].append(repeat)

    # Throughput: everything at once, first with fresh workers (nothing cached, costs
    # unknown), then again (golden records cached, slow problems scheduled first).
    throughput = {}
    for phase in ("first_pass", "second_pass", "third_pass", "fourth_pass", "fifth_pass"):
        if phase == "first_pass":
            shutdown()  # fresh workers, and the goldens' costs forgotten
        start = time.perf_counter()
        verdicts = check_requests([r for _, r, _ in requests], seed=args.seed, cycles=args.cycles, progress=True)
        seconds = time.perf_counter() - start
        throughput[phase] = {
            "checks": len(requests),
            "seconds": round(seconds, 2),
            "checks_per_second": round(len(requests) / seconds, 1),
            "equivalent": sum(v.status is Status.EQUIVALENT for v in verdicts),
        }

    report = {
        "benchmark": "verifier_speed",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "simulator": icarus.version(),
            "platform": platform.platform(),
        },
        "settings": {"cycles": args.cycles, "seed": args.seed, "mutants_per_ref": args.mutants_per_ref,
                     **({"limit": args.limit} if args.limit else {})},
        "references": len(refs),
        "checks": len(requests),
        "latency": {kind: time_stats(values) for kind, values in latency.items()},
        "statuses": statuses,
        "throughput": throughput,
        "profile": breakdown,
        "by_simulator": by_simulator,
        "targets": {
            "median_single_clock_repeat_check_ms<=10": latency["self_repeat_single_clock"] != []
            and statistics.median(latency["self_repeat_single_clock"]) <= 0.010,
            "fifth_pass_checks_per_second>=500": throughput["fifth_pass"]["checks_per_second"] >= 500,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("latency", "throughput", "targets")}, indent=2))
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
