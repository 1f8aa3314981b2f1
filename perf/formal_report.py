"""Formal equivalence on the shared references: what it proves, what it adds to simulation.

Two parts, both on the shared benchmark references (VerilogEval v2, RTLLM v1.1):

* **self**: every reference against itself (top renamed, as a correct answer names it),
  with ``method="formal"``. Each must come out ``proven``, or ``bounded``/``unknown``
  with the reason; the report counts results and reasons, lists every non-proof with
  its reason, and lists every reference (``per_reference``: status, result, engine,
  seconds).
* **simulation misses**: the mutants listed as missed by the simulation checker in
  ``reports/mutants.json`` (rejected by the benchmarks' own testbenches), re-checked
  with ``method="both"``.
* **mutants**: seeded single-point mutants of every reference
  (:mod:`verilog_env.testing.mutation`), checked with ``method="both"``: simulation
  first, then formal on the mutants simulation passes. Counted: how many simulation
  rejects, how many it passes, and of those how many formal refutes (a bug random
  simulation missed, with the counterexample), proves equivalent (the mutation changed
  nothing observable), or leaves bounded/unknown. Also the time formal adds per check.
* **benign**: the cost of ``method="both"`` with ``formal_fallback="reject"`` on answers
  that are right: every reference against itself (top renamed), every equivalent
  rewrite of every reference that ``tests/rewrites.py`` makes (as ``tests/test_rewrites.py``
  does) and every golden of the ``starter`` suite against itself. Counted: how many
  simulation passes, how many of those ``both`` no longer accepts (listed, with the
  reason), and how formal ended on the rest (proven, bounded, unknown because of the
  reference).

    python -m perf.formal_report [--per-ref 3] [--budget 10] [--out reports/formal.json] [--no-benign]

All checks go through ``check_requests`` and so use every core.

What ``--budget`` bounds, and what it does not (the golden's one-off synthesis, the
replays in Icarus): :data:`BUDGET_NOTE`, which the report also carries.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

from benchmarks.references import Reference
from perf import add_data_argument, references_or_exit, time_stats
from perf.mutation_report import sample_mutants
from verilog_env import (
    CheckRequest,
    Status,
    check_requests,
    formal,
    load_suite,
    shutdown,
)
from verilog_env.sim import icarus


def _request(ref: Reference, text: str | None = None) -> CheckRequest:
    """``text`` (default: the golden), named as a solution, checked against ``ref``'s golden."""
    return CheckRequest(ref.golden, ref.as_candidate(text), ref.golden_top, ref.candidate_top)


def _formal(verdict) -> dict:
    return verdict.details.get("formal") or {}


def _seconds(verdict) -> tuple[float, float]:
    """(formal seconds of the check, of which the golden's Yosys synthesis)."""
    total = verdict.timings.get("formal", verdict.timings.get("total", 0.0))
    return total, verdict.timings.get("yosys_golden", 0.0)


BUDGET_NOTE = (
    "budget_s bounds the candidate's side of each check (analysis, Yosys synthesis, miter, proof engines, "
    "deep runs). The golden's Yosys synthesis has its own wall-clock bound, max(10, 2 * budget_s) s, and is "
    "done once per problem (cached per formal worker). Also outside the budget: the golden-X check after a "
    "proof (at most 2 s), compiling a proven candidate in Icarus, replaying a counterexample in Icarus. "
    "In 'self' every reference is a new golden, so seconds_per_check includes one golden synthesis per check; "
    "seconds_per_check_excluding_golden_synthesis leaves it out."
)


def _reason_key(info: dict) -> str:
    """A short, countable reason for a non-proof."""
    result = info.get("result")
    if result == "bounded":
        return "bounded: no proof within the budget"
    reason = info.get("reason", "")
    reason = re.sub(r"line \d+", "line N", reason)
    reason = re.sub(r"`[^']*'", "`...'", reason)
    reason = re.sub(r"golden\.v:\d+: ", "", reason)
    return f"{info.get('code', 'unknown')}: {reason[:120]}"


