"""The built-in evaluation suites, registered on ``import benchmarks``.

==============================  =====================================================
``verilogeval-v2-spec-to-rtl``  VerilogEval v2, specification to RTL (156 problems)
``verilogeval-v2-code-complete``VerilogEval v2, code completion (156 problems)
``rtllm-v1.1``                  RTLLM v1.1 (29 designs)
``rtllm-v2``                    RTLLM v2 (50 designs, category folders)
==============================  =====================================================

Each loads from a data path (``default_data``: ``$VERILOG_ENV_BENCHMARKS``, else
``../shared/benchmarks`` from the current directory) and scores with the benchmark's own
testbench (:mod:`benchmarks.verilogeval`, :mod:`benchmarks.rtllm`). Importing this module
is cheap: the simulator, pyslang and ``verilog_env`` are imported on first use.
"""

from __future__ import annotations

from .registry import get_eval_suite, list_eval_suites, register_eval_suite
from .rtllm import RTLLMSuite
from .verilogeval import VerilogEvalSuite

BUILTIN_SUITES = (
    VerilogEvalSuite("spec-to-rtl"),
    VerilogEvalSuite("code-complete"),
    RTLLMSuite("v1.1"),
    RTLLMSuite("v2"),
)


def register_builtin_suites() -> None:
    """Register the built-in suites (idempotent; a suite registered under the same name first is kept)."""
    registered = list_eval_suites()
    for suite in BUILTIN_SUITES:
        if suite.name not in registered:
            register_eval_suite(suite)


register_builtin_suites()

__all__ = ["BUILTIN_SUITES", "RTLLMSuite", "VerilogEvalSuite", "get_eval_suite", "register_builtin_suites"]
