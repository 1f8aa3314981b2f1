"""The miter: golden and candidate side by side, with X tracked, as one AIG.

Both netlists (from :mod:`.yosys`) are encoded into one and-inverter graph whose single
output is 1 exactly when, at some tick, an output bit that the golden drives to 0/1
differs in the candidate (or is X there). This mirrors the simulator's comparison, over
every input sequence instead of one sampled sequence:

* **Time is the simulator's tick** (see :mod:`verilog_env.equiv.testbench`): inputs
  change, outputs are compared, then the clock toggles. The clock is a register that
  starts at 0 and flips every tick; a posedge flip-flop loads D at the end of a tick
  whose clock is 0, a negedge one at the end of a tick whose clock is 1; latches are
  transparent while enabled; asynchronous set/reset act within the tick. So mixed
  edges, latches and outputs that follow the clock level all mean what they mean in
  simulation.
* **X is modelled** (dual rail: every signal is a value bit and a known bit). Registers
  without a reset or initial value start as X in both copies; ``x`` constants and
  undriven nets are X; gates propagate X the way a gate-level simulator does (an AND
  with a known 0 input is 0, a mux with an X select is X unless both data inputs
  agree). Inputs are always 0/1.
* **Z is modelled** where it can travel (a third literal, only on nets a ``z`` constant
  or a tri-state buffer can reach through buffers, mux data inputs and registers): a mux
  passes its selected input's Z, a register stores it, a tri-state buffer drives Z while
  disabled; any other gate reads Z as X, as the simulator does. A Z is unknown in the
  dual rail.
* **Reset alignment**: for a design with inferred resets, every reset is held asserted
  (with its inferred polarity) during ticks 0-2, exactly as the simulator's stimulus
  does; afterwards resets are free inputs like any other. Outputs are compared at every
  tick from tick 0, as the simulator's testbench does: power-on X values are the
  golden's don't-cares like any other X, and in ticks 0-2 (a clocked design with
  resets) a candidate X is tolerated as well, as in the simulator.
* **Golden X is don't-care**, candidate X or Z where the golden is 0/1 is a difference,
  and where the golden is Z (a released tri-state output) the candidate must be Z.

A counterexample the simulator does not reproduce can be excluded
(:meth:`Miter.exclude`), so that the search goes on past it.
"""

from __future__ import annotations

import dataclasses

from ..hdl.design import Design
from .aig import FALSE, TRUE, Aig, AigTooLarge, neg
from .yosys import Bit, Cell, FormalUnsupported, Netlist

RESET_TICKS = 3  # verilog_env.equiv.stimulus.RESET_TICKS: resets are held asserted this long

Dual = tuple[int, int]  # (value literal, known literal)
X: Dual = (FALSE, FALSE)
ZERO: Dual = (FALSE, TRUE)
ONE: Dual = (TRUE, TRUE)


