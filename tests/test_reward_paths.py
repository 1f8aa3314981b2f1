"""``CheckSettings(method="both")`` reaches the reward through the HTTP service and the
TRL and verl adapters (the OpenRLHF reward file and agent: tests/test_openrlhf_plugins.py).

Each path is called as its library calls it and scores tests/formal_trap.py's answers:
the trap (wrong on one input value, which random simulation never drives) earns 1 with
the default settings and 0 with ``method="both"``; the right answer earns 1 with both.
Also: the reward-service core's batcher, driven from threads and from an event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time

import pytest
from formal_trap import BOTH, LABEL, PROBLEM, RIGHT_RESPONSE, TRAP_RESPONSE

import verilog_env.integrations as integrations
from verilog_env import CheckSettings, formal, load_suite
from verilog_env.reward import RewardConfig, Score, parse_response
from verilog_env.service import LOG_KEYS, Batcher, RewardService, ServiceClosed

needs_yosys = pytest.mark.skipif(not formal.available(), reason="Yosys not installed (scripts/ensure_yosys.sh)")


@pytest.fixture
def fresh_integrations(monkeypatch):
    """The adapters' settings as a new process has them (restored afterwards)."""
    monkeypatch.setattr(integrations, "_check", None)
    for name in CheckSettings().to_env():
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------ the HTTP service


@needs_yosys
def test_method_both_reaches_the_server():
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from loopback_server import running

    from verilog_env.server import ServerConfig, create_app

    body = {"query": [TRAP_RESPONSE, RIGHT_RESPONSE], "prompts": ["", ""], "labels": [LABEL, LABEL]}
    got = {}
    for name, config in (
        ("default", ServerConfig(warmup=False)),
        ("both", ServerConfig(check=BOTH, warmup=False)),
        ("both, as the CLI builds it", ServerConfig(method="both", formal_budget=BOTH.formal_budget, warmup=False)),
    ):
        with running(create_app(config), config) as url:
            reply = httpx.post(url + "/reward", json=body, timeout=120)
            assert reply.status_code == 200, reply.text
            got[name] = reply.json()["rewards"]
            assert list(reply.json()["extra_logs"]) == list(LOG_KEYS)
    assert got == {"default": [1.0, 1.0], "both": [0.0, 1.0], "both, as the CLI builds it": [0.0, 1.0]}


# ------------------------------------------------------------------------------ TRL


@needs_yosys
def test_method_both_reaches_the_trl_reward(fresh_integrations, monkeypatch):
    from verilog_env.integrations.trl import verilog_reward

    def trl_calls() -> list[float]:  # as GRPOTrainer calls a reward function: dataset columns as keywords
        prompts = [[{"role": "user", "content": PROBLEM.spec}]] * 2
        completions = [[{"role": "assistant", "content": r}] for r in (TRAP_RESPONSE, RIGHT_RESPONSE)]
        return verilog_reward(prompts=prompts, completions=completions, completion_ids=[[1], [2]], label=[LABEL] * 2,
                              trainer_state=None)

    assert trl_calls() == [1.0, 1.0]
    integrations.configure(check=BOTH)
    assert trl_calls() == [0.0, 1.0]
    integrations.configure(check=CheckSettings())
    assert trl_calls() == [1.0, 1.0]
    monkeypatch.setattr(integrations, "_check", None)  # unconfigured: the environment's settings
    for name, value in BOTH.to_env().items():
        monkeypatch.setenv(name, value)
    assert trl_calls() == [0.0, 1.0]


# ----------------------------------------------------------------------------- verl


