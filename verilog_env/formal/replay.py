"""Replay a formal counterexample in the simulator, so a refutation is never taken on trust.

The trace found by the prover becomes the stimulus of the ordinary candidate testbench
(:mod:`verilog_env.equiv.testbench`), golden and candidate simulated side by side by
Icarus Verilog exactly as in a simulation check. The counterexample handed back is the
one that run produces, in the same form as simulation's (input history rows, expected
and actual outputs at the failing tick). If the simulator does not see the difference
(Yosys's gate-level X semantics and Icarus's differ in corners), there is no refutation.
"""

from __future__ import annotations

import dataclasses
import secrets

from ..equiv import testbench
from ..equiv.simcheck import (
    GOLDEN_PREFIX,
    CheckOptions,
    _counterexample,
    candidate_prefix,
)
from ..equiv.stimulus import Stimulus
from ..equiv.verdict import Counterexample
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


def replay(golden: Design, golden_text: str, candidate: Design, rows: list[dict[str, int]], options: CheckOptions) -> Replay:
    """Simulate golden and candidate on ``rows`` (one dict of port values per tick)."""
    return _run(golden, golden_text, candidate, stimulus_from(rows, golden), len(rows), options)


def _run(golden: Design, golden_text: str, candidate: Design, stim: Stimulus, ticks: int, options: CheckOptions) -> Replay:
    nonce = secrets.token_hex(8)
    limits = options.limits()
    seconds = 0.0
    with Workdir() as workdir:
        top = candidate_prefix(0) + candidate.top
        (workdir / "tb.v").write_text(
            testbench.candidate_testbench(
                golden, [top], stim.ports, ticks, options.seed, nonce, golden_top=GOLDEN_PREFIX + golden.top
            )
        )
        if stim.ports:
            (workdir / testbench.STIMULUS_FILE).write_text(stim.hex_lines)
        (workdir / "golden.v").write_text(golden_text)
        (workdir / "candidate0.v").write_text(prefix_modules(candidate, candidate_prefix(0)))
        compiled = icarus.compile(workdir, ["tb.v", "golden.v", "candidate0.v"], testbench.module_name(nonce), limits)
        seconds += compiled.seconds
        if not compiled.ok:
            return Replay(False, reason="the counterexample could not be replayed: the simulator did not compile the pair", seconds=seconds)
        sim = icarus.simulate(workdir, limits)
        seconds += sim.seconds
        results = (workdir / testbench.RESULTS_FILE).read_text(errors="replace") if (workdir / testbench.RESULTS_FILE).exists() else ""
        trace_path = workdir / testbench.GOLDEN_TRACE_FILE
        samples = testbench.read_trace(trace_path.read_text()) if trace_path.exists() else []
    records = [line.split()[1:] for line in results.splitlines() if line.startswith(nonce + " ")]
    for fields in records:
        if fields and fields[0] == "MISMATCH":
            _, _, tick, when, actual = fields[:5]
            tick = int(tick)
            if tick < len(samples):
                cex = _counterexample(golden, samples[tick], actual, tick, float(when), stim, options.seed)
                return Replay(True, cex, seconds=seconds)
    if not sim.ok:
        return Replay(False, reason=f"the counterexample's replay {sim.describe_failure(limits)}", seconds=seconds)
    return Replay(
        False,
        reason="the simulator does not reproduce the formal counterexample (Yosys's gate-level X semantics "
        "differ from Icarus Verilog's here)",
        seconds=seconds,
    )


def compiles(candidate: Design, options: CheckOptions) -> str | None:
    """None when Icarus compiles the candidate on its own, else its (candidate-only) log."""
    with Workdir() as workdir:
        (workdir / "candidate0.v").write_text(prefix_modules(candidate, candidate_prefix(0)))
        run = icarus.compile(workdir, ["candidate0.v"], candidate_prefix(0) + candidate.top, options.limits())
    if run.ok:
        return None
    return run.output.replace(candidate_prefix(0), "").replace("candidate0.v", "candidate.v")[:2000] or "Icarus Verilog could not compile the candidate"


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


def deep_run(golden: Design, golden_text: str, candidate: Design, pattern: str, options: CheckOptions,
             seconds: float, ticks: int = DEEP_TICKS) -> Replay:
    """A long run with every input fixed after reset (a deterministic machine, so bounded
    model checking of it is exact simulation: the simulator does it)."""
    stim = held_rows(golden, pattern, ticks)
    # The golden's per-tick record of a long run outgrows the usual 4 MiB output limit.
    limited = dataclasses.replace(options, timeout=max(0.5, seconds), output_limit_mb=max(options.output_limit_mb, 64))
    return _run(golden, golden_text, candidate, stim, ticks, limited)
