"""Two ``verilog-env serve`` replicas behind OpenRLHF's own reward client (no load balancer):
``train_ppo_ray`` splits ``--reward.remote_url`` on commas and ``SingleTurnAgentExecutor``
sends each rollout's reward request to the next URL in turn. Runs in ``.venv-openrlhf``
(``conftest.OPENRLHF_ONLY``); the replicas and requests are ``test_service_replicas``'s."""

from __future__ import annotations

import asyncio

from openrlhf.utils.agent import SingleTurnAgentExecutor
from test_service_replicas import CASES, PROBLEM, PROMPT, remote_url, replicas, requests_served  # noqa: F401, F811


def test_openrlhf_executor_rotates_over_comma_separated_urls(replicas):
    """OpenRLHF's own ``SingleTurnAgentExecutor`` HTTP reward path (what ``execute`` calls
    after generation, one rollout at a time), given the URL list as ``train_ppo_ray``
    makes it from ``--reward.remote_url http://a/reward,http://b/reward``."""
    executor = SingleTurnAgentExecutor(remote_rm_url=remote_url(replicas).split(","))
    assert executor.reward_func is None  # URLs, not a reward file: the HTTP path
    before = requests_served(replicas)

    async def rewards() -> list[float]:
        out = []
        for text, _ in CASES:
            query = PROMPT + text + "<|im_end|>"
            [info] = await executor._fetch_rewards_via_http([query], [PROMPT], [PROBLEM.id])
            out.append(info["rewards"][0])
        return out

    assert asyncio.run(rewards()) == [expected for _, expected in CASES]
    served = [after - b for after, b in zip(requests_served(replicas), before)]
    assert served == [3, 3]
