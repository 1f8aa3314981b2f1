"""Equivalence checking by simulation, and what every judge shares: the settings
(:mod:`.settings`), verdicts (:mod:`.verdict`), golden/candidate preparation
(:mod:`.prepare`) and the judge protocol (:mod:`.judge`). The front door that runs the
judges is :mod:`verilog_env.checking`."""

from .settings import CheckSettings, fresh_seed
from .verdict import Counterexample, Status, Verdict

__all__ = ["CheckSettings", "Counterexample", "Status", "Verdict", "fresh_seed"]
