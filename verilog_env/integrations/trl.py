"""TRL reward function (``GRPOTrainer(reward_funcs=[verilog_reward])``).

TRL passes the dataset's other columns as keyword arguments: give the dataset a
``label`` column (problem id, golden source or JSON object). Completions may be plain
strings or conversations (the last message's content is scored). Checker settings
(``method="both"``, ...): :func:`verilog_env.integrations.configure` or the
``VERILOG_REWARD_*`` variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verilog_env.integrations import rewards


def _text(completion: Any) -> str:
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return completion if isinstance(completion, str) else str(completion)


def verilog_reward(prompts: Sequence[Any], completions: Sequence[Any], label: Sequence[Any], **kwargs: Any) -> list[float]:
    """One reward per completion: 1.0 if its Verilog is equivalent to the labelled golden."""
    return rewards([_text(c) for c in completions], list(label))
