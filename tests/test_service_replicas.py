"""Scaling the HTTP reward service out: replicas of ``verilog-env serve``, no load balancer.

OpenRLHF takes a comma-separated ``--reward.remote_url`` (``train_ppo_ray`` splits it on
commas) and its ``SingleTurnAgentExecutor`` sends each reward request to the next URL in
turn (``next(itertools.cycle(urls))``). Two real ``verilog-env serve`` subprocesses on
loopback (started by ``perf.reward_service_load.start_replicas``, one checker worker
each) are driven that way: with httpx in the same rotation here, and through OpenRLHF's
own executor's HTTP reward path in ``test_openrlhf_replicas.py`` (``.venv-openrlhf``). Rewards
must be right (the golden earns 1.0, a wrong answer 0.0) and both replicas must have
served requests (their ``/health`` statistics). No timing is asserted: speed is measured
by ``python -m perf.reward_service_load --replicas 2 --compare-replicas``.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from perf.reward_service_load import (
    SampleStream,
    answer,
    chat_prompt,
    run_load,
    start_replicas,
    stop_server,
)
from verilog_env.suites import load_suite

PROBLEM = load_suite("starter").get("abs_diff8")
WRONG = PROBLEM.golden.replace("a < b", "a > b")  # swaps the operands: wrong whenever a != b
PROMPT = chat_prompt(PROBLEM)
CASES = [(answer(PROBLEM.golden), 1.0), (answer(WRONG), 0.0)] * 3  # six requests, three per replica


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two ``verilog-env serve`` replicas on loopback ports; their URLs."""
    assert WRONG != PROBLEM.golden
    logs = Path(tmp_path_factory.mktemp("replica_logs"))
    servers = start_replicas(2, 1, None, logs, "test")
    try:
        yield [url for _, url in servers]
    finally:
        for proc, _ in servers:
            stop_server(proc)


def requests_served(urls: list[str]) -> list[int]:
    return [httpx.get(url + "/health", timeout=10).json()["stats"]["requests"] for url in urls]


def remote_url(urls: list[str]) -> str:
    """The value of OpenRLHF's ``--reward.remote_url`` for these replicas."""
    return ",".join(url + "/reward" for url in urls)


def body(text: str) -> dict:
    """OpenRLHF's request for one rollout: query = prompt + response, the prompt, the label."""
    return {"query": [PROMPT + text + "<|im_end|>"], "prompts": [PROMPT], "labels": [PROBLEM.id]}


def test_round_robin_over_replicas_scores_right_on_both(replicas):
    before = requests_served(replicas)
    rotation = itertools.cycle(remote_url(replicas).split(","))  # what OpenRLHF does with the flag's value
    rewards = []
    for text, _ in CASES:
        reply = httpx.post(next(rotation), json=body(text), timeout=120)
        assert reply.status_code == 200, reply.text
        rewards.append(reply.json()["rewards"][0])
    assert rewards == [expected for _, expected in CASES]
    served = [after - b for after, b in zip(requests_served(replicas), before)]
    assert served == [3, 3]


def test_load_script_spreads_requests_over_replicas(replicas):
    """``run_load`` with a list of URLs (what ``--replicas`` uses): no errors, the golden
    always earns 1.0, and each replica served part of the load."""
    stream = SampleStream([{"correct": body(answer(PROBLEM.golden)), "wrong": body(answer(WRONG))}], 4, seed=0)
    result = asyncio.run(run_load(replicas, stream, clients=4, seconds=1.0, warmup=0.2))
    assert result["errors"] == 0
    correct, wrong = result["by_kind"]["correct"], result["by_kind"]["wrong"]
    assert correct["reward_1"] == correct["requests"] and wrong["reward_1"] == 0
    assert [r["url"] for r in result["replicas"]] == replicas
    assert all(r["requests"] > 0 for r in result["replicas"])