@dataclasses.dataclass
class Miter:
    aig: Aig
    input_bits: list[tuple[str, int]]
    """(port, bit index) of each AIG input, in AIG input order."""
    combinational: bool
    """No state at all (no registers, latches or clock): one tick decides everything."""
    reset_window: bool
    """Resets are forced during ticks 0..2."""
    clock: str | None
    stats: dict
    resets: dict = dataclasses.field(default_factory=dict)  # name -> active_high
    hold: str | None = None
    golden_x: int = FALSE
    """Literal: some golden output is X at a tick after the power-on window (its don't-cares are in play)."""
    input_values: list[int] = dataclasses.field(default_factory=list)
    """The value each AIG input has in the designs, in :attr:`input_bits` order (resets
    are forced during the reset window; held inputs are constants)."""
    excluded: int = 0
    """Input sequences excluded so far (see :meth:`exclude`)."""

    def exclude(self, rows: list[dict[str, int]]) -> None:
        """Stop flagging differences while the inputs follow ``rows`` (port values per tick
        from tick 0, as :meth:`effective_inputs` gives them), up to its last tick.

        For a counterexample the simulator did not reproduce: on those ticks of that input
        sequence the simulator found golden and candidate equal, and the search can go on
        to another sequence. A monitor (one latch per tick of ``rows``) tracks whether the
        inputs so far are exactly ``rows``; the miter's output is masked while they are.
        """
        g = self.aig

        def follows(row: dict[str, int]) -> int:
            return g.all(
                lit if row.get(port, 0) >> index & 1 else neg(lit)
                for (port, index), lit in zip(self.input_bits, self.input_values)
            )

        try:
            if self.combinational:
                on_trace = follows(rows[0])
            else:
                first = g.latch(1)  # 1 at tick 0 only
                reached, seen = 2 * first.var, []
                for tick, row in enumerate(rows):
                    seen.append(g.and_(reached, follows(row)))
                    if tick + 1 < len(rows):
                        following = g.latch(0)
                        following.next = seen[-1]
                        reached = 2 * following.var
                on_trace = g.any(seen)
            g.outputs[0] = g.and_(g.outputs[0], neg(on_trace))
        except AigTooLarge as error:
            raise FormalUnsupported(f"the miter is too large for the formal back end ({error})", code="too_large") from None
        self.excluded += 1

    def effective_inputs(self, frames: list[list[int]]) -> list[dict[str, int]]:
        """The port values the miter actually used at each tick of a counterexample.

        Resets are forced during the reset window (and quiet after it when inputs were
        held); held inputs take their pattern; everything else is the trace's value.
        """
        rows = []
        for tick, frame in enumerate(frames):
            row: dict[str, int] = {}
            for (port, index), bit in zip(self.input_bits, frame):
                if port in self.resets and self.reset_window:
                    active = 1 if self.resets[port] else 0
                    if tick < RESET_TICKS:
                        bit = active
                    elif self.hold:
                        bit = 1 - active
                elif self.hold:
                    bit = 1 if self.hold == "ones" else 0
                row[port] = row.get(port, 0) | (bit << index)
            rows.append(row)
        return rows


# ---------------------------------------------------------------------- dual rail


class DualRail:
    def __init__(self, aig: Aig) -> None:
        self.aig = aig

    def not_(self, a: Dual) -> Dual:
        return (neg(a[0]), a[1])

    def and_(self, a: Dual, b: Dual) -> Dual:
        g = self.aig
        value = g.and_(a[0], b[0])
        known = g.or_(g.and_(a[1], b[1]), g.or_(g.and_(a[1], neg(a[0])), g.and_(b[1], neg(b[0]))))
        return (value, known)

    def or_(self, a: Dual, b: Dual) -> Dual:
        return self.not_(self.and_(self.not_(a), self.not_(b)))

    def xor(self, a: Dual, b: Dual) -> Dual:
        g = self.aig
        return (g.xor(a[0], b[0]), g.and_(a[1], b[1]))

    def mux(self, select: Dual, when1: Dual, when0: Dual) -> Dual:
        g = self.aig
        if when1 == when0:
            return when1
        value = g.mux(select[0], when1[0], when0[0])
        known_if_known = g.mux(select[0], when1[1], when0[1])
        known_if_x = g.and_(g.and_(when1[1], when0[1]), g.xnor(when1[0], when0[0]))
        return (value, g.mux(select[1], known_if_known, known_if_x))


def _const(bit: str) -> Dual:
    return ZERO if bit == "0" else ONE if bit == "1" else X


_GATES = {
    "$_BUF_": ("A",),
    "$_NOT_": ("A",),
    "$_AND_": ("A", "B"),
    "$_NAND_": ("A", "B"),
    "$_OR_": ("A", "B"),
    "$_NOR_": ("A", "B"),
    "$_XOR_": ("A", "B"),
    "$_XNOR_": ("A", "B"),
    "$_ANDNOT_": ("A", "B"),
    "$_ORNOT_": ("A", "B"),
    "$_MUX_": ("A", "B", "S"),
    "$_NMUX_": ("A", "B", "S"),
    "$_AOI3_": ("A", "B", "C"),
    "$_OAI3_": ("A", "B", "C"),
    "$_AOI4_": ("A", "B", "C", "D"),
    "$_OAI4_": ("A", "B", "C", "D"),
    "$_TBUF_": ("A", "E"),
}
_IGNORED = {"$assert", "$assume", "$cover", "$live", "$fair"}


