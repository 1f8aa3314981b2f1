"""A small and-inverter graph (AIG) with structural hashing, written as binary AIGER.

Literals follow AIGER: ``2 * variable + negated``; literal 0 is false, 1 is true.
Inputs, latches and AND gates may be created in any order; :meth:`Aig.write_aiger`
renumbers them the way the format requires (inputs, then latches, then gates in
topological order, which is creation order).
"""

from __future__ import annotations

import dataclasses

FALSE = 0
TRUE = 1


def neg(lit: int) -> int:
    return lit ^ 1


@dataclasses.dataclass
class Latch:
    var: int
    next: int = FALSE
    init: int = 0  # 0 or 1


class AigTooLarge(Exception):
    """The graph grew past its node limit."""


class Aig:
    def __init__(self, max_ands: int = 2_000_000) -> None:
        self._next_var = 1
        self.inputs: list[int] = []  # variables
        self.latches: list[Latch] = []
        self.ands: list[tuple[int, int, int]] = []  # (var, rhs0, rhs1), rhs0 >= rhs1
        self.outputs: list[int] = []
        self._strash: dict[tuple[int, int], int] = {}
        self.max_ands = max_ands

    # ------------------------------------------------------------------ building
    def _new_var(self) -> int:
        var = self._next_var
        self._next_var += 1
        return var

    def input(self) -> int:
        var = self._new_var()
        self.inputs.append(var)
        return 2 * var

    def latch(self, init: int = 0) -> Latch:
        latch = Latch(self._new_var(), FALSE, init)
        self.latches.append(latch)
        return latch

    def and_(self, a: int, b: int) -> int:
        if a < b:
            a, b = b, a
        if b == FALSE or a == neg(b):
            return FALSE
        if b == TRUE or a == b:
            return a
        key = (a, b)
        found = self._strash.get(key)
        if found is not None:
            return found
        if len(self.ands) >= self.max_ands:
            raise AigTooLarge(f"more than {self.max_ands} AND gates")
        var = self._new_var()
        self.ands.append((var, a, b))
        lit = 2 * var
        self._strash[key] = lit
        return lit

    def or_(self, a: int, b: int) -> int:
        return neg(self.and_(neg(a), neg(b)))

    def xor(self, a: int, b: int) -> int:
        if a == FALSE:
            return b
        if b == FALSE:
            return a
        if a == TRUE:
            return neg(b)
        if b == TRUE:
            return neg(a)
        if a == b:
            return FALSE
        if a == neg(b):
            return TRUE
        return self.or_(self.and_(a, neg(b)), self.and_(neg(a), b))

    def xnor(self, a: int, b: int) -> int:
        return neg(self.xor(a, b))

    def mux(self, select: int, when1: int, when0: int) -> int:
        if select == TRUE:
            return when1
        if select == FALSE:
            return when0
        if when1 == when0:
            return when1
        return self.or_(self.and_(select, when1), self.and_(neg(select), when0))

    def any(self, lits) -> int:
        out = FALSE
        for lit in lits:
            out = self.or_(out, lit)
        return out

    def all(self, lits) -> int:
        out = TRUE
        for lit in lits:
            out = self.and_(out, lit)
        return out

    @property
    def size(self) -> int:
        return len(self.ands)

    # ------------------------------------------------------------------ output
    def write_aiger(self, path, symbols: bool = True) -> None:
        """Write binary AIGER 1.9 (latch reset values 0/1); one output per ``outputs``.

        With ``symbols`` the inputs are named ``in<k>``, the latches ``state<k>`` and the
        outputs ``bad<k>`` (tools that read names, like Yosys's ``read_aiger``, use them).
        """
        mapping = {0: 0}
        index = 1
        for var in self.inputs:
            mapping[var] = index
            index += 1
        for latch in self.latches:
            mapping[latch.var] = index
            index += 1
        for var, _, _ in self.ands:
            mapping[var] = index
            index += 1

        def lit(x: int) -> int:
            return 2 * mapping[x >> 1] + (x & 1)

        n_in, n_latch, n_and = len(self.inputs), len(self.latches), len(self.ands)
        max_var = n_in + n_latch + n_and
        lines = [f"aig {max_var} {n_in} {n_latch} {len(self.outputs)} {n_and}\n"]
        for latch in self.latches:
            lines.append(f"{lit(latch.next)}" + (f" {latch.init}" if latch.init else "") + "\n")
        for out in self.outputs:
            lines.append(f"{lit(out)}\n")
        body = bytearray("".join(lines).encode())
        for var, a, b in self.ands:
            lhs = 2 * mapping[var]
            r0, r1 = lit(a), lit(b)
            if r0 < r1:
                r0, r1 = r1, r0
            assert lhs > r0 >= r1, (lhs, r0, r1)
            for delta in (lhs - r0, r0 - r1):
                while delta >= 0x80:
                    body.append((delta & 0x7F) | 0x80)
                    delta >>= 7
                body.append(delta)
        if symbols:
            table = [f"i{k} in{k}\n" for k in range(n_in)]
            table += [f"l{k} state{k}\n" for k in range(n_latch)]
            table += [f"o{k} bad{k}\n" for k in range(len(self.outputs))]
            body += "".join(table).encode()
        with open(path, "wb") as f:
            f.write(bytes(body))

    # ------------------------------------------------------------------ simulation
    def simulate(self, frames: list[list[int]], watch: list[int]) -> list[list[int]]:
        """Two-valued simulation: ``frames[t][i]`` is input ``i`` at step ``t``.

        Returns the values of the ``watch`` literals at every step (a slow, exact
        reference used to validate counterexamples).
        """
        value = {0: 0}
        state = {latch.var: latch.init for latch in self.latches}

        def get(x: int) -> int:
            return value[x >> 1] ^ (x & 1)

        out = []
        for frame in frames:
            for var, bit in zip(self.inputs, frame):
                value[var] = bit
            for var, bit in state.items():
                value[var] = bit
            for var, a, b in self.ands:
                value[var] = get(a) & get(b)
            out.append([get(w) for w in watch])
            state = {latch.var: get(latch.next) for latch in self.latches}
        return out