def run_self(refs: list[Reference], budget: float, seed: int) -> dict:
    requests = [_request(r) for r in refs]
    started = time.perf_counter()
    verdicts = check_requests(requests, method="formal", formal_budget=budget, seed=seed, progress=True)
    elapsed = time.perf_counter() - started
    counts: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    engines: collections.Counter = collections.Counter()
    leaning_on_x = 0
    listed, seconds, without_golden, per_reference = [], [], [], []
    for ref, verdict in zip(refs, verdicts):
        info = _formal(verdict)
        result = info.get("result") or f"status:{verdict.status.value}"
        counts[result] += 1
        if result == "proven":
            engines[info.get("engine", "?")] += 1
            leaning_on_x += bool(info.get("golden_x"))
        total, golden = _seconds(verdict)
        seconds.append(total)
        without_golden.append(max(0.0, total - golden))
        per_reference.append(
            {"ref": ref.key, "status": verdict.status.value, "result": result, "engine": info.get("engine"),
             "seconds": round(total, 3), "golden_synthesis_s": round(golden, 3)}
        )
        if result != "proven":
            reasons[_reason_key(info) if info else verdict.reason[:120]] += 1
            listed.append(
                {
                    "ref": ref.key,
                    "status": verdict.status.value,
                    "result": result,
                    "depth_cycles": info.get("depth"),
                    "reason": verdict.reason[:400],
                }
            )
    return {
        "references": len(refs),
        "counts": dict(counts),
        "proofs_by_engine": dict(engines),
        "proofs_where_golden_outputs_can_be_x": leaning_on_x,
        "non_proven_by_reason": dict(reasons.most_common()),
        "non_proven": listed,
        "seconds_per_check": time_stats(seconds, "s"),
        "seconds_per_check_excluding_golden_synthesis": time_stats(without_golden, "s"),
        "wall_seconds": round(elapsed, 1),
        "per_reference": per_reference,
    }


def run_mutants(refs: list[Reference], per_ref: int, budget: float, seed: int, cycles: int) -> dict:
    jobs = []
    for ref in refs:
        jobs.extend((ref, mutant) for mutant in sample_mutants(ref, per_ref, seed))
    requests = [_request(r, m.text) for r, m in jobs]
    started = time.perf_counter()
    verdicts = check_requests(requests, method="both", formal_budget=budget, seed=seed, cycles=cycles, progress=True)
    elapsed = time.perf_counter() - started

    sim_status: collections.Counter = collections.Counter()
    after_sim: collections.Counter = collections.Counter()
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    reasons: collections.Counter = collections.Counter()
    added, added_without_golden, refuted, proven, undecided = [], [], [], [], []
    for (ref, mutant), verdict in zip(jobs, verdicts):
        info = _formal(verdict)
        simulated = verdict.details.get("simulation", {}).get("status") if info.get("result") == "refuted" else verdict.status.value
        if not info:  # simulation rejected it (or it never ran): formal was not asked
            sim_status[verdict.status.value] += 1
            by_kind[mutant.kind]["sim_rejected"] += 1
            continue
        sim_status[simulated] += 1
        result = info["result"]
        after_sim[result] += 1
        by_kind[mutant.kind][f"sim_passed_formal_{result}"] += 1
        total, golden = _seconds(verdict) if "formal" in verdict.timings else (info.get("seconds", 0.0), 0.0)
        added.append(total)
        added_without_golden.append(max(0.0, total - golden))
        entry = {"ref": ref.key, "kind": mutant.kind, "mutation": mutant.description}
        if result == "refuted":
            cex = verdict.counterexample
            refuted.append(
                {**entry, "engine": info.get("engine"), "tick": cex.tick if cex else None,
                 "output": cex.mismatched[0] if cex else None, "reason": verdict.reason[:300]}
            )
        elif result == "proven":
            proven.append(entry)
        else:
            reasons[_reason_key(info)] += 1
            undecided.append({**entry, "result": result, "depth_cycles": info.get("depth"), "reason": info.get("reason", "")[:300]})
    total_added = sum(added)
    return {
        "mutants": len(jobs),
        "simulation": dict(sim_status),
        "simulation_passed": sum(after_sim.values()),
        "formal_on_simulation_passed": dict(after_sim),
        "refuted_only_by_formal": len(refuted),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "added_seconds_when_formal_runs": time_stats(added, "s"),
        "added_seconds_when_formal_runs_excluding_golden_synthesis": time_stats(added_without_golden, "s"),
        "added_seconds_per_mutant_overall": round(total_added / max(1, len(jobs)), 4),
        "undecided_by_reason": dict(reasons.most_common()),
        "refuted": refuted,
        "proven_equivalent_mutants": proven,
        "undecided": undecided,
        "wall_seconds": round(elapsed, 1),
    }


