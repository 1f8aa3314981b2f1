"""Simulation-based equivalence: the in-process core behind :func:`check_equivalence`.

This module does the actual work of one check (or one batch of candidates against one
golden) in the current process. Callers normally go through
:mod:`verilog_env.equiv.check`, which runs it in an isolated worker process.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
import time

from ..hdl.design import Design, DesignError, analyze
from ..hdl.rename import prefix_modules
from ..sim import icarus
from ..sim.sandbox import Limits, Workdir
from . import stimulus, testbench
from .verdict import Counterexample, Status, Verdict

GOLDEN_PREFIX = "vlenv_g_"
HISTORY_TICKS = 16
_CLEAN_STATE = "\n`resetall\n`timescale 1ns/1ps\n"


def candidate_prefix(k: int) -> str:
    return f"vlenv_c{k}_"


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """Knobs of one check. ``cycles`` counts cycles of the first clock (two ticks each)."""

    top: str | None = None
    candidate_top: str | None = None
    seed: int = 0
    cycles: int = 500
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
    text: str  # renamed, followed by directives that reset the compilation state
    seconds: float


@functools.lru_cache(maxsize=64)
def _analyze_golden(text: str, top: str | None) -> _Golden | DesignError:
    start = time.perf_counter()
    try:
        design = analyze(text, name="golden.v", role="golden", top=top)
        renamed = prefix_modules(design, GOLDEN_PREFIX)
    except DesignError as error:
        return error
    return _Golden(design, renamed + _undefine(design) + _CLEAN_STATE, time.perf_counter() - start)


def _undefine(design: Design) -> str:
    """``undef`` lines for every macro the design defines, so none leaks into the next file."""
    from pyslang import parsing, syntax

    names: list[str] = []

    def visit(node):
        if isinstance(node, parsing.Token):
            for trivia in node.trivia:
                if trivia.kind == parsing.TriviaKind.Directive:
                    directive = trivia.syntax()
                    if directive.kind == syntax.SyntaxKind.DefineDirective:
                        names.append(directive.name.valueText)

    design.source.tree.root.visit(visit)
    return "".join(f"\n`undef {n}" for n in dict.fromkeys(names))


def interface_mismatch(golden: Design, candidate: Design) -> str | None:
    """Describe the first port difference, or ``None`` when the interfaces match."""
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
                top=None,
                preferred_top=options.candidate_top or reference.design.top,
            )
            mismatch = interface_mismatch(reference.design, design)
            if mismatch:
                raise DesignError("mismatch", mismatch)
        except DesignError as error:
            verdicts[index] = Verdict(
                Status(error.status),
                error.reason,
                timings={"analyze": time.perf_counter() - t0},
            )
            continue
        runnable.append((index, design, time.perf_counter() - t0))

    if len(runnable) > 1:
        results = _simulate(reference, [d for _, d, _ in runnable], options)
        if results is None:  # one bad apple spoiled the shared run: isolate each
            results = [_simulate(reference, [d], options, single=True)[0] for _, d, _ in runnable]
    elif runnable:
        results = _simulate(reference, [runnable[0][1]], options, single=True)
    else:
        results = []
    for (index, design, analyze_seconds), verdict in zip(runnable, results):
        verdict.timings["analyze"] = analyze_seconds + reference.seconds
        verdict.details["interface"] = {
            "clocks": reference.design.clocks,
            "resets": [dataclasses.asdict(r) for r in reference.design.resets],
        }
        verdicts[index] = verdict
    total = time.perf_counter() - started
    for verdict in verdicts:
        verdict.timings.setdefault("total", total)
    return verdicts  # type: ignore[return-value]


_ERROR_LINE = re.compile(r"^(?P<file>[\w.]+):(?P<line>\d+): (?P<rest>.*)$")


def _clean_log(text: str, prefixes: list[str]) -> str:
    for prefix in prefixes:
        text = text.replace(prefix, "")
    return text


def _compile_failure(log: str, n: int, single: bool) -> list[Verdict] | None:
    """Verdicts for a failed compile, or ``None`` if the blame cannot be placed."""
    files = {m.group("file") for m in map(_ERROR_LINE.match, log.splitlines()) if m}
    cleaned = _clean_log(log, [GOLDEN_PREFIX] + [candidate_prefix(k) for k in range(n)]).splitlines()
    if "golden.v" in files:
        excerpt = "\n".join(line for line in cleaned if line.startswith("golden.v:"))[:2000]
        return [Verdict(Status.UNSUPPORTED, f"golden does not compile under Icarus Verilog:\n{excerpt}") for _ in range(n)]
    if not single:
        return None
    if "tb.v" in files:
        return [Verdict(Status.INTERNAL_ERROR, "generated testbench failed to compile:\n" + "\n".join(cleaned)[:2000])]
    # Only the candidate's own lines: the log must not leak the golden or the testbench.
    excerpt = "\n".join(
        line.replace("candidate0.v", "candidate.v")
        for line in cleaned
        if line.strip() and "I give up" not in line and not line.startswith(("golden.v", "tb.v"))
    )[:2000]
    return [Verdict(Status.COMPILE_ERROR, excerpt or "Icarus Verilog could not compile the candidate")]


def _simulate(reference: _Golden, designs: list[Design], options: CheckOptions, single: bool = False) -> list[Verdict] | None:
    n = len(designs)
    nonce = secrets.token_hex(8)
    golden = reference.design
    ticks = 2 * options.cycles
    stimulus_ports = tuple(p for p in golden.inputs if p.name not in golden.clocks)
    stim = stimulus.generate(stimulus_ports, tuple(golden.resets), ticks, options.seed)
    plan = testbench.TestbenchPlan(
        golden=golden,
        golden_top=GOLDEN_PREFIX + golden.top,
        candidate_tops=[candidate_prefix(k) + d.top for k, d in enumerate(designs)],
        stimulus_ports=stimulus_ports,
        ticks=ticks,
        seed=options.seed,
        nonce=nonce,
    )
    limits = options.limits()
    with Workdir() as workdir:
        (workdir / "tb.v").write_text(testbench.generate(plan))
        if stimulus_ports:
            (workdir / testbench.STIMULUS_FILE).write_text(stim.hex_lines())
        (workdir / "golden.v").write_text(reference.text)
        files = ["tb.v", "golden.v"]
        for k, design in enumerate(designs):
            name = f"candidate{k}.v"
            (workdir / name).write_text(prefix_modules(design, candidate_prefix(k)) + _undefine(design) + _CLEAN_STATE)
            files.append(name)
        run = icarus.compile_and_run(workdir, files, testbench.TB_MODULE, limits, limits)
    compile_seconds = run.compile.seconds
    if run.simulate is None:
        if run.compile.timed_out or not run.compile.ok and run.compile.returncode is not None and run.compile.returncode < 0:
            if not single:
                return None
            return [Verdict(Status.TIMEOUT if run.compile.timed_out else Status.REJECTED,
                            f"compiling the candidate {run.compile.describe_failure(limits)}",
                            timings={"compile": compile_seconds})]
        verdicts = _compile_failure(run.compile.output, n, single)
        if verdicts is not None:
            verdicts = [dataclasses.replace(v, timings={"compile": compile_seconds}) for v in verdicts]
        return verdicts

    sim = run.simulate
    records = [line.split()[1:] for line in sim.output.splitlines() if line.startswith(nonce + " ")]
    timings = {"compile": compile_seconds, "simulate": sim.seconds}
    if not records or records[-1] != ["END"]:
        if not single:
            return None
        why = sim.describe_failure(limits) if not sim.ok else "ended before the testbench finished"
        status = Status.TIMEOUT if sim.timed_out or sim.signal_name == "SIGXCPU" else Status.REJECTED
        return [Verdict(status, f"simulation {why}", timings=dict(timings),
                        details={"log": sim.output[-1000:]})]
    verdicts = [Verdict(Status.EQUIVALENT, "", timings=dict(timings)) for _ in range(n)]
    mismatches: dict[int, dict] = {}
    for fields in records:
        tag, rest = fields[0], fields[1:]
        if tag == "PASS":
            k = int(rest[0])
            verdicts[k].reason = f"outputs matched the reference at all {rest[1]} sampled ticks (seed {options.seed})"
            verdicts[k].details["ticks"] = int(rest[1])
        elif tag == "MISMATCH":
            mismatches[int(rest[0])] = {"tick": int(rest[1]), "time": float(rest[2]), "out": []}
        elif tag == "OUT":
            mismatches[int(rest[0])]["out"].append(rest[1:])
    for k, m in mismatches.items():
        cex = Counterexample(
            tick=m["tick"],
            time=m["time"],
            mismatched=[o[0] for o in m["out"] if o[1] == "1"],
            expected={o[0]: o[2] for o in m["out"]},
            actual={o[0]: o[3] for o in m["out"]},
            inputs=[
                {"tick": t, **stim.row(t)}
                for t in range(max(0, m["tick"] - HISTORY_TICKS + 1), m["tick"] + 1)
            ],
            seed=options.seed,
        )
        verdicts[k].status = Status.MISMATCH
        verdicts[k].counterexample = cex
        first = cex.mismatched[0]
        verdicts[k].reason = (
            f"output {first} differs at tick {cex.tick} (t={cex.time:g}ns): "
            f"expected {cex.expected[first]}, got {cex.actual[first]}"
        )
    return verdicts
