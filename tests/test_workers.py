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


# --- the memory budget -----------------------------------------------------------------

GiB = 1 << 30


@pytest.mark.parametrize("text, value", [("48G", 48 * GiB), ("4096M", 4 * GiB), ("1.5GiB", 3 * GiB // 2),
                                         ("2t", 2048 * GiB), ("1000000", 1000000)])
def test_the_memory_budget_reads_amounts_with_units(monkeypatch, text, value):
    monkeypatch.setenv(workers.MEMORY_ENV, text)
    assert workers.memory_budget() == value


def test_the_default_memory_budget_is_a_fraction_of_the_machine(monkeypatch):
    monkeypatch.delenv(workers.MEMORY_ENV, raising=False)
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert workers.memory_budget() == int(workers.DEFAULT_MEMORY_FRACTION * physical)


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "12X"])
def test_a_malformed_memory_budget_is_a_one_line_error(monkeypatch, bad):
    monkeypatch.setenv(workers.MEMORY_ENV, bad)
    with pytest.raises(ValueError, match="VERILOG_ENV_MEMORY must be an amount of memory"):
        check_equivalence(GOLDEN, GOLDEN)


def test_a_pool_is_sized_within_the_budget(monkeypatch):
    """Full limits when they fit, else each worker's cut (not below MIN_WORKER_BYTES), else
    fewer workers, else a set-up error that says what to raise."""
    monkeypatch.setenv(workers.WORKERS_ENV, "4")
    spec = workers.PoolSpec("t", memory_bytes=4 * GiB)
    assert workers.plan_pool(spec, 64 * GiB) == workers.PoolPlan(4, 4 * GiB)
    assert workers.plan_pool(spec, 8 * GiB) == workers.PoolPlan(4, 2 * GiB)
    assert workers.plan_pool(spec, 3 * GiB) == workers.PoolPlan(3, GiB)
    assert workers.plan_pool(spec, GiB + 1) == workers.PoolPlan(1, GiB + 1)
    with pytest.raises(workers.MemoryBudgetError, match="raise VERILOG_ENV_MEMORY"):
        workers.plan_pool(spec, GiB - 1)


def test_pools_share_the_budget_by_what_they_ask(monkeypatch):
    """The README's 64-core example: check and formal workers (4 GiB each asked) under a
    256 GiB budget get 128 GiB each, so 64 workers of 2 GiB each, whichever starts first."""
    from verilog_env.equiv.simcheck import SIMULATION
    from verilog_env.formal.judge import FORMAL

    monkeypatch.setenv(workers.WORKERS_ENV, "64")
    monkeypatch.setenv(workers.MEMORY_ENV, "256G")
    assert {"check", "formal"} <= set(workers._declared)  # declared when their modules load
    # only these two (a benchmark's screen pool, declared by other tests here, would take a share)
    monkeypatch.setattr(workers, "_declared", {"check": SIMULATION.pool, "formal": FORMAL.pool})
    share = 256 * GiB * SIMULATION.pool.demand // sum(s.demand for s in workers._declared.values())
    assert workers.plan_pool(SIMULATION.pool, share) == workers.PoolPlan(64, 2 * GiB)
    assert workers.plan_pool(FORMAL.pool, 128 * GiB) == workers.PoolPlan(64, 2 * GiB)


def _address_space_limit() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_AS)[0]


def test_checks_run_within_a_tight_budget_and_refuse_a_pool_that_gets_nothing(monkeypatch):
    """Two check workers whose share of a 6 GiB budget is 3 GiB: each gets 1.5 GiB of address
    space, and checks still pass; a pool asking more than is left is refused, saying so."""
    from verilog_env.equiv.simcheck import SIMULATION
    from verilog_env.formal.judge import FORMAL

    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    monkeypatch.setenv(workers.MEMORY_ENV, "6G")
    monkeypatch.setattr(workers, "_declared", {"check": SIMULATION.pool, "formal": FORMAL.pool})
    assert check_equivalence(GOLDEN, GOLDEN).status is Status.EQUIVALENT
    wrong = GOLDEN.replace("~a", "a")
    assert check_equivalence(GOLDEN, wrong).status is Status.MISMATCH
    plan = workers.pool_plans()["check"]
    assert (plan.workers, plan.worker_bytes) == (2, 3 * GiB // 2), plan
    pool = workers.get_pool(SIMULATION.pool)
    assert pool.schedule(_address_space_limit).result(timeout=30) == 3 * GiB // 2
    monkeypatch.setenv(workers.MEMORY_ENV, "3.5G")  # 0.5 GiB left beside the running check pool
    with pytest.raises(workers.MemoryBudgetError, match="0.5 GiB for the 'greedy' workers.*raise VERILOG_ENV_MEMORY"):
        workers.get_pool(workers.PoolSpec("greedy", memory_bytes=8 * GiB, max_workers=1))
