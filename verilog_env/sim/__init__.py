"""Simulator back ends behind one interface (``tools``, ``version``, ``start_compile``,
``start_simulate``, ``NAME``, ``LABEL``, ``INSTALL_HINT``, ``TWO_STATE``, ``GOLDEN_RUNS``,
``CANDIDATE_RUNS``): Icarus Verilog (the default)
and Verilator. :func:`backend` picks one by name."""

from __future__ import annotations

from types import ModuleType

SIMULATORS = ("icarus", "verilator")


def backend(name: str) -> ModuleType:
    """The back-end module called ``name`` (one of :data:`SIMULATORS`)."""
    if name == "icarus":
        from . import icarus

        return icarus
    if name == "verilator":
        from . import verilator

        return verilator
    raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {name!r}")
