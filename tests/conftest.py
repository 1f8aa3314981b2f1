import pytest

from shared_data import shared_benchmarks


def pytest_collection_modifyitems(config, items):
    if not (shared_benchmarks() / "manifest.json").exists():
        skip = pytest.mark.skip(reason=f"benchmark data not found at {shared_benchmarks()}; set VERILOG_ENV_BENCHMARKS to the benchmarks folder")
        for item in items:
            if "shared" in item.keywords:
                item.add_marker(skip)