def run_known_misses(refs: list[Reference], path: Path, budget: float, cycles: int) -> dict:
    """Re-check the mutants the simulation checker is known to miss (``reports/mutants.json``:
    its ``missed`` list, mutants the benchmarks' own testbenches reject) with method="both"."""
    data = json.loads(path.read_text())
    by_key = {r.key: r for r in refs}
    jobs = []
    for entry in data.get("missed", []):
        ref = by_key.get(entry["ref"])
        if ref is None:
            continue
        for mutant in sample_mutants(ref, data["per_ref"], data["seed"]):
            if mutant.description == entry["mutant"]:
                jobs.append((ref, mutant))
                break
    requests = [_request(r, m.text) for r, m in jobs]
    verdicts = check_requests(requests, method="both", formal_budget=budget, seed=data["seed"], cycles=cycles)
    counts: collections.Counter = collections.Counter()
    listed = []
    for (ref, mutant), verdict in zip(jobs, verdicts):
        info = _formal(verdict)
        result = info.get("result", f"simulation:{verdict.status.value}")
        counts[result] += 1
        cex = verdict.counterexample
        listed.append({"ref": ref.key, "mutation": mutant.description, "result": result,
                       "engine": info.get("engine"), "tick": cex.tick if cex is not None else None,
                       "depth_cycles": info.get("depth"), "reason": verdict.reason[:300]})
    return {"source": str(path), "listed": len(data.get("missed", [])), "found": len(jobs),
            "formal": dict(counts), "mutants": listed}