def _gate(d: DualRail, kind: str, x: dict[str, Dual]) -> Dual:
    if kind == "$_BUF_":
        return x["A"]
    if kind == "$_NOT_":
        return d.not_(x["A"])
    if kind == "$_AND_":
        return d.and_(x["A"], x["B"])
    if kind == "$_NAND_":
        return d.not_(d.and_(x["A"], x["B"]))
    if kind == "$_OR_":
        return d.or_(x["A"], x["B"])
    if kind == "$_NOR_":
        return d.not_(d.or_(x["A"], x["B"]))
    if kind == "$_XOR_":
        return d.xor(x["A"], x["B"])
    if kind == "$_XNOR_":
        return d.not_(d.xor(x["A"], x["B"]))
    if kind == "$_ANDNOT_":
        return d.and_(x["A"], d.not_(x["B"]))
    if kind == "$_ORNOT_":
        return d.or_(x["A"], d.not_(x["B"]))
    if kind == "$_MUX_":
        return d.mux(x["S"], x["B"], x["A"])
    if kind == "$_NMUX_":
        return d.not_(d.mux(x["S"], x["B"], x["A"]))
    if kind == "$_AOI3_":
        return d.not_(d.or_(d.and_(x["A"], x["B"]), x["C"]))
    if kind == "$_OAI3_":
        return d.not_(d.and_(d.or_(x["A"], x["B"]), x["C"]))
    if kind == "$_AOI4_":
        return d.not_(d.or_(d.and_(x["A"], x["B"]), d.and_(x["C"], x["D"])))
    if kind == "$_OAI4_":
        return d.not_(d.and_(d.or_(x["A"], x["B"]), d.or_(x["C"], x["D"])))
    if kind == "$_TBUF_":
        return d.mux(x["E"], x["A"], X)
    raise AssertionError(kind)


# ---------------------------------------------------------------------- state elements


@dataclasses.dataclass
class _State:
    """One register or latch bit: its stored value (a latch pair) and how it behaves."""

    cell: Cell
    kind: str  # "dff" | "latch" | "sr"
    clock_edge: str | None  # "pos" | "neg" for flip-flops
    pins: dict[str, Bit]
    polarity: dict[str, bool]  # pin -> active high
    reset_value: dict[str, str]  # "R" -> "0"/"1" for flip-flops/latches with one async reset
    value_latch: object = None
    known_latch: object = None
    z_latch: object = None  # only where a Z can be stored


def _classify(cell: Cell) -> _State:
    t = cell.type
    pins = {pin: bits[0] for pin, bits in cell.connections.items() if len(bits) == 1}
    body = t.strip("$_").split("_", 1)  # e.g. "DFF", "PN0"
    name, suffix = body[0], (body[1].rstrip("_") if len(body) > 1 else "")

    def pol(ch: str) -> bool:
        return ch == "P"

    if name == "DFF" and len(suffix) == 1:
        return _State(cell, "dff", "pos" if pol(suffix[0]) else "neg", pins, {}, {})
    if name == "DFF" and len(suffix) == 3:
        return _State(cell, "dff", "pos" if pol(suffix[0]) else "neg", pins, {"R": pol(suffix[1])}, {"R": suffix[2]})
    if name == "DFFSR" and len(suffix) == 3:
        return _State(cell, "dff", "pos" if pol(suffix[0]) else "neg", pins, {"S": pol(suffix[1]), "R": pol(suffix[2])}, {})
    if name == "ALDFF" and len(suffix) == 2:
        return _State(cell, "dff", "pos" if pol(suffix[0]) else "neg", pins, {"L": pol(suffix[1])}, {})
    if name == "DLATCH" and len(suffix) == 1:
        return _State(cell, "latch", None, pins, {"E": pol(suffix[0])}, {})
    if name == "DLATCH" and len(suffix) == 3:
        return _State(cell, "latch", None, pins, {"E": pol(suffix[0]), "R": pol(suffix[1])}, {"R": suffix[2]})
    if name == "DLATCHSR" and len(suffix) == 3:
        return _State(cell, "latch", None, pins, {"E": pol(suffix[0]), "S": pol(suffix[1]), "R": pol(suffix[2])}, {})
    if name == "SR" and len(suffix) == 2:
        return _State(cell, "sr", None, pins, {"S": pol(suffix[0]), "R": pol(suffix[1])}, {})
    raise FormalUnsupported(f"storage element {t} (e.g. a global-clock or enable flip-flop Yosys could not lower)")


