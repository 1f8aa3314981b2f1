"""Performance and quality reports of the checker, the scoring and the reward service.

Not part of the installed package (``setup.cfg`` leaves ``perf`` out of the wheel): run
from the repository root, each writing a JSON report under ``reports/``::

    python -m perf.verifier_speed        # make bench: check_equivalence latency and throughput
    python -m perf.scoring_speed         # official (upstream testbench) scoring of pass@1 n=20
    python -m perf.reward_service_load   # the HTTP reward service under OpenRLHF-style load
    python -m perf.formal_report         # what formal equivalence proves on the references
    python -m perf.mutation_report       # mutants: the benchmarks' testbenches vs. the checker

The benchmark data is found as everywhere else: ``--data PATH``, else
``$VERILOG_ENV_BENCHMARKS``, else ``../shared/benchmarks``
(:func:`benchmarks.references.load_references`).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from benchmarks.references import Reference, load_references
from benchmarks.registry import BenchmarkDataError


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", "--shared", dest="data", default=None, metavar="PATH",
                        help="benchmark data root (default: $VERILOG_ENV_BENCHMARKS or ../shared/benchmarks)")


def references_or_exit(data: str | None, prog: str) -> list[Reference]:
    """:func:`~benchmarks.references.load_references`, or exit with its one-line error."""
    try:
        return load_references(data)
    except BenchmarkDataError as error:
        sys.exit(f"{prog}: {error}")


def time_stats(seconds: list[float], unit: str = "ms") -> dict:
    """n, median, p95, max and mean of ``seconds``, in milliseconds (``unit="ms"``, 2
    decimals) or seconds (``unit="s"``, 3 decimals), keys suffixed with the unit."""
    if not seconds:
        return {"n": 0}
    scale, digits = (1000, 2) if unit == "ms" else (1, 3)
    ordered = sorted(seconds)
    values = {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }
    return {"n": len(ordered), **{f"{k}_{unit}": round(v * scale, digits) for k, v in values.items()}}
