"""Verilator beside Icarus on the shared references: fidelity and per-check cost.

* ``references``: every shared reference checked against itself with
  ``simulator="both"``: how many are equivalent, and who judged them (a reference Icarus 11
  cannot compile is judged by Verilator alone);
* ``long_runs``: cycles per second of a long run (2^18 cycles by default) in each simulator,
  a 20-bit counter and three clocked references (Verilator builds long runs with ``-O1``);
* ``cost``: on a sample of references, wall time per check for each simulator, one check
  after another in one worker (``batch_size`` 16): the first check of a reference (its
  golden recorded: for Verilator, two builds), the same check repeated (record cached),
  and a batch of 8 and of 16 distinct mutants of one reference (one build per batch).

    python -m perf.verilator_report [--data ../shared/benchmarks] [--out reports/verilator.json] [--sample 12]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
from pathlib import Path

from perf import add_data_argument, references_or_exit
from perf.verifier_speed import per_check_cost
from verilog_env import (
    CheckRequest,
    CheckSettings,
    check_many,
    check_requests,
    shutdown,
)
from verilog_env.sim import icarus, verilator


def references_under_both(refs) -> dict:
    started = time.perf_counter()
    verdicts = check_requests([CheckRequest(r.golden, r.as_candidate(), r.golden_top, r.candidate_top) for r in refs],
                              simulator="both", progress=True)
    judged = collections.Counter("+".join(v.details.get("checked_by", [])) for v in verdicts)
    return {
        "references": len(refs),
        "equivalent": sum(v.equivalent for v in verdicts),
        "checked_by": dict(judged),
        "not_equivalent": [f"{r.key}: {v.summary()[:300]}" for r, v in zip(refs, verdicts) if not v.equivalent],
        "seconds": round(time.perf_counter() - started, 1),
    }


COUNTER_20 = """module top_module(input clk, input reset, input en, output reg [19:0] q, output wrap);
  assign wrap = (q == 20'd999999);
  always @(posedge clk) if (reset) q <= 0; else if (en) q <= wrap ? 20'd0 : q + 20'd1;
endmodule
"""


def long_runs(refs, cycles: int) -> dict:
    """Simulated cycles per second of a candidate's run (the reference against itself, the
    golden's record cached), each simulator, ``cycles`` cycles of the first clock."""
    designs = [("counter_20bit", COUNTER_20, COUNTER_20, None, None)]
    designs += [(r.key, r.golden, r.as_candidate(), r.golden_top, r.candidate_top) for r in refs]
    out = {}
    for name, golden, candidate, top, candidate_top in designs:
        row = {}
        for simulator in ("icarus", "verilator"):
            settings = CheckSettings(simulator=simulator, cycles=cycles, timeout=300, isolate=False)
            check_many(golden, [candidate], settings, top=top, candidate_top=candidate_top)  # record the golden
            verdict = check_many(golden, [candidate], settings, top=top, candidate_top=candidate_top)[0]
            ticks = verdict.details.get("ticks", 0)
            row[simulator] = {"status": verdict.status.value, "ticks": ticks,
                              "simulate_s": round(verdict.timings.get("simulate", 0.0), 3),
                              "compile_s": round(verdict.timings.get("compile", 0.0), 3),
                              "cycles_per_s": round(ticks / 2 / max(verdict.timings.get("simulate", 0.0), 1e-9))}
        row["verilator_over_icarus"] = round(row["verilator"]["cycles_per_s"] / max(row["icarus"]["cycles_per_s"], 1), 2)
        out[name] = row
    return {"cycles": cycles, "designs": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("reports/verilator.json"))
    parser.add_argument("--sample", type=int, default=12, help="references timed per simulator (every k-th)")
    parser.add_argument("--long-cycles", type=int, default=1 << 18, help="cycles of the long runs (default 2^18)")
    parser.add_argument("--only", choices=("references", "cost", "long"), help="one part of the report (a quick run)")
    args = parser.parse_args(argv)
    refs = references_or_exit(args.data, "verilator_report")
    verilator.runtime()
    # --only PART recomputes that part and keeps the others of an existing report
    report = json.loads(args.out.read_text()) if args.only and args.out.exists() else {}
    report |= {"benchmark": "verilator", "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "simulators": {"icarus": icarus.version(), "verilator": verilator.version()}}
    report.setdefault("commands", {})
    command = "python -m perf.verilator_report " + " ".join(argv if argv is not None else sys.argv[1:])
    step = max(1, len(refs) // max(1, args.sample))
    sample = refs[::step][:args.sample]
    if args.only in (None, "references"):
        report["references_both"] = references_under_both(refs)
        report["commands"]["references_both"] = command
        shutdown()
    if args.only in (None, "cost"):
        report["cost"] = {name: per_check_cost(sample, name) for name in ("icarus", "verilator")}
        report["commands"]["cost"] = command
    if args.only in (None, "long"):
        report["long_runs"] = long_runs([r for r in sample if "clk" in r.golden][:3], args.long_cycles)
        report["commands"]["long_runs"] = command
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "references_both"}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
