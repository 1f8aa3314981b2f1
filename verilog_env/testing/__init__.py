"""Utilities for testing checkers and environments (like ``numpy.testing``).

:mod:`verilog_env.testing.mutation` makes single-point mutants of a design, used by the
test suite and the verifier benchmark to measure what the checker catches.
"""
