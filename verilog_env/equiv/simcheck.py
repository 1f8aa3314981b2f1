"""Simulation-based equivalence: the in-process core behind :func:`check_equivalence`.

One call checks a batch of candidates against one golden in the current process:
analyse (cached for the golden), record the golden's outputs on the seeded stimulus
(cached), then simulate the candidates together against that record. Callers normally
go through :mod:`verilog_env.equiv.check`, which runs this in an isolated worker.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import secrets
import threading
import time
from pathlib import Path

import numpy as np

from ..hdl.design import Design, DesignError, Port, analyze
from ..hdl.rename import prefix_modules
from ..sim import icarus
from ..sim.sandbox import Limits, RunResult, Workdir
from . import stimulus, testbench
from .verdict import Counterexample, Status, Verdict

GOLDEN_PREFIX = "vlenv_g_"
HISTORY_TICKS = 16
_GOLDEN_TRACE_LIMIT = 256 << 20


def candidate_prefix(k: int) -> str:
    return f"vlenv_c{k}_"


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
    cycles: int = 1000
    timeout: float = 10.0
    memory_mb: int = 1024
    output_limit_mb: int = 4

    def limits(self) -> Limits:
        return Limits(
            wall_seconds=self.timeout,
            memory_bytes=self.memory_mb << 20,
            output_bytes=self.output_limit_mb << 20,
        )


@dataclasses.dataclass
class _Golden:
    design: Design
    text: str  # macro-expanded, modules renamed

    @property
    def stimulus_ports(self) -> tuple[Port, ...]:
        return stimulus_ports(self.design)

    def ticks(self, options: CheckOptions) -> int:
        return 2 * simulated_cycles(self.design, options.cycles)


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
def _analyze_golden(text: str, top: str | None) -> _Golden | DesignError:
    try:
        design = analyze(text, name="golden.v", role="golden", top=top)
        renamed = prefix_modules(design, GOLDEN_PREFIX)
    except DesignError as error:
        return error
    return _Golden(design, renamed)


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


# --------------------------------------------------------------------------- golden trace


@dataclasses.dataclass(frozen=True)
class GoldenTrace:
    """The golden's packed outputs at every tick ('0', '1', 'x', 'z' per bit).

    ``seconds`` is the wall time of the simulation that recorded it: a correct candidate
    takes about as long, which bounds how long a candidate is worth waiting for.
    """

    samples: tuple[str, ...]
    seconds: float = 0.0

    def candidate_limits(self, limits: Limits) -> Limits:
        """``limits`` with the wall time cut to 2 s + 20x the golden's (never above it)."""
        wall = min(limits.wall_seconds, 2.0 + 20 * self.seconds)
        return dataclasses.replace(limits, wall_seconds=wall)

    @functools.cached_property
    def expected_hex(self) -> str:
        """``{known-mask, value}`` per tick, as the candidate testbench reads it (computed once)."""
        width = len(self.samples[0])
        digits = (2 * width + 3) // 4
        chars = np.frombuffer("".join(self.samples).encode("ascii"), dtype=np.uint8).reshape(-1, width)
        bits = np.zeros((len(self.samples), 4 * digits), dtype=np.uint8)
        pad = 4 * digits - 2 * width
        bits[:, pad : pad + width] = (chars == ord("0")) | (chars == ord("1"))
        bits[:, pad + width :] = chars == ord("1")
        nibbles = bits.reshape(len(self.samples), digits, 4) @ np.array([8, 4, 2, 1], dtype=np.uint8)
        return stimulus.ascii_lines(np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles])


_traces: collections.OrderedDict = collections.OrderedDict()
_traces_lock = threading.Lock()
_MAX_TRACES = 256


def _trace_key(golden_text: str, options: CheckOptions) -> tuple:
    return (golden_text, options.top, options.seed, options.cycles)


def _cached_trace(key: tuple) -> GoldenTrace | None:
    with _traces_lock:
        if key in _traces:
            _traces.move_to_end(key)
            return _traces[key]
    return None


