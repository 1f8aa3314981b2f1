import importlib.util
import os
from pathlib import Path

import pytest
from shared_data import shared_benchmarks

# Test files that need OpenRLHF (and Ray, vLLM, DeepSpeed). `make test` runs them in
# .venv-openrlhf, where scripts/install_openrlhf_cpu.sh installed those without CUDA, and
# every other test in .venv, which must not hold that partial vLLM (TRL would import it).
OPENRLHF_ONLY = ("test_openrlhf_plugins.py", "test_openrlhf_launcher_check.py", "test_partial_vllm.py",
                 "test_openrlhf_replicas.py")
REQUIRE_OPENRLHF = "VERILOG_ENV_REQUIRE_OPENRLHF"
# Which of the two sets to run: "main" (all but OPENRLHF_ONLY), "openrlhf" (only those), or
# unset (all this interpreter can import). An environment variable, not a -m expression, so
# that a user's own -m (PYTEST_ARGS="-m 'not slow'") still applies to both runs.
TEST_SET = os.environ.get("VERILOG_ENV_TESTS", "")
_not_collected: list[str] = []


@pytest.fixture(autouse=True, scope="session")
def _private_caches(tmp_path_factory):
    """verilog-env's on-disk caches (benchmarks.official.reference_cache_dir) go to a folder
    of this test session, not the user's ~/.cache: tests neither read nor leave state there."""
    old = os.environ.get("VERILOG_ENV_CACHE")
    os.environ["VERILOG_ENV_CACHE"] = str(tmp_path_factory.mktemp("verilog_env_cache"))
    yield
    if old is None:
        os.environ.pop("VERILOG_ENV_CACHE", None)
    else:
        os.environ["VERILOG_ENV_CACHE"] = old


def pytest_ignore_collect(collection_path, config):
    if collection_path.is_dir() or collection_path.suffix != ".py":
        return None
    if TEST_SET == "openrlhf":
        return collection_path.name not in OPENRLHF_ONLY and collection_path.name.startswith("test_") or None
    if collection_path.name not in OPENRLHF_ONLY:
        return None
    if TEST_SET == "main":
        return True
    if importlib.util.find_spec("openrlhf") is None and not os.environ.get(REQUIRE_OPENRLHF):
        asked = [Path(arg.split("::")[0]).resolve() for arg in config.args]
        if any(a == collection_path or a in collection_path.parents for a in asked):  # not a sibling of a named file
            _not_collected.append(collection_path.name)
        return True
    return None  # with REQUIRE set, a missing OpenRLHF fails at import, as it should


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in OPENRLHF_ONLY:
            item.add_marker(pytest.mark.openrlhf)
    if TEST_SET in ("main", "openrlhf"):  # files named on the command line skip pytest_ignore_collect
        other = [item for item in items if (item.path.name in OPENRLHF_ONLY) != (TEST_SET == "openrlhf")]
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = [item for item in items if item not in other]
    if not (shared_benchmarks() / "manifest.json").exists():
        skip = pytest.mark.skip(reason=f"benchmark data not found at {shared_benchmarks()}; set VERILOG_ENV_BENCHMARKS to the benchmarks folder")
        for item in items:
            if "shared" in item.keywords:
                item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _not_collected:
        terminalreporter.write_line(
            f"not collected (OpenRLHF is not importable here): {', '.join(_not_collected)}; "
            "run them with .venv-openrlhf/bin/python -m pytest -m openrlhf (make test does)")
