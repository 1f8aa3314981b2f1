"""Problem suites: a registry by name, and loaders for JSONL, Parquet and Hugging Face datasets.

Built-in suites::

    load_suite("starter")                          # the bundled problems (the default)
    load_suite("jsonl", path="problems.jsonl")     # one JSON object per line
    load_suite("parquet", path="train.parquet")
    load_suite("hf", dataset="org/dataset", split="train")   # or a local dataset directory
    load_suite("codev-r1", path="train.parquet", allow_pickle=True)

Rows are mapped to :class:`~verilog_env.problems.Problem` fields through a
:class:`Columns` mapping (default: the field names). ``id`` may be missing (rows are then
numbered); ``spec`` and ``golden`` are required; ``tags`` may be a list or a
comma-separated string. Add your own suite with :func:`register_suite`.

What loading checks. Always (cheap): every row has a non-empty spec and golden, and
problem ids are unique; a malformed row or a duplicate id raises :class:`SuiteError`
naming it. Goldens themselves are taken on trust unless asked:

* ``load_suite(..., validate=True)`` analyses every golden as the checker will (pyslang:
  parse, candidate policy, elaboration, top module, ports; no simulation) and raises a
  one-line :class:`SuiteError` naming the first problem whose golden cannot be checked
  (a syntax error, an unresolvable ``top``, ...) and how many others fail.
* ``validate=False`` (the default) analyses nothing and issues an
  :class:`UncheckedGoldensWarning` (shown once per call site by Python's default warning
  filter) pointing at ``verilog-env suite check``; suites registered ``checked=True``
  (the bundled ``starter``, whose goldens the test suite checks) do not warn. It is the
  default so that one bad golden costs its own problem (every answer scores 0), not the
  whole suite.

Neither simulates, so neither finds a golden that parses but cannot judge answers (an
output never driven to 0/1). Only a run of the checker finds that:
:func:`verilog_env.testing.check_suite` / ``verilog-env suite check``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import tomllib
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, overload

import numpy as np

from .extras import require_extra
from .problems import Problem

DEFAULT_SUITE = "starter"


class SuiteError(ValueError):
    """A suite could not be loaded; the message says what to do."""


class UncheckedGoldensWarning(UserWarning):
    """A suite was loaded without checking its goldens (see :func:`load_suite`).

    Silence it where that is deliberate (the goldens are used as text, or were checked
    before) with ``warnings.filterwarnings("ignore", category=UncheckedGoldensWarning)``.
    """


@dataclasses.dataclass(frozen=True)
class Columns:
    """Which dataset column holds each :class:`Problem` field."""

    id: str = "id"
    spec: str = "spec"
    golden: str = "golden"
    top: str = "top"
    header: str = "header"
    tags: str = "tags"
    source: str = "source"

    @classmethod
    def of(cls, columns: "Columns | Mapping[str, str] | None") -> "Columns":
        if columns is None or isinstance(columns, Columns):
            return columns or cls()
        unknown = set(columns) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SuiteError(f"unknown problem field(s) in column mapping: {sorted(unknown)}")
        return cls(**columns)


class Suite(Sequence[Problem]):
    """An ordered, id-addressable collection of problems."""

    def __init__(self, name: str, problems: Iterable[Problem]):
        self.name = name
        self._problems = list(problems)
        self._by_id: dict[str, Problem] = {}
        for problem in self._problems:
            if problem.id in self._by_id:
                raise SuiteError(
                    f"suite {name!r}: duplicate problem id {problem.id!r}; every problem needs its own id"
                )
            self._by_id[problem.id] = problem
        if not self._problems:
            raise SuiteError(f"suite {name!r} has no problems")

    @overload
    def __getitem__(self, index: int) -> Problem: ...
    @overload
    def __getitem__(self, index: slice) -> list[Problem]: ...
    def __getitem__(self, index):
        return self._problems[index]

    def __len__(self) -> int:
        return len(self._problems)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._problems)

    def __contains__(self, item: object) -> bool:
        return item in self._by_id if isinstance(item, str) else item in self._problems

    def __repr__(self) -> str:
        return f"Suite({self.name!r}, {len(self)} problems)"

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self._problems]

    def get(self, problem_id: str) -> Problem:
        try:
            return self._by_id[problem_id]
        except KeyError:
            raise KeyError(f"no problem {problem_id!r} in suite {self.name!r} ({len(self)} problems)") from None

    def with_tags(self, *tags: str) -> "Suite":
        """The problems carrying every one of ``tags``."""
        return Suite(f"{self.name}[{','.join(tags)}]", [p for p in self if set(tags) <= set(p.tags)])


Loader = Callable[..., Iterable[Problem]]


@dataclasses.dataclass(frozen=True)
class _Entry:
    loader: Loader
    description: str
    checked: bool
    """Its goldens are known to pass :func:`~verilog_env.testing.check_suite`: no warning on load."""


_REGISTRY: dict[str, _Entry] = {}


def register_suite(
    name: str, loader: Loader, /, *, description: str = "", overwrite: bool = False, checked: bool = False
) -> None:
    """Make ``load_suite(name, **kw)`` call ``loader(**kw)``, which yields problems.

    ``checked=True`` says the loader's goldens are already known to pass
    :func:`~verilog_env.testing.check_suite` (say, a test runs it on them), so loading the
    suite does not issue an :class:`UncheckedGoldensWarning`.
    """
    if name in _REGISTRY and not overwrite:
        raise SuiteError(f"suite {name!r} is already registered (pass overwrite=True to replace it)")
    _REGISTRY[name] = _Entry(loader, description or (loader.__doc__ or "").strip().split("\n")[0], checked)


def list_suites() -> dict[str, str]:
    """Registered suite names and their one-line descriptions."""
    return {name: entry.description for name, entry in sorted(_REGISTRY.items())}


def load_suite(name: str = DEFAULT_SUITE, /, *, validate: bool = False, **kwargs: Any) -> Suite:
    """Load a registered suite, or a ``.jsonl``/``.parquet`` file given by path.

    ``kwargs`` go to the suite's loader. ``validate=True`` analyses every golden as the
    checker will and raises :class:`SuiteError` when one cannot be checked;
    ``validate=False`` trusts them and warns (:class:`UncheckedGoldensWarning`) unless the
    suite was registered ``checked=True``. See the module docstring for what each finds.
    """
    entry = _REGISTRY.get(name)
    if entry is not None:
        suite, checked = Suite(name, entry.loader(**kwargs)), entry.checked
    elif Path(name).suffix in (".jsonl", ".parquet"):  # a missing file is named by the loader
        path = Path(name)
        loader = load_jsonl if path.suffix == ".jsonl" else load_parquet
        suite, checked = Suite(path.stem, loader(path, **kwargs)), False
    else:
        raise SuiteError(
            f"unknown suite {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
            "(or pass the path of a .jsonl/.parquet file)"
        )
    full_check = _full_check_hint(name, kwargs)
    if validate:
        _validate_goldens(suite, full_check)
    elif not checked:
        warnings.warn(
            f"suite {name!r}: goldens are not checked on load (a golden that cannot be checked scores every "
            f"answer 0); run {full_check} once, or load with validate=True to analyse them",
            UncheckedGoldensWarning,
            stacklevel=2,
        )
    return suite


def _full_check_hint(name: str, kwargs: Mapping[str, Any]) -> str:
    """The command that checks this suite fully; the Python call when the command line
    cannot pass its loader arguments (``columns=`` is a mapping)."""
    if not all(isinstance(v, (str, int, float, Path)) for v in kwargs.values()):
        return "verilog_env.testing.check_suite(suite)"
    options = "".join(f" --option {key}={value}" for key, value in kwargs.items())
    return f"`verilog-env suite check {name}{options}`"


def _validate_goldens(suite: Suite, full_check: str) -> None:
    """Raise :class:`SuiteError` unless every golden passes the checker's own analysis."""
    from .hdl.design import DesignError, analyze

    failures: list[tuple[str, DesignError]] = []
    for problem in suite:
        try:
            analyze(problem.golden, name="golden.v", role="golden", top=problem.top)
        except DesignError as error:
            failures.append((problem.id, error))
    if failures:
        problem_id, error = failures[0]
        others = f" ({len(failures) - 1} more problem(s) fail too)" if len(failures) > 1 else ""
        raise SuiteError(  # the reason's first line: a compiler log goes on with source excerpts
            f"suite {suite.name!r}: the golden of problem {problem_id!r} cannot be checked ({error.status}: "
            f"{error.reason.strip().splitlines()[0]}){others}; fix or remove it, and run {full_check} to list "
            "every problem's status"
        )