def _remember_trace(key: tuple, trace: GoldenTrace) -> None:
    with _traces_lock:
        _traces[key] = trace
        while len(_traces) > _MAX_TRACES:
            _traces.popitem(last=False)


def _golden_trace(reference: _Golden, golden_text: str, options: CheckOptions, stim) -> GoldenTrace | Verdict:
    """Simulate the golden alone on the stimulus (cached per golden, seed and length)."""
    key = _trace_key(golden_text, options)
    cached = _cached_trace(key)
    if cached is not None:
        return cached
    nonce = secrets.token_hex(8)
    design = reference.design
    limits = dataclasses.replace(options.limits(), output_bytes=_GOLDEN_TRACE_LIMIT)
    with Workdir() as workdir:
        (workdir / "tb.v").write_text(
            testbench.golden_testbench(
                design, GOLDEN_PREFIX + design.top, reference.stimulus_ports, reference.ticks(options), options.seed, nonce
            )
        )
        _write_stimulus(workdir, reference, stim)
        (workdir / "golden.v").write_text(reference.text)
        compiled = icarus.compile(workdir, ["tb.v", "golden.v"], testbench.module_name(nonce), limits)
        if not compiled.ok:
            return _golden_failure("does not compile under Icarus Verilog", compiled, limits, "golden.v")
        run = icarus.simulate(workdir, limits)
        trace_path = workdir / testbench.GOLDEN_TRACE_FILE
        samples = testbench.read_trace(trace_path.read_text()) if trace_path.exists() else []
    width = sum(p.width for p in design.outputs)
    expected_samples = reference.ticks(options)
    finished = f"{nonce} END" in run.output
    if not run.ok or not finished or len(samples) != expected_samples or any(len(s) != width for s in samples):
        return _golden_failure("simulation did not complete", run, limits, None)
    trace = GoldenTrace(tuple(samples), run.seconds)
    _remember_trace(key, trace)
    return trace


def _golden_failure(what: str, run: RunResult, limits: Limits, file: str | None) -> Verdict:
    if run.timed_out or not run.ok and (run.returncode or 0) < 0:
        what = f"{what}: it {run.describe_failure(limits)}"
    lines = run.output.replace(GOLDEN_PREFIX, "").splitlines()
    if file:
        lines = [line for line in lines if line.startswith(file)]
    excerpt = "\n".join(lines[:20])[:2000]
    return Verdict(Status.UNSUPPORTED, f"golden {what}" + (f":\n{excerpt}" if excerpt else ""))


def _write_stimulus(workdir: Path, reference: _Golden, stim) -> None:
    if reference.stimulus_ports:
        (workdir / testbench.STIMULUS_FILE).write_text(stim.hex_lines)


# --------------------------------------------------------------------------- checking


def check_batch(golden: str, candidates: list[str], options: CheckOptions) -> list[Verdict]:
    """Check every candidate against ``golden``; one simulation for all that can run."""
    started = time.perf_counter()
    reference = _analyze_golden(golden, options.top)
    if isinstance(reference, DesignError):
        # Whatever is wrong with the golden, no candidate can be judged against it.
        return [Verdict(Status.UNSUPPORTED, f"golden cannot be checked: {reference.reason}") for _ in candidates]

    verdicts: list[Verdict | None] = [None] * len(candidates)
    runnable: list[tuple[int, Design, float]] = []
    for index, text in enumerate(candidates):
        t0 = time.perf_counter()
        try:
            design = analyze(
                text,
                name="candidate.v",
                role="candidate",
                preferred_top=options.candidate_top or reference.design.top,
            )
            mismatch = interface_mismatch(reference.design, design)
            if mismatch:
                raise DesignError("mismatch", mismatch)
        except DesignError as error:
            verdicts[index] = Verdict(
                Status(error.status), error.reason, timings={"analyze": time.perf_counter() - t0}
            )
            continue
        runnable.append((index, design, time.perf_counter() - t0))

    designs = [design for _, design, _ in runnable]
    results: list[Verdict] | None = []
    if len(designs) > 1:
        results = _simulate(reference, golden, designs, options, single=False)
    if results is None or len(designs) == 1:  # a shared run failed: isolate each candidate
        results = [_simulate(reference, golden, [d], options, single=True)[0] for d in designs]
    for (index, design, analyze_seconds), verdict in zip(runnable, results):
        verdict.timings["analyze"] = analyze_seconds
        verdict.details["clocks"] = list(reference.design.clocks)
        verdict.details["resets"] = [dataclasses.asdict(r) for r in reference.design.resets]
        verdicts[index] = verdict
    total = time.perf_counter() - started
    for verdict in verdicts:
        verdict.timings.setdefault("total", total)
    return verdicts  # type: ignore[return-value]


