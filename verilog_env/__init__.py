"""verilog-env: a reinforcement-learning environment for LLMs that write Verilog.

The reward is functional equivalence to a golden reference, decided by
:func:`check_equivalence` (pyslang analysis, an auto-generated testbench, sandboxed
Icarus Verilog). This package never imports torch.
"""

from .equiv import (
    CheckRequest,
    Counterexample,
    Status,
    Verdict,
    check_equivalence,
    check_many,
    check_requests,
    shutdown,
)
from .sim.icarus import SimulatorNotFoundError

__version__ = "0.1.0"
__all__ = [
    "check_equivalence",
    "check_many",
    "check_requests",
    "CheckRequest",
    "shutdown",
    "Counterexample",
    "Status",
    "Verdict",
    "SimulatorNotFoundError",
]
