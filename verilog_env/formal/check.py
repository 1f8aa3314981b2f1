"""Formal equivalence of one candidate against a golden: analysis, miter, proof, replay.

:func:`formal_check` returns a :class:`~verilog_env.equiv.verdict.Verdict` whose
``details["formal"]`` says what the prover established:

``proven``
    for every input sequence, at every tick from the aligned start, every output bit
    the golden drives to 0/1 has the same value in the candidate (see :mod:`.miter` for
    the model): status ``equivalent``.
``refuted``
    a concrete input sequence makes them differ, and the simulator, replaying it,
    agrees: status ``mismatch``, with the simulator's counterexample.
``bounded``
    no proof within the time budget, but no difference is possible within ``depth``
    cycles (``ticks`` ticks) of the start: status ``timeout``.
``unknown``
    the formal back end cannot decide (a construct it does not model, several clocks,
    Yosys cannot read the design, out of time with nothing proven): status
    ``unsupported`` (or ``timeout`` when time ran out), with the reason.

Other keys: ``engine`` (which step decided), ``steps`` (each step's seconds),
``miter`` (its size), ``depth``/``ticks`` (bounded), ``reason``/``code`` (unknown), and
``golden_x`` for proofs: whether some golden output is X at a compared tick within the
first 48 ticks (a bounded check), i.e. whether the proof leans on the golden's
don't-cares (see the README's limits).

The candidate is analysed and policed exactly as for simulation (same
:func:`~verilog_env.hdl.design.analyze` call, same interface check), and Yosys reads
the same macro-expanded, module-renamed text the simulator compiles.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time

from ..equiv.simcheck import (
    CheckOptions,
    analyze_golden,
    candidate_prefix,
    interface_mismatch,
)
from ..equiv.verdict import Status, Verdict
from ..hdl.design import Design, DesignError, analyze
from ..hdl.rename import prefix_modules
from ..sim.sandbox import Workdir
from . import engine, replay
from .miter import RESET_TICKS, build_miter
from .semantics import semantic_blockers
from .yosys import FormalUnsupported, Netlist, synthesize, tools

DEFAULT_BUDGET = 20.0
"""Seconds of formal effort per check: the candidate's analysis and Yosys synthesis, the
miter, the proof engines and deep runs. Not charged to it: the golden's synthesis (its own
wall-clock bound, ``max(10, 2 * budget)`` s, once per problem: cached), the golden-X check
after a proof (at most 2 s), compiling a proven candidate and replaying a counterexample."""


@dataclasses.dataclass(frozen=True)
class FormalOptions:
    budget: float = DEFAULT_BUDGET
    compile_candidate: bool = True
    """Also compile the candidate with Icarus Verilog before a proof counts (method="formal")."""


@functools.lru_cache(maxsize=64)
def _golden_netlist(text: str, top: str | None, wall: float) -> Netlist | FormalUnsupported:
    reference = analyze_golden(text, top)
    try:
        blockers = semantic_blockers(reference.design, "golden")
        if blockers:
            return FormalUnsupported(blockers[0], code="semantics")
        return synthesize(reference.text, reference.top, role="golden", wall_seconds=wall)
    except FormalUnsupported as error:
        return error


def _details(result: str, started: float, **extra) -> dict:
    out = {"result": result, "seconds": round(time.perf_counter() - started, 3)}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _cycles(design: Design, ticks: int) -> int:
    """Clock cycles after the reset window covered by ``ticks`` ticks (ticks if no clock)."""
    if not design.clocks:
        return ticks
    start = RESET_TICKS if design.resets else 0
    return max(0, ticks - start) // 2


def _unknown(reason: str, started: float, code: str, timed_out: bool = False, **extra) -> Verdict:
    status = Status.TIMEOUT if timed_out else Status.UNSUPPORTED
    return Verdict(
        status,
        f"formal verification cannot decide: {reason}",
        details={"formal": _details("unknown", started, reason=reason, code=code, **extra)},
    )


def formal_check(golden: str, candidate: str, options: CheckOptions, formal: FormalOptions = FormalOptions()) -> Verdict:
    """Check ``candidate`` against ``golden`` formally; never raises on bad designs."""
    started = time.perf_counter()
    budget = engine.Budget(formal.budget)
    tools()  # a missing Yosys is a set-up error, not a verdict
    reference = analyze_golden(golden, options.top)
    if isinstance(reference, DesignError):
        return Verdict(Status.UNSUPPORTED, f"golden cannot be checked: {reference.reason}")
    t0 = time.perf_counter()
    try:
        design = analyze(
            candidate, name="candidate.v", role="candidate", preferred_top=options.candidate_top or reference.design.top
        )
        mismatch = interface_mismatch(reference.design, design)
        if mismatch:
            raise DesignError("mismatch", mismatch)
    except DesignError as error:
        return Verdict(Status(error.status), error.reason, timings={"analyze": time.perf_counter() - t0})
    timings = {"analyze": time.perf_counter() - t0}

    verdict = _prove(reference, golden, design, options, formal, budget, started, timings)
    verdict.timings.update(timings)
    verdict.timings["formal"] = time.perf_counter() - started
    verdict.timings["total"] = time.perf_counter() - started
    verdict.details.setdefault("clocks", list(reference.design.clocks))
    verdict.details.setdefault("resets", [dataclasses.asdict(r) for r in reference.design.resets])
    return verdict


def _prove(reference, golden_text, design, options, formal, budget, started, timings) -> Verdict:
    golden = reference.design
    if len(golden.clocks) > 1:
        return _unknown(
            f"the design has {len(golden.clocks)} clocks ({', '.join(golden.clocks)}); the formal model covers one",
            started, "multi_clock",
        )
    t0 = time.perf_counter()
    gn = _golden_netlist(golden_text, options.top, max(10.0, 2 * formal.budget))
    timings["yosys_golden"] = time.perf_counter() - t0
    if isinstance(gn, FormalUnsupported):
        return _unknown(gn.reason, started, gn.code, timed_out=gn.code == "timeout")
    # The golden's netlist is made once per problem (and cached): not this check's budget.
    budget.deadline += timings["yosys_golden"]
    try:
        blockers = semantic_blockers(design, "candidate")
        if blockers:
            return _unknown(blockers[0], started, "semantics")
        t0 = time.perf_counter()
        cn = synthesize(
            prefix_modules(design, candidate_prefix(0)),
            candidate_prefix(0) + design.top,
            role="candidate",
            wall_seconds=max(1.0, budget.left()),
        )
        timings["yosys"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        miter = build_miter(golden, gn, cn)
        timings["miter"] = time.perf_counter() - t0
    except FormalUnsupported as error:
        return _unknown(error.reason, started, error.code, timed_out=error.code == "timeout")

    with Workdir() as workdir:
        miter.aig.write_aiger(workdir / engine.MITER_FILE)
        t0 = time.perf_counter()
        result, deep = _search(miter, workdir, budget, reference, design, options)
        timings["prove"] = time.perf_counter() - t0
        golden_x = None
        if result.result == "proven" and tools().abc:
            # Does the proof lean on the golden's don't-cares (outputs X after reset)?
            miter.aig.outputs = [miter.golden_x]
            miter.aig.write_aiger(workdir / "golden_x.aig")
            golden_x = engine.AbcSession(workdir, len(miter.input_bits), engine.Budget(2.0)).reachable(
                "golden_x.aig", miter.combinational
            )
    extra = {"engine": result.engine, "steps": result.steps, "miter": miter.stats}
    if golden_x is not None:
        extra["golden_x"] = golden_x

    if result.result == "proven":
        if formal.compile_candidate:
            log = replay.compiles(design, options)
            if log is not None:
                return Verdict(Status.COMPILE_ERROR, log)
        how = "for every input sequence" + (" from reset" if miter.reset_window and golden.clocks else "")
        if golden_x:
            how += " (bits the reference leaves X are don't-care)"
        return Verdict(
            Status.EQUIVALENT,
            f"proven equivalent by formal verification ({result.engine}): every output matches the reference "
            f"at every tick, {how}",
            details={"formal": _details("proven", started, **extra)},
        )

    if deep is not None:  # a deep run in the simulator found the difference: nothing to replay
        cex = deep.counterexample
        first = cex.mismatched[0]
        return Verdict(
            Status.MISMATCH,
            f"output {first} differs at tick {cex.tick} (t={cex.time:g}ns): expected {cex.expected[first]}, "
            f"got {cex.actual[first]} (found by {result.engine}: {result.reason}, after no proof was found)",
            counterexample=cex,
            details={"formal": _details("refuted", started, ticks=cex.tick + 1, **extra), "ticks": cex.tick + 1},
        )

    if result.result == "refuted":
        rows = _rows(miter, result)
        t0 = time.perf_counter()
        replayed = replay.replay(reference, design, rows, options)
        timings["replay"] = time.perf_counter() - t0
        if replayed.confirmed:
            cex = replayed.counterexample
            first = cex.mismatched[0]
            found_by = result.engine + (f", {result.reason}" if result.reason else "")
            return Verdict(
                Status.MISMATCH,
                f"output {first} differs at tick {cex.tick} (t={cex.time:g}ns): expected {cex.expected[first]}, "
                f"got {cex.actual[first]} (formal counterexample, found by {found_by}; replayed in simulation)",
                counterexample=cex,
                details={"formal": _details("refuted", started, ticks=len(rows), **extra), "ticks": len(rows)},
            )
        return _unknown(replayed.reason, started, "replay", **extra)

    if result.result == "bounded":
        cycles = _cycles(golden, result.frames)
        unit = "cycles after reset" if golden.clocks and miter.reset_window else ("cycles" if golden.clocks else "ticks")
        reason = (
            f"no formal proof within the {budget_text(formal.budget)} budget; no difference is possible in the first "
            f"{cycles} {unit} (bounded model check of {result.frames} ticks)"
        )
        return Verdict(
            Status.TIMEOUT,
            reason,
            details={"formal": _details("bounded", started, depth=cycles, ticks=result.frames, reason=result.reason, **extra)},
        )
    return _unknown(result.reason, started, "engine", timed_out=result.timed_out, **extra)


def budget_text(seconds: float) -> str:
    return f"{seconds:g} s"


def _rows(miter, result: engine.EngineResult) -> list[dict[str, int]]:
    frames = result.cex or []
    if miter.combinational:
        frames = frames[:1]
    return miter.effective_inputs(frames)


def _search(miter, workdir, budget: engine.Budget, reference, design, options):
    """Run the proof steps (see :mod:`.engine`); returns (result, deep-run replay or None)."""
    n = len(miter.input_bits)
    # Time kept for the deep runs of step 3, which only matter when no proof comes.
    reserve = 0.0 if miter.combinational else min(4.0, 0.3 * budget.left())
    if not tools().abc:
        session = engine.AbcSession(workdir, n, budget)  # only its step log and depth are used
        result = engine.run_yosys_engine(workdir, n, miter.combinational, engine.Budget(max(1.0, budget.left() - reserve)))
        session.steps.extend(result.steps)
        if result.result in ("proven", "refuted") or miter.combinational:
            return result, None
        session.depth = result.frames if result.result == "bounded" else 0
    else:
        session = engine.AbcSession(workdir, n, budget)
        if miter.combinational:
            return session.sat(), None
        # 1. shallow BMC: most differences, with the shortest counterexample
        found = session.bmc(48, min(3.0, 0.1 * budget.left()))
        if found:
            return found, None
        # 2. proof
        share = max(1.0, budget.left() - reserve)
        found = session.prove(0.6 * share, wall=share)
        if found:
            return found, None
    # 3. deep runs with every input fixed after reset (refute only)
    data_inputs = any(port not in miter.resets for port, _ in miter.input_bits)
    patterns = ("zeros", "ones") if data_inputs else ("zeros",)
    for k, pattern in enumerate(patterns):
        if budget.left() < 1.0:
            break
        seconds = max(2.0, budget.left() / (len(patterns) - k + 0.5))
        t0 = time.perf_counter()
        run = replay.deep_run(reference, design, pattern, options, seconds)
        session.steps.append({"step": f"deep-run({pattern})", "seconds": round(time.perf_counter() - t0, 3),
                              "killed": not run.confirmed and "limit" in run.reason})
        if run.confirmed:
            what = (
                "every input held at all-" + pattern
                + (" and resets released after the reset window" if miter.resets else "")
            )
            return engine.EngineResult("refuted", f"deep-run({pattern})", reason=what, steps=session.steps), run
    # 4. BMC with free inputs for what is left: how far no difference is possible
    if tools().abc and budget.left() >= 1.0:
        found = session.bmc(1 << 20, budget.left())
        if found:
            return found, None
    if session.depth > 0:
        name = "abc:bmc+pdr" if tools().abc else "yosys:sat-tempinduct"
        return engine.EngineResult("bounded", name, frames=session.depth, steps=session.steps,
                                   timed_out=True, reason="no proof within the time budget"), None
    return engine.EngineResult("unknown", "abc" if tools().abc else "yosys:sat", steps=session.steps, timed_out=True,
                               reason="neither a proof nor a bounded check finished within the time budget"), None


# ---------------------------------------------------------------------- method="both"


def combine(simulated: Verdict, formal: Verdict | None) -> Verdict:
    """The verdict of method="both": simulation's, refined by formal when simulation passed.

    * simulation found a difference (or the candidate did not get that far): that verdict;
    * formal ``proven``: ``equivalent``, and the reason says it is proven;
    * formal ``refuted``: ``mismatch`` with the formal counterexample (simulation missed it);
    * formal ``bounded`` / ``unknown``: simulation's ``equivalent``, with
      ``details["formal"]`` saying how far formal got and why it stopped.
    """
    if formal is None or simulated.status is not Status.EQUIVALENT:
        return simulated
    info = formal.details.get("formal")
    merged = copy.deepcopy(simulated)
    timings = dict(simulated.timings)
    timings["formal"] = formal.timings.get("formal", formal.timings.get("total", 0.0))
    if "yosys_golden" in formal.timings:  # part of "formal": the golden's synthesis, once per problem
        timings["yosys_golden"] = formal.timings["yosys_golden"]
    timings["total"] = simulated.timings.get("total", 0.0) + timings["formal"]
    if info is None:  # formal stopped before it started (cannot happen after simulation passed)
        merged.details["formal"] = {"result": "unknown", "reason": formal.reason}
        merged.timings = timings
        return merged
    result = info["result"]
    if result == "refuted" and formal.status is Status.MISMATCH:
        out = copy.deepcopy(formal)
        out.details["simulation"] = {"status": simulated.status.value, "reason": simulated.reason}
        out.reason = out.reason.replace("(formal counterexample", "(random simulation missed it; formal counterexample", 1)
        out.timings = timings
        return out
    merged.details["formal"] = info
    merged.timings = timings
    if result == "proven" and formal.status is Status.EQUIVALENT:
        merged.reason = f"{formal.reason}; simulation also matched ({simulated.reason})"
    elif formal.status is Status.COMPILE_ERROR:  # cannot happen after simulation compiled it
        merged.details["formal"] = {"result": "unknown", "reason": formal.reason}
    return merged
