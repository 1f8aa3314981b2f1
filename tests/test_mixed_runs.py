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

    def counting(parts, members):
        runs.append(sum(map(bool, members)))
        return real(parts, members)

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


FSM_GOLDEN = """module top_module(input clk, input reset, input x, output z);
  reg [1:0] s;
  always @(posedge clk) if (reset) s <= 0; else s <= x ? (s == 2 ? 2 : s + 1) : 0;
  assign z = (s == 2);
endmodule
"""
# pyslang accepts it; Icarus 11 refuses the enum-typed ternary ("requires an explicit cast").
ICARUS_REFUSES = """module top_module(input clk, input reset, input x, output z);
  typedef enum logic [1:0] {S0, S1, S2} States;
  States s, nx;
  always_comb begin
    case (s)
      S0: nx = x ? S1 : S0;
      default: nx = x ? S2 : S0;
    endcase
  end
  always_ff @(posedge clk) if (reset) s <= S0; else s <= nx;
  assign z = (s == S2);
endmodule
"""


def test_an_answer_the_compiler_refuses_leaves_the_mixed_run_and_the_rest_mix_again(mixed_runs, monkeypatch):
    """The compiler's log names the answer's file: that answer is checked alone (its own
    compile error, as alone), and the others share a second run instead of each golden
    being redone alone. (One worker: every answer in one job.)"""
    monkeypatch.setenv("VERILOG_ENV_WORKERS", "1")
    problems = load_suite("starter")[:4]
    requests = [CheckRequest(p.golden, p.golden, p.top) for p in problems]
    requests += [CheckRequest(FSM_GOLDEN, FSM_GOLDEN), CheckRequest(FSM_GOLDEN, ICARUS_REFUSES)]
    for r in requests:
        _alone(CheckRequest(r.golden, r.golden, r.top))
    mixed_runs.clear()
    verdicts = check_requests(requests, IN_PROCESS)
    alone = _alone(requests[-1])
    assert alone.status is Status.COMPILE_ERROR and "explicit cast" in alone.reason
    assert (verdicts[-1].status, verdicts[-1].reason) == (alone.status, alone.reason)
    assert all(v.equivalent for v in verdicts[:-1]), [v.summary() for v in verdicts]
    assert mixed_runs == [5, 5], mixed_runs  # the first run fails to compile; the second holds the rest


def test_parts_whose_testbench_finished_keep_their_verdicts_when_a_later_answer_hangs(mixed_runs, monkeypatch):
    """An answer that hangs the simulation after the other goldens' testbenches have ended
    (its own runs longer): their records stand (no second run for them), and only the
    hanging answer's golden is checked again."""
    from verilog_env.equiv.prepare import CheckOptions, analyze_golden

    monkeypatch.setenv("VERILOG_ENV_WORKERS", "1")
    suite = load_suite("starter")
    ticks = {p.id: analyze_golden(p.golden, p.top).ticks(CheckOptions(seed=0)) for p in suite}
    short = [p for p in suite if ticks[p.id] == 2000][:3]
    long = next(p for p in suite if ticks[p.id] >= 4000 and "posedge" in p.golden)
    # Hangs at its 1,500th clock edge (tick 3,000): after the 2,000-tick testbenches ended.
    hang = long.golden.rsplit("endmodule", 1)[0] + (
        "  reg [15:0] edges = 0;\n  always @(posedge clk) begin\n    edges <= edges + 1;\n"
        "    if (edges == 1500) while (1) ;\n  end\nendmodule\n")
    requests = [CheckRequest(p.golden, p.golden, p.top) for p in short] + [CheckRequest(long.golden, hang, long.top)]
    for r in requests:
        _alone(CheckRequest(r.golden, r.golden, r.top))
    alone_runs: list[str] = []
    real = simcheck._simulate

    def counting(reference, *args, **kwargs):
        alone_runs.append(reference.text)
        return real(reference, *args, **kwargs)

    monkeypatch.setattr(simcheck, "_simulate", counting)
    mixed_runs.clear()
    verdicts = check_requests(requests, IN_PROCESS)
    assert mixed_runs == [4], mixed_runs
    assert set(alone_runs) == {analyze_golden(long.golden, long.top).text}  # only the long golden ran again
    assert all(v.equivalent for v in verdicts[:3]), [v.summary() for v in verdicts]
    assert verdicts[3].status in (Status.TIMEOUT, Status.REJECTED), verdicts[3].summary()
