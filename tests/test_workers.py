"""Worker pools: their size follows ``$VERILOG_ENV_WORKERS`` (several checker processes on
one node share its cores instead of each forking one worker per core)."""

from __future__ import annotations

import os

import pytest

import verilog_env
from verilog_env import Status, check_equivalence, workers

GOLDEN = "module top(input [3:0] a, output [3:0] y); assign y = ~a; endmodule\n"


def pool_children() -> list[int]:
    """Live child processes of this one (the pool's workers once checks are done)."""
    me, out = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            out.append(int(pid))
    return out


@pytest.fixture(autouse=True)
def fresh_pools():
    verilog_env.shutdown()
    yield
    verilog_env.shutdown()


@pytest.mark.parametrize("setting", ["1", None])
def test_pool_size_follows_the_workers_setting(monkeypatch, setting):
    if setting is None:
        monkeypatch.delenv(workers.WORKERS_ENV, raising=False)
    else:
        monkeypatch.setenv(workers.WORKERS_ENV, setting)
    assert check_equivalence(GOLDEN, GOLDEN).status is Status.EQUIVALENT
    expected = 1 if setting else (os.cpu_count() or 1)
    assert workers.default_workers() == expected
    assert len(pool_children()) == expected


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_a_malformed_workers_setting_is_a_one_line_error(monkeypatch, bad):
    monkeypatch.setenv(workers.WORKERS_ENV, bad)
    with pytest.raises(ValueError, match="VERILOG_ENV_WORKERS must be a positive integer"):
        check_equivalence(GOLDEN, GOLDEN)
