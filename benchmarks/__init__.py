"""Model evaluation: suites (VerilogEval v2, RTLLM), pass@k, generation back ends, the run harness.

The performance scripts (verifier speed, scoring speed, reward service load, formal and
mutation reports) live in the repository's ``perf/`` folder, outside the package.

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
