"""Summaries of benchmark runs: ``summary.json``, ``summary.md`` and ``passk.png``.

Everything is computed from the run directories' files (``problems.json``,
``results.jsonl``, ``equivalence.jsonl``, ``run.json``; see :mod:`benchmarks.rundir`),
so a report can be rebuilt at any time (``verilog-env bench report --out DIR``).

Headline pass@k leaves out the problems whose reference fails its own testbench on this
simulator (no answer can pass them); they are listed apart, and the all-problems figure
is reported too. Problems with fewer than ``k`` samples have no pass@k and are left out
of that mean (``problems@k`` says how many it covers).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verilog_env.extras import MissingExtra, require_extra

from .passk import DEFAULT_KS, pass_at_k, suite_summary
from .rundir import (
    EQUIVALENCE,
    RESULTS,
    is_run_dir,
    read_jsonl,
    read_problems,
    read_run,
)
from .scoring import HARNESS_ERROR
from .screen import SCREENED
from .verilogeval import CODES as VERILOGEVAL_CODES

MAX_DISAGREEMENTS_LISTED = 20

OUTCOMES = {
    **VERILOGEVAL_CODES,
    "pass": "passed the testbench",
    "fail": "ran, the testbench did not print its pass message",
    "compile_error": "did not compile",
    "timeout": "did not finish in time",
    SCREENED: "refused before compiling (could fake the verdict, or cannot be analysed; see benchmarks/screen.py)",
    "no_code": "no Verilog code in the response",
    HARNESS_ERROR: "the scorer itself failed (rerun to score again)",
}
"""What each outcome code in ``results.jsonl`` means: VerilogEval's ``sv-iv-analyze``
letters, RTLLM's words, and the harness's own; ``summary.md`` prints the ones it shows."""


def summarize(run_dir: str | Path, *, ks: Sequence[int] = DEFAULT_KS, problem_ids: Sequence[str] | None = None) -> dict:
    """The summary of one suite's run directory (only ``problem_ids`` when given)."""
    run_dir = Path(run_dir)
    ks = tuple(ks)
    problems = {p["id"]: p for p in read_problems(run_dir)}
    results = read_jsonl(run_dir / RESULTS, what="results file")
    equivalence = read_jsonl(run_dir / EQUIVALENCE, what="equivalence file")
    settings = read_run(run_dir)
    ids = list(problem_ids) if problem_ids is not None else list(problems)
    if problem_ids is None:
        ids += sorted({str(r["problem_id"]) for r in results} - set(problems))
    wanted = set(ids)

    by_problem: dict[str, dict[int, dict]] = {pid: {} for pid in ids}
    for row in results:
        pid = str(row["problem_id"])
        if pid in wanted:
            by_problem[pid][int(row["sample_index"])] = row  # a later line (re-score) wins
    eq_by_problem: dict[str, dict[int, dict]] = {pid: {} for pid in ids}
    for row in equivalence:
        pid = str(row["problem_id"])
        if pid in wanted:
            eq_by_problem[pid][int(row["sample_index"])] = row

    suite_name = next((p.get("suite") for p in problems.values() if p.get("suite")), None)
    suite_name = suite_name or next((r.get("suite") for r in results if r.get("suite")), None) or run_dir.name

    per_problem: dict[str, dict] = {}
    counts_headline: dict[str, tuple[int, int]] = {}
    counts_all: dict[str, tuple[int, int]] = {}
    excluded, no_samples = [], []
    totals = Counter()
    for pid in ids:
        rows = by_problem[pid]
        meta = problems.get(pid, {})
        n = len(rows)
        c = sum(1 for r in rows.values() if r.get("passed"))
        outcomes = Counter(str(r.get("outcome")) for r in rows.values())
        entry: dict[str, Any] = {
            "n": n,
            "c": c,
            **{f"pass@{k}": (pass_at_k(n, c, k) if n else None) for k in ks},
            "reference_passes": meta.get("reference_passes"),
            "outcomes": dict(sorted(outcomes.items())),
            "format_ok": sum(1 for r in rows.values() if r.get("format_ok")),
            # samples given as code (bench score's "code" field) have no format to follow
            "responses": sum(1 for r in rows.values() if r.get("format_ok") is not None),
            "truncated": sum(1 for r in rows.values() if r.get("finish_reason") == "length"),
            "harness_errors": sum(1 for r in rows.values() if r.get("error")),
        }
        if meta.get("reference_note"):
            entry["reference_note"] = meta["reference_note"]
        totals.update(samples=n, passed=c, format_ok=entry["format_ok"], responses=entry["responses"],
                      truncated=entry["truncated"],
                      harness_errors=entry["harness_errors"], no_code=outcomes.get("no_code", 0))
        eq_rows = eq_by_problem[pid]
        if eq_rows:
            both = [(rows[i], eq_rows[i]) for i in sorted(rows) if i in eq_rows]
            disagree = [
                {"sample_index": int(r["sample_index"]), "official": r.get("outcome"), "official_passed": bool(r.get("passed")),
                 "equivalence": e.get("status")}
                for r, e in both
                if bool(r.get("passed")) != bool(e.get("equivalent"))
            ]
            n_eq = len(eq_rows)
            c_eq = sum(1 for e in eq_rows.values() if e.get("equivalent"))
            entry["equivalence"] = {
                "n": n_eq,
                "c": c_eq,
                **{f"pass@{k}": pass_at_k(n_eq, c_eq, k) for k in ks},
                "compared": len(both),
                "agree": len(both) - len(disagree),
                "official_pass_equivalence_fail": sum(1 for d in disagree if d["official_passed"]),
                "official_fail_equivalence_pass": sum(1 for d in disagree if not d["official_passed"]),
                "disagreements": disagree[:MAX_DISAGREEMENTS_LISTED],
            }
        per_problem[pid] = entry
        if n == 0:
            no_samples.append(pid)
            continue
        counts_all[pid] = (n, c)
        if meta.get("reference_passes") is False:
            excluded.append({"id": pid, "n": n, "c": c, "note": meta.get("reference_note", "")})
        else:
            counts_headline[pid] = (n, c)

    summary: dict[str, Any] = {
        "suite": suite_name,
        "run_dir": str(run_dir),
        "settings": settings,
        "problems": len(counts_all),
        "samples": totals["samples"],
        "passed_samples": totals["passed"],
        "format_ok_samples": totals["format_ok"],
        "response_samples": totals["responses"],
        "truncated_samples": totals["truncated"],
        "no_code_samples": totals["no_code"],
        "harness_errors": totals["harness_errors"],
        "headline": suite_summary(counts_headline, ks),
        "all": suite_summary(counts_all, ks),
        "excluded": excluded,
        "no_samples": no_samples,
        "per_problem": per_problem,
        "equivalence": None,
        "confinement": settings.get("confinement"),
    }
    eq_problems = {pid: e["equivalence"] for pid, e in per_problem.items() if "equivalence" in e and e["n"]}
    if eq_problems:
        headline_eq = {pid: (e["n"], e["c"]) for pid, e in eq_problems.items() if pid in counts_headline}
        compared = sum(e["compared"] for e in eq_problems.values())
        agree = sum(e["agree"] for e in eq_problems.values())
        summary["equivalence"] = {
            "headline": suite_summary(headline_eq, ks),
            "all": suite_summary({pid: (e["n"], e["c"]) for pid, e in eq_problems.items()}, ks),
            "compared": compared,
            "agree": agree,
            "agreement": (agree / compared) if compared else None,
            "official_pass_equivalence_fail": sum(e["official_pass_equivalence_fail"] for e in eq_problems.values()),
            "official_fail_equivalence_pass": sum(e["official_fail_equivalence_pass"] for e in eq_problems.values()),
            "problems_disagreeing": sorted(pid for pid, e in eq_problems.items() if e["agree"] != e["compared"]),
        }
    summary["ks"] = list(ks)
    return summary


