"""Equivalence checking: testbench generation, simulation, verdicts."""

from .check import (
    CheckRequest,
    check_equivalence,
    check_many,
    check_requests,
    fresh_seed,
    shutdown,
)
from .verdict import Counterexample, Status, Verdict

__all__ = ["CheckRequest", "Counterexample", "Status", "Verdict", "check_equivalence", "check_many", "check_requests", "fresh_seed", "shutdown"]
