"""Evaluation suites: what a benchmark is, and a registry of them by name.

A suite knows three things (:class:`EvalSuite`):

* how to **load** its problems from a data directory (the upstream layout, from a path);
* how to turn a problem into a **prompt** (chat messages);
* how to **score** one sample's extracted code, with the benchmark's own pass criterion.

Add a suite by implementing the protocol and calling :func:`register_eval_suite`::

    class MySuite:
        name = "my-suite"
        description = "..."
        default_data = "~/data/my-suite"          # used when no --data is given
        def load(self, root): ...                  # -> list[EvalProblem]
        def messages(self, problem, system_prompt): ...
        def score(self, problem, code, timeout=None): ...   # -> SampleScore

    register_eval_suite(MySuite())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True)
class EvalProblem:
    """One benchmark problem.

    ``prompt`` is the user-turn text (spec, plus the module header for completion tasks);
    ``top`` is the module name the testbench instantiates (what a sample must define);
    ``reference_top`` the reference's own module name. ``files`` maps roles
    (``testbench``, ``reference``, ``data``...) to paths. ``reference_passes`` records
    whether the reference passes its own testbench on this simulator (``None``: unknown),
    so unsolvable problems are reported apart, never silently dropped.
    """

    suite: str
    id: str
    prompt: str
    reference: str
    top: str
    reference_top: str
    files: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    header: str | None = None
    reference_passes: bool | None = None
    reference_note: str = ""

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.id}"


@dataclasses.dataclass
class SampleScore:
    """The benchmark's verdict on one sample.

    ``outcome`` is the suite's own result code (VerilogEval: the ``sv-iv-analyze``
    letter, ``.`` = pass; RTLLM: ``pass``/``fail``/``compile_error``/``timeout``), and
    ``detail`` a short excerpt of the log saying why.
    """

    passed: bool
    outcome: str
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class EvalSuite(Protocol):
    name: str
    description: str
    default_data: str | None

    def load(self, root: Path) -> list[EvalProblem]: ...

    def messages(self, problem: EvalProblem, system_prompt: str | None) -> list[dict[str, str]]: ...

    def score(self, problem: EvalProblem, code: str, timeout: float | None = None) -> SampleScore: ...


class BenchmarkDataError(FileNotFoundError):
    """The suite's data directory is missing or not in the expected layout."""


_SUITES: dict[str, EvalSuite] = {}


def register_eval_suite(suite: EvalSuite, *, overwrite: bool = False) -> EvalSuite:
    if not isinstance(suite, EvalSuite):
        raise TypeError(f"{suite!r} does not implement EvalSuite (name, description, default_data, load, messages, score)")
    if suite.name in _SUITES and not overwrite:
        raise ValueError(f"evaluation suite {suite.name!r} is already registered (pass overwrite=True to replace it)")
    _SUITES[suite.name] = suite
    return suite


def get_eval_suite(name: str) -> EvalSuite:
    try:
        return _SUITES[name]
    except KeyError:
        raise KeyError(f"unknown evaluation suite {name!r}; available: {', '.join(sorted(_SUITES))}") from None


def list_eval_suites() -> dict[str, str]:
    return {name: suite.description for name, suite in sorted(_SUITES.items())}
