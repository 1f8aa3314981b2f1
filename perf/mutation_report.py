"""Mutation comparison: the benchmarks' own testbenches vs. the equivalence checker.

For every reference that passes its own testbench (:mod:`benchmarks.references`), take
seeded single-point mutants (:mod:`verilog_env.testing.mutation`), run each through the
benchmark's own testbench (``benchmarks.verilogeval`` / ``benchmarks.rtllm`` official
scoring, :meth:`~benchmarks.references.Reference.run_official`) and through
``verilog_env.check_many`` (one call per reference, all its mutants), and count per
mutation kind:

- ``mutants``: generated (and elaborated by pyslang);
- ``official_rejected``: the benchmark's own testbench fails the mutant;
- ``caught``: official rejects it and the checker says anything but ``equivalent``;
- ``missed``: official rejects it but the checker says ``equivalent`` (listed one by one);
- ``checker_only``: the checker rejects it but the official testbench passes it (allowed:
  the checker may be stricter than a testbench that samples fewer points).

Usage (from the repository root)::

    python -m perf.mutation_report --out reports/mutants.json [--per-ref N] [--seed S] [--method both]
        [--simulator verilator|both] [--data PATH]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import verilog_env
from benchmarks.references import Reference, load_references
from perf import add_data_argument, references_or_exit
from verilog_env.testing.mutation import KINDS, Mutant, mutants

# Why the checker (default settings: 1,000 cycles, seed 0) misses what a benchmark's own
# testbench catches: the causes found by investigating every miss of `--per-ref 12
# --seed 0` (re-running each with more cycles and reading the testbenches).
DEPTH = (
    "needs more reset-free cycles than the default run has: the official testbench runs "
    "thousands of cycles (calendar: minutes and hours roll over after 3,540+ cycles)"
)
SEQUENCE = (
    "needs a particular long input sequence (e.g. `ground` low for exactly 19-21 cycles "
    "while walking, six 1s then a 0 right after a flag, a load of 256+ then 256 cycles "
    "without one) that seed 0's default run does not produce; `cycles=4000` catches some, "
    "formal (`method=\"both\"`) all"
)

MISS_CAUSES: dict[str, str] = {
    "calendar": DEPTH,
    "Prob155_lemmings4": SEQUENCE,
    "Prob119_fsm3": SEQUENCE,
    "Prob140_fsm_hdlc": SEQUENCE,
    "Prob080_timer": SEQUENCE,
    "Prob139_2013_q2bfsm": SEQUENCE,
    "multi_16bit": SEQUENCE,
}


def miss_cause(ref_key: str) -> str:
    return MISS_CAUSES.get(ref_key.rsplit("/", 1)[-1], "not investigated")


@dataclasses.dataclass
class Record:
    ref: str
    kind: str
    description: str
    official_passed: bool
    official_code: str
    official_detail: str
    official_seconds: float
    checker_status: str = ""
    checker_reason: str = ""

    @property
    def official_rejected(self) -> bool:
        return not self.official_passed

    @property
    def checker_rejected(self) -> bool:
        return self.checker_status != verilog_env.Status.EQUIVALENT.value

    @property
    def missed(self) -> bool:
        return self.official_rejected and not self.checker_rejected


def reference_seed(ref: Reference, seed: int) -> int:
    """A stable per-reference seed, so kinds rotate across references."""
    return zlib.crc32(f"{seed}:{ref.key}".encode())


def eligible_references(data: str | os.PathLike | None = None) -> list[Reference]:
    """The references that pass their own testbench (data root: see :func:`~benchmarks.references.load_references`)."""
    return [r for r in load_references(data) if r.passes_own_testbench]


def sample_mutants(ref: Reference, per_ref: int, seed: int = 0) -> list[Mutant]:
    return mutants(ref.golden, seed=reference_seed(ref, seed), limit=per_ref)


def evaluate(
    refs: list[Reference],
    per_ref: int | Callable[[Reference], int],
    *,
    seed: int = 0,
    threads: int = 2,
    workdir: str | os.PathLike | None = None,
    log=None,
    method: str = "sim",
    simulator: str = "icarus",
) -> list[Record]:
    """Run both judges on ``per_ref`` mutants of each reference; one record per mutant.

    ``per_ref`` is a number, or a function giving the number for a reference.
    """
    jobs: list[tuple[Reference, Mutant]] = []
    for ref in refs:
        count = per_ref(ref) if callable(per_ref) else per_ref
        jobs.extend((ref, m) for m in sample_mutants(ref, count, seed))
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="mutants_", dir=workdir))

    def official(index_job):
        index, (ref, mutant) = index_job
        run_dir = base / str(index)
        t0 = time.perf_counter()
        try:
            result = ref.run_official(ref.as_candidate(mutant.text), run_dir)
        finally:
            _rmtree(run_dir)
        return Record(
            ref=ref.key,
            kind=mutant.kind,
            description=mutant.description,
            official_passed=result.passed,
            official_code=result.code,
            official_detail=result.detail,
            official_seconds=round(time.perf_counter() - t0, 3),
        )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        records = list(pool.map(official, enumerate(jobs)))
    _rmtree(base)
    if log:
        log(f"official testbenches: {len(records)} mutants of {len(refs)} references "
            f"in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    by_ref: dict[str, list[int]] = collections.defaultdict(list)
    for i, (ref, _) in enumerate(jobs):
        by_ref[ref.key].append(i)
    for ref in refs:
        indices = by_ref.get(ref.key)
        if not indices:
            continue
        verdicts = verilog_env.check_many(
            ref.golden,
            [ref.as_candidate(jobs[i][1].text) for i in indices],
            top=ref.golden_top,
            candidate_top=ref.candidate_top,
            method=method,
            simulator=simulator,
        )
        for i, verdict in zip(indices, verdicts):
            records[i].checker_status = verdict.status.value
            records[i].checker_reason = verdict.reason[:400]
    if log:
        log(f"checker: {len(records)} mutants in {time.perf_counter() - started:.1f} s")
    return records


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def summarize(records: list[Record]) -> dict:
    kinds: dict[str, dict[str, int]] = {}
    for kind in list(KINDS) + ["total"]:
        rows = records if kind == "total" else [r for r in records if r.kind == kind]
        kinds[kind] = {
            "mutants": len(rows),
            "official_rejected": sum(r.official_rejected for r in rows),
            "caught": sum(r.official_rejected and r.checker_rejected for r in rows),
            "missed": sum(r.missed for r in rows),
            "checker_only": sum(r.checker_rejected and not r.official_rejected for r in rows),
            "both_accept": sum(not r.checker_rejected and not r.official_rejected for r in rows),
        }
    return kinds


def checker_status_counts(records: list[Record]) -> dict[str, int]:
    return dict(collections.Counter(r.checker_status for r in records))


def report(
    records: list[Record], *, per_ref: int, seed: int, refs: int, seconds: float, include_records: bool = True
) -> dict:
    return {
        "per_ref": per_ref,
        "seed": seed,
        "references": refs,
        "seconds": round(seconds, 1),
        "summary": summarize(records),
        "checker_statuses": checker_status_counts(records),
        "official_codes": dict(collections.Counter(r.official_code for r in records)),
        "slowest_official": sorted(
            ({"ref": r.ref, "mutant": r.description, "seconds": r.official_seconds} for r in records),
            key=lambda x: -x["seconds"],
        )[:5],
        "missed_by_cause": dict(collections.Counter(miss_cause(r.ref) for r in records if r.missed)),
        "missed": [
            {
                "ref": r.ref,
                "kind": r.kind,
                "mutant": r.description,
                "official": r.official_code,
                "official_detail": r.official_detail,
                "checker": r.checker_status,
                "cause": miss_cause(r.ref),
            }
            for r in records
            if r.missed
        ],
        "checker_only": [
            {"ref": r.ref, "kind": r.kind, "mutant": r.description, "checker": r.checker_status,
             "checker_reason": r.checker_reason[:200]}
            for r in records
            if r.checker_rejected and not r.official_rejected
        ],
        "records": [dataclasses.asdict(r) for r in records] if include_records else None,
    }


def format_summary(summary: dict) -> str:
    cols = ["mutants", "official_rejected", "caught", "missed", "checker_only", "both_accept"]
    lines = [f"{'kind':<12} " + " ".join(f"{c:>17}" for c in cols)]
    for kind, row in summary.items():
        lines.append(f"{kind:<12} " + " ".join(f"{row[c]:>17}" for c in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON report path")
    add_data_argument(parser)
    parser.add_argument("--per-ref", type=int, default=12, help="mutants per reference (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="parallel official testbench runs")
    parser.add_argument("--only", default=None, help="only references whose key contains this")
    parser.add_argument("--no-records", action="store_true", help="leave the per-mutant records out of the JSON")
    parser.add_argument("--method", default="sim", choices=("sim", "formal", "both"),
                        help="the checker's method (default sim; both: formal proof of what simulation passes)")
    parser.add_argument("--simulator", default="icarus", choices=("icarus", "verilator", "both"),
                        help="the checker's simulator (default icarus)")
    args = parser.parse_args(argv)

    eligible = [r for r in references_or_exit(args.data, "mutation_report") if r.passes_own_testbench]
    refs = [r for r in eligible if args.only is None or args.only in r.key]
    started = time.perf_counter()
    records = evaluate(refs, args.per_ref, seed=args.seed, threads=args.threads,
                       log=lambda s: print(s, file=sys.stderr), method=args.method,
                       simulator=args.simulator)
    seconds = time.perf_counter() - started
    data = report(records, per_ref=args.per_ref, seed=args.seed, refs=len(refs), seconds=seconds,
                  include_records=not args.no_records)
    data = {"method": args.method, "simulator": args.simulator, **data}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(format_summary(data["summary"]))
    print(f"checker statuses: {data['checker_statuses']}")
    for miss in data["missed"]:
        print(f"MISSED {miss['ref']} [{miss['kind']}] {miss['mutant']} -- official {miss['official']}: "
              f"{miss['official_detail'][:160]}")
    for cause, count in data["missed_by_cause"].items():
        print(f"{count:4d} missed: {cause}")
    print(f"{len(refs)} references, {seconds:.0f} s; report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
