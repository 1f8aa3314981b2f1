"""Answers to *different* problems sharing one simulator run (``check_mixed``, issue 18).

Each golden's testbench drives its own answers against its own record in the shared run;
a verdict must not depend on what shared the run. Real Icarus runs on the bundled starter
problems, their mutants, and hostile answers mixed in.
"""

from __future__ import annotations

import pytest

from verilog_env import CheckRequest, CheckSettings, Status, check_many, check_requests, load_suite
from verilog_env.equiv import simcheck
from verilog_env.testing.mutation import mutants

IN_PROCESS = CheckSettings(isolate=False, seed=0, timeout=3.0)


@pytest.fixture
def mixed_runs(monkeypatch):
    """Count the mixed runs and the parts each held."""
    runs: list[int] = []
    real = simcheck._simulate_mixed

    def counting(parts):
        runs.append(len(parts))
        return real(parts)

    monkeypatch.setattr(simcheck, "_simulate_mixed", counting)
    return runs


def _requests(problems, per_problem: int) -> list[CheckRequest]:
    out = []
    for problem in problems:
        out.append(CheckRequest(problem.golden, problem.golden, problem.top))
        out += [CheckRequest(problem.golden, m.text, problem.top)
                for m in mutants(problem.golden, seed=1, limit=per_problem)]
    return out


def _alone(request: CheckRequest):
    return check_many(request.golden, [request.candidate], IN_PROCESS, top=request.top)[0]


def test_mixed_verdicts_equal_each_answer_checked_alone(mixed_runs):
    problems = load_suite("starter")[::3]
    requests = _requests(problems, 2)
    for r in requests:  # record every golden in this process, as a worker has after a while
        _alone(CheckRequest(r.golden, r.golden, r.top))
    mixed_runs.clear()
    together = check_requests(requests, IN_PROCESS)
    assert mixed_runs and max(mixed_runs) > 1, mixed_runs  # answers of several goldens did share runs
    alone = [_alone(r) for r in requests]
    assert [v.status for v in together] == [v.status for v in alone]
    assert [v.reason for v in together] == [v.reason for v in alone]
    assert {v.status for v in together} >= {Status.EQUIVALENT, Status.MISMATCH}


HANG = "  always @(posedge clk) while (1) ;\n"


def test_a_hostile_answer_in_a_mixed_run_changes_no_other_verdict(mixed_runs):
    """A hanging answer, one that ends the simulation early and one that floods the log (past
    the output limit), each
    beside right and wrong answers to other problems: the run fails, each golden's share is
    checked again alone, and only the hostile answers fail."""
    problems = [p for p in load_suite("starter") if p.golden.count("posedge clk")][:6]
    requests = _requests(problems, 1)
    for r in requests:
        _alone(CheckRequest(r.golden, r.golden, r.top))
    expected = [_alone(r).status for r in requests]
    victim = problems[0]
    body = victim.golden.rsplit("endmodule", 1)[0]
    hostile = [body + HANG + "endmodule\n", body + "  initial #50 $finish;\nendmodule\n",
               body + '  always @(posedge clk) repeat (100) $display("%0512d", 0);\nendmodule\n']
    mixed_runs.clear()
    verdicts = check_requests(requests + [CheckRequest(victim.golden, h, victim.top) for h in hostile], IN_PROCESS)
    assert mixed_runs, "nothing was mixed"
    assert [v.status for v in verdicts[: len(requests)]] == expected
    assert all(not v.equivalent for v in verdicts[len(requests):]), [v.summary() for v in verdicts[len(requests):]]


def test_mixing_happens_in_the_pool_and_only_for_recorded_goldens():
    """Through the worker pool (the default), the second call over many problems gets the
    same verdicts as the first, which recorded the goldens."""
    problems = load_suite("starter")[::4]
    requests = _requests(problems, 1)
    settings = CheckSettings(seed=0)
    first = check_requests(requests, settings)
    second = check_requests(requests, settings)
    assert [v.status for v in first] == [v.status for v in second]
    assert [v.reason for v in first] == [v.reason for v in second]
