"""Replay a formal counterexample in the simulator, so a refutation is never taken on trust.

The trace found by the prover becomes the stimulus of an ordinary simulation check
(:func:`verilog_env.equiv.simcheck.simulate_against`): the golden recorded alone on it,
then the candidate simulated alone against that record by Icarus Verilog, exactly as in
a simulation check. The counterexample handed back is the one that run produces, in the
same form as simulation's (input history rows, expected and actual outputs at the
failing tick). If the simulator does not see the difference (Yosys's gate-level X
semantics and Icarus's differ in corners), there is no refutation.
"""

from __future__ import annotations

import dataclasses

from ..equiv.diagnostics import translate_log
from ..equiv.prepare import CheckOptions, Golden, candidate_prefix
from ..equiv.simcheck import simulate_against
from ..equiv.stimulus import Stimulus
from ..equiv.verdict import Counterexample, Status, Verdict
from ..hdl.design import Design
from ..hdl.rename import prefix_modules
from ..sim import icarus
from ..sim.sandbox import Workdir


@dataclasses.dataclass
class Replay:
    confirmed: bool
    counterexample: Counterexample | None = None
    reason: str = ""
    seconds: float = 0.0


def stimulus_from(rows: list[dict[str, int]], golden: Design) -> Stimulus:
    ports = tuple(p for p in golden.inputs if p.name not in golden.clocks)
    values = tuple(tuple(row.get(p.name, 0) for row in rows) for p in ports)
    return Stimulus(ports=ports, values=values)


def replay(reference: Golden, candidate: Design, rows: list[dict[str, int]], options: CheckOptions) -> Replay:
    """Simulate golden and candidate on ``rows`` (one dict of port values per tick)."""
    return _run(reference, candidate, stimulus_from(rows, reference.design), len(rows), options)


def _run(reference: Golden, candidate: Design, stim: Stimulus, ticks: int, options: CheckOptions) -> Replay:
    verdict = simulate_against(reference, candidate, stim, ticks, options)
    seconds = sum(verdict.timings.get(k, 0.0) for k in ("compile", "golden", "simulate"))
    if verdict.status is Status.MISMATCH and verdict.counterexample is not None:
        return Replay(True, verdict.counterexample, seconds=seconds)
    if verdict.status is Status.EQUIVALENT:
        return Replay(
            False,
            reason="the simulator does not reproduce the formal counterexample (Yosys's gate-level X semantics "
            "differ from Icarus Verilog's here)",
            seconds=seconds,
        )
    return Replay(False, reason=f"the counterexample's replay did not complete: {_first_line(verdict)}", seconds=seconds)


def _first_line(verdict: Verdict) -> str:
    return (verdict.reason.splitlines() or [verdict.status.value])[0][:300]


def compiles(candidate: Design, options: CheckOptions) -> str | None:
    """None when Icarus compiles the candidate on its own, else its (candidate-only) log."""
    prefix = candidate_prefix(0)
    with Workdir() as workdir:
        (workdir / "candidate0.v").write_text(prefix_modules(candidate, prefix))
        run = icarus.compile(workdir, ["candidate0.v"], prefix + candidate.top, options.limits())
    if run.ok:
        return None
    log = translate_log(run.output, candidate, work_file="candidate0.v", prefix=prefix)
    return log[:2000] or "Icarus Verilog could not compile the candidate"


DEEP_TICKS = 1 << 18
"""Length of a deep run: 131,072 cycles, past the wrap of a 16-bit counter (and 17 bits)."""


def held_rows(golden: Design, pattern: str, ticks: int) -> Stimulus:
    """Stimulus with resets asserted for the first ticks, then released, and every other
    input held at all-zeros or all-ones from the start."""
    from ..equiv.stimulus import RESET_TICKS

    ports = tuple(p for p in golden.inputs if p.name not in golden.clocks)
    resets = {r.name: r for r in golden.resets}
    values = []
    for port in ports:
        reset = resets.get(port.name)
        if reset is not None and port.width == 1:
            on = 1 if reset.active_high else 0
            values.append((on,) * min(RESET_TICKS, ticks) + (1 - on,) * max(0, ticks - RESET_TICKS))
        else:
            values.append(((1 << port.width) - 1 if pattern == "ones" else 0,) * ticks)
    return Stimulus(ports=ports, values=tuple(values))


def deep_run(reference: Golden, candidate: Design, pattern: str, options: CheckOptions,
             seconds: float, ticks: int = DEEP_TICKS) -> Replay:
    """A long run with every input fixed after reset (a deterministic machine, so bounded
    model checking of it is exact simulation: the simulator does it)."""
    stim = held_rows(reference.design, pattern, ticks)
    limited = dataclasses.replace(options, timeout=max(0.5, seconds))
    return _run(reference, candidate, stim, ticks, limited)
