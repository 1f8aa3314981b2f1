"""Evaluation suites and benchmark scripts (VerilogEval v2, RTLLM, verifier speed).

Importing the package registers the built-in suites (:mod:`benchmarks.suites`); it pulls in
no simulator, pyslang, torch or HTTP client.
"""

from . import suites as _suites  # noqa: F401  (registers the built-in suites)
from .registry import (  # noqa: F401
    BenchmarkDataError,
    EvalProblem,
    EvalSuite,
    SampleScore,
    get_eval_suite,
    list_eval_suites,
    register_eval_suite,
)