_ERROR_LINE = re.compile(r"^(?P<file>[\w.]+):(?P<line>\d+): (?P<rest>.*)$")


def _compile_failure(run: RunResult, n: int, single: bool, limits: Limits) -> Verdict | None:
    """The verdict for a failed candidate compile, or ``None`` if blame cannot be placed."""
    if not single:
        return None
    if run.timed_out or (run.returncode or 0) < 0:
        status = Status.TIMEOUT if run.timed_out else Status.REJECTED
        return Verdict(status, f"compiling the candidate {run.describe_failure(limits)}")
    cleaned = run.output.replace(candidate_prefix(0), "").replace(GOLDEN_PREFIX, "").splitlines()
    files = {m.group("file") for m in map(_ERROR_LINE.match, cleaned) if m}
    if "tb.v" in files:
        return Verdict(Status.INTERNAL_ERROR, "generated testbench failed to compile:\n" + "\n".join(cleaned)[:2000])
    # Only the candidate's own lines: the log must not leak the testbench.
    excerpt = "\n".join(
        line.replace("candidate0.v", "candidate.v")
        for line in cleaned
        if line.strip() and "I give up" not in line and not line.startswith("tb.v")
    )[:2000]
    return Verdict(Status.COMPILE_ERROR, excerpt or "Icarus Verilog could not compile the candidate")


