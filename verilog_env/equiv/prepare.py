"""Golden and candidate preparation, shared by every judge: analysis (pyslang, the
candidate policy), the interface check, renaming, and the per-worker golden cache.

A judge (:mod:`.simcheck`, :mod:`verilog_env.formal`) starts from a :class:`Golden`
(:func:`analyze_golden`: cached per text and top) and a candidate :class:`Design` from
:func:`prepare_candidate` (analysed and policed with the ``candidate`` role, its interface
compared with the golden's), so every judge judges the same text the same way.
:class:`CheckOptions` is the per-job bundle a judge runs with (built from
:class:`~verilog_env.CheckSettings` and the request's tops).
"""

from __future__ import annotations

import dataclasses
import functools
import time

from ..hdl.design import Design, DesignError, Port, analyze
from ..hdl.rename import prefix_modules
from ..sim.sandbox import Limits
from . import stimulus
from .diagnostics import ANSWER_FILE, GOLDEN_FILE
from .settings import DEFAULT_CYCLES, DEFAULT_TIMEOUT
from .stimulus import Stimulus
from .verdict import Status, Verdict

GOLDEN_PREFIX = "vlenv_g_"
"""Module prefix of the golden's modules in every text an engine reads."""


def candidate_prefix(k: int, nonce: str = "") -> str:
    """Module prefix of candidate ``k`` in a run: derived from the run's nonce."""
    return f"c{nonce}_{k}_"


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """Knobs of one check.

    ``cycles`` counts cycles of the first clock (two ticks each; combinational designs
    get ``2 * cycles`` input vectors); see :func:`simulated_cycles` for how clocked
    designs with large literals are run longer.
    """

    top: str | None = None
    candidate_top: str | None = None
    seed: int = 0
    cycles: int = DEFAULT_CYCLES
    timeout: float = DEFAULT_TIMEOUT
    simulator: str = "icarus"
    """The back end of this run (:data:`verilog_env.sim.SIMULATORS`)."""
    lint: bool = False
    """Verilator's lint on each candidate that compiles (``details["lint"]``)."""
    memory_mb: int = 1024
    output_limit_mb: int = 4

    def limits(self) -> Limits:
        return Limits(
            wall_seconds=self.timeout,
            memory_bytes=self.memory_mb << 20,
            output_bytes=self.output_limit_mb << 20,
        )


@dataclasses.dataclass
class Golden:
    """An analysed golden: its design and the canonical text (modules renamed) the engines read."""

    design: Design
    text: str  # canonical text, modules renamed with GOLDEN_PREFIX

    @property
    def top(self) -> str:
        """The golden's top module as named in :attr:`text`."""
        return GOLDEN_PREFIX + self.design.top

    @property
    def stimulus_ports(self) -> tuple[Port, ...]:
        return stimulus_ports(self.design)

    def ticks(self, options: CheckOptions) -> int:
        return 2 * simulated_cycles(self.design, options.cycles)

    def stimulus(self, options: CheckOptions) -> Stimulus:
        """The seeded random stimulus of a check with ``options``."""
        design = self.design
        return stimulus.generate(
            self.stimulus_ports, tuple(design.resets), self.ticks(options), options.seed, design.constants,
            clocked=bool(design.clocks),
        )


def stimulus_ports(design: Design) -> tuple[Port, ...]:
    """The inputs the stimulus drives: every input but the clocks."""
    return tuple(p for p in design.inputs if p.name not in design.clocks)


def simulated_cycles(design: Design, cycles: int) -> int:
    """``cycles``, stretched (up to 4x) for clocked designs that may hide deep states.

    A counter that wraps at 999 shows its wrap only after 1,000 reset-free cycles, and
    resets are left alone for the first half of a run; so a clocked golden using a
    literal L below 65,536 is run for at least 4L + 64 cycles. A design driven only by
    clocks and resets (a clock/calendar that counts on its own) gets 4x: its cascaded
    counters roll over after the product of their limits (60 x 60 cycles for minutes).
    """
    if not design.clocks:
        return cycles
    if stimulus.is_autonomous(stimulus_ports(design), tuple(design.resets)):
        return 4 * cycles
    deepest = max((c for c in design.constants if c < 1 << 16), default=0)
    return min(max(cycles, 4 * deepest + 64), 4 * cycles)


@functools.lru_cache(maxsize=256)
def analyze_golden(text: str, top: str | None) -> Golden | DesignError:
    """The golden's analysis and canonical text (cached per text and top)."""
    try:
        design = analyze(text, name=GOLDEN_FILE, role="golden", top=top)
        renamed = prefix_modules(design, GOLDEN_PREFIX)
    except DesignError as error:
        return error
    return Golden(design, renamed)


def interface_mismatch(golden: Design, candidate: Design) -> str | None:
    """Describe the port differences, or ``None`` when the interfaces match."""
    problems = []
    for g in golden.ports:
        c = candidate.port(g.name)
        if c is None:
            problems.append(f"missing {g.direction} port {g.name} ({g.describe()})")
        elif c.direction != g.direction or c.width != g.width:
            problems.append(f"port {g.name} is {c.describe()}, expected {g.describe()}")
    for c in candidate.ports:
        if golden.port(c.name) is None:
            problems.append(f"unexpected {c.direction} port {c.name} ({c.describe()})")
    if not problems:
        return None
    return "interface differs from the reference: " + "; ".join(problems[:4])


def prepare_candidate(text: str, reference: Golden, options: CheckOptions) -> Design | Verdict:
    """The candidate analysed and policed as a candidate, its top the one named
    ``options.candidate_top`` (default: the golden's), its interface the golden's; or the
    verdict that says why it cannot be judged (with its analysis seconds)."""
    t0 = time.perf_counter()
    try:
        design = analyze(
            text, name=ANSWER_FILE, role="candidate", preferred_top=options.candidate_top or reference.design.top
        )
        mismatch = interface_mismatch(reference.design, design)
        if mismatch:
            raise DesignError("mismatch", mismatch)
    except DesignError as error:
        return Verdict(Status(error.status), error.reason, timings={"analyze": time.perf_counter() - t0})
    return design