# ---------------------------------------------------------------------- one design


class _DesignEncoder:
    """Encodes one netlist into the shared AIG (inputs and clock are shared)."""

    def __init__(self, miter: _Builder, netlist: Netlist, role: str) -> None:
        self.m = miter
        self.d = miter.dual
        self.netlist = netlist
        self.role = role
        self.drivers: dict[int, tuple[str, object]] = {}
        self.values: dict[int, Dual] = {}
        self.zs: dict[int, int] = {}  # net -> literal "is Z", for nets in self.can_be_z
        self.states: list[_State] = []
        self._index_drivers()
        self.can_be_z = self._z_reach()

    def _drive(self, net: Bit, what: tuple[str, object]) -> None:
        if not isinstance(net, int):
            return
        if net in self.drivers:
            raise FormalUnsupported(f"a net of the {self.role} has several drivers (Yosys: multiple conflicting drivers)")
        self.drivers[net] = what

    def _index_drivers(self) -> None:
        for port, bits in self.netlist.inputs.items():
            for index, bit in enumerate(bits):
                self._drive(bit, ("input", (port, index)))
        for cell in self.netlist.cells:
            if cell.type in _IGNORED:
                continue
            if cell.type in _GATES:
                self._drive(cell.connections["Y"][0], ("gate", cell))
            elif cell.type.startswith("$_"):
                state = _classify(cell)
                self.states.append(state)
                self._drive(cell.connections["Q"][0], ("state", state))
            else:
                raise FormalUnsupported(f"the {self.role} has a {cell.type} cell the formal model does not cover")

    def _z_reach(self) -> set[int]:
        """Nets a Z can reach: from ``z`` constants and tri-state buffers, through buffers,
        mux data inputs and storage (any other gate turns Z into X)."""
        reach: set[int] = set()

        def carries(bit: Bit) -> bool:
            return bit == "z" or bit in reach

        changed = True
        while changed:
            changed = False
            for net, (kind, what) in self.drivers.items():
                if net in reach:
                    continue
                if kind == "gate":
                    pins = {"$_BUF_": ("A",), "$_MUX_": ("A", "B"), "$_TBUF_": None}.get(what.type, ())
                    hit = pins is None or any(carries(what.connections[p][0]) for p in pins)
                elif kind == "state":
                    hit = any(carries(what.pins[p]) for p in ("D", "AD") if p in what.pins)
                else:
                    hit = False
                if hit:
                    reach.add(net)
                    changed = True
        return reach

    def z(self, bit: Bit) -> int:
        """Literal: ``bit`` is Z (after :meth:`value` has evaluated it)."""
        if not isinstance(bit, int):
            return TRUE if bit == "z" else FALSE
        return self.zs.get(bit, FALSE)

    def _z_select(self, select: Dual, when1: int, when0: int) -> int:
        """Z through a mux: the selected input's Z, or Z on both inputs when the select is X."""
        g = self.m.aig
        return g.or_(g.and_(select[1], g.mux(select[0], when1, when0)), g.and_(neg(select[1]), g.and_(when1, when0)))

    # -- evaluation (iterative DFS: deep netlists must not hit Python's recursion limit)
    def _deps(self, net: int) -> list[Bit]:
        kind, what = self.drivers.get(net, ("undriven", None))
        if kind == "gate":
            return [what.connections[pin][0] for pin in _GATES[what.type]]
        if kind == "state":
            state: _State = what
            pins = [p for p in ("R", "S", "L", "AD") if p in state.pins]
            if state.kind == "latch":
                pins += ["E", "D"]
            return [state.pins[p] for p in pins]
        return []

    def value(self, bit: Bit) -> Dual:
        if not isinstance(bit, int):
            return _const(bit)
        if bit in self.values:
            return self.values[bit]
        on_stack: set[int] = set()
        stack = [bit]
        while stack:
            net = stack[-1]
            if net in self.values:
                stack.pop()
                continue
            pending = [d for d in self._deps(net) if isinstance(d, int) and d not in self.values]
            if pending and net not in on_stack:
                on_stack.add(net)
                for dep in pending:
                    if dep in on_stack:
                        raise FormalUnsupported(f"the {self.role} has a combinational loop")
                    stack.append(dep)
                continue
            if pending:
                raise FormalUnsupported(f"the {self.role} has a combinational loop")
            stack.pop()
            on_stack.discard(net)
            self.values[net] = self._compute(net)
            if net in self.can_be_z:
                self.zs[net] = self._compute_z(net)
        return self.values[bit]

    def _get(self, bit: Bit) -> Dual:
        return _const(bit) if not isinstance(bit, int) else self.values[bit]

    def _active(self, state: _State, pin: str) -> Dual:
        level = self._get(state.pins[pin])
        return level if state.polarity[pin] else self.d.not_(level)

    def _compute(self, net: int) -> Dual:
        kind, what = self.drivers.get(net, ("undriven", None))
        if kind == "undriven":
            return X
        if kind == "input":
            return self.m.port_bit(*what)
        if kind == "gate":
            cell: Cell = what
            return _gate(self.d, cell.type, {pin: self._get(cell.connections[pin][0]) for pin in _GATES[cell.type]})
        return self._visible(what)

    def _compute_z(self, net: int) -> int:
        kind, what = self.drivers[net]
        if kind == "state":
            return self._visible_z(what)
        pin = {p: what.connections[p][0] for p in _GATES[what.type]}
        if what.type == "$_BUF_":
            return self.z(pin["A"])
        if what.type == "$_MUX_":
            return self._z_select(self._get(pin["S"]), self.z(pin["B"]), self.z(pin["A"]))
        enable = self._get(pin["E"])  # $_TBUF_: Z while disabled
        return self.m.aig.and_(enable[1], self.m.aig.mux(enable[0], self.z(pin["A"]), TRUE))

    def _stored(self, state: _State) -> Dual:
        if state.value_latch is None:
            q = state.pins["Q"]
            init = self.netlist.init.get(q) if isinstance(q, int) else None
            state.value_latch = self.m.aig.latch(1 if init == "1" else 0)
            state.known_latch = self.m.aig.latch(1 if init in ("0", "1") else 0)
            if q in self.can_be_z:
                state.z_latch = self.m.aig.latch(0)
        return (2 * state.value_latch.var, 2 * state.known_latch.var)

    def _stored_z(self, state: _State) -> int:
        self._stored(state)
        return FALSE if state.z_latch is None else 2 * state.z_latch.var

    def _asynchronous_z(self, state: _State, otherwise: int) -> int:
        """:meth:`_asynchronous` for the Z literal: a set/reset drives 0/1, a load its data."""
        result = otherwise
        if "L" in state.polarity:
            result = self._z_select(self._active(state, "L"), self.z(state.pins["AD"]), result)
        for pin in ("S", "R"):
            if pin in state.polarity:
                result = self._z_select(self._active(state, pin), FALSE, result)
        return result

    def _visible_z(self, state: _State) -> int:
        stored = self._stored_z(state)
        if state.kind == "latch":
            stored = self._z_select(self._active(state, "E"), self.z(state.pins["D"]), stored)
        return self._asynchronous_z(state, stored)

    def _asynchronous(self, state: _State, otherwise: Dual) -> Dual:
        """Apply the cell's asynchronous controls (highest priority first) over ``otherwise``."""
        d = self.d
        result = otherwise
        if "L" in state.polarity:
            result = d.mux(self._active(state, "L"), self._get(state.pins["AD"]), result)
        if "S" in state.polarity:
            result = d.mux(self._active(state, "S"), ONE, result)
        if "R" in state.polarity:
            value = _const(state.reset_value.get("R", "0"))
            result = d.mux(self._active(state, "R"), value, result)
        return result

    def _visible(self, state: _State) -> Dual:
        stored = self._stored(state)
        if state.kind == "latch":
            stored = self.d.mux(self._active(state, "E"), self._get(state.pins["D"]), stored)
        return self._asynchronous(state, stored)

    def finish(self) -> None:
        """Connect every register's next state (after all visible values exist)."""
        for state in self.states:
            q = state.pins["Q"]
            visible = self.value(q)
            if state.kind in ("latch", "sr"):
                nxt = visible
            else:
                data = self.value(state.pins["D"])
                edge = self.m.edge(state, self.role)
                nxt = self._asynchronous(state, self.d.mux(edge, data, self._stored(state)))
            state.value_latch.next, state.known_latch.next = nxt
            if state.z_latch is not None:
                if state.kind in ("latch", "sr"):
                    state.z_latch.next = self.z(q)
                else:
                    edge = self.m.edge(state, self.role)
                    state.z_latch.next = self._asynchronous_z(
                        state, self._z_select(edge, self.z(state.pins["D"]), self._stored_z(state))
                    )


