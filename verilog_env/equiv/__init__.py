"""Equivalence checking: testbench generation, simulation, verdicts."""

from .check import CheckRequest, check_equivalence, check_many, check_requests, shutdown
from .verdict import Counterexample, Status, Verdict

__all__ = ["CheckRequest", "check_equivalence", "check_many", "check_requests", "shutdown", "Counterexample", "Status", "Verdict"]
