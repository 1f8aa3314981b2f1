"""OpenRLHF multi-turn agent: pass this file's path as ``--train.agent_func_path``.

    python -m trainers.openrlhf.train_dapo ... \\
        --train.agent_func_path "$(python -c 'import trainers.openrlhf.agent as m; print(m.__file__)')"

OpenRLHF 0.11.2 loads the file in every vLLM rollout actor
(``spec_from_file_location("agent_module", path)``), instantiates ``AgentExecutor()``
and awaits its ``execute`` once per sample. :class:`AgentExecutor` is OpenRLHF's own
``MultiTurnAgentExecutor`` over :class:`VerilogAgentInstance`: after each answer the
instance scores it with the equivalence checker; a correct answer ends the episode with
reward 1, a wrong one gets the feedback a hardware engineer would give (the compiler's
errors, or the counterexample table of inputs with expected and actual outputs) as the
next user turn, until the turn limit.

Answers are scored by the reward service core (:mod:`verilog_env.service`) with the
settings of :class:`trainers.openrlhf.scoring.Settings` (``VERILOG_REWARD_METHOD=both``
and the other checker and reward variables; a malformed one makes loading this file fail
with its message). Further environment variables:

``VERILOG_AGENT_MAX_TURNS`` (3)
    attempts per episode.
``VERILOG_AGENT_TURN_DISCOUNT`` (1.0)
    a correct answer at attempt t earns ``discount ** (t - 1)`` (1.0: any attempt earns 1).
``VERILOG_AGENT_FEEDBACK_TEMPLATE`` (ChatML, as Qwen2.5 uses)
    the text appended after the model's answer, with ``{feedback}`` in it. vLLM's answer
    tokens already end with the end-of-turn token (``<|im_end|>``), so the template opens
    the user turn and then the next assistant turn. Presets: ``chatml``, ``llama3``;
    anything else is used as the template itself.

Rewards add up over the turns (OpenRLHF sums them); ``scores`` (for dynamic filtering)
is the last turn's, i.e. 1 when the episode ended with a correct answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import torch
from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor

from trainers.openrlhf.scoring import (
    LOG_KEYS,
    Outcome,
    failed,
    score_responses,
    settings,
)
from verilog_env.feedback import feedback_message

log = logging.getLogger("verilog_env.openrlhf")

settings()  # a malformed VERILOG_REWARD_* variable stops the rollout actor here, with its name

FEEDBACK_TEMPLATES = {
    "chatml": "\n<|im_start|>user\n{feedback}<|im_end|>\n<|im_start|>assistant\n",
    "llama3": "<|start_header_id|>user<|end_header_id|>\n\n{feedback}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
}
AGENT_LOG_KEYS = LOG_KEYS + ("turns",)


def _int_env(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
        return value if value >= 1 else default
    except ValueError:
        return default


def _float_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
        return value if 0.0 <= value <= 1.0 else default
    except ValueError:
        return default


def feedback_template() -> str:
    raw = os.environ.get("VERILOG_AGENT_FEEDBACK_TEMPLATE", "chatml")
    template = FEEDBACK_TEMPLATES.get(raw.strip().lower(), raw)
    if "{feedback}" not in template:
        log.warning("VERILOG_AGENT_FEEDBACK_TEMPLATE has no {feedback}; using chatml")
        template = FEEDBACK_TEMPLATES["chatml"]
    return template


class VerilogAgentInstance(AgentInstanceBase):
    """One episode: answers scored against the label's golden, feedback between tries."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.turn = 0
        self.max_turns = _int_env("VERILOG_AGENT_MAX_TURNS", 3)
        self.discount = _float_env("VERILOG_AGENT_TURN_DISCOUNT", 1.0)
        self.template = feedback_template()

    async def reset(self, states: dict, **kwargs: Any) -> dict:
        return {"observation": states["observation"]}

    async def _score(self, action: Any, label: Any) -> Outcome:
        try:
            config = settings()
        except ValueError as exc:  # logged once by settings()
            return failed("reward_internal_error", str(exc), action)
        try:
            # the checker blocks: keep the rollout actor's event loop free
            outcomes = await asyncio.wait_for(
                asyncio.to_thread(score_responses, [action], [label], config), timeout=config.deadline + 5.0
            )
            return outcomes[0]
        except asyncio.TimeoutError:  # TimeoutError from 3.11 on; a class of its own on 3.10
            return failed("reward_timeout", "reward deadline passed", action, config.reward)
        except Exception as exc:
            log.exception("agent scoring failed")
            return failed("reward_internal_error", f"{type(exc).__name__}: {exc}")

    def _feedback(self, outcome: Outcome) -> str:
        if outcome.score_obj is not None:
            text = feedback_message(outcome.score_obj)
        elif outcome.logs.get("reward_timeout"):
            text = "Checking your answer took too long. Answer again with a simpler, corrected module."
        else:
            text = "Your answer could not be checked. Answer again with the complete module."
        return self.template.format(feedback=text)

    async def step(self, states: dict, **kwargs: Any) -> dict:
        self.turn += 1
        try:
            outcome = await self._score(states.get("action_text"), states.get("label"))
            unrecoverable = bool(outcome.logs.get("label_error") or outcome.logs.get("reward_internal_error"))
            done = outcome.correct or unrecoverable or self.turn >= self.max_turns
            reward = outcome.reward * (self.discount ** (self.turn - 1) if outcome.correct else 1.0)
            feedback = "" if done else self._feedback(outcome)
            logs = dict(outcome.logs)
        except Exception as exc:
            log.exception("agent step failed")
            outcome = failed("reward_internal_error", f"{type(exc).__name__}: {exc}")
            done, reward, feedback, logs = True, 0.0, "", dict(outcome.logs)
        logs["turns"] = float(self.turn)
        return {
            "rewards": torch.tensor([reward], dtype=torch.float32),
            "scores": torch.tensor([outcome.score if done else 0.0], dtype=torch.float32),
            "environment_feedback": feedback,
            "done": done,
            "sampling_params": states.get("sampling_params"),
            "extra_logs": {key: torch.tensor([float(logs.get(key, 0.0))]) for key in AGENT_LOG_KEYS},
        }


class AgentExecutor(MultiTurnAgentExecutor):
    """What OpenRLHF instantiates (``AgentExecutor()``): its multi-turn executor over
    :class:`VerilogAgentInstance`."""

    def __init__(self):
        super().__init__(VerilogAgentInstance)