def collect(out_root: str | Path, *, ks: Sequence[int] = DEFAULT_KS) -> list[dict]:
    """Summaries of every run directory at or directly under ``out_root``."""
    out_root = Path(out_root)
    dirs = [out_root] if is_run_dir(out_root) else []
    if out_root.is_dir():
        dirs += [d for d in sorted(out_root.iterdir()) if d.is_dir() and is_run_dir(d)]
    return [summarize(d, ks=ks) for d in dirs]


# ---------------------------------------------------------------- writing


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(summaries: Sequence[dict]) -> str:
    if not summaries:
        return "# Benchmark results\n\nNo runs found.\n"
    ks = summaries[0].get("ks", list(DEFAULT_KS))
    lines = ["# Benchmark results", ""]
    settings = summaries[0].get("settings") or {}
    shown = ", ".join(
        f"{k} {settings[k]}" for k in ("model", "backend", "temperature", "top_p", "max_tokens", "seed") if k in settings
    )
    if shown:  # a bench score run records no sampling settings
        lines += [f"Settings: {shown}.", ""]
    lines += [
        (
            "pass@k in percent, unbiased estimator (Chen et al. 2021). Headline figures leave out problems whose "
            "reference fails its own testbench; the all-problems pass@1 includes them."
        ),
        "",
        "| suite | problems | " + " | ".join(f"pass@{k}" for k in ks) + " | pass@1 (all problems) | excluded | samples |",
        "|---|---:|" + "---:|" * len(ks) + "---:|---:|---:|",
    ]
    for s in summaries:
        h = s["headline"]
        lines.append(
            f"| {s['suite']} | {h['problems']} | "
            + " | ".join(_pct(h.get(f"pass@{k}")) for k in ks)
            + f" | {_pct(s['all'].get('pass@1'))} | {len(s['excluded'])} | {s['samples']} |"
        )
    for s in summaries:
        lines += ["", f"## {s['suite']}", ""]
        samples = s["samples"] or 1
        responses = s.get("response_samples", s["samples"])
        fmt = (f"format followed in {_pct(s['format_ok_samples'] / responses)}% of {responses} responses"
               if responses else "format n/a (samples given as code)")
        lines.append(
            f"{s['problems']} problems, {s['samples']} samples: {fmt}, "
            f"truncated (max tokens) {_pct(s['truncated_samples'] / samples)}%, "
            f"no code {_pct(s['no_code_samples'] / samples)}%."
        )
        if s["harness_errors"]:
            lines.append(f"**{s['harness_errors']} samples hit a harness error** (rerun to score them again).")
        if s.get("confinement"):
            lines.append(f"Filesystem confinement of the simulations: {s['confinement']}.")
        partial = [k for k in ks if s["headline"].get(f"problems@{k}", 0) < s["headline"]["problems"]]
        if partial:
            lines.append(
                "Some problems have fewer samples than k: "
                + ", ".join(f"pass@{k} covers {s['headline'][f'problems@{k}']}" for k in partial)
                + "."
            )
        if s["no_samples"]:
            lines.append(f"No samples yet: {', '.join(s['no_samples'])}.")
        eq = s.get("equivalence")
        if eq:
            lines += [
                "",
                "### Checker agreement (official testbench vs equivalence to the reference)",
                "",
                (
                    f"Equivalence-checker pass@1: {_pct(eq['headline'].get('pass@1'))} (headline problems), "
                    f"{_pct(eq['all'].get('pass@1'))} (all). Verdicts agree on {eq['agree']}/{eq['compared']} samples "
                    f"({_pct(eq['agreement'])}%): {eq['official_pass_equivalence_fail']} pass the testbench but are "
                    f"not equivalent, {eq['official_fail_equivalence_pass']} are equivalent but fail the testbench."
                ),
            ]
            if eq["problems_disagreeing"]:
                lines += ["", "| problem | official c | equivalent c | pass, not equivalent | equivalent, fail | examples |",
                          "|---|---:|---:|---:|---:|---|"]
                for pid in eq["problems_disagreeing"]:
                    p = s["per_problem"][pid]
                    e = p["equivalence"]
                    examples = "; ".join(
                        f"#{d['sample_index']}: {d['official']} / {d['equivalence']}" for d in e["disagreements"][:3]
                    )
                    lines.append(
                        f"| {_cell(pid)} | {p['c']}/{p['n']} | {e['c']}/{e['n']} | {e['official_pass_equivalence_fail']} | "
                        f"{e['official_fail_equivalence_pass']} | {_cell(examples)} |"
                    )
        if s["excluded"]:
            lines += [
                "",
                "### Reference fails its own testbench (excluded from the headline)",
                "",
                "| problem | n | c | pass@1 | why |",
                "|---|---:|---:|---:|---|",
            ]
            for x in s["excluded"]:
                lines.append(f"| {_cell(x['id'])} | {x['n']} | {x['c']} | {_pct(pass_at_k(x['n'], x['c'], 1))} | {_cell(x['note'])[:200]} |")
        lines += ["", "### Per problem", ""]
        seen = sorted({code for p in s["per_problem"].values() for code in p["outcomes"]})
        legend = [f"`{code}` {OUTCOMES[code]}" for code in seen if code in OUTCOMES]
        if legend:  # before the table: a line between its header and its rows would end it
            lines += ["Outcomes: " + "; ".join(legend) + ".", ""]
        lines += [
            "| problem | n | c | " + " | ".join(f"pass@{k}" for k in ks) + " | outcomes | format ok | truncated |",
            "|---|---:|---:|" + "---:|" * len(ks) + "---|---:|---:|",
        ]
        for pid, p in s["per_problem"].items():
            if not p["n"]:
                continue
            mark = " (excluded)" if p.get("reference_passes") is False else ""
            outcomes = ", ".join(f"{k} ×{v}" for k, v in p["outcomes"].items())
            # format ok counts responses; samples given as code have none ("n/a")
            fmt = f"{p['format_ok']}" if p.get("responses", p["n"]) else "n/a"
            lines.append(
                f"| {_cell(pid)}{mark} | {p['n']} | {p['c']} | "
                + " | ".join(_pct(p.get(f"pass@{k}")) for k in ks)
                + f" | {_cell(outcomes)} | {fmt} | {p['truncated']} |"
            )
    return "\n".join(lines) + "\n"


