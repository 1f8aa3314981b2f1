"""The run's report: ``report.json`` (machine-readable), ``report.md`` and ``funnel.png``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

STAGE_TITLES = {
    "corpus": "Corpus files",
    "intake": "Intake (modules)",
    "dedup": "Deduplication",
    "self_check": "Self-check",
    "decontam_code": "Decontamination (code)",
    "describe": "Describe",
    "decontam_spec": "Decontamination (spec)",
    "regenerate": "Regenerate",
    "verify": "Verify",
    "difficulty": "Difficulty filter",
}


def _money(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def render_markdown(data: dict[str, Any]) -> str:
    lines = ["# Round-trip synthesis report", ""]
    lines.append(f"Output: `{data['output_dir']}`  ")
    lines.append(f"Run {data['run']} finished {data['finished']} in {data['seconds']:.1f} s"
                 + (" (dry run: stopped before the first request)" if data.get("dry_run") else "") + ".")
    lines.append("")
    lines.append(f"**SFT dataset: {data['sft']} examples. RL dataset: {data['rl']} problems.**")
    lines.append("")
    lines.append("## Funnel")
    lines.append("")
    lines.append("| stage | in | out | dropped | drop reasons |")
    lines.append("| --- | ---: | ---: | ---: | --- |")
    for s in data["stages"]:
        reasons = ", ".join(f"{k} {v}" for k, v in s["drops"].items()) or "-"
        title = STAGE_TITLES.get(s["stage"], s["stage"])
        if s.get("note"):
            title += f" <br><sub>{s['note']}</sub>"
        lines.append(f"| {title} | {s['in']} | {s['out']} | {s['in'] - s['out']} | {reasons} |")
    lines.append("")
    if data["samples"]:
        lines.append("Regenerated samples: " + ", ".join(f"{k} {v}" for k, v in data["samples"].items()) + ".  ")
    if data["verdicts"]:
        lines.append("Checker verdicts of the regenerated samples: "
                     + ", ".join(f"{k} {v}" for k, v in data["verdicts"].items()) + " (every pair: `verdicts.jsonl`).")
    lines.append("Every dropped unit, with its stage, reason and detail: `drops.jsonl`.")
    lines.append("")
    if data["usage"]:
        lines.append("## Requests, tokens and cost")
        lines.append("")
        lines.append("| stage | model | jobs | from earlier runs | sent now | failed now | HTTP attempts | prompt tokens | "
                     "completion tokens | cost now | all runs: requests | all runs: tokens (prompt / completion) | "
                     "all runs: cost |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        total_now = total_all = 0.0
        for name, u in data["usage"].items():
            total_now += u["cost"]
            total_all += u["total_cost"]
            lines.append(
                f"| {name} | {u['model']} | {u['jobs']} | {u['cached']} | {u['sent']} | {u['errors']} | "
                f"{u['http_attempts']} | {u['prompt_tokens']:,} | {u['completion_tokens']:,} | {_money(u['cost'])} | "
                f"{u['total_requests']} | {u['total_prompt_tokens']:,} / {u['total_completion_tokens']:,} | "
                f"{_money(u['total_cost'])} |"
            )
        lines.append("")
        lines.append(f"Cost this run {_money(total_now)}; all runs {_money(total_all)} (prices from the config, "
                     "$ per million tokens).")
        lines.append("")
    lines.append("## Files")
    lines.append("")
    for key, path in data["files"].items():
        lines.append(f"- {key}: `{path}`")
    lines.append("")
    if data.get("runs"):
        lines.append("## Runs of this output directory")
        lines.append("")
        lines.append("| run | started | outcome |")
        lines.append("| ---: | --- | --- |")
        for r in data["runs"]:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"]))
            outcome = r["outcome"] or ("this run" if r["id"] == data["run"] else "stopped without a word (killed?)")
            lines.append(f"| {r['id']} | {started} | {outcome} |")
        lines.append("")
    return "\n".join(lines)


def plot_funnel(stages: list[dict[str, Any]], path: Path, title: str = "Round-trip synthesis funnel") -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [s for s in stages if s["stage"] != "corpus"]
    if not shown:
        return False
    labels = ["Modules found"] + [STAGE_TITLES.get(s["stage"], s["stage"]) for s in shown]
    values = [shown[0]["in"]] + [s["out"] for s in shown]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(values) + 1.2))
    top = max(values) or 1
    bars = ax.barh(range(len(values)), values, color="#4C72B0")
    for bar, value, stage in zip(bars, values, [None] + shown):
        text = f"{value}"
        if stage is not None and stage["in"] != stage["out"]:
            text += f"  (-{stage['in'] - stage['out']})"
        ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=9)
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.25)
    ax.set_xlabel("units (modules)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_report(result, config, out: Path, *, runs: list[dict[str, Any]] | None = None,
                 dry_run: bool = False) -> dict[str, str]:
    data = result.to_dict()
    runs = runs or []
    data["run"] = runs[-1]["id"] if runs else 1
    data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    data["runs"] = runs
    data["dry_run"] = dry_run
    files = {"report_json": str(out / "report.json"), "report_md": str(out / "report.md")}
    title = f"Round-trip synthesis funnel: SFT {data['sft']}, RL {data['rl']}"
    if config.output.plot and plot_funnel(data["stages"], out / "funnel.png", title):
        files["funnel_png"] = str(out / "funnel.png")
    data["files"] = {**data["files"], **files}
    (out / "report.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(data), encoding="utf-8")
    return files


def summary_lines(result) -> list[str]:
    """A few lines for the terminal."""
    lines = []
    for s in result.stages:
        reasons = ", ".join(f"{k} {v}" for k, v in s.drops.items())
        lines.append(f"  {STAGE_TITLES.get(s.stage, s.stage):<26} {s.entered:>7} -> {s.kept:<7} {reasons}")
    cost = sum(u.cost for u in result.usage.values())
    tokens = sum(u.prompt_tokens + u.completion_tokens for u in result.usage.values())
    sent = sum(u.sent for u in result.usage.values())
    cached = sum(u.cached for u in result.usage.values())
    lines.append(f"  requests: {sent} sent, {cached} from earlier runs; {tokens:,} tokens, {_money(cost)} this run")
    lines.append(f"  SFT {result.sft}, RL {result.rl}; report: {Path(result.output_dir) / 'report.md'}")
    return lines
