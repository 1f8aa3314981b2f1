"""Formal equivalence with Yosys and ABC: prove, don't sample.

:func:`formal_check` decides one candidate against a golden (``proven``, ``refuted``
with a counterexample replayed in simulation, ``bounded`` to a depth, or ``unknown``
with the reason); :func:`combine` merges it into a simulation verdict for
``check_equivalence(..., method="both")``. See :mod:`.miter` for the model and
:mod:`.engine` for the proof steps.
"""

from .check import DEFAULT_BUDGET, FormalOptions, combine, formal_check
from .yosys import FormalUnsupported, YosysNotFoundError, available, tools, version

__all__ = [
    "DEFAULT_BUDGET",
    "FormalOptions",
    "FormalUnsupported",
    "YosysNotFoundError",
    "available",
    "combine",
    "formal_check",
    "tools",
    "version",
]