# ---------------------------------------------------------------------- the miter


class _Builder:
    def __init__(self, golden: Design, max_ands: int, hold: str | None = None) -> None:
        self.golden = golden
        self.aig = Aig(max_ands=max_ands)
        self.dual = DualRail(self.aig)
        self.clock = golden.clocks[0] if golden.clocks else None
        self.clock_latch = None
        self.input_bits: list[tuple[str, int]] = []
        self._inputs: dict[tuple[str, int], Dual] = {}
        self.resets = {r.name: r for r in golden.resets}
        self.window = FALSE
        self.compare = TRUE
        self.reset_window = bool(golden.resets)
        if self.clock is not None:
            self.clock_latch = self.aig.latch(0)
            self.clock_latch.next = neg(2 * self.clock_latch.var)
        if self.reset_window:
            c0, c1 = self.aig.latch(0), self.aig.latch(0)
            l0, l1 = 2 * c0.var, 2 * c1.var
            c0.next = self.aig.or_(neg(l0), l1)
            c1.next = self.aig.or_(l0, l1)
            self.window = neg(self.aig.and_(l0, l1))
        # Inputs in a fixed order (the golden's port order), created up front.
        for port in golden.inputs:
            if port.name == self.clock:
                continue
            for index in range(port.width):
                lit = self.aig.input()
                self.input_bits.append((port.name, index))
                value = lit
                reset = self.resets.get(port.name)
                if reset is not None and port.width == 1:
                    active = TRUE if reset.active_high else FALSE
                    value = self.aig.mux(self.window, active, neg(active) if hold else lit)
                elif hold:
                    value = TRUE if hold == "ones" else FALSE
                self._inputs[(port.name, index)] = (value, TRUE)

    def port_bit(self, port: str, index: int) -> Dual:
        if port == self.clock:
            return (2 * self.clock_latch.var, TRUE)
        found = self._inputs.get((port, index))
        if found is None:
            raise FormalUnsupported(f"input {port}[{index}] is not an input of the golden")
        return found

    def edge(self, state: _State, role: str) -> Dual:
        clock_bit = state.pins.get("C")
        clock_bits = None
        if self.clock is not None:
            netlist = self._netlists[role]
            clock_bits = netlist.inputs.get(self.clock)
        if clock_bits is None or clock_bit != clock_bits[0]:
            if self.clock is None:
                raise FormalUnsupported(
                    f"the {role} has flip-flops but the golden has no clock (an input used as a clock)"
                )
            raise FormalUnsupported(
                f"the {role} has flip-flops not clocked directly by {self.clock} (derived or gated clock)"
            )
        clk = 2 * self.clock_latch.var
        # The clock rises at the end of a tick in which it is 0 and falls after one where it is 1.
        return (neg(clk) if state.clock_edge == "pos" else clk, TRUE)


