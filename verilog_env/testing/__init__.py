"""Utilities for testing checkers, environments and problem suites (like ``numpy.testing``).

:func:`check_suite` (:mod:`verilog_env.testing.suite_check`) checks that every problem
of a suite can reward answers: each golden, checked against itself by the reward's
checker, must come out ``equivalent`` (``verilog-env suite check`` on the command line).

:mod:`verilog_env.testing.mutation` makes single-point mutants of a design, used by the
test suite and the verifier benchmark to measure what the checker catches.
"""

from .suite_check import ProblemCheck, SuiteCheckError, SuiteReport, check_suite

__all__ = ["ProblemCheck", "SuiteCheckError", "SuiteReport", "check_suite"]
