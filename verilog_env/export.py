"""Write a suite as an RL prompt dataset for OpenRLHF, verl or TRL.

Each row holds the prompt (chat messages) and a *label* the reward side resolves
(:mod:`verilog_env.labels`): the problem id (the reward service or function must load
the same suite) or, with ``label="golden"``, the golden source itself (self-contained).

* ``openrlhf`` / ``trl``: JSONL rows ``{"input"|"prompt": [messages], "label": ...}``
* ``verl``: Parquet rows ``{"data_source", "prompt", "ability", "reward_model":
  {"style": "rule", "ground_truth": label}, "extra_info": {"index", "problem_id"}}``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from .extras import require_extra
from .problems import DEFAULT_SYSTEM_PROMPT, Problem
from .suites import Suite

Format = Literal["openrlhf", "trl", "verl"]
FORMATS: tuple[str, ...] = ("openrlhf", "trl", "verl")


def _label(problem: Problem, label: str) -> str:
    if label == "id":
        return problem.id
    return json.dumps({"golden": problem.golden, "top": problem.top, "id": problem.id})


def rows(suite: Suite, fmt: Format, label: str = "id", system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if label not in ("id", "golden"):
        raise ValueError(f"label must be 'id' or 'golden', got {label!r}")
    out = []
    for index, problem in enumerate(suite):
        messages, target = problem.messages(system_prompt), _label(problem, label)
        if fmt == "verl":
            out.append({
                "data_source": f"verilog_env/{suite.name}",
                "prompt": messages,
                "ability": "verilog",
                "reward_model": {"style": "rule", "ground_truth": target},
                "extra_info": {"index": index, "problem_id": problem.id},
            })
        else:
            out.append({"input" if fmt == "openrlhf" else "prompt": messages, "label": target, "problem_id": problem.id})
    return out


def export_suite(suite: Suite, path: str | Path, fmt: Format = "openrlhf", label: str = "id", system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> Path:
    """Write ``suite`` to ``path`` (JSONL, or Parquet for verl) and return the path.
    Parquet needs pyarrow (the ``data`` extra): :class:`~verilog_env.extras.MissingExtra`
    without it, before anything is written."""
    data, out = rows(suite, fmt, label, system_prompt), Path(path)
    if fmt == "verl":
        pa = require_extra("pyarrow", "data", "writing verl Parquet")
        pq = require_extra("pyarrow.parquet", "data", "writing verl Parquet")
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(data), out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(row) + "\n" for row in data), encoding="utf-8")
    return out
