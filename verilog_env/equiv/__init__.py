"""Equivalence checking: testbench generation, simulation, verdicts."""

from .check import check_equivalence, check_many, shutdown
from .verdict import Counterexample, Status, Verdict

__all__ = ["check_equivalence", "check_many", "shutdown", "Counterexample", "Status", "Verdict"]
