"""Formal equivalence of one candidate against a golden: analysis, miter, proof, replay.

:func:`formal_check` returns a :class:`~verilog_env.equiv.verdict.Verdict` whose
``details["formal"]`` says what the prover established:

``proven``
    for every input sequence, at every tick from the aligned start, every output bit
    the golden drives to 0/1 (or Z) has the same value in the candidate (see
    :mod:`.miter` for the model): status ``equivalent``.
``refuted``
    a concrete input sequence makes them differ, and the simulator, replaying it,
    agrees: status ``mismatch``, with the simulator's counterexample.
``bounded``
    no proof within the time budget, but no difference is possible within ``depth``
    cycles (``ticks`` ticks) of the start: status ``timeout``. Not a proof.
``unknown``
    the formal back end cannot decide (a construct it does not model, several clocks,
    Yosys cannot read the design, counterexamples the simulator does not reproduce, out
    of time with nothing proven): status ``unsupported`` (or ``timeout`` when time ran
    out), with the reason, and ``blame``: ``"budget"`` when the proof engines ran out of
    time on a miter they had (nothing found, nothing proven: a hard instance, as with
    ``bounded``), else ``"golden"`` when the golden is not :func:`tractable <golden_model>`,
    else ``"candidate"`` (the golden against itself is proven, so what stopped formal is
    in the candidate: a construct formal does not model, a design Yosys cannot read or
    synthesise within the budget, a miter too large, flip-flops on a derived clock,
    counterexamples the simulator does not reproduce).

Other keys: ``engine`` (which step decided), ``steps`` (each step's seconds),
``miter`` (its size), ``depth``/``ticks`` (bounded), ``reason``/``code`` (unknown),
``excluded`` (counterexamples the simulator did not reproduce, excluded from the
search: see :meth:`.miter.Miter.exclude`), and ``golden_x`` for proofs: whether some
golden output is X at a compared tick within the first 48 ticks (a bounded check),
i.e. whether the proof leans on the golden's don't-cares (see the README's limits).

A counterexample the simulator does not reproduce is excluded and the search goes on,
up to :data:`MAX_EXCLUSIONS` times; a proof found then covers every other input
sequence, and the simulator covered the excluded ones.

The candidate is analysed and policed exactly as for simulation (same
:func:`~verilog_env.hdl.design.analyze` call, same interface check), and Yosys reads
the same macro-expanded, module-renamed text the simulator compiles.

:func:`combine` merges a formal verdict into simulation's for ``method="both"``; its
``fallback`` (:data:`FALLBACKS`) decides what an undecided formal check means.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time

from ..equiv.diagnostics import GOLDEN_FILE, translate_message
from ..equiv.prepare import (
    GOLDEN_PREFIX,
    CheckOptions,
    analyze_golden,
    candidate_prefix,
    prepare_candidate,
)
from ..equiv.settings import DEFAULT_FORMAL_BUDGET
from ..equiv.verdict import Status, Verdict
from ..hdl.design import Design, DesignError
from ..hdl.rename import prefix_modules
from ..sim.sandbox import Workdir
from . import engine, replay
from .miter import RESET_TICKS, Miter, build_miter
from .semantics import implicit_nets, semantic_blockers
from .yosys import FormalUnsupported, Netlist, synthesize, tools

DEFAULT_BUDGET = DEFAULT_FORMAL_BUDGET
"""Seconds of formal effort per check: the candidate's analysis and Yosys synthesis, the
miter, the proof engines and deep runs. Not charged to it: the golden's synthesis and
self-check (their own wall-clock bounds, ``max(10, 2 * budget)`` s and ``budget`` s, once
per problem: cached), the golden-X check after a proof (at most 2 s), compiling a proven
candidate and replaying counterexamples."""

DEFAULT_FALLBACK = "reject"

MAX_EXCLUSIONS = 4
"""Counterexamples the simulator does not reproduce that are excluded before the search
gives up: one such trace is a corner where Yosys's gate-level X semantics and Icarus's
differ; a stream of them (a candidate built on such a corner) is not worth more rounds."""


@dataclasses.dataclass(frozen=True)
class FormalOptions:
    budget: float = DEFAULT_BUDGET
    compile_candidate: bool = True
    """Also compile the candidate with Icarus Verilog before a proof counts (method="formal")."""


@dataclasses.dataclass(frozen=True)
class GoldenModel:
    """The golden as the formal back end sees it (:func:`golden_model`)."""

    netlist: Netlist | None
    problem: FormalUnsupported | None = None
    """Why formal cannot use the golden at all (then ``netlist`` is None)."""
    intractable: str | None = None
    """Why the golden is not tractable (None: it is)."""


@functools.lru_cache(maxsize=64)
def golden_model(text: str, top: str | None, budget: float) -> GoldenModel:
    """The golden's netlist and whether it is *tractable*, once per problem and budget.

    Tractable: the golden passes :func:`.semantics.semantic_blockers`, the miter covers it
    (one clock, no combinational loop or multiply-driven net), Yosys reads it in at most
    half the ``budget`` (a candidate's synthesis is charged to the budget, so a
    golden slower than that leaves a correct answer no time), and the golden against
    itself is proven within ``budget`` seconds. Formal can then decide an answer as close
    to the golden as the golden is to itself, so when it cannot decide a candidate, the
    candidate is what stopped it (see :func:`combine`).
    """
    reference = analyze_golden(text, top)
    design = reference.design
    try:
        blockers = semantic_blockers(design, "golden")
        if blockers:
            raise FormalUnsupported(blockers[0], code="semantics")
        t0 = time.perf_counter()
        netlist = synthesize(
            reference.text, reference.top, role="golden", wall_seconds=max(10.0, 2 * budget),
            implicit=implicit_nets(design),
        )
        seconds = time.perf_counter() - t0
        miter = build_miter(design, netlist, netlist)
    except FormalUnsupported as error:
        reason = translate_message(error.reason, design, work_file="golden.v", prefix=GOLDEN_PREFIX, shown=GOLDEN_FILE)
        return GoldenModel(None, problem=FormalUnsupported(reason, code=error.code))
    if seconds > budget / 2:
        return GoldenModel(netlist, intractable=f"Yosys takes {seconds:.1f} s to read it, over half the {budget:g} s budget")
    with Workdir() as workdir:
        miter.aig.write_aiger(workdir / engine.MITER_FILE)
        n = len(miter.input_bits)
        if not tools().abc:
            result = engine.run_yosys_engine(workdir, n, miter.combinational, engine.Budget(budget))
        else:
            session = engine.AbcSession(workdir, n, engine.Budget(budget))
            result = session.sat() if miter.combinational else session.prove(0.6 * budget, wall=budget)
    if result is None or result.result != "proven":
        return GoldenModel(netlist, intractable=f"it is not proven equivalent to itself within {budget:g} s")
    return GoldenModel(netlist)


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


def _unknown(reason: str, started: float, code: str, blame: str, timed_out: bool = False, **extra) -> Verdict:
    status = Status.TIMEOUT if timed_out else Status.UNSUPPORTED
    return Verdict(
        status,
        f"formal verification cannot decide: {reason}",
        details={"formal": _details("unknown", started, reason=reason, code=code, blame=blame, **extra)},
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
    design = prepare_candidate(candidate, reference, options)
    if isinstance(design, Verdict):
        return design
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
            started, "multi_clock", "golden",
        )
    t0 = time.perf_counter()
    model = golden_model(golden_text, options.top, formal.budget)
    timings["yosys_golden"] = time.perf_counter() - t0
    if model.problem is not None:
        error = model.problem
        return _unknown(error.reason, started, error.code, "golden", timed_out=error.code == "timeout")
    # The golden's netlist is made once per problem (and cached): not this check's budget.
    budget.deadline += timings["yosys_golden"]
    blame = "candidate" if model.intractable is None else "golden"
    note = {"golden": f"the reference is not formally tractable: {model.intractable}"} if model.intractable else {}
    try:
        blockers = semantic_blockers(design, "candidate")
        if blockers:
            return _unknown(blockers[0], started, "semantics", blame, **note)
        t0 = time.perf_counter()
        cn = synthesize(
            prefix_modules(design, candidate_prefix(0)),
            candidate_prefix(0) + design.top,
            role="candidate",
            wall_seconds=max(1.0, budget.left()),
            implicit=implicit_nets(design),
        )
        timings["yosys"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        miter = build_miter(golden, model.netlist, cn)
        timings["miter"] = time.perf_counter() - t0
    except FormalUnsupported as error:
        reason = translate_message(error.reason, design, work_file="candidate.v", prefix=candidate_prefix(0))
        return _unknown(reason, started, error.code, blame, timed_out=error.code == "timeout", **note)

    unreproduced = None
    with Workdir() as workdir:
        miter.aig.write_aiger(workdir / engine.MITER_FILE)
        session = engine.AbcSession(workdir, len(miter.input_bits), budget)
        t0 = time.perf_counter()
        try:
            while True:
                result, deep = _search(miter, session, reference, design, options)
                if result.result != "refuted" or deep is not None:
                    break
                rows = _rows(miter, result)
                t1 = time.perf_counter()
                replayed = replay.replay(reference, design, rows, options)
                timings["replay"] = timings.get("replay", 0.0) + time.perf_counter() - t1
                if replayed.confirmed:
                    break
                if miter.excluded >= MAX_EXCLUSIONS or budget.left() < 1.0:
                    unreproduced = replayed.reason
                    break
                miter.exclude(rows)
                miter.aig.write_aiger(workdir / engine.MITER_FILE)
        except FormalUnsupported as error:
            return _unknown(error.reason, started, error.code, blame, **note)
        timings["prove"] = time.perf_counter() - t0
        golden_x = None
        if result.result == "proven" and tools().abc:
            # Does the proof lean on the golden's don't-cares (outputs X after reset)?
            miter.aig.outputs = [miter.golden_x]
            miter.aig.write_aiger(workdir / "golden_x.aig")
            golden_x = engine.AbcSession(workdir, len(miter.input_bits), engine.Budget(2.0)).reachable(
                "golden_x.aig", miter.combinational
            )
    extra = {"engine": result.engine, "steps": result.steps, "miter": miter.stats, "excluded": miter.excluded or None}
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
        if miter.excluded:
            how += f" ({miter.excluded} input sequences the model flagged were simulated instead and matched)"
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
        if unreproduced is not None:
            return _unknown(
                f"{miter.excluded + 1} counterexamples found by the model are not reproduced by the simulator "
                f"(the last: {unreproduced})",
                started, "replay", blame, **note, **extra,
            )
        cex = replayed.counterexample
        first = cex.mismatched[0]
        found_by = result.engine + (f", {result.reason}" if result.reason else "")
        ticks = len(rows)
        return Verdict(
            Status.MISMATCH,
            f"output {first} differs at tick {cex.tick} (t={cex.time:g}ns): expected {cex.expected[first]}, "
            f"got {cex.actual[first]} (formal counterexample, found by {found_by}; replayed in simulation)",
            counterexample=cex,
            details={"formal": _details("refuted", started, ticks=ticks, **extra), "ticks": ticks},
        )

    if result.result == "bounded":
        cycles = _cycles(golden, result.frames)
        unit = "cycles after reset" if golden.clocks and miter.reset_window else ("cycles" if golden.clocks else "ticks")
        reason = (
            f"no formal proof within the {budget_text(formal.budget)} budget; no difference is possible in the first "
            f"{cycles} {unit} (bounded model check of {result.frames} ticks; not a proof)"
        )
        return Verdict(
            Status.TIMEOUT,
            reason,
            details={"formal": _details("bounded", started, depth=cycles, ticks=result.frames, reason=result.reason, **extra)},
        )
    # The proof engines ran out of time with nothing found: like bounded (a SAT-hard miter).
    return _unknown(result.reason, started, "engine", "budget", timed_out=result.timed_out, **extra)


def budget_text(seconds: float) -> str:
    return f"{seconds:g} s"


def _rows(miter: Miter, result: engine.EngineResult) -> list[dict[str, int]]:
    frames = result.cex or []
    if miter.combinational:
        frames = frames[:1]
    return miter.effective_inputs(frames)


def _search(miter: Miter, session: engine.AbcSession, reference, design, options):
    """Run the proof steps (see :mod:`.engine`) on ``session``'s miter file; returns
    (result, deep-run replay or None). The deep runs are made once per check: a later
    round (after :meth:`.miter.Miter.exclude`) goes from the proof to BMC."""
    budget, workdir = session.budget, session.workdir
    n = len(miter.input_bits)
    deep_done = any(step["step"].startswith("deep-run") for step in session.steps)
    # Time kept for the deep runs of step 3, which only matter when no proof comes.
    reserve = 0.0 if miter.combinational or deep_done else min(4.0, 0.3 * budget.left())
    if not tools().abc:
        result = engine.run_yosys_engine(workdir, n, miter.combinational, engine.Budget(max(1.0, budget.left() - reserve)))
        session.steps.extend(result.steps)
        if result.result in ("proven", "refuted") or miter.combinational:
            return result, None
        session.depth = result.frames if result.result == "bounded" else 0
    else:
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
    patterns = () if deep_done else ("zeros", "ones") if data_inputs else ("zeros",)
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


def combine(simulated: Verdict, formal: Verdict | None, fallback: str = DEFAULT_FALLBACK) -> Verdict:
    """The verdict of method="both": simulation's, refined by formal when simulation passed.

    * simulation found a difference (or the candidate did not get that far): that verdict;
    * formal ``proven``: ``equivalent``, and the reason says it is proven;
    * formal ``refuted``: ``mismatch`` with the formal counterexample (simulation missed it);
    * formal ``bounded``, or ``unknown`` because the proof engines ran out of time
      (``blame`` ``"budget"``): simulation's ``equivalent``, the reason saying that formal
      found no difference (up to a depth) and no proof: not a proof;
    * formal ``unknown`` because of the golden (``blame`` ``"golden"``: the reference is
      not formally tractable): simulation's ``equivalent``, the reason saying formal could
      not check it;
    * formal ``unknown`` because of the candidate, or the formal check itself did not
      finish (its worker timed out or died: no ``details["formal"]``): with ``fallback``
      ``"reject"`` (the default) the answer is not accepted: ``timeout`` when time ran out
      (or the worker did not finish), else ``rejected``, the reason naming what stopped
      formal. A candidate cannot switch the proof off by writing what formal cannot read.
      With ``fallback="simulation"`` simulation's ``equivalent`` stands, as for ``bounded``.

    In every case ``details["formal"]`` says how far formal got and why it stopped.
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
    merged.timings = timings
    if info is None:  # the formal job did not finish (worker timed out or died), or stopped before it started
        merged.details["formal"] = info = {"result": "unknown", "reason": formal.reason, "blame": "checker"}
        if fallback == "reject":
            return _not_accepted(merged, simulated, Status.TIMEOUT, f"formal verification did not finish ({formal.reason})")
        return merged
    result = info["result"]
    if result == "refuted" and formal.status is Status.MISMATCH:
        out = copy.deepcopy(formal)
        out.details["simulation"] = {"status": simulated.status.value, "reason": simulated.reason}
        out.reason = out.reason.replace("(formal counterexample", "(random simulation missed it; formal counterexample", 1)
        out.timings = timings
        return out
    merged.details["formal"] = info
    if result == "proven" and formal.status is Status.EQUIVALENT:
        merged.reason = f"{formal.reason}; simulation also matched ({simulated.reason})"
    elif result == "bounded":
        merged.reason = f"{simulated.reason}; not proven: {formal.reason}"
    elif result == "unknown" and info.get("blame") == "candidate" and fallback == "reject":
        status = Status.TIMEOUT if formal.status is Status.TIMEOUT else Status.REJECTED
        return _not_accepted(
            merged, simulated, status,
            f"formal verification cannot check this answer ({info['reason']}), though it can check the reference",
        )
    elif result == "unknown":
        merged.reason = f"{simulated.reason}; not proven: {formal.reason}"
    return merged


def _not_accepted(merged: Verdict, simulated: Verdict, status: Status, why: str) -> Verdict:
    merged.status = status
    merged.reason = (
        f"{why}: not accepted on random simulation alone (which passed it: {simulated.reason}; "
        "formal_fallback='simulation' would keep that verdict)"
    )
    merged.details["simulation"] = {"status": simulated.status.value, "reason": simulated.reason}
    return merged
