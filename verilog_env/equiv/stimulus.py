"""Seeded random stimulus, computed in Python and replayed by the testbench.

Every input that is not a clock gets one value per tick. Data inputs run in segments of
1-16 ticks, each drawn from: uniform random bits (3/8), all zeros, all ones, a random
one-hot value, a small value (0-3), or holding the previous value (1/8 each). Resets are
asserted for the first three ticks (a cycle and a half), then for 1-4 ticks starting with
probability 1/64 per tick. The same (interface, ticks, seed) always gives the same values,
so a verdict can be reproduced and a counterexample's input history read back from here.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..hdl.design import Port, Reset

_UNIFORM, _ZEROS, _ONES, _ONE_HOT, _SMALL, _HOLD = range(6)
_MODE_WEIGHTS = np.array([3, 1, 1, 1, 1, 1]) / 8
RESET_TICKS = 3
RESET_RATE = 1 / 64


@dataclasses.dataclass(frozen=True)
class Stimulus:
    """Per-tick values of ``ports`` (packed MSB-first in that order)."""

    ports: tuple[Port, ...]
    values: tuple[tuple[int, ...], ...]  # values[i][tick] for ports[i]

    @property
    def width(self) -> int:
        return sum(p.width for p in self.ports)

    def hex_lines(self) -> str:
        """One packed hex word per tick, as ``$readmemh`` reads it."""
        digits = (self.width + 3) // 4
        shifts = []
        offset = self.width
        for port in self.ports:
            offset -= port.width
            shifts.append(offset)
        words = []
        for tick_values in zip(*self.values):
            word = 0
            for value, shift in zip(tick_values, shifts):
                word |= value << shift
            words.append(format(word, f"0{digits}x"))
        return "\n".join(words) + "\n"

    def row(self, tick: int) -> dict[str, str]:
        return {p.name: format(v[tick], f"0{p.width}b") for p, v in zip(self.ports, self.values)}


def _data_values(rng: np.random.Generator, width: int, ticks: int) -> list[int]:
    lengths = rng.integers(1, 17, size=ticks)
    modes = rng.choice(len(_MODE_WEIGHTS), size=ticks, p=_MODE_WEIGHTS)
    mode = np.repeat(modes, lengths)[:ticks]
    if mode[0] == _HOLD:
        mode[0] = _UNIFORM
    words = (width + 63) // 64
    raw = rng.integers(0, 2**64 - 1, size=(ticks, words), dtype=np.uint64, endpoint=True)
    positions = rng.integers(0, width, size=ticks)
    small = rng.integers(0, 4, size=ticks)
    # Forward-fill "hold" ticks with the last value set before them.
    source = np.where(mode != _HOLD, np.arange(ticks), 0)
    source = np.maximum.accumulate(source)
    mode = mode[source]
    mask = (1 << width) - 1
    if width <= 64:
        mask64 = np.uint64(mask)
        values = np.select(
            [mode == _UNIFORM, mode == _ZEROS, mode == _ONES, mode == _ONE_HOT],
            [raw[source, 0] & mask64, np.uint64(0), mask64,
             np.left_shift(np.uint64(1), positions[source].astype(np.uint64))],
            default=small[source].astype(np.uint64) & mask64,
        )
        return [int(v) for v in values]
    out = []
    for t in source:
        m = mode[t]
        if m == _UNIFORM:
            out.append(sum(int(w) << (64 * j) for j, w in enumerate(raw[t])) & mask)
        elif m == _ZEROS:
            out.append(0)
        elif m == _ONES:
            out.append(mask)
        elif m == _ONE_HOT:
            out.append(1 << int(positions[t]))
        else:
            out.append(int(small[t]))
    return out


def _reset_values(rng: np.random.Generator, reset: Reset, ticks: int) -> list[int]:
    on, off = (1, 0) if reset.active_high else (0, 1)
    starts = rng.random(ticks) < RESET_RATE
    lengths = rng.integers(1, 5, size=ticks)
    out: list[int] = []
    remaining = 0
    for t in range(ticks):
        if t < RESET_TICKS:
            out.append(on)
            continue
        if remaining == 0 and starts[t]:
            remaining = int(lengths[t])
        if remaining:
            out.append(on)
            remaining -= 1
        else:
            out.append(off)
    return out


@functools.lru_cache(maxsize=256)
def generate(ports: tuple[Port, ...], resets: tuple[Reset, ...], ticks: int, seed: int) -> Stimulus:
    """Stimulus for ``ports`` (non-clock inputs) over ``ticks`` ticks."""
    by_name = {r.name: r for r in resets}
    values = []
    for index, port in enumerate(ports):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, index])
        reset = by_name.get(port.name)
        if reset is not None and port.width == 1:
            values.append(tuple(_reset_values(rng, reset, ticks)))
        else:
            values.append(tuple(_data_values(rng, port.width, ticks)))
    return Stimulus(ports=ports, values=tuple(values))
