"""Datasets in the format OpenRLHF reads, from any suite or synthesis output.

* **SFT** (``openrlhf.cli.train_sft --data.input_key messages --data.apply_chat_template``):
  one JSON object a line, ``{"messages": [system, user, assistant], "problem_id": ...}``.
  The user turn is the problem's prompt exactly as the RL data and the environment show
  it (:meth:`verilog_env.problems.Problem.user_prompt`); the assistant turn is the
  answer in the CodeV-R1 format, ``<think>\\nreasoning\\n</think>\\n<answer>\\n```verilog
  …```\\n</answer>``. Sources: a suite's goldens (no reasoning: an empty think block) or
  records ``{spec, code, reasoning?, id?, header?}`` such as round-trip synthesis writes.
* **RL** (``train_ppo_ray --data.input_key input --data.label_key label
  --data.apply_chat_template``): :func:`verilog_env.export.export_suite`'s ``openrlhf``
  rows, ``{"input": [system, user], "label": problem id or golden JSON, "problem_id"}``.

Command line::

    python -m trainers.openrlhf.data sft --suite starter --out data/sft.jsonl
    python -m trainers.openrlhf.data sft --records synth.jsonl --out data/sft.jsonl [--check]
    python -m trainers.openrlhf.data rl --suite starter --out data/rl.jsonl [--label golden]
    python -m trainers.openrlhf.data rl --suite codev-r1 --suite-path rl.parquet --allow-pickle \\
        --label golden --out data/rl.jsonl

With ``--label id`` (the default) the reward side must load the same suite
(``$VERILOG_ENV_SUITES``, default ``starter``); ``--label golden`` makes each row
self-contained (the label carries the golden), the choice for any other data.

``--system-prompt-file`` replaces the default system prompt (use the same file for SFT,
RL and evaluation).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from verilog_env.export import export_suite
from verilog_env.problems import DEFAULT_SYSTEM_PROMPT, Problem, read_system_prompt
from verilog_env.reward import parse_response
from verilog_env.suites import Suite, load_suite


def answer_text(code: str, reasoning: str = "") -> str:
    """An assistant answer in the CodeV-R1 format (parses back to ``code``)."""
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>\n```verilog\n{code.strip()}\n```\n</answer>"


def sft_row(
    problem: Problem, code: str, reasoning: str = "", system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
) -> dict[str, Any]:
    messages = problem.messages(system_prompt) + [{"role": "assistant", "content": answer_text(code, reasoning)}]
    return {"messages": messages, "problem_id": problem.id}


def suite_sft_rows(suite: Iterable[Problem], system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> list[dict[str, Any]]:
    """One row per problem, answered by its golden."""
    return [sft_row(p, p.golden, "", system_prompt) for p in suite]


def record_sft_rows(
    records: Iterable[Mapping[str, Any]],
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    *,
    spec_key: str = "spec",
    code_key: str = "code",
    reasoning_key: str = "reasoning",
) -> list[dict[str, Any]]:
    """One row per ``{spec, code, reasoning?, id?, header?}`` record (e.g. synthesis output)."""
    rows = []
    for n, record in enumerate(records):
        spec, code = record.get(spec_key), record.get(code_key)
        if not isinstance(spec, str) or not spec.strip() or not isinstance(code, str) or not code.strip():
            raise ValueError(f"record {n}: needs non-empty {spec_key!r} and {code_key!r} strings")
        reasoning = record.get(reasoning_key) or ""
        header = record.get("header") or None
        problem = Problem(id=str(record.get("id", f"record_{n}")), spec=spec, golden=code, header=header)
        rows.append(sft_row(problem, code, str(reasoning), system_prompt))
    return rows


def check_rows(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems with rows whose answer would not parse (empty: all parse)."""
    bad = []
    for row in rows:
        parsed = parse_response(row["messages"][-1]["content"])
        if not parsed.format_ok or parsed.code is None:
            bad.append(f"{row.get('problem_id')}: {parsed.problem}")
    return bad


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{n}: expected a JSON object")
                rows.append(row)
    return rows


def _suite(name: str, path: str | None, allow_pickle: bool = False) -> Suite:
    kwargs: dict[str, Any] = {"path": path} if path else {}
    if allow_pickle:
        kwargs["allow_pickle"] = True
    return load_suite(name, **kwargs)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m trainers.openrlhf.data", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    for kind in ("sft", "rl"):
        s = sub.add_parser(kind)
        s.add_argument("--suite", default=None, help="suite name (starter, jsonl, parquet, hf, codev-r1, ...)")
        s.add_argument("--suite-path", default=None, help="path for file-based suites")
        s.add_argument(
            "--allow-pickle", action="store_true", help="codev-r1 suite: unpickle its goldens (plain data only)"
        )
        s.add_argument("--out", required=True)
        s.add_argument("--system-prompt-file", default=None)
        s.add_argument("--no-system-prompt", action="store_true")
        if kind == "sft":
            s.add_argument("--records", default=None, help="JSONL of {spec, code, reasoning?, id?, header?}")
            s.add_argument("--spec-key", default="spec")
            s.add_argument("--code-key", default="code")
            s.add_argument("--reasoning-key", default="reasoning")
            s.add_argument("--check", action="store_true", help="verify each answer parses; fail otherwise")
        else:
            s.add_argument("--label", choices=("id", "golden"), default="id")
    args = p.parse_args(argv)
    system = (
        None
        if args.no_system_prompt
        else (read_system_prompt(args.system_prompt_file) if args.system_prompt_file else DEFAULT_SYSTEM_PROMPT)
    )
    if args.kind == "rl":
        suite = _suite(args.suite or "starter", args.suite_path, args.allow_pickle)
        out = export_suite(suite, args.out, "openrlhf", label=args.label, system_prompt=system)
        print(f"wrote {len(suite)} RL prompts to {out}")
        return
    if args.records:
        rows = record_sft_rows(
            read_jsonl(args.records),
            system,
            spec_key=args.spec_key,
            code_key=args.code_key,
            reasoning_key=args.reasoning_key,
        )
    else:
        rows = suite_sft_rows(_suite(args.suite or "starter", args.suite_path, args.allow_pickle), system)
    if args.check:
        bad = check_rows(rows)
        if bad:
            raise SystemExit("answers that do not parse:\n" + "\n".join(bad[:20]))
    out = write_jsonl(rows, args.out)
    print(f"wrote {len(rows)} SFT conversations to {out}")


if __name__ == "__main__":
    main()
