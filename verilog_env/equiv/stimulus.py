"""Seeded random stimulus, computed in Python and replayed by the testbench.

Every input that is not a clock gets one value per tick. Data inputs run in segments,
each drawn from: uniform random bits, all zeros, all ones, a random one-hot value, a
small value (0-3), holding the previous value, or - when the golden has integer
literals - one of those literals or a neighbour (so a decoder of ``16'he06b`` sees that
value). A clocked design's run has two phases:

- reset-free (the first half): resets are asserted for the first three ticks only, and
  segments are mostly 1-16 ticks, 3/16 of them 16-128 and 1/16 128-1024 ticks, and 1/8
  last one of the golden's literals in cycles (-1..+2), so loads, enables and selects
  stay put long enough to walk counters, timers and FSMs deep ("fall for 20 cycles");
- busy (the second half): resets for 1-4 ticks with probability 1/32 per tick, and
  segments of 1-16 ticks, so every reset is followed by fresh values.

A design whose only inputs are clocks and resets (a free-running counter or clock) can
only be walked deep: its run is reset-free for 95% of the ticks. Combinational designs
have no state to walk, so all their segments are short and every mode gets its turn.
The same (interface, ticks, seed) always gives the same values, so a verdict can be
reproduced and a counterexample's input history read back from here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from ..hdl.design import Port, Reset

_UNIFORM, _ZEROS, _ONES, _ONE_HOT, _SMALL, _HOLD, _LITERAL = range(7)
_MODE_WEIGHTS = np.array([3, 1, 1, 1, 1, 1, 1], dtype=float)
RESET_TICKS = 3
RESET_FREE_FRACTION = 0.5
AUTONOMOUS_RESET_FREE_FRACTION = 0.95
RESET_RATE = 1 / 32


@dataclasses.dataclass(frozen=True)
class Stimulus:
    """Per-tick values of ``ports`` (packed MSB-first in that order)."""

    ports: tuple[Port, ...]
    values: tuple[Sequence[int], ...]  # values[i][tick] for ports[i] (a uint64 array up to 64 bits)

    @property
    def width(self) -> int:
        return sum(p.width for p in self.ports)

    @functools.cached_property
    def hex_lines(self) -> str:
        """One packed hex word per tick, as ``$readmemh`` reads it (computed once)."""
        digits = (self.width + 3) // 4
        if self.width <= 64:  # vectorised: pack in uint64, hex-encode the big-endian bytes
            packed = np.zeros(len(self.values[0]), dtype=np.uint64)
            for port, values in zip(self.ports, self.values):
                packed = (packed << np.uint64(port.width)) | np.array(values, dtype=np.uint64)
            text = np.frombuffer(packed.astype(">u8").tobytes().hex().encode("ascii"), dtype=np.uint8)
            return ascii_lines(text.reshape(-1, 16)[:, 16 - digits :])
        words = [0] * len(self.values[0]) if self.values else []
        for port, values in zip(self.ports, self.values):
            words = [(w << port.width) | int(v) for w, v in zip(words, values)]
        return "".join(f"{w:0{digits}x}\n" for w in words)

    def row(self, tick: int) -> dict[str, str]:
        return {p.name: format(int(v[tick]), f"0{p.width}b") for p, v in zip(self.ports, self.values)}


def ascii_lines(rows: np.ndarray) -> str:
    """A 2-D array of ASCII codes as text, one row per line (each ending in a newline)."""
    newline = np.full((len(rows), 1), ord("\n"), dtype=np.uint8)
    return np.concatenate([rows, newline], axis=1).tobytes().decode("ascii")


def _segment_lengths(
    rng: np.random.Generator, ticks: int, durations: tuple[int, ...], clocked: bool = True
) -> np.ndarray:
    """Mostly 1-16 ticks; 3/16 of segments 16-128 ticks, 1/16 128-1024 ticks; with
    ``durations`` (in cycles), 1/8 of segments last one of them, -1..+2 cycles."""
    draw = rng.random(ticks)
    short = rng.integers(1, 17, size=ticks)
    medium = rng.integers(16, 129, size=ticks)
    long = rng.integers(128, 1025, size=ticks)
    if not clocked:  # no state to walk deep: every segment short, so every mode gets its turn
        return short
    lengths = np.where(draw < 1 / 16, long, np.where(draw < 1 / 4, medium, short))
    if durations:
        table = np.array(durations, dtype=np.int64)
        timed = 2 * (table[rng.integers(0, len(table), size=ticks)] + rng.integers(-1, 3, size=ticks))
        lengths = np.where(rng.random(ticks) < 1 / 8, np.maximum(timed, 1), lengths)
    return lengths


def _data_values(
    rng: np.random.Generator,
    width: int,
    ticks: int,
    literals: tuple[int, ...],
    busy_from: int | None = None,
    clocked: bool = True,
) -> Sequence[int]:
    mask = (1 << width) - 1
    usable = sorted({v & mask for c in literals for v in (c, c - 1, c + 1) if 0 <= v <= mask})
    weights = _MODE_WEIGHTS.copy()
    if not usable:
        weights[_LITERAL] = 0
    modes = rng.choice(len(weights), size=ticks, p=weights / weights.sum())
    durations = tuple(sorted({c for c in literals if 2 <= c <= 4096}))
    mode = np.repeat(modes, _segment_lengths(rng, ticks, durations, clocked))[:ticks]
    if busy_from is not None and busy_from < ticks:
        # While resets come often, inputs change often, so each reset meets fresh values.
        tail = ticks - busy_from
        mode[busy_from:] = np.repeat(modes[::-1], rng.integers(1, 17, size=ticks))[:tail]
    if mode[0] == _HOLD:
        mode[0] = _UNIFORM
    words = (width + 63) // 64
    raw = rng.integers(0, 2**64 - 1, size=(ticks, words), dtype=np.uint64, endpoint=True)
    positions = rng.integers(0, width, size=ticks)
    small = rng.integers(0, 4, size=ticks)
    picks = rng.integers(0, max(1, len(usable)), size=ticks)
    # Forward-fill "hold" ticks with the last value set before them.
    source = np.where(mode != _HOLD, np.arange(ticks), 0)
    source = np.maximum.accumulate(source)
    mode = mode[source]
    if width <= 64 and all(v < 1 << 64 for v in usable):
        mask64 = np.uint64(mask)
        table = np.array(usable or [0], dtype=np.uint64)
        values = np.select(
            [mode == _UNIFORM, mode == _ZEROS, mode == _ONES, mode == _ONE_HOT, mode == _LITERAL],
            [raw[source, 0] & mask64, np.uint64(0), mask64,
             np.left_shift(np.uint64(1), positions[source].astype(np.uint64)), table[picks[source]]],
            default=small[source].astype(np.uint64) & mask64,
        )
        return values
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
        elif m == _LITERAL:
            out.append(usable[int(picks[t])])
        else:
            out.append(int(small[t]))
    return out


def is_autonomous(ports: tuple[Port, ...], resets: tuple[Reset, ...]) -> bool:
    """True when every stimulus port is a (1-bit) reset: the design runs on its own, and
    the only way deep into its states is a long reset-free run."""
    names = {r.name for r in resets}
    return bool(ports) and all(p.name in names and p.width == 1 for p in ports)


def _quiet_until(ticks: int, autonomous: bool) -> int:
    fraction = AUTONOMOUS_RESET_FREE_FRACTION if autonomous else RESET_FREE_FRACTION
    return max(RESET_TICKS, int(ticks * fraction))


def _reset_values(rng: np.random.Generator, reset: Reset, ticks: int, autonomous: bool = False) -> np.ndarray:
    on, off = (1, 0) if reset.active_high else (0, 1)
    asserted = np.zeros(ticks, dtype=bool)
    asserted[:RESET_TICKS] = True
    starts = rng.random(ticks) < RESET_RATE
    lengths = rng.integers(1, 5, size=ticks)
    busy_until = 0
    for start in np.flatnonzero(starts):
        if start >= _quiet_until(ticks, autonomous) and start >= busy_until:  # none starts during another
            busy_until = start + int(lengths[start])
            asserted[start:busy_until] = True
    return np.where(asserted, on, off).astype(np.uint64)


@functools.lru_cache(maxsize=256)
def generate(
    ports: tuple[Port, ...],
    resets: tuple[Reset, ...],
    ticks: int,
    seed: int,
    literals: tuple[int, ...] = (),
    clocked: bool = True,
) -> Stimulus:
    """Stimulus for ``ports`` (non-clock inputs) over ``ticks`` ticks."""
    by_name = {r.name: r for r in resets}
    autonomous = is_autonomous(ports, resets)
    busy_from = _quiet_until(ticks, autonomous) if clocked else None
    values = []
    for index, port in enumerate(ports):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, index])
        reset = by_name.get(port.name)
        if reset is not None and port.width == 1:
            values.append(_reset_values(rng, reset, ticks, autonomous))
        else:
            values.append(_data_values(rng, port.width, ticks, literals, busy_from, clocked))
    return Stimulus(ports=ports, values=tuple(values))
