"""verilog-env: a reinforcement-learning environment for LLMs that write Verilog.

The reward is functional equivalence to a golden reference, decided by
:func:`check_equivalence` (pyslang analysis, an auto-generated testbench, sandboxed
Icarus Verilog). This package never imports torch.
"""

from .checking import (
    CheckRequest,
    check_equivalence,
    check_many,
    check_requests,
    shutdown,
)
from .env import VerilogSpecEnv
from .equiv import CheckSettings, Counterexample, Status, Verdict
from .problems import DEFAULT_SYSTEM_PROMPT, Problem
from .reward import RewardConfig, Score, parse_response, score_many, score_response
from .sim.icarus import SimulatorNotFoundError
from .suites import Suite, list_suites, load_suite, register_suite

ENV_ID = "verilog_env/VerilogSpec-v0"


def _register_env() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="verilog_env.env:VerilogSpecEnv")


_register_env()

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
    "Problem",
    "DEFAULT_SYSTEM_PROMPT",
    "Suite",
    "load_suite",
    "register_suite",
    "list_suites",
    "RewardConfig",
    "Score",
    "parse_response",
    "score_response",
    "score_many",
    "VerilogSpecEnv",
    "CheckSettings",
    "ENV_ID",
]
