"""Simulation-based equivalence: the in-process core behind :func:`check_equivalence`.

One call checks a batch of candidates against one golden in the current process:
analyse (cached for the golden), record the golden's outputs on the seeded stimulus in a
simulation of its own (cached; recorded while the candidates compile), then simulate the
candidates together against that record. Callers normally go through
:mod:`verilog_env.checking`, which runs this in an isolated worker (:data:`SIMULATION` is this judge).

Isolation rules (see :mod:`.testbench`): the golden is always recorded alone, so no
record made next to a candidate exists, let alone is cached; candidates share a run only
when each is made of modules alone (compilation-unit items such as a ``typedef`` or
``function`` outside a module would share one namespace in the simulator: such a
candidate runs alone), under module prefixes and instance names derived from the run's
nonce; a shared run that fails is redone one candidate at a time.
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

from ..hdl.design import Design, DesignError
from ..hdl.rename import prefix_modules
from ..sim import SIMULATORS, backend
from ..sim.sandbox import Limits, RunResult, Workdir
from ..workers import PoolSpec, declare
from . import diagnostics, testbench
from .prepare import (
    GOLDEN_PREFIX,
    CheckOptions,
    Golden,
    analyze_golden,
    candidate_prefix,
    prepare_candidate,
)
from .settings import CheckSettings
from .stimulus import Stimulus
from .verdict import Counterexample, Status, Verdict

HISTORY_TICKS = 16
_GOLDEN_TRACE_LIMIT = 256 << 20
UNDEFINED_FRACTION = 0.99
"""A golden output that is X (no bit 0, 1 or Z) on at least this fraction of the compared
ticks cannot judge answers (any value matches a don't-care): the golden is unsupported."""


# --------------------------------------------------------------------------- golden trace


@dataclasses.dataclass(frozen=True)
class GoldenTrace:
    """The golden's packed outputs at every tick, recorded alone: ``chars[tick]`` holds one
    ASCII '0', '1', 'x' or 'z' per output bit (ports in order, MSB first).

    ``seconds`` is the wall time of the simulation that recorded it: a correct candidate
    takes about as long, which bounds how long a candidate is worth waiting for.
    """

    chars: np.ndarray  # uint8, shape (ticks, output bits)
    seconds: float = 0.0
    undefined: tuple[str, ...] = ()
    """Outputs the golden leaves X (nearly) throughout: not judged (see :func:`undefined_ports`)."""

    def sample(self, tick: int) -> str:
        return self.chars[tick].tobytes().decode("ascii")

    @property
    def samples(self) -> list[str]:
        return [self.sample(t) for t in range(len(self.chars))]

    def candidate_limits(self, limits: Limits) -> Limits:
        """``limits`` with the wall time cut to 2 s + 20x the golden's (never above it)."""
        wall = min(limits.wall_seconds, 2.0 + 20 * self.seconds)
        return dataclasses.replace(limits, wall_seconds=wall)

    @functools.cached_property
    def expected_hex(self) -> str:
        """The record as the candidate testbench reads it (computed once)."""
        return testbench.expected_hex(self.chars)


_traces: collections.OrderedDict = collections.OrderedDict()
_traces_lock = threading.Lock()
_MAX_TRACES = 4096
_MAX_TRACE_BYTES = 256 << 20
"""Records kept per process (least recently used dropped first): a record is a few KiB to a
few MiB (its characters and its ``expect.hex`` text), and every miss costs the golden's own
compile and simulation."""
_trace_bytes = 0


def _trace_key(golden_text: str, options: CheckOptions) -> tuple:
    return (golden_text, options.top, "seeded", options.seed, options.cycles, options.simulator)


def _cached_trace(key: tuple | None) -> GoldenTrace | None:
    with _traces_lock:
        if key in _traces:
            _traces.move_to_end(key)
            return _traces[key]
    return None


def _size(trace: GoldenTrace) -> int:
    return 2 * trace.chars.nbytes + 256  # the characters, and about as much of expect.hex


def _remember_trace(key: tuple, trace: GoldenTrace) -> None:
    global _trace_bytes
    with _traces_lock:
        if key in _traces:
            _trace_bytes -= _size(_traces[key])
        _traces[key] = trace
        _trace_bytes += _size(trace)
        while len(_traces) > _MAX_TRACES or (_trace_bytes > _MAX_TRACE_BYTES and len(_traces) > 1):
            _trace_bytes -= _size(_traces.popitem(last=False)[1])


def record_golden(
    reference: Golden, stim: Stimulus, ticks: int, options: CheckOptions, key: tuple | None = None
) -> GoldenTrace | Verdict:
    """Simulate the golden alone on ``stim`` and record its outputs at every tick.

    With a ``key`` the record is cached (and looked up) under it. A golden that does not
    compile, does not finish, or leaves its outputs undefined at (nearly) every tick gives
    an ``unsupported`` verdict instead: no candidate can be judged against it.
    """
    cached = _cached_trace(key)
    return cached if cached is not None else Recording(reference, stim, ticks, options, key).result()


class Recording:
    """The golden's record being made (see :func:`record_golden`), alongside other work.

    Its compile starts at creation; :meth:`advance` waits for the compile and starts the
    simulation; :meth:`result` waits for the simulation and reads the record. So a check
    compiles its candidates while the golden compiles and simulates, in one thread (a
    thread in a forked, memory-limited worker can die at start-up, leaving whoever waits
    for it waiting forever). :meth:`close` ends whatever still runs and removes the files.
    """

    def __init__(self, reference: Golden, stim: Stimulus, ticks: int, options: CheckOptions, key: tuple | None):
        self.reference, self.ticks, self.key = reference, ticks, key
        self.nonce = secrets.token_hex(8)
        self.simulator = backend(options.simulator)
        base = options.limits()
        self.limits = dataclasses.replace(base, output_bytes=max(base.output_bytes, _GOLDEN_TRACE_LIMIT))
        self._result: GoldenTrace | Verdict | None = None
        self._simulation = None
        self._workdir = Workdir()
        workdir = self.path = self._workdir.__enter__()
        try:
            design = reference.design
            (workdir / "tb.v").write_text(
                testbench.golden_testbench(design, reference.top, stim.ports, ticks, options.seed, self.nonce,
                                           _preset(options, design, stim))
            )
            if stim.ports:
                (workdir / testbench.STIMULUS_FILE).write_text(stim.hex_lines)
            (workdir / "golden.v").write_text(reference.text)
            self._compile = self.simulator.start_compile(workdir, ["tb.v", "golden.v"],
                                                         testbench.module_name(self.nonce), self.limits, ticks)
        except BaseException:
            self._workdir.__exit__(None, None, None)
            raise

    def advance(self) -> None:
        """Wait for the golden's compile and start its simulation (once)."""
        if self._simulation is None and self._result is None:
            compiled = self._compile.wait()
            if compiled.ok:
                self._simulation = self.simulator.start_simulate(self.path, self.limits, self.simulator.GOLDEN_RUNS[0])
            else:
                self._result = _golden_failure(
                    f"does not compile under {self.simulator.LABEL}", compiled, self.limits, self.reference, self.nonce
                )

    def result(self) -> GoldenTrace | Verdict:
        """The record (cached under the key), or why the golden cannot be checked."""
        if self._result is None:
            try:
                self.advance()
                if self._result is None:
                    self._result = self._read(self._simulation.wait())
            finally:
                self.close()
        return self._result

    def _read(self, run: RunResult) -> GoldenTrace | Verdict:
        """The record from the first run and, for a 2-state simulator, its further runs
        with other fills of the X sources: a bit that differs between runs is X."""
        design = self.reference.design
        width = sum(p.width for p in design.outputs)
        chars, seconds = None, 0.0
        for k, args in enumerate(self.simulator.GOLDEN_RUNS):
            if k:
                (self.path / testbench.GOLDEN_TRACE_FILE).unlink(missing_ok=True)
                run = self.simulator.simulate(self.path, self.limits, args)
            these = testbench.read_trace(_read(self.path / testbench.GOLDEN_TRACE_FILE), width)
            if not run.ok or f"{self.nonce} END" not in run.output or these is None or len(these) != self.ticks:
                return _golden_failure("simulation did not complete", run, self.limits)
            chars = these if chars is None else np.where(chars == these, chars, np.uint8(_X))
            seconds = max(seconds, run.seconds)
        run = dataclasses.replace(run, seconds=seconds)
        undefined = undefined_output(design, chars)
        if undefined is not None:
            return Verdict(Status.UNSUPPORTED, f"golden cannot be checked: {undefined}")
        trace = GoldenTrace(chars, run.seconds, tuple(undefined_ports(design, chars)))
        if self.key is not None:
            _remember_trace(self.key, trace)
        return trace

    def close(self) -> None:
        """Kill what still runs and remove the work directory (idempotent)."""
        self._compile.kill()
        if self._simulation is not None:
            self._simulation.kill()
        self._workdir.__exit__(None, None, None)


class _Recorded:
    """A record already made (or a golden already known to be unusable): a finished :class:`Recording`."""

    def __init__(self, result: GoldenTrace | Verdict) -> None:
        self._result = result

    def advance(self) -> None:
        pass

    def result(self) -> GoldenTrace | Verdict:
        return self._result

    def close(self) -> None:
        pass


_X = ord("x")


def undefined_output(design: Design, chars: np.ndarray) -> str | None:
    """Why the golden cannot judge answers, or None.

    A golden judges nothing when its outputs are X (no bit 0, 1 or Z) at (nearly) every
    tick, :data:`UNDEFINED_FRACTION` of them or more: a counter without a reset, registers
    never assigned. Every value matches a don't-care, so every answer with the right ports
    would pass. (An output that is always X beside others that are defined is reported by
    :func:`undefined_ports`: the golden still judges the others.)
    """
    ticks = len(chars)
    undefined = int((chars == _X).all(axis=1).sum())
    if not ticks or undefined < UNDEFINED_FRACTION * ticks:
        return None
    names = ", ".join(p.name for p in design.outputs)
    return (
        f"its outputs ({names}) are undefined (X) on {undefined} of {ticks} simulated ticks, so it "
        "cannot tell right answers from wrong ones (does a register lack a reset or an assignment?)"
    )


def undefined_ports(design: Design, chars: np.ndarray) -> list[str]:
    """Outputs that are X on at least :data:`UNDEFINED_FRACTION` of the ticks: whatever an
    answer drives there matches (the golden does not judge them)."""
    out, offset = [], 0
    for port in design.outputs:
        undefined = int((chars[:, offset : offset + port.width] == _X).all(axis=1).sum())
        offset += port.width
        if len(chars) and undefined >= UNDEFINED_FRACTION * len(chars):
            out.append(port.name)
    return out


def _golden_failure(
    what: str, run: RunResult, limits: Limits, compiled: Golden | None = None, nonce: str = ""
) -> Verdict:
    """The golden cannot judge in this simulator (``details["golden_failed"]``: another
    simulator may still run it, see :func:`combine_simulators`); a failed compile of
    ``compiled`` quotes its log in the golden's own terms (:func:`~.diagnostics.translate_log`)."""
    if run.timed_out or not run.ok and (run.returncode or 0) < 0:
        what = f"{what}: it {run.describe_failure(limits)}"
    if compiled is not None:
        lines = diagnostics.translate_log(
            run.output, compiled.design, work_file="golden.v", prefix=GOLDEN_PREFIX, nonce=nonce,
            shown=diagnostics.GOLDEN_FILE,
        ).splitlines()
    else:
        lines = run.output.replace(GOLDEN_PREFIX, "").splitlines()
    excerpt = "\n".join(lines[:20])[:2000]
    return Verdict(Status.UNSUPPORTED, f"golden {what}" + (f":\n{excerpt}" if excerpt else ""),
                   details={"golden_failed": True})


# --------------------------------------------------------------------------- checking


def _preset(options: CheckOptions, design: Design, stim: Stimulus) -> dict[str, int] | None:
    """Initial input values for a 2-state simulator (:func:`~.testbench.first_edges`)."""
    return testbench.first_edges(design, stim) if backend(options.simulator).TWO_STATE else None


def check_batch(golden: str, candidates: list[str], options: CheckOptions, batch_size: int = 8) -> list[Verdict]:
    """Check every candidate against ``golden``: the golden recorded once, then candidates
    made of modules alone share runs of up to ``batch_size``, the others run alone."""
    started = time.perf_counter()
    reference = analyze_golden(golden, options.top)
    if isinstance(reference, DesignError):
        # Whatever is wrong with the golden, no candidate can be judged against it.
        return [Verdict(Status.UNSUPPORTED, f"golden cannot be checked: {reference.reason}") for _ in candidates]

    # Record the golden (unless cached) while the candidates are analysed and compiled;
    # nothing of it outlives this call (its processes and files end below, whatever happens).
    stim, ticks = reference.stimulus(options), reference.ticks(options)
    key = _trace_key(golden, options)
    trace = _cached_trace(key)
    recording = Recording(reference, stim, ticks, options, key) if trace is None else _Recorded(trace)
    verdicts: list[Verdict | None] = [None] * len(candidates)
    try:
        runnable = _prepare_all(candidates, reference, options, verdicts)
        if runnable:
            _check_designs(reference, runnable, stim, ticks, recording, options, batch_size, verdicts)
    finally:
        recording.close()
    total = time.perf_counter() - started
    for verdict in verdicts:
        verdict.timings.setdefault("total", total)
    return verdicts  # type: ignore[return-value]


MIX_CANDIDATES = 24
"""Candidates of different goldens in one mixed run at most (:func:`check_mixed`)."""


@dataclasses.dataclass
class _Part:
    """One golden's share of a mixed run (:func:`check_mixed`)."""

    reference: Golden
    trace: GoldenTrace
    options: CheckOptions
    stim: Stimulus
    ticks: int
    runnable: list[tuple[int, Design, float]]
    verdicts: list[Verdict | None]


def check_mixed(parts: list[tuple[str, list[str], CheckOptions]], batch_size: int = 8,
                mix: int = MIX_CANDIDATES) -> list[list[Verdict]]:
    """Check several goldens' candidates (``parts``: golden, candidates, options), putting
    candidates of *different* goldens into one simulator run, up to ``mix`` a run: one
    compile and one simulation instead of one per golden, each golden's testbench driving
    its own candidates against its own record (:func:`_simulate_mixed`).

    Only goldens with fewer than ``batch_size`` candidates (more fill a run of their own),
    all made of modules alone, mix, in a simulator that takes several root modules
    (:data:`verilog_env.sim.icarus.MULTI_TOP`); each golden is recorded alone first (or
    its record is cached in this worker). Everything else, and every part of a mixed run
    that fails, is checked as :func:`check_batch` checks it, so a verdict never depends on
    what shared its run.
    """
    out: list[list[Verdict] | None] = [None] * len(parts)
    ready: list[tuple[int, _Part]] = []
    for i, (golden, candidates, options) in enumerate(parts):
        reference = analyze_golden(golden, options.top)
        trace = None
        if len(parts) > 1 and backend(options.simulator).MULTI_TOP and isinstance(reference, Golden):
            stim, ticks = reference.stimulus(options), reference.ticks(options)
            trace = record_golden(reference, stim, ticks, options, _trace_key(golden, options))  # cached, or now
        if not isinstance(trace, GoldenTrace):  # alone (a golden that cannot be recorded: its verdicts)
            out[i] = check_batch(golden, candidates, options, batch_size)
            continue
        started = time.perf_counter()
        part = _Part(reference, trace, options, stim, ticks, [], [None] * len(candidates))
        part.runnable = _prepare_all(candidates, reference, options, part.verdicts)
        if all(design.self_contained for _, design, _ in part.runnable) and 0 < len(part.runnable) < batch_size:
            ready.append((i, part))
        else:  # alone, or with its own batches
            if part.runnable:
                _check_designs(reference, part.runnable, part.stim, part.ticks, _Recorded(trace), options,
                               batch_size, part.verdicts)
            out[i] = _finished(part.verdicts, started)
    runs: list[list[tuple[int, _Part]]] = []
    for entry in ready:
        size = len(entry[1].runnable)
        if runs and sum(len(p.runnable) for _, p in runs[-1]) + size <= mix:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    for run in runs:
        started = time.perf_counter()
        parts = [part for _, part in run]
        members = [list(range(len(part.runnable))) for part in parts]
        shared, culprits = _simulate_mixed(parts, members) if len(run) > 1 else (None, set())
        if shared is None and culprits:  # answers that did not compile run apart; the rest mix again
            members = [[k for k in ks if (j, k) not in culprits] for j, ks in enumerate(members)]
            if sum(map(bool, members)) > 1:
                shared, _ = _simulate_mixed(parts, members)
        for k, (i, part) in enumerate(run):
            _check_designs(part.reference, part.runnable, part.stim, part.ticks, _Recorded(part.trace), part.options,
                           batch_size, part.verdicts, simulated=shared[k] if shared else None)
            out[i] = _finished(part.verdicts, started)
    return out  # type: ignore[return-value]


def _prepare_all(candidates: list[str], reference: Golden, options: CheckOptions,
                 verdicts: list[Verdict | None]) -> list[tuple[int, Design, float]]:
    """Analyse every candidate (:func:`~.prepare.prepare_candidate`): those that cannot run get
    their verdict in ``verdicts``; the rest are returned as (index, design, analysis seconds)."""
    runnable = []
    for index, text in enumerate(candidates):
        t0 = time.perf_counter()
        design = prepare_candidate(text, reference, options)
        if isinstance(design, Verdict):
            verdicts[index] = design
        else:
            runnable.append((index, design, time.perf_counter() - t0))
    return runnable


def _finished(verdicts: list[Verdict | None], started: float) -> list[Verdict]:
    total = time.perf_counter() - started
    for verdict in verdicts:
        verdict.timings.setdefault("total", total)
    return verdicts  # type: ignore[return-value]


_CANDIDATE_FILE = re.compile(r"^candidate(\d+)\.v:\d+:", re.MULTILINE)


def _simulate_mixed(parts: list[_Part], members: list[list[int]]
                    ) -> tuple[list[dict[int, Verdict]] | None, set[tuple[int, int]]]:
    """One compile and one simulation of the chosen candidates (``members``: indices into
    each part's ``runnable``), each part's testbench (its own nonce, files and record)
    driving its own: their verdicts by part and index (none for a part whose testbench did
    not finish: the caller checks its candidates apart), or ``None`` when the run did not
    compile, with the (part, index) of candidates the compiler's log blames."""
    options = parts[0].options
    simulator = backend(options.simulator)
    limits = options.limits()
    chosen = [(j, part, ks) for j, (part, ks) in enumerate(zip(parts, members)) if ks]
    join, join_text = testbench.join_module(secrets.token_hex(8), len(chosen))
    timings: dict[str, float] = {}
    where: dict[int, tuple[int, int]] = {}  # candidate file number -> (part, index)
    with Workdir() as workdir:
        (workdir / "join.v").write_text(join_text)
        files, tops, nonces = ["join.v"], [join], []
        for slot, (j, part, ks) in enumerate(chosen):
            nonce = secrets.token_hex(8)
            nonces.append(nonce)
            design_of_golden = part.reference.design
            stimulus_file, expected_file, _ = testbench.part_files(slot)
            names = [candidate_prefix(n, nonce) + part.runnable[k][1].top for n, k in enumerate(ks)]
            (workdir / f"tb{slot}.v").write_text(testbench.candidate_testbench(
                design_of_golden, names, part.stim.ports, part.ticks, options.seed, nonce,
                _preset(options, design_of_golden, part.stim), part=slot, join=join))
            if part.stim.ports:
                (workdir / stimulus_file).write_text(part.stim.hex_lines)
            (workdir / expected_file).write_text(part.trace.expected_hex)
            files.append(f"tb{slot}.v")
            tops.append(testbench.module_name(nonce))
            for n, k in enumerate(ks):
                where[len(where)] = (j, k)
                name = f"candidate{len(where) - 1}.v"
                (workdir / name).write_text(prefix_modules(part.runnable[k][1], candidate_prefix(n, nonce)))
                files.append(name)
        compiled = simulator.start_compile(workdir, files, tops, limits).wait()
        timings["compile"] = compiled.seconds
        if not compiled.ok:
            return None, {where[int(m)] for m in _CANDIDATE_FILE.findall(compiled.output) if int(m) in where}
        wall = min(limits.wall_seconds, 2.0 + 20 * sum(part.trace.seconds for _, part, _ in chosen))
        sim_limits = dataclasses.replace(limits, wall_seconds=wall)
        sim = simulator.simulate(workdir, sim_limits)
        timings["simulate"] = sim.seconds
        timings["golden"] = 0.0
        results = [_read(workdir / testbench.part_files(slot)[2]) for slot in range(len(chosen))]
    out: list[dict[int, Verdict]] = [{} for _ in parts]
    for (j, part, ks), nonce, text in zip(chosen, nonces, results):
        # A testbench that wrote its END record finished every answer of its part, whatever
        # stopped the run later (one answer hanging or flooding the log): its records stand.
        # A part without one gets no verdicts here; the caller checks its answers apart.
        run = sim if sim.ok or not text.rstrip().endswith(f"{nonce} END") else \
            dataclasses.replace(sim, returncode=0, timed_out=False)
        verdicts = _run_verdicts(run, text, nonce, part.reference.design, [part.runnable[k][1] for k in ks],
                                 part.trace, part.stim, part.ticks, part.options, sim_limits, timings, single=False)
        if verdicts is not None:
            out[j] = dict(zip(ks, verdicts))
    return out, set()


def _check_designs(reference: Golden, runnable: list[tuple[int, Design, float]], stim: Stimulus, ticks: int,
                   golden: Recording | _Recorded, options: CheckOptions, batch_size: int,
                   verdicts: list[Verdict | None], simulated: dict[int, Verdict] | None = None) -> None:
    """Simulate the analysed candidates (``runnable``: index, design, analysis seconds) and
    put their verdicts into ``verdicts`` (``simulated``: verdicts of some of them, by
    position in ``runnable``, from a run shared with other goldens' candidates,
    :func:`check_mixed`; only the others are simulated here)."""
    designs = [design for _, design, _ in runnable]
    results: dict[int, Verdict] = dict(simulated or {})
    shared = [k for k, d in enumerate(designs) if d.self_contained and k not in results]
    size = max(1, batch_size)
    for group in (shared[i : i + size] for i in range(0, len(shared), size)):
        if len(group) > 1:
            batch = _simulate(reference, [designs[k] for k in group], stim, ticks, golden, options, single=False)
            if batch is not None:
                results.update(zip(group, batch))
    for k, design in enumerate(designs):  # what did not share a run (or whose shared run failed)
        if k not in results:
            results[k] = _simulate(reference, [design], stim, ticks, golden, options, single=True)[0]
    recorded = golden.result()
    undefined = recorded.undefined if isinstance(recorded, GoldenTrace) else ()
    for k, (index, design, analyze_seconds) in enumerate(runnable):
        verdict = results[k]
        verdict.timings["analyze"] = analyze_seconds
        if options.lint and verdict.status in _COMPILED:
            t0 = time.perf_counter()
            verdict.details["lint"] = lint(design, options)
            verdict.timings["lint"] = time.perf_counter() - t0
        verdict.details["clocks"] = list(reference.design.clocks)
        verdict.details["resets"] = [dataclasses.asdict(r) for r in reference.design.resets]
        verdict.details["seed"] = options.seed
        if undefined:
            verdict.details["golden_undefined_outputs"] = list(undefined)
        if backend(options.simulator).TWO_STATE:  # what Icarus must confirm (checking._simulation)
            for key, lines in (("xz_lines", design.xz_lines), ("golden_xz_lines", reference.design.xz_lines)):
                if lines:
                    verdict.details[key] = list(lines)
        verdicts[index] = verdict


_COMPILED = (Status.EQUIVALENT, Status.MISMATCH, Status.TIMEOUT)
_LINT_LINE = re.compile(r"^%Warning-(?P<code>[A-Z0-9_]+): " + re.escape(diagnostics.ANSWER_FILE)
                        + r":(?P<line>\d+):(?:\d+:)?\s*(?P<message>.*)$")
MAX_LINT = 20


def lint(design: Design, options: CheckOptions) -> list[dict]:
    """Verilator's lint warnings on ``design`` alone (:data:`~verilog_env.sim.verilator.LINT_WARNINGS`),
    in the answer's terms: ``{"code", "line", "message"}``, at most :data:`MAX_LINT`."""
    simulator = backend("verilator")
    nonce = secrets.token_hex(8)
    prefix = candidate_prefix(0, nonce)
    with Workdir() as workdir:
        (workdir / "candidate0.v").write_text(prefix_modules(design, prefix))
        run = simulator.start_lint(workdir, ["candidate0.v"], prefix + design.top, options.limits()).wait()
    text = diagnostics.translate_log(run.output, design, work_file="candidate0.v", prefix=prefix, nonce=nonce)
    found = []
    for line in text.splitlines():
        m = _LINT_LINE.match(line)
        if m and m.group("code") in simulator.LINT_WARNINGS and len(found) < MAX_LINT:
            found.append({"code": m.group("code"), "line": int(m.group("line")), "message": m.group("message").strip()})
    return found


def simulate_against(
    reference: Golden, design: Design, stim: Stimulus, ticks: int, options: CheckOptions, key: tuple | None = None
) -> Verdict:
    """One candidate against the golden on a given stimulus of ``ticks`` ticks (formal
    replays and deep runs): the golden recorded alone (cached under ``key``), then the
    candidate alone."""
    trace = record_golden(reference, stim, ticks, options, key)
    return _simulate(reference, [design], stim, ticks, _Recorded(trace), options, single=True)[0]


def _compile_failure(run: RunResult, design: Design, nonce: str, limits: Limits, label: str) -> Verdict:
    """The verdict for a failed compile of one candidate (``design``, alone in the run as
    candidate 0): its log in the user's terms (:func:`~.diagnostics.translate_log`)."""
    if run.timed_out or (run.returncode or 0) < 0:
        status = Status.TIMEOUT if run.timed_out else Status.REJECTED
        return Verdict(status, f"compiling the candidate {run.describe_failure(limits)}")
    files = {m.group("file") for m in map(diagnostics.LOCATED.match, run.output.splitlines()) if m}
    if "tb.v" in files:
        cleaned = run.output.replace(candidate_prefix(0, nonce), "")
        return Verdict(Status.INTERNAL_ERROR, "generated testbench failed to compile:\n" + cleaned[:2000])
    excerpt = diagnostics.translate_log(
        run.output, design, work_file="candidate0.v", prefix=candidate_prefix(0, nonce), nonce=nonce
    )[:2000]
    return Verdict(Status.COMPILE_ERROR, excerpt or f"{label} could not compile the candidate")


def _simulate(
    reference: Golden,
    designs: list[Design],
    stim: Stimulus,
    ticks: int,
    golden: Recording | _Recorded,
    options: CheckOptions,
    single: bool,
) -> list[Verdict] | None:
    """Compile ``designs`` into one run, then simulate them against the golden's record.

    ``None`` if a shared run failed (nobody is blamed: the caller runs each alone). The
    golden's record may still be being made: its simulation starts while the candidates
    compile; a golden that cannot be recorded is every candidate's verdict.
    """
    n = len(designs)
    nonce = secrets.token_hex(8)
    design_of_golden = reference.design
    limits = options.limits()
    simulator = backend(options.simulator)
    timings: dict[str, float] = {}
    with Workdir() as workdir:
        tops = [candidate_prefix(k, nonce) + d.top for k, d in enumerate(designs)]
        (workdir / "tb.v").write_text(
            testbench.candidate_testbench(design_of_golden, tops, stim.ports, ticks, options.seed, nonce,
                                          _preset(options, design_of_golden, stim))
        )
        if stim.ports:
            (workdir / testbench.STIMULUS_FILE).write_text(stim.hex_lines)
        files = ["tb.v"]
        for k, design in enumerate(designs):
            name = f"candidate{k}.v"
            (workdir / name).write_text(prefix_modules(design, candidate_prefix(k, nonce)))
            files.append(name)
        compiling = simulator.start_compile(workdir, files, testbench.module_name(nonce), limits, ticks)
        try:
            golden.advance()  # the golden's compile done, its simulation started
        finally:
            compiled = compiling.wait()
        timings["compile"] = compiled.seconds
        t0 = time.perf_counter()
        trace = golden.result()
        timings["golden"] = time.perf_counter() - t0  # waiting for the record, if it was not cached
        if isinstance(trace, Verdict):
            return [dataclasses.replace(trace, timings=dict(timings), details=dict(trace.details)) for _ in range(n)]
        if not compiled.ok:
            return [_compile_failure(compiled, designs[0], nonce, limits, simulator.LABEL)] if single else None
        (workdir / testbench.EXPECTED_FILE).write_text(trace.expected_hex)
        sim_limits = trace.candidate_limits(limits)
        runs = []  # one run in Icarus; in Verilator one per fill of the X sources (CANDIDATE_RUNS)
        for args in simulator.CANDIDATE_RUNS:
            (workdir / testbench.RESULTS_FILE).unlink(missing_ok=True)
            sim = simulator.simulate(workdir, sim_limits, args)
            runs.append((sim, _read(workdir / testbench.RESULTS_FILE)))

    timings["simulate"] = sum(sim.seconds for sim, _ in runs)
    verdicts: list[Verdict] | None = None
    for sim, results in runs:  # a candidate passes only if it passes every run
        run = _run_verdicts(sim, results, nonce, design_of_golden, designs, trace, stim, ticks, options, sim_limits,
                            timings, single)
        if run is None or (single and run[0].status not in (Status.EQUIVALENT, Status.MISMATCH)):
            return run
        verdicts = run if verdicts is None else [old if not old.equivalent else new for old, new in zip(verdicts, run)]
    return verdicts


def _run_verdicts(sim: RunResult, results: str, nonce: str, design_of_golden: Design, designs: list[Design],
                  trace: GoldenTrace, stim: Stimulus, ticks: int, options: CheckOptions, sim_limits: Limits,
                  timings: dict[str, float], single: bool) -> list[Verdict] | None:
    """The verdicts of one simulation of ``designs`` (``None``: a shared run that failed)."""
    n = len(designs)
    records = [line.split()[1:] for line in results.splitlines() if line.startswith(nonce + " ")]
    finished = sim.ok and records and records[-1] == ["END"]
    if not finished:
        if not single:
            return None
        why = sim.describe_failure(sim_limits) if not sim.ok else "ended before the testbench finished"
        status = Status.TIMEOUT if sim.timed_out or sim.signal_name == "SIGXCPU" else Status.REJECTED
        log = diagnostics.translate_log(
            sim.output[-1000:], designs[0], work_file="candidate0.v", prefix=candidate_prefix(0, nonce), nonce=nonce
        )
        return [Verdict(status, f"simulation {why}", timings=dict(timings), details={"log": log})]

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
            cex = _counterexample(design_of_golden, trace.sample(tick), rest[3], tick, float(rest[2]), stim, options.seed)
            first = cex.mismatched[0]
            verdicts[k].status = Status.MISMATCH
            verdicts[k].counterexample = cex
            verdicts[k].details["ticks"] = ticks
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
        if any(w != "x" and g != w for w, g in zip(want[name], got[name]))  # golden X: don't-care
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


# --------------------------------------------------------------------------- the judge


class SimulationJudge:
    """Seeded random simulation in Icarus Verilog (see the module docstring)."""

    name = "sim"
    pool = declare(PoolSpec("check", memory_bytes=4 << 30))
    """4 GiB of address space per worker (less where the memory budget is tighter:
    :mod:`verilog_env.workers`): a design that makes elaboration blow up fails there (the
    worker dies and is replaced) instead of exhausting the machine."""

    def require(self, settings: CheckSettings) -> None:
        # A missing simulator is a set-up error, not a verdict; Verilator's runtime is
        # built here (once, cached on disk) rather than by every worker at its first check.
        for name in {*simulators_of(settings), *(("verilator",) if settings.lint else ())}:
            simulator = backend(name)
            simulator.tools()
            if hasattr(simulator, "runtime"):
                simulator.runtime(simulator.optimization(2 * settings.cycles))

    def job_size(self, settings: CheckSettings, spread: bool) -> int | None:
        # With a golden per worker at least, each golden's candidates go to one worker,
        # which records the golden once for all of them (in runs of batch_size); with
        # fewer goldens, runs are spread over the workers so every core works.
        return settings.batch_size if spread else None

    def guard_seconds(self, settings: CheckSettings, candidates: int) -> float:
        # Compile + simulate per run (analysis takes milliseconds), and a batch may fall
        # back to one run per candidate.
        return 2 * settings.timeout * (1 + (candidates if candidates > 1 else 0)) + 10

    def judge(self, parts: list[tuple[str, list[str], CheckOptions]], settings: CheckSettings) -> list[list[Verdict]]:
        return check_mixed(parts, settings.batch_size, self.mix_size(settings))

    def mix_size(self, settings: CheckSettings) -> int:
        return MIX_CANDIDATES if backend(settings.simulator).MULTI_TOP else 1


SIMULATION = SimulationJudge()


# --------------------------------------------------------------------------- two simulators


def simulators_of(settings: CheckSettings) -> tuple[str, ...]:
    """The back ends ``settings.simulator`` runs (``"both"``: each of them)."""
    return SIMULATORS if settings.simulator == "both" else (settings.simulator,)


def combine_simulators(verdicts: dict[str, Verdict]) -> Verdict:
    """One verdict from each simulator's verdict on the same candidate (``simulator="both"``).

    A simulator that cannot compile the golden, or (where another can) the candidate, does
    not judge; the others must all say ``equivalent`` for the candidate to be equivalent.
    Where they disagree, the failing one's verdict stands, marked: its reason starts with
    "simulators disagree" and ``details["simulators_disagree"]`` is true. Every verdict
    says who judged (``details["checked_by"]``) and what each simulator said
    (``details["simulators"]``).
    """
    names = list(verdicts)
    label = {name: backend(name).LABEL for name in names}
    # A golden that does not compile or run in a simulator (:func:`_golden_failure`) leaves
    # the others to judge; one that runs but leaves its outputs undefined is unusable in
    # every simulator (a 2-state one just cannot see it), so that verdict stands.
    judges = [n for n in names if not verdicts[n].details.get("golden_failed")] or names
    compiled = [n for n in judges if verdicts[n].status is not Status.COMPILE_ERROR]
    if compiled:
        judges = compiled
    notes = [f"{label[n]} did not judge: {verdicts[n].reason.splitlines()[0][:200]}" for n in names if n not in judges]
    failing = [n for n in judges if not verdicts[n].equivalent]
    if not failing:
        chosen = verdicts[judges[0]]
        reason = chosen.reason + (f" ({' and '.join(label[n] for n in judges)} agree)" if len(judges) > 1 else "")
    else:
        chosen = verdicts[failing[0]]
        reason = chosen.reason
        if len(failing) < len(judges):
            agreeing = ", ".join(label[n] for n in judges if n not in failing)
            reason = f"simulators disagree: {agreeing} found it equivalent; {label[failing[0]]}: {chosen.reason}"
    if notes:
        reason += f" (checked by {', '.join(label[n] for n in judges)} only; {'; '.join(notes)})"
    details = dict(chosen.details)
    lint = [v.details["lint"] for v in verdicts.values() if "lint" in v.details]  # taken by one simulator only
    if lint:
        details["lint"] = lint[0]
    details["checked_by"] = judges
    details["simulators"] = {n: verdicts[n].summary()[:300] for n in names}
    details["simulators_disagree"] = bool(failing) and len(failing) < len(judges)
    timings = dict(chosen.timings)
    timings["total"] = sum(v.timings.get("total", 0.0) for v in verdicts.values())
    return Verdict(chosen.status, reason, chosen.counterexample, timings, details)
