"""OpenRLHF reward function: pass this file's path as ``--reward.remote_url``.

    python -m openrlhf.cli.train_ppo_ray ... \\
        --reward.remote_url "$(python -c 'import trainers.openrlhf.reward_func as m; print(m.__file__)')" \\
        --data.label_key label

OpenRLHF 0.11.2 loads it in every vLLM rollout actor with
``importlib.util.spec_from_file_location("reward_func", path)`` and calls
``reward_func(queries, prompts, labels)`` from ``asyncio.to_thread``, one sample per
call: ``queries`` are the decoded prompt + response, ``prompts`` the prompts, ``labels``
the dataset's label column (a problem id, a golden's Verilog source, or a JSON object
``{"problem_id": ...}`` / ``{"golden": ..., "top": ...}``).

It returns ``{"rewards": tensor, "scores": tensor in [0, 1], "extra_logs": {name:
tensor}}``: the reward service's reply (:func:`verilog_env.service.reward_reply`, the
same keys the HTTP service sends) as tensors. Concurrent calls are scored together (see
:mod:`verilog_env.service`), each call waits at most ``$VERILOG_REWARD_DEADLINE`` seconds
(an answer not scored by then gets 0 and ``reward_timeout``), and the function never
raises: an internal error gives reward 0 and ``reward_internal_error`` = 1 (OpenRLHF
would otherwise silently drop the sample's reward). Settings (``VERILOG_REWARD_METHOD``
and the other checker and reward variables): see
:class:`trainers.openrlhf.scoring.Settings`; a malformed one makes loading this file
fail with its message.

The file needs ``verilog-env`` (which installs the ``trainers`` package) and torch on
every node that runs rollouts.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from trainers.openrlhf.scoring import Outcome, failed, score_responses, settings
from verilog_env.labels import response_of
from verilog_env.service import reward_reply

log = logging.getLogger("verilog_env.openrlhf")

settings()  # a malformed VERILOG_REWARD_* variable stops the rollout actor here, with its name


def _count(items: Any) -> int:
    try:
        return max(0, len(items))
    except Exception:
        return 1


def _pack(outcomes: list[Outcome]) -> dict[str, Any]:
    reply = reward_reply(outcomes)
    return {
        "rewards": torch.tensor(reply["rewards"], dtype=torch.float32),
        "scores": torch.tensor(reply["scores"], dtype=torch.float32),
        "extra_logs": {key: torch.tensor(values, dtype=torch.float32) for key, values in reply["extra_logs"].items()},
    }


def _responses(queries: list[Any], prompts: list[Any]) -> list[Any]:
    out = []
    for i, query in enumerate(queries):
        prompt = prompts[i] if i < len(prompts) else None
        try:
            out.append(response_of(query, prompt if isinstance(prompt, str) else None))
        except Exception:  # not text: scored as an internal error below
            out.append(None)
    return out


def reward_func(queries, prompts, labels, **kwargs) -> dict[str, Any]:
    """Rewards for ``queries`` (prompt + response) against ``labels``; never raises."""
    n = _count(queries)
    try:
        queries, prompts, labels = list(queries), list(prompts or []), list(labels or [])
        if len(labels) < len(queries):
            labels += [None] * (len(queries) - len(labels))
        outcomes = score_responses(_responses(queries, prompts), labels[: len(queries)])
        return _pack(outcomes)
    except Exception as exc:
        log.exception("reward_func failed; %d answer(s) get 0", n)
        return _pack([failed("reward_internal_error", f"{type(exc).__name__}: {exc}")] * n)
