"""The judge protocol: what the front door (:mod:`verilog_env.checking`) asks of a judge.

A judge decides a batch of candidates against one golden, in a worker process of its
own pool. Simulation (:data:`verilog_env.equiv.simcheck.SIMULATION`) and formal
verification (:data:`verilog_env.formal.judge.FORMAL`) are peers behind the front door;
both start from the same prepared golden and candidates (:mod:`.prepare`). Adding a judge
is adding a file with an object of this shape and naming it in
:data:`verilog_env.checking.JUDGES`.

Contract of :meth:`Judge.judge`: for each part of the job (a golden and its candidates),
one :class:`~.verdict.Verdict` per candidate, in order; a bad design is a verdict, never an
exception (an exception, a hang past :meth:`Judge.guard_seconds` or a dead worker is turned
into a verdict by the front door); a candidate's verdict never depends on the other
candidates of the job, of its golden or of another.
"""

from __future__ import annotations

from typing import Protocol

from ..workers import PoolSpec
from .prepare import CheckOptions
from .settings import CheckSettings
from .verdict import Verdict


class Judge(Protocol):
    name: str
    """What the verdicts call it (``"sim"``, ``"formal"``)."""
    pool: PoolSpec
    """The worker pool its jobs run in, with the resource limits of each worker."""

    def require(self, settings: CheckSettings) -> None:
        """Raise the set-up error (a missing tool) that makes this judge unusable with ``settings``."""

    def job_size(self, settings: CheckSettings, spread: bool) -> int | None:
        """Candidates of one golden per job (``None``: all of them). ``spread``: there are
        fewer goldens than workers, so smaller jobs keep every core busy."""

    def mix_size(self, settings: CheckSettings) -> int:
        """Candidates of *different* goldens one job may hold (1: a job is one golden's)."""

    def guard_seconds(self, settings: CheckSettings, candidates: int) -> float:
        """Seconds after which a job of ``candidates`` candidates is presumed stuck."""

    def judge(self, parts: list[tuple[str, list[str], CheckOptions]], settings: CheckSettings) -> list[list[Verdict]]:
        """The verdicts of each part's candidates against its golden (runs in a worker)."""