def _verl_module():
    """verilog_env/integrations/verl.py loaded by path, as verl's get_custom_reward_fn does."""
    spec = importlib.util.spec_from_file_location("custom_module", integrations.__path__[0] + "/verl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_yosys
def test_method_both_reaches_the_verl_reward_per_sample(fresh_integrations):
    compute_score = _verl_module().compute_score
    reward_kwargs = {"method": "both", "formal_budget": BOTH.formal_budget}  # custom_reward_function.reward_kwargs

    def naive_manager(response: str, **kwargs) -> float:  # one call per response
        return compute_score(data_source="verilog_env/trap", solution_str=response, ground_truth=LABEL,
                             extra_info={"index": 0}, **kwargs)

    assert naive_manager(TRAP_RESPONSE) == 1.0
    assert naive_manager(TRAP_RESPONSE, **reward_kwargs) == 0.0
    assert naive_manager(RIGHT_RESPONSE, **reward_kwargs) == 1.0


@needs_yosys
def test_method_both_reaches_the_verl_reward_batched(fresh_integrations, monkeypatch):
    np = pytest.importorskip("numpy")
    compute_score = _verl_module().compute_score

    def batch_manager(**kwargs) -> list[float]:  # verl's BatchRewardManager: arrays of every sample
        return compute_score(
            data_sources=np.array(["verilog_env/trap"] * 2, dtype=object),
            solution_strs=np.array([TRAP_RESPONSE, RIGHT_RESPONSE], dtype=object),
            ground_truths=np.array([LABEL] * 2, dtype=object),
            extra_infos=np.array([{"index": 0}, {"index": 1}], dtype=object),
            **kwargs,
        )

    assert batch_manager() == [1.0, 1.0]
    assert batch_manager(method="both", formal_budget=BOTH.formal_budget) == [0.0, 1.0]
    for name, value in BOTH.to_env().items():  # the worker's environment, no reward_kwargs
        monkeypatch.setenv(name, value)
    assert batch_manager() == [0.0, 1.0]


# ------------------------------------------------------------- the core's batcher


def _fake_scorer(calls: list[int], delay: float = 0.0):
    def scorer(items, config, settings=None):
        calls.append(len(items))
        time.sleep(delay)
        return [Score(1.0 if response == "GOOD" else 0.0, parse_response(response)) for _, response in items]

    return scorer


def test_batcher_merges_threads_and_event_loop_callers_into_one_call_per_golden():
    calls: list[int] = []
    batcher = Batcher(window=0.2, scorer=_fake_scorer(calls))
    service = RewardService(integrations.problem_index(), batcher=batcher)
    results: dict[str, list[float]] = {}

    def in_thread(i: int) -> None:
        results[f"thread {i}"] = [o.reward for o in service.score(["GOOD", "bad"], [LABEL, LABEL])]

    async def in_loop() -> None:
        prepared = service.prepare(["GOOD", "x"], [LABEL, "no_such_problem"])
        scores = await asyncio.wrap_future(service.submit(prepared))
        results["loop"] = [o.reward for o in prepared.complete(scores)]

    threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    asyncio.run(in_loop())
    for t in threads:
        t.join()
    batcher.close()
    assert results == {**{f"thread {i}": [1.0, 0.0] for i in range(4)}, "loop": [1.0, 0.0]}
    assert calls == [9], calls  # one batch, one golden: one scorer call for every answer


def test_batcher_gives_a_golden_that_fills_a_run_its_own_call_and_lone_answers_one_together():
    """Answers to one golden that fill a simulator run (batch_size) are one scorer call;
    lone answers to several goldens share another (the checker mixes goldens in its runs)."""
    calls: list[int] = []
    batcher = Batcher(window=0.3, scorer=_fake_scorer(calls))
    service = RewardService(integrations.problem_index(), batcher=batcher)
    labels = [p.id for p in load_suite("starter")[:5]]
    full = CheckSettings().batch_size
    lone = service.submit(service.prepare(["GOOD"] * 4, labels[1:]))
    many = service.submit(service.prepare(["GOOD"] * full, [labels[0]] * full))
    assert [s.reward for s in lone.result(timeout=30)] == [1.0] * 4
    assert len(many.result(timeout=30)) == full
    batcher.close()
    assert sorted(calls) == sorted([full, 4]), calls


def test_deadline_scores_zero_and_close_fails_what_waits():
    calls: list[int] = []
    service = RewardService(integrations.problem_index(), batcher=Batcher(window=0.0, concurrency=1,
                                                                            scorer=_fake_scorer(calls, delay=0.5)))
    started = time.monotonic()
    [late] = service.score(["GOOD"], [LABEL], deadline=0.1)
    assert time.monotonic() - started < 0.4
    assert late.reward == 0.0 and late.logs["reward_timeout"] == 1.0 and list(late.logs) == list(LOG_KEYS)
    waiting = service.submit(service.prepare(["GOOD"], [LABEL]))  # queued behind the slow call
    service.batcher.close()
    with pytest.raises(ServiceClosed):
        waiting.result(timeout=5)
    [closed] = service.score(["GOOD"], [LABEL], reward=RewardConfig())
    assert closed.logs["reward_internal_error"] == 1.0 and "shutting down" in closed.error