def benign_answers(refs: list[Reference]) -> list[tuple[str, CheckRequest]]:
    """(label, request) for every right answer of the benign part (see the module docstring)."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    from rewrites import ALL_REWRITES

    out = []
    for ref in refs:
        out.append((f"{ref.key} (itself)", _request(ref)))
        for name, rewrite in ALL_REWRITES.items():
            text = rewrite(ref.golden, ref.golden_top)
            if text is not None:
                out.append((f"{ref.key} ({name})", _request(ref, text)))
    for problem in load_suite("starter"):
        out.append((f"starter/{problem.id} (itself)", CheckRequest(problem.golden, problem.golden, problem.top)))
    return out


def run_benign(refs: list[Reference], budget: float, seed: int, cycles: int) -> dict:
    answers = benign_answers(refs)
    requests = [request for _, request in answers]
    started = time.perf_counter()
    simulated = check_requests(requests, seed=seed, cycles=cycles, progress=True)
    verdicts = check_requests(requests, method="both", formal_budget=budget, seed=seed, cycles=cycles, progress=True)
    elapsed = time.perf_counter() - started
    kinds: collections.Counter = collections.Counter(label.rsplit(" (", 1)[1].rstrip(")") for label, _ in answers)
    passed = [k for k, v in enumerate(simulated) if v.status is Status.EQUIVALENT]
    outcome: collections.Counter = collections.Counter()
    unproven: collections.Counter = collections.Counter()
    lost = []
    for k in passed:
        verdict, info = verdicts[k], _formal(verdicts[k])
        if verdict.status is Status.EQUIVALENT:
            result = info.get("result", "?")
            outcome[f"accepted: {result}" + (f" ({info['blame']})" if result == "unknown" else "")] += 1
            if result != "proven":
                unproven[f"{answers[k][0].rsplit(' (', 1)[0]}: {_reason_key(info)}"] += 1
        else:
            outcome[f"not accepted: {verdict.status.value}"] += 1
            lost.append({"answer": answers[k][0], "status": verdict.status.value, "formal": info.get("result"),
                         "code": info.get("code"), "reason": verdict.reason[:400]})
    return {
        "answers": len(answers),
        "by_kind": dict(kinds),
        "simulation_passed": len(passed),
        "both": dict(outcome),
        "no_longer_accepted": len(lost),
        "no_longer_accepted_fraction": round(len(lost) / max(1, len(passed)), 5),
        "no_longer_accepted_list": lost,
        "accepted_unproven_by_reference": dict(sorted(unproven.items())),
        "wall_seconds": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("reports/formal.json"))
    parser.add_argument("--per-ref", type=int, default=3, help="mutants per reference (0: skip the mutant part)")
    parser.add_argument("--budget", type=float, default=10.0, help="formal seconds per check")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="only the first N references (0: all)")
    parser.add_argument("--missed", type=Path, default=Path("reports/mutants.json"),
                        help="mutation report whose simulation misses are re-checked (skipped if absent)")
    parser.add_argument("--no-benign", action="store_true", help="skip the benign part (right answers under method=both)")
    args = parser.parse_args(argv)

    formal.tools()
    refs = references_or_exit(args.data, "formal_report")
    if args.limit:
        refs = refs[: args.limit]
    started = time.perf_counter()
    report = {
        "benchmark": "formal_report",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "tools": {"yosys": formal.version(), "abc": formal.tools().abc, "simulator": icarus.version()},
        "settings": {"budget_s": args.budget, "per_ref": args.per_ref, "seed": args.seed, "cycles": args.cycles,
                     "golden_synthesis_bound_s": max(10.0, 2 * args.budget)},
        "budget_note": BUDGET_NOTE,
        "self": run_self(refs, args.budget, args.seed),
    }
    if args.per_ref > 0:
        report["mutants"] = run_mutants(refs, args.per_ref, args.budget, args.seed, args.cycles)
    if args.missed.is_file() and not args.limit:
        report["simulation_misses"] = run_known_misses(refs, args.missed, args.budget, args.cycles)
    if not args.no_benign:
        report["benign"] = run_benign(refs, args.budget, args.seed, args.cycles)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    shutdown()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    summary = {
        "self": {k: report["self"][k] for k in (
            "counts", "proofs_by_engine", "proofs_where_golden_outputs_can_be_x", "non_proven_by_reason",
            "seconds_per_check", "seconds_per_check_excluding_golden_synthesis")},
    }
    if "mutants" in report:
        m = report["mutants"]
        summary["mutants"] = {k: m[k] for k in (
            "mutants", "simulation", "simulation_passed", "formal_on_simulation_passed",
            "refuted_only_by_formal", "added_seconds_when_formal_runs",
            "added_seconds_when_formal_runs_excluding_golden_synthesis", "added_seconds_per_mutant_overall")}
    if "simulation_misses" in report:
        summary["simulation_misses"] = {k: report["simulation_misses"][k] for k in ("listed", "found", "formal")}
    if "benign" in report:
        b = report["benign"]
        summary["benign"] = {k: b[k] for k in (
            "answers", "simulation_passed", "both", "no_longer_accepted", "no_longer_accepted_fraction")}
        summary["benign"]["no_longer_accepted_list"] = [f"{x['answer']}: {x['reason'][:160]}" for x in b["no_longer_accepted_list"]]
    summary["wall_seconds"] = report["wall_seconds"]
    print(json.dumps(summary, indent=2))
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
