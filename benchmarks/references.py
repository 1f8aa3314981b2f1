"""The benchmark references as (golden, correct answer) pairs, from the suites' own loaders.

The shared benchmark data (``$VERILOG_ENV_BENCHMARKS``, else ``../shared/benchmarks``:
VerilogEval v2 spec-to-rtl and code-complete, RTLLM v1.1) holds 341 references, each the
golden design of a problem. :func:`load_references` loads them with the registered
suites (:mod:`benchmarks.verilogeval`, :mod:`benchmarks.rtllm`), in the data's manifest
order, as :class:`Reference`: the golden, its top module, the top a solution must name
(:meth:`Reference.as_candidate` renames it), whether it passes its own testbench, and its
official scoring (:meth:`Reference.run_official`). The performance reports (``perf/``)
and the tests check the equivalence checker on them::

    from benchmarks.references import load_references
    for ref in load_references():
        verdict = verilog_env.check_equivalence(ref.golden, ref.as_candidate(), top=ref.golden_top,
                                                candidate_top=ref.candidate_top)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .official import OfficialRun, as_root, reference_as_sample
from .registry import EvalProblem, get_eval_suite

SUITES = {
    "verilogeval_v2/spec-to-rtl": "verilogeval-v2-spec-to-rtl",
    "verilogeval_v2/code-complete": "verilogeval-v2-code-complete",
    "rtllm_v1_1": "rtllm-v1.1",
}
"""The data's folders (the manifest's suite names, the first part of a :attr:`Reference.key`)
and the registered suite that loads each."""

EXPECTED = "expected the shared benchmark data (manifest.json, verilogeval_v2/, rtllm_v1_1/); see README 'Benchmark data'"


@dataclasses.dataclass(frozen=True)
class Reference:
    """One reference: the golden of ``problem`` (a suite's :class:`~benchmarks.registry.EvalProblem`)."""

    suite: str
    """The data folder of its suite (``verilogeval_v2/spec-to-rtl``, ``rtllm_v1_1``...)."""
    id: str
    problem: EvalProblem = dataclasses.field(compare=False, repr=False)

    @property
    def key(self) -> str:
        """``<data folder>/<id>``, e.g. ``rtllm_v1_1/accu`` (what reports list)."""
        return f"{self.suite}/{self.id}"

    @property
    def golden(self) -> str:
        return self.problem.reference

    @property
    def golden_top(self) -> str:
        """The golden's top module (``RefModule``, ``verified_accu``...)."""
        return self.problem.reference_top

    @property
    def candidate_top(self) -> str:
        """The top module a solution names (``TopModule``, ``accu``...)."""
        return self.problem.top

    @property
    def passes_own_testbench(self) -> bool:
        """The data's manifest records that the golden passes its own testbench under Icarus."""
        return self.problem.reference_passes is True

    def as_candidate(self, text: str | None = None) -> str:
        """``text`` (default: the golden) with its top module renamed as a solution names it."""
        return reference_as_sample(self.problem, text)

    def run_official(
        self, candidate: str, workdir: str | os.PathLike | None = None, *, timeout: float | None = None
    ) -> OfficialRun:
        """The benchmark's own testbench on ``candidate`` (named as :meth:`as_candidate` names it)."""
        suite = get_eval_suite(self.problem.suite)
        return suite.run_official(self.problem, candidate, timeout=timeout, workdir=workdir)


def load_references(root: str | os.PathLike | None = None) -> list[Reference]:
    """Every reference under ``root`` (default: ``$VERILOG_ENV_BENCHMARKS``, else
    ``../shared/benchmarks``), suite by suite in manifest order. A missing or incomplete
    directory is a :class:`~benchmarks.registry.BenchmarkDataError` saying what it expected."""
    from . import suites  # noqa: F401 - registers the VerilogEval and RTLLM suites

    path: Path = as_root(root, "benchmark", EXPECTED)
    return [Reference(folder, p.id, p) for folder, name in SUITES.items() for p in get_eval_suite(name).load(path)]
