"""The result of an equivalence check: the one shape every caller receives."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any


class Status(str, enum.Enum):
    """How a check ended. Only ``EQUIVALENT`` means the candidate is correct."""

    EQUIVALENT = "equivalent"
    MISMATCH = "mismatch"
    COMPILE_ERROR = "compile_error"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    INTERNAL_ERROR = "internal_error"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass
class Counterexample:
    """The first point where the candidate's outputs differ from the golden's.

    ``tick`` counts stimulus steps (two per cycle of the first clock, one per step for
    combinational designs); ``time`` is simulation time in ns. ``inputs`` holds the input
    history that led there, oldest first, each row ``{"tick": n, <input>: "<binary>"}``,
    truncated to the last ``len(inputs)`` ticks. ``expected``/``actual`` map every output
    to its value at the failing sample (binary strings; ``x``/``z`` kept). Re-running the
    check with the same ``seed`` reproduces it exactly.
    """

    tick: int
    time: float
    mismatched: list[str]
    expected: dict[str, str]
    actual: dict[str, str]
    inputs: list[dict[str, Any]]
    seed: int

    def table(self, max_rows: int = 8) -> str:
        """A short, human-readable table of the last inputs and the failing outputs."""
        rows = self.inputs[-max_rows:]
        names = [k for k in (rows[0] if rows else {}) if k != "tick"]
        lines = ["tick | " + " | ".join(names)]
        lines += [f"{r['tick']:>4} | " + " | ".join(str(r[n]) for n in names) for r in rows]
        lines.append(f"at tick {self.tick} (t={self.time:g}ns):")
        for name in self.mismatched:
            lines.append(f"  {name}: expected {self.expected[name]}, got {self.actual[name]}")
        return "\n".join(lines)


@dataclasses.dataclass
class Verdict:
    """Outcome of ``check_equivalence``.

    ``reason`` is one human-readable sentence (or a trimmed compiler log) saying why the
    status was reached; ``timings`` holds seconds spent per phase (``analyze``,
    ``compile``, ``simulate``, ``total``); ``details`` carries phase-specific extras
    (e.g. the detected clocks and resets, the log excerpt).
    """

    status: Status
    reason: str = ""
    counterexample: Counterexample | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def equivalent(self) -> bool:
        return self.status is Status.EQUIVALENT

    def __bool__(self) -> bool:  # `if verdict:` reads as "is it correct?"
        return self.equivalent

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        cex = d.get("counterexample")
        return cls(
            status=Status(d["status"]),
            reason=d.get("reason", ""),
            counterexample=Counterexample(**cex) if cex else None,
            timings=dict(d.get("timings", {})),
            details=dict(d.get("details", {})),
        )

    def summary(self) -> str:
        """One line: status, then reason."""
        return f"{self.status.value}: {self.reason}" if self.reason else self.status.value