def build_miter(
    golden: Design,
    golden_netlist: Netlist,
    candidate_netlist: Netlist,
    *,
    max_ands: int = 1_500_000,
    hold: str | None = None,
) -> Miter:
    """Encode golden and candidate into one AIG whose output 0 flags a difference.

    With ``hold`` ("zeros" or "ones") the inputs are not free: resets are deasserted
    after the initial reset window and every other input is held at that pattern. That
    restriction makes deep runs cheap; a difference found there is a real one, an
    absence of differences proves nothing. (The AIG keeps its inputs, unused.)

    Raises :class:`FormalUnsupported` for what the model does not cover: several clocks,
    flip-flops on a derived clock, combinational loops, several drivers of one net.
    """
    if len(golden.clocks) > 1:
        raise FormalUnsupported(
            f"{len(golden.clocks)} clocks ({', '.join(golden.clocks)}): the formal model covers one clock"
        )
    for port in golden.ports:
        for netlist, role in ((golden_netlist, "golden"), (candidate_netlist, "candidate")):
            bits = (netlist.inputs if port.direction == "input" else netlist.outputs).get(port.name)
            if bits is None or len(bits) != port.width:
                raise FormalUnsupported(f"Yosys sees port {port.name} of the {role} differently from pyslang")
    builder = _Builder(golden, max_ands, hold)
    builder._netlists = {"golden": golden_netlist, "candidate": candidate_netlist}
    try:
        encoders = [_DesignEncoder(builder, golden_netlist, "golden"), _DesignEncoder(builder, candidate_netlist, "candidate")]
        outputs = []
        for encoder in encoders:
            bits = [bit for port in golden.outputs for bit in encoder.netlist.outputs[port.name]]
            outputs.append([(*encoder.value(bit), encoder.z(bit)) for bit in bits])
        for encoder in encoders:
            encoder.finish()
        g = builder.aig
        differences = []
        # Candidate X is a difference, except while the first reset is applied (the
        # simulator's power-on window, see verilog_env.equiv.testbench); a golden Z must
        # be a Z in the candidate at every tick.
        unknown_counts = neg(builder.window) if builder.clock is not None else TRUE
        for (gv, gk, gz), (cv, ck, cz) in zip(*outputs):
            differs = g.or_(g.and_(ck, g.xor(gv, cv)), g.and_(neg(ck), unknown_counts))
            differences.append(g.or_(g.and_(gk, differs), g.and_(gz, neg(cz))))
        bad = g.and_(builder.compare, g.any(differences))
        # Power-on X before the first reset has taken effect is expected; after it, a golden
        # X means the proof leans on the golden's don't-cares.
        golden_x = g.and_(unknown_counts, g.any(g.and_(neg(gk), neg(gz)) for _, gk, gz in outputs[0]))
    except AigTooLarge as error:
        raise FormalUnsupported(f"the miter is too large for the formal back end ({error})", code="too_large") from None
    builder.aig.outputs = [bad]
    builder.golden_x = golden_x
    n_states = sum(len(e.states) for e in encoders)
    return Miter(
        aig=builder.aig,
        input_bits=builder.input_bits,
        combinational=not builder.aig.latches,
        reset_window=builder.reset_window,
        clock=builder.clock,
        resets={r.name: r.active_high for r in golden.resets if golden.port(r.name) and golden.port(r.name).width == 1},
        hold=hold,
        golden_x=builder.golden_x,
        input_values=[builder.port_bit(port, index)[0] for port, index in builder.input_bits],
        stats={
            "ands": builder.aig.size,
            "latches": len(builder.aig.latches),
            "inputs": len(builder.aig.inputs),
            "golden_state_bits": len(encoders[0].states),
            "candidate_state_bits": len(encoders[1].states),
            "state_bits": n_states,
        },
    )