def passk_curve(summary: dict) -> tuple[list[int], list[float]]:
    """(k, headline pass@k in %) for k = 1..n, n the most samples any headline problem has;
    each k averages the problems with at least k samples (as ``problems@k`` counts)."""
    counts = [(p["n"], p["c"]) for p in summary["per_problem"].values()
              if p["n"] and p.get("reference_passes") is not False]
    top = max((n for n, _ in counts), default=0)
    ks, values = [], []
    for k in range(1, top + 1):
        covered = [pass_at_k(n, c, k) for n, c in counts if n >= k]
        ks.append(k)
        values.append(100 * sum(covered) / len(covered))
    return ks, values


def figure(summaries: Sequence[dict]):
    """The ``passk.png`` figure: left, pass@k against k (1..n) per suite, headline problems;
    right, each suite's per-problem pass rates c/n, sorted, excluded problems left out."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for axes in (left, right):  # k and problem ranks are whole numbers: no 1.5 ticks
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for s in summaries:
        ks, values = passk_curve(s)
        count = s["headline"]["problems"]
        label = f"{s['suite']} ({count} problem{'' if count == 1 else 's'})"
        left.plot(ks, values, marker="o" if len(ks) <= 25 else None, markersize=3, label=label)
        rates = sorted((100 * p["c"] / p["n"] for p in s["per_problem"].values()
                        if p["n"] and p.get("reference_passes") is not False), reverse=True)
        right.step(range(1, len(rates) + 1), rates, where="mid", label=s["suite"])
    left.set_xlabel("k (samples drawn per problem)")
    left.set_ylabel("pass@k (%)")
    left.set_ylim(0, 102)
    left.set_title("pass@k per suite (headline problems)")
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower right")
    right.set_xlabel("problems, sorted by pass rate")
    right.set_ylabel("pass rate c/n (%)")
    right.set_ylim(-2, 102)
    right.set_title("per-problem pass rate")
    right.grid(alpha=0.3)
    right.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot(summaries: Sequence[dict], path: str | Path) -> str | None:
    """Write :func:`figure` to ``path`` (``passk.png``). Returns a one-line note instead when
    matplotlib is missing (the report goes on without the plot)."""
    try:
        require_extra("matplotlib", "bench", "the plot passk.png").use("Agg")
        import matplotlib.pyplot as plt
    except MissingExtra as error:
        return f"skipped: {error}"
    fig = figure(summaries)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def write_report(out_dir: str | Path, summaries: Sequence[dict]) -> list[str]:
    """Write summary.json, summary.md and passk.png into ``out_dir``; returns notes
    (e.g. that the plot was skipped)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "suites": {s["suite"]: s for s in summaries}}
    (out_dir / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    (out_dir / "summary.md").write_text(to_markdown(summaries))
    notes = []
    note = plot(summaries, out_dir / "passk.png") if summaries else None
    if note:
        notes.append(note)
    return notes
