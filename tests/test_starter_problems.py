"""The built-in starter suite: every problem file is well-formed and every golden checks.

Each problem is one TOML file under ``verilog_env/data/starter/`` with the keys ``id``
(the file stem), ``spec`` (English, names ``TopModule`` and every port), ``golden``
(Verilog with module ``TopModule``), ``tags`` (kind first, one difficulty tag) and,
optionally, ``top``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

import pytest

import verilog_env
from verilog_env import load_suite
from verilog_env.hdl.design import Design, analyze
from verilog_env.testing import check_suite

STARTER = Path(verilog_env.__file__).parent / "data" / "starter"
FILES = sorted(STARTER.glob("*.toml"))
REQUIRED_KEYS = {"id": str, "spec": str, "golden": str, "tags": list}
OPTIONAL_KEYS = {"top": str}
KINDS = {"combinational", "sequential"}
DIFFICULTIES = {"easy", "medium", "hard"}
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")


@functools.lru_cache(maxsize=None)
def load(path: Path) -> dict:
    with path.open("rb") as handle:
        return tomllib.load(handle)


@functools.lru_cache(maxsize=None)
def design(path: Path) -> Design:
    problem = load(path)
    return analyze(problem["golden"], name=f"{path.stem}.v", role="golden", top=problem.get("top"))


def test_suite_is_present():
    assert STARTER.is_dir(), STARTER
    assert FILES, f"no problems under {STARTER}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_problem_file_is_well_formed(path: Path):
    problem = load(path)
    allowed = set(REQUIRED_KEYS) | set(OPTIONAL_KEYS)
    assert set(REQUIRED_KEYS) <= set(problem), f"missing keys {set(REQUIRED_KEYS) - set(problem)}"
    assert set(problem) <= allowed, f"unexpected keys {set(problem) - allowed}"
    for key, kind in {**REQUIRED_KEYS, **OPTIONAL_KEYS}.items():
        if key in problem:
            assert isinstance(problem[key], kind), f"{key} is {type(problem[key]).__name__}, not {kind.__name__}"

    assert problem["id"] == path.stem
    assert ID_PATTERN.match(problem["id"]), "id must be lowercase snake_case"
    assert problem["spec"].strip() and problem["golden"].strip()

    tags = problem["tags"]
    assert tags and all(isinstance(t, str) and t for t in tags)
    assert len(set(tags)) == len(tags), "duplicate tags"
    assert tags[0] in KINDS, f"first tag {tags[0]!r} must be one of {sorted(KINDS)}"
    assert len(DIFFICULTIES & set(tags)) == 1, "exactly one difficulty tag (easy/medium/hard)"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_spec_names_the_module_and_every_port(path: Path):
    problem = load(path)
    spec = problem["spec"]
    d = design(path)
    assert d.top == problem.get("top", "TopModule")
    assert "TopModule" in spec
    missing = [p.name for p in d.ports if not re.search(rf"\b{re.escape(p.name)}\b", spec)]
    assert not missing, f"spec does not mention ports {missing}"
    # The kind tag agrees with the design: combinational problems have no clock.
    assert (problem["tags"][0] == "sequential") == bool(d.clocks), (problem["tags"][0], d.clocks)


def test_every_golden_is_equivalent_to_itself():
    # verilog_env.testing.check_suite: every golden against itself in one call, problems mixed.
    report = check_suite(load_suite("starter"))
    assert [r.id for r in report.results] == [path.stem for path in FILES]
    failures = {r.id: f"{r.status}: {r.reason}" for r in report.failed}
    assert not failures, failures


def test_suite_coverage():
    problems = {path.stem: (load(path), design(path)) for path in FILES}
    assert len(problems) >= 40

    def tagged(tag: str) -> list[str]:
        return [pid for pid, (p, _) in problems.items() if tag in p["tags"]]

    two_clock = [pid for pid, (_, d) in problems.items() if len(d.clocks) == 2]
    assert len(two_clock) >= 2, two_clock
    assert len(tagged("moore")) >= 3 and len(tagged("mealy")) >= 3
    assert tagged("parameterised")
    resets = [r for _, d in problems.values() for r in d.resets]
    assert any(r.asynchronous for r in resets), "no asynchronous reset"
    assert any(not r.asynchronous for r in resets), "no synchronous reset"
    assert any(r.active_high for r in resets) and any(not r.active_high for r in resets)
    kinds = [p["tags"][0] for p, _ in problems.values()]
    assert kinds.count("combinational") >= 10 and kinds.count("sequential") >= 20
    for level in DIFFICULTIES:
        assert len(tagged(level)) >= 5, level
