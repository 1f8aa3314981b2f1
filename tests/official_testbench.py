"""Run a benchmark's OWN testbench on a candidate, for tests that hold a ``shared_data.Reference``.

A thin adapter over the suites' official scoring (``benchmarks.verilogeval``,
``benchmarks.rtllm``; the flows and the ``analyze_result()`` port are documented there):
a manifest ``Reference`` is mapped to the suite's ``EvalProblem`` and run through
``suite.run_official``. The candidate text must already name its top module as the
testbench expects (``Reference.as_candidate``).
"""

from __future__ import annotations

import os
from functools import cache

from shared_data import Reference, shared_benchmarks

import benchmarks
from benchmarks.official import OfficialRun
from benchmarks.verilogeval import analyze_result  # noqa: F401  (re-exported for tests)

SUITE_OF = {
    "verilogeval_v2/spec-to-rtl": "verilogeval-v2-spec-to-rtl",
    "verilogeval_v2/code-complete": "verilogeval-v2-code-complete",
    "rtllm_v1_1": "rtllm-v1.1",
}

OfficialResult = OfficialRun  # .passed, .code (= .outcome), .detail, .log


@cache
def _problems(suite: str) -> dict:
    return {p.id: p for p in benchmarks.get_eval_suite(suite).load(shared_benchmarks())}


def problem_for(ref: Reference):
    """The suite's ``EvalProblem`` for a manifest reference."""
    return _problems(SUITE_OF[ref.suite])[ref.id]


def run_official_detailed(
    ref: Reference, candidate_text: str, workdir: str | os.PathLike | None = None, *, timeout: float | None = None
) -> OfficialRun:
    """Run ``ref``'s own testbench on ``candidate_text`` (in ``workdir`` if given, else a sandbox dir)."""
    suite = benchmarks.get_eval_suite(SUITE_OF[ref.suite])
    return suite.run_official(problem_for(ref), candidate_text, timeout=timeout, workdir=workdir)


def run_official(
    ref: Reference, candidate_text: str, workdir: str | os.PathLike | None = None, *, timeout: float | None = None
) -> bool:
    """True iff the benchmark's own testbench passes ``candidate_text``."""
    return run_official_detailed(ref, candidate_text, workdir, timeout=timeout).passed