# --- row mapping ----------------------------------------------------------------------


def problem_from_row(row: Mapping[str, Any], columns: Columns, where: str, default_id: str, source: str) -> Problem:
    """Build a problem from one dataset row; errors name the row and the fix."""

    def value(field: str) -> Any:
        v = row.get(getattr(columns, field))
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    for field in ("spec", "golden"):
        if not isinstance(value(field), str) or not value(field).strip():
            column = getattr(columns, field)
            raise SuiteError(
                f"{where}: column {column!r} (problem {field}) is missing or empty; columns present: "
                f"{sorted(row)}; map yours with columns={{'{field}': '<column>'}}"
            )
    tags = value("tags") or ()
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return Problem(
        id=str(value("id") if value("id") is not None else default_id),
        spec=value("spec"),
        golden=value("golden"),
        top=value("top") or None,
        header=value("header") or None,
        tags=tuple(str(t) for t in tags),
        source=str(value("source") or source),
    )


def _existing(path: str | Path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise SuiteError(f"{what} {str(p)!r} not found: check the path")
    return p


# --- loaders --------------------------------------------------------------------------


def load_starter() -> list[Problem]:
    """Problems written for this project (bundled; the default suite)."""
    problems = []
    folder = resources.files("verilog_env") / "data" / "starter"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        problems.append(problem_from_row(data, Columns(), f"starter/{entry.name}", entry.name[:-5], "starter"))
    return problems


def load_jsonl(path: str | Path, columns: Columns | Mapping[str, str] | None = None) -> list[Problem]:
    """One problem per line of a JSONL file."""
    p, cols = _existing(path, "JSONL file"), Columns.of(columns)
    problems = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{p}:{n}: not valid JSON ({exc.msg}); each line must be one JSON object") from None
            if not isinstance(row, dict):
                raise SuiteError(f"{p}:{n}: expected a JSON object, got {type(row).__name__}")
            problems.append(problem_from_row(row, cols, f"{p}:{n}", f"{p.stem}/{len(problems)}", p.name))
    return problems


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    pq = require_extra("pyarrow.parquet", "data", "reading a Parquet suite")
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise SuiteError(f"{path}: not a readable Parquet file ({exc})") from None


def load_parquet(path: str | Path, columns: Columns | Mapping[str, str] | None = None) -> list[Problem]:
    """One problem per row of a Parquet file."""
    p, cols = _existing(path, "Parquet file"), Columns.of(columns)
    return [
        problem_from_row(row, cols, f"{p} row {i}", f"{p.stem}/{i}", p.name)
        for i, row in enumerate(_parquet_rows(p))
    ]


def load_hf(
    dataset: str, split: str = "train", columns: Columns | Mapping[str, str] | None = None, **load_kwargs: Any
) -> list[Problem]:
    """A Hugging Face dataset: a hub name, or a local directory/file ``datasets`` can load."""
    datasets = require_extra("datasets", "data", "loading a Hugging Face dataset")
    cols = Columns.of(columns)
    local = Path(dataset).expanduser()
    try:
        if local.is_dir() and (local / "dataset_info.json").exists():
            data = datasets.load_from_disk(str(local))
            data = data[split] if isinstance(data, datasets.DatasetDict) else data
        elif local.is_file():
            kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(local.suffix)
            if kind is None:
                raise SuiteError(f"{local}: unsupported file type; use .jsonl, .json, .parquet or .csv")
            data = datasets.load_dataset(kind, data_files=str(local), split=split, **load_kwargs)
        else:
            data = datasets.load_dataset(dataset, split=split, **load_kwargs)
    except SuiteError:
        raise
    except Exception as exc:  # noqa: BLE001 - hub/network/format errors
        raise SuiteError(f"could not load dataset {dataset!r} (split {split!r}): {exc}") from None
    return [
        problem_from_row(row, cols, f"{dataset}[{split}] row {i}", f"{local.name}/{i}", dataset)
        for i, row in enumerate(data)
    ]


class _PlainDataUnpickler(pickle.Unpickler):
    """Refuses every global, so only plain containers, strings and numbers load."""

    def find_class(self, module: str, name: str):  # noqa: D401
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle_ground_truth(blob: Any, where: str) -> dict[str, Any]:
    if isinstance(blob, dict):
        return blob
    try:
        data = _PlainDataUnpickler(io.BytesIO(blob)).load()
    except Exception as exc:  # noqa: BLE001
        raise SuiteError(f"{where}: ground truth is not a plain pickled dict ({exc})") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: ground truth unpickled to {type(data).__name__}, expected a dict")
    return data


def load_codev_r1(path: str | Path, allow_pickle: bool = False) -> list[Problem]:
    """CodeV-R1's RL data: Parquet rows with ``prompt`` messages and a pickled ground truth.

    ``reward_model.ground_truth`` is a pickled ``{name: {"code": golden, ...}}``; the
    ``"answer"`` entry (else the first) is the golden. Unpickling untrusted bytes can run
    code, so it needs ``allow_pickle=True``; even then only plain data is accepted.
    """
    p = _existing(path, "CodeV-R1 Parquet file")
    if not allow_pickle:
        raise SuiteError(
            f"{p}: CodeV-R1 rows store their golden as a pickle, and unpickling untrusted data can run "
            "arbitrary code; pass allow_pickle=True (CLI: --option allow_pickle=true) only for files you trust"
        )
    problems = []
    for i, row in enumerate(_parquet_rows(p)):
        where = f"{p} row {i}"
        reward_model = row.get("reward_model") or {}
        if "ground_truth" not in reward_model or not row.get("prompt"):
            raise SuiteError(f"{where}: expected columns 'prompt' and 'reward_model.ground_truth' (CodeV-R1 layout)")
        truth = _unpickle_ground_truth(reward_model["ground_truth"], where)
        entry = truth.get("answer") or next(iter(truth.values()), None)
        golden = entry.get("code") if isinstance(entry, dict) else None
        users = [m.get("content", "") for m in row["prompt"] if isinstance(m, dict) and m.get("role") == "user"]
        extra = row.get("extra_info") or {}
        index = extra.get("index", i) if isinstance(extra, dict) else i
        flat = {"id": f"{p.stem}/{index}", "spec": users[-1] if users else "", "golden": golden}
        problems.append(problem_from_row(flat, Columns(), where, f"{p.stem}/{i}", str(row.get("data_source") or p.name)))
    return problems


register_suite(DEFAULT_SUITE, load_starter, checked=True)  # tests/test_suite_check.py checks it
register_suite("jsonl", load_jsonl)
register_suite("parquet", load_parquet)
register_suite("hf", load_hf)
register_suite("codev-r1", load_codev_r1)