def _simulate(
    reference: _Golden, golden_text: str, designs: list[Design], options: CheckOptions, single: bool
) -> list[Verdict] | None:
    """Compile and run ``designs`` against the golden; ``None`` if a shared run failed.

    With the golden's trace cached, only the candidates are simulated. Otherwise the
    golden runs alongside them and its trace is kept if the run covered every tick; if
    that run fails, the golden is recorded alone first, so its faults are never blamed
    on a candidate.
    """
    n = len(designs)
    nonce = secrets.token_hex(8)
    golden = reference.design
    stim = stimulus.generate(
        reference.stimulus_ports, tuple(golden.resets), reference.ticks(options), options.seed, golden.constants,
        clocked=bool(golden.clocks),
    )
    limits = options.limits()
    key = _trace_key(golden_text, options)
    trace = _cached_trace(key)
    combined = trace is None
    timings: dict[str, float] = {}
    with Workdir() as workdir:
        tops = [candidate_prefix(k) + d.top for k, d in enumerate(designs)]
        (workdir / "tb.v").write_text(
            testbench.candidate_testbench(
                golden, tops, reference.stimulus_ports, reference.ticks(options), options.seed, nonce,
                golden_top=GOLDEN_PREFIX + golden.top if combined else None,
            )
        )
        _write_stimulus(workdir, reference, stim)
        files = ["tb.v"]
        if combined:
            (workdir / "golden.v").write_text(reference.text)
            files.append("golden.v")
        else:
            (workdir / testbench.EXPECTED_FILE).write_text(trace.expected_hex)
        for k, design in enumerate(designs):
            name = f"candidate{k}.v"
            (workdir / name).write_text(prefix_modules(design, candidate_prefix(k)))
            files.append(name)
        compiled = icarus.compile(workdir, files, testbench.module_name(nonce), limits)
        timings["compile"] = compiled.seconds
        sim_limits = limits if combined else trace.candidate_limits(limits)
        sim = icarus.simulate(workdir, sim_limits) if compiled.ok else None
        results = _read(workdir / testbench.RESULTS_FILE)
        recorded = testbench.read_trace(_read(workdir / testbench.GOLDEN_TRACE_FILE)) if combined else []

    records = [line.split()[1:] for line in results.splitlines() if line.startswith(nonce + " ")]
    finished = sim is not None and sim.ok and records and records[-1] == ["END"]
    if combined and not finished:
        # Could be the golden's fault: record it alone, then check against the record.
        started = time.perf_counter()
        trace = _golden_trace(reference, golden_text, options, stim)
        if isinstance(trace, Verdict):
            return [dataclasses.replace(trace, timings={"golden": time.perf_counter() - started}) for _ in range(n)]
        # A shared run that failed goes straight to one run per candidate.
        return _simulate(reference, golden_text, designs, options, single) if single else None
    if sim is None:
        verdict = _compile_failure(compiled, n, single, limits)
        return None if verdict is None else [dataclasses.replace(verdict, timings=dict(timings))]
    timings["simulate"] = sim.seconds
    if not finished:
        if not single:
            return None
        why = sim.describe_failure(sim_limits) if not sim.ok else "ended before the testbench finished"
        status = Status.TIMEOUT if sim.timed_out or sim.signal_name == "SIGXCPU" else Status.REJECTED
        return [Verdict(status, f"simulation {why}", timings=dict(timings), details={"log": sim.output[-1000:]})]
    if combined:
        if len(recorded) == reference.ticks(options):
            _remember_trace(key, GoldenTrace(tuple(recorded), sim.seconds))
        samples = recorded
    else:
        samples = list(trace.samples)

    # Equivalent only on the testbench's explicit PASS record.
    verdicts = [
        Verdict(Status.INTERNAL_ERROR, "the testbench reported no result for this candidate", timings=dict(timings))
        for _ in range(n)
    ]
    for fields in records:
        tag, rest = fields[0], fields[1:]
        if tag == "PASS":
            k = int(rest[0])
            verdicts[k].status = Status.EQUIVALENT
            verdicts[k].reason = f"outputs matched the reference at all {rest[1]} sampled ticks (seed {options.seed})"
            verdicts[k].details["ticks"] = int(rest[1])
        elif tag == "MISMATCH":
            k, tick = int(rest[0]), int(rest[1])
            cex = _counterexample(golden, samples[tick], rest[3], tick, float(rest[2]), stim, options.seed)
            first = cex.mismatched[0]
            verdicts[k].status = Status.MISMATCH
            verdicts[k].counterexample = cex
            verdicts[k].details["ticks"] = reference.ticks(options)
            verdicts[k].reason = (
                f"output {first} differs at tick {tick} (t={cex.time:g}ns): "
                f"expected {cex.expected[first]}, got {cex.actual[first]}"
            )
    return verdicts


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _split(packed: str, design: Design) -> dict[str, str]:
    values, offset = {}, 0
    for port in design.outputs:
        values[port.name] = packed[offset : offset + port.width]
        offset += port.width
    return values


def _counterexample(design: Design, expected: str, actual: str, tick: int, when: float, stim, seed: int) -> Counterexample:
    want, got = _split(expected, design), _split(actual, design)
    mismatched = [
        name
        for name in want
        if any(w in "01" and g != w for w, g in zip(want[name], got[name]))
    ]
    return Counterexample(
        tick=tick,
        time=when,
        mismatched=mismatched,
        expected=want,
        actual=got,
        inputs=[{"tick": t, **stim.row(t)} for t in range(max(0, tick - HISTORY_TICKS + 1), tick + 1)],
        seed=seed,
    )
