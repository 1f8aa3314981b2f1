"""A problem: a natural-language hardware spec and the golden Verilog that answers it.

Also the prompt an LLM sees for it. The default system prompt asks for the answer in the
CodeV-R1 format (reasoning in ``<think>``, final code in a ```verilog block inside
``<answer>``); pass ``system_prompt=`` (text, or :func:`read_system_prompt` of a file) to
use another, e.g. the exact prompt the CodeV-R1 models were trained with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert digital hardware engineer. Think through the problem step by step "
    "before you answer. Put your reasoning inside <think> </think> and your final answer "
    "inside <answer> </answer>. The answer must contain the complete Verilog code in a "
    "single ```verilog fenced block, i.e. <think> reasoning </think><answer> ```verilog\n"
    "module TopModule(...); ... endmodule\n``` </answer>."
)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One task.

    ``golden`` is trusted reference Verilog; ``top`` names its top module when the
    source holds several candidates for it (``None``: inferred). ``header`` is set for
    code-completion tasks: the module header the answer must complete. ``tags`` are free
    labels (the starter suite uses kind, difficulty and topic), ``source`` says where the
    problem came from.
    """

    id: str
    spec: str
    golden: str
    top: str | None = None
    header: str | None = None
    tags: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("id", "spec", "golden"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"problem {self.id!r}: field {name!r} must be a non-empty string")
        object.__setattr__(self, "tags", tuple(self.tags))

    def user_prompt(self) -> str:
        """The user turn: the spec, plus the header to complete for completion tasks."""
        if not self.header:
            return self.spec
        return f"{self.spec.rstrip()}\n\nComplete this module header:\n```verilog\n{self.header.strip()}\n```"

    def messages(self, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> list[dict[str, str]]:
        """Chat messages for this problem (no system turn when ``system_prompt`` is ``None``)."""
        user = {"role": "user", "content": self.user_prompt()}
        return [{"role": "system", "content": system_prompt}, user] if system_prompt else [user]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tags"] = list(self.tags)
        return d


def read_system_prompt(path: str | Path) -> str:
    """The text of a system-prompt file (a clear error when it is missing)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"system prompt file {str(p)!r} not found: pass the path of a text file")
    return p.read_text(encoding="utf-8").strip()
