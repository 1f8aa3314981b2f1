"""Gymnasium spaces for text: free-form strings (LLM responses) and chat conversations.

Gymnasium's ``Text`` space only admits characters from a fixed charset; LLM output is
arbitrary Unicode, so these spaces admit any string up to a length. Vector environments
batch them as tuples; ``AsyncVectorEnv`` needs ``shared_memory=False`` for them.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium import spaces

_SAMPLE_CHARS = np.array(list(string.printable))
ROLES = ("system", "user", "assistant")


class AnyText(spaces.Space[str]):
    """Any ``str`` of at most ``max_length`` characters. ``sample()`` gives printable ASCII."""

    def __init__(self, max_length: int = 1 << 20, seed: int | np.random.Generator | None = None):
        self.max_length = max_length
        super().__init__(dtype=str, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        length = int(self.np_random.integers(0, min(self.max_length, 256) + 1))
        return "".join(self.np_random.choice(_SAMPLE_CHARS, size=length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText(max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AnyText) and other.max_length == self.max_length


class Conversation(spaces.Space[list]):
    """A list of chat messages ``{"role": "system"|"user"|"assistant", "content": str}``."""

    def __init__(self, max_messages: int = 64, max_length: int = 1 << 20, seed: int | np.random.Generator | None = None):
        self.max_messages = max_messages
        self.text = AnyText(max_length)
        super().__init__(dtype=object, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> int | list[int] | dict[str, int]:
        seeds = super().seed(seed)
        self.text.seed(int(self.np_random.integers(2**31)))
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        n = int(self.np_random.integers(1, 4))
        return [{"role": str(self.np_random.choice(ROLES)), "content": self.text.sample()} for _ in range(n)]

    def contains(self, x: Any) -> bool:
        return (
            isinstance(x, list)
            and 0 < len(x) <= self.max_messages
            and all(
                isinstance(m, dict) and set(m) == {"role", "content"} and m["role"] in ROLES and self.text.contains(m["content"])
                for m in x
            )
        )

    def __repr__(self) -> str:
        return f"Conversation(max_messages={self.max_messages})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Conversation) and other.max_messages == self.max_messages
