"""Can a problem suite reward answers? Gymnasium's ``env_checker`` idea, for suites.

:func:`check_suite` runs every problem's golden through the checker the reward uses,
with the golden as its own candidate, and returns a :class:`SuiteReport`: one
:class:`ProblemCheck` per problem, in suite order, with a summary, a Markdown table and
JSON. A problem is ``ok`` when

* its id is its own: a :class:`~verilog_env.Suite` guarantees it, a plain list of
  problems may not (later copies of an id are ``duplicate_id``, and are not checked);
* its golden, checked against itself, is ``equivalent``. That one batched call of
  :func:`verilog_env.check_requests` (every core; identical goldens checked once) covers
  everything the reward needs from a golden: it parses and elaborates with pyslang, obeys
  the policy, its top resolves (``top`` or its only uninstantiated module), it compiles
  and simulates under Icarus, it is deterministic, and it can judge (an output left
  undefined (X) on nearly every tick matches any answer: the checker reports such a
  golden ``unsupported``, "golden cannot be checked: ...").

Otherwise the problem's status is the self-check's (``unsupported``, ``compile_error``,
``mismatch``, ``timeout``, ...) and its reason the verdict's first line. Empty ids,
specs and goldens never get this far: :class:`~verilog_env.Problem` refuses them, and
the loaders raise a one-line :class:`~verilog_env.suites.SuiteError` naming the row
(as they do for duplicate ids), so a suite given by name or path that cannot be loaded
raises instead of reporting.

The settings are the reward's (:class:`~verilog_env.CheckSettings`): check with the
seed, length and method you will train with. ``verilog-env suite check`` is this on the
command line.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ..checking import CheckRequest, check_requests
from ..equiv import Verdict
from ..equiv.settings import CheckSettings
from ..problems import Problem
from ..suites import Suite, SuiteError, UncheckedGoldensWarning, load_suite

OK = "ok"
DUPLICATE_ID = "duplicate_id"
REASON_CHARS = 300
"""A reason longer than this is cut in tables (JSON keeps the whole verdict)."""


class SuiteCheckError(SuiteError):
    """Some problems of a suite cannot reward answers (:meth:`SuiteReport.raise_if_failed`)."""


@dataclasses.dataclass(frozen=True)
class ProblemCheck:
    """The outcome for one problem.

    id: the problem's id. status: ``"ok"``, ``"duplicate_id"``, or the status of the
    golden's self-check when it is not ``equivalent``. reason: one line saying why
    (empty when ok). verdict: the self-check's full :class:`~verilog_env.Verdict`
    (compiler log, counterexample, timings); ``None`` for a duplicate id.
    """

    id: str
    status: str
    reason: str
    verdict: Verdict | None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "reason": self.reason,
                "verdict": self.verdict.to_dict() if self.verdict is not None else None}


@dataclasses.dataclass(frozen=True)
class SuiteReport:
    """What :func:`check_suite` found.

    suite: the suite's name. results: one :class:`ProblemCheck` per problem, in suite
    order. settings: the checker settings used. seconds: wall time of the check.
    """

    suite: str
    results: tuple[ProblemCheck, ...]
    settings: CheckSettings
    seconds: float

    @property
    def ok(self) -> bool:
        """Every problem is ok."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[ProblemCheck]:
        return [r for r in self.results if not r.ok]

    def counts(self) -> dict[str, int]:
        """``{status: problems}``, ``ok`` first."""
        counts = Counter(r.status for r in self.results)
        return {status: counts[status] for status in sorted(counts, key=lambda s: (s != OK, s))}

    def summary(self) -> str:
        """One line, e.g. ``suite 'p': 5 problems: 2 ok, 3 unsupported (4.1 s)``."""
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        return f"suite {self.suite!r}: {len(self.results)} problems: {counts} ({self.seconds:.1f} s)"

    def to_markdown(self) -> str:
        """The per-problem table, then the summary line."""
        lines = ["| problem | status | reason |", "| --- | --- | --- |"]
        for r in self.results:
            lines.append(f"| {_cell(r.id)} | {r.status} | {_cell(r.reason)} |")
        return "\n".join(lines) + f"\n\n{self.summary()}\n"

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "ok": self.ok, "problems": len(self.results), "counts": self.counts(),
                "settings": self.settings.kwargs(), "seconds": round(self.seconds, 3),
                "results": [r.to_dict() for r in self.results]}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def raise_if_failed(self) -> SuiteReport:
        """Raise :class:`SuiteCheckError` (one line per failed problem) unless every problem
        is ok; returns the report, so ``check_suite(s).raise_if_failed()`` reads as a test."""
        if self.ok:
            return self
        lines = [f"{r.id}: {r.status}: {r.reason}" for r in self.failed]
        raise SuiteCheckError(f"{self.summary()}\n" + "\n".join(lines))


def check_suite(
    suite: Suite | str | Iterable[Problem],
    *,
    settings: CheckSettings | None = None,
    progress: bool = False,
    load_options: Mapping[str, Any] | None = None,
) -> SuiteReport:
    """Check that every problem of ``suite`` can reward answers (see the module docstring).

    ``suite``: a :class:`~verilog_env.Suite`, a list of problems, or a registered name /
    ``.jsonl``/``.parquet`` path, loaded with :func:`~verilog_env.load_suite` and
    ``load_options`` (it raises :class:`~verilog_env.suites.SuiteError` when the suite
    cannot be loaded). ``settings``: the checker's (default :class:`CheckSettings()`).
    ``progress``: a progress bar on stderr. Raises
    :class:`~verilog_env.SimulatorNotFoundError` without Icarus Verilog; every problem
    with a golden is a result, never an exception.
    """
    settings = settings or CheckSettings()
    started = time.perf_counter()
    if isinstance(suite, str):
        with warnings.catch_warnings():  # the warning recommends what this is about to do
            warnings.simplefilter("ignore", UncheckedGoldensWarning)
            suite = load_suite(suite, **dict(load_options or {}))
    name = suite.name if isinstance(suite, Suite) else "custom"
    problems = list(suite)
    seen: set[str] = set()
    to_check: list[int] = []
    for index, problem in enumerate(problems):
        if problem.id not in seen:
            to_check.append(index)
        seen.add(problem.id)
    requests = [CheckRequest(problems[i].golden, problems[i].golden, top=problems[i].top) for i in to_check]
    verdicts = dict(zip(to_check, check_requests(requests, settings, progress=progress)))
    results = []
    for index, problem in enumerate(problems):
        verdict = verdicts.get(index)
        if verdict is None:
            results.append(ProblemCheck(problem.id, DUPLICATE_ID, "another problem of the suite has this id", None))
        elif verdict.equivalent:
            results.append(ProblemCheck(problem.id, OK, "", verdict))
        else:
            results.append(ProblemCheck(problem.id, verdict.status.value, _first_line(verdict.reason), verdict))
    return SuiteReport(name, tuple(results), settings, time.perf_counter() - started)


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")
