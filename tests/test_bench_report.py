"""What ``bench score`` writes for a person to read: ``summary.md`` (format only where it
applies, a legend of the outcome codes) and ``passk.png`` (pass@k curves, per-problem
rates), from real scoring runs; and the README's samples-file example, scored as written.
"""

from __future__ import annotations

import json

import pytest
from readme import readme_block
from shared_data import shared_benchmarks
from test_bench_reference_check import GOOD, TESTBENCH, rtllm_v2_tree

from benchmarks import report
from verilog_env.cli import main as cli_main

RIGHT = GOOD.replace("verified_{top}", "{top}")
WRONG = RIGHT.replace("a + b", "a - b")


def score(tmp_path, rows, name="out"):
    samples = tmp_path / f"{name}.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / name
    assert cli_main(["bench", "score", "--suite", "rtllm-v2", "--data", str(tmp_path / "RTLLM"), "--samples",
                     str(samples), "--out", str(out), "--no-progress"]) == 0
    return out, json.loads((out / "summary.json").read_text())["suites"]["rtllm-v2"]


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("VERILOG_ENV_CACHE", str(tmp_path / "cache"))
    return rtllm_v2_tree(tmp_path)


def per_problem_table(markdown: str) -> list[str]:
    """The per-problem table's lines: from its header to the first line that is not a row."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| problem | n | c |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def test_summary_format_and_outcome_legend(tmp_path, data):
    code = [{"problem_id": "adder", "code": (RIGHT if i % 2 else WRONG).format(top="adder")} for i in range(4)]
    out, _ = score(tmp_path, code, "as_code")
    markdown = (out / "summary.md").read_text()
    assert "format n/a (samples given as code)" in markdown and "format followed" not in markdown
    assert "Outcomes: `fail` ran, the testbench did not print its pass message; `pass` passed the testbench." in markdown
    assert "Settings:" not in markdown  # bench score records no sampling settings: no empty line for them
    # the legend comes before the table, which stays one table: header, rule, then its rows
    table = per_problem_table(markdown)
    assert markdown.index("Outcomes: ") < markdown.index(table[0])
    assert table[2].split("|")[1].strip() == "adder" and len(table) == 3
    assert table[2].split("|")[-3].strip() == "n/a"  # format ok: no responses to count

    answer = "<think>t</think><answer>```verilog\n{}```</answer>"
    responses = [{"problem_id": "adder", "response": answer.format(RIGHT.format(top="adder"))},
                 {"problem_id": "adder", "response": "no code at all"},
                 {"problem_id": "adder", "response": "```verilog\n" + WRONG.format(top="adder") + "```"}]
    out, summary = score(tmp_path, responses, "as_responses")
    markdown = (out / "summary.md").read_text()
    assert "format followed in 33.3% of 3 responses" in markdown
    assert summary["response_samples"] == 3 and summary["format_ok_samples"] == 1
    assert per_problem_table(markdown)[2].split("|")[-3].strip() == "1"  # format ok: 1 of the responses
    assert "`no_code` no Verilog code in the response" in markdown


def test_passk_png_shows_curves_per_suite(tmp_path, data):
    # a second headline problem beside adder; broken_adder's reference fails (excluded)
    (data / "Arithmetic" / "Adder" / "adder2").mkdir()
    (data / "Arithmetic" / "Adder" / "adder2" / "design_description.txt").write_text("Module adder2: s = a + b.\n")
    (data / "Arithmetic" / "Adder" / "adder2" / "testbench.v").write_text(TESTBENCH.format(top="adder2"))
    (data / "Arithmetic" / "Adder" / "adder2" / "verified_adder2.v").write_text(GOOD.format(top="adder2"))
    passing = {"adder": 2, "adder2": 4, "broken_adder": 1}  # of 5 samples each
    rows = [{"problem_id": pid, "code": (RIGHT if i < c else WRONG).format(top=pid)}
            for pid, c in passing.items() for i in range(5)]
    out, summary = score(tmp_path, rows)
    assert [x["id"] for x in summary["excluded"]] == ["broken_adder"]

    ks, values = report.passk_curve(summary)
    assert ks == [1, 2, 3, 4, 5]
    # mean over the headline problems of 1 - C(n-c, k)/C(n, k): adder (c=2), adder2 (c=4)
    assert values == pytest.approx([(40 + 80) / 2, (70 + 100) / 2, (90 + 100) / 2, 100.0, 100.0])

    fig = report.figure([summary, {**summary, "suite": "again"}])
    left, right = fig.axes
    assert left.get_xlabel() == "k (samples drawn per problem)" and left.get_ylabel() == "pass@k (%)"
    assert left.get_title() == "pass@k per suite (headline problems)"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["rtllm-v2 (2 problems)", "again (2 problems)"]
    assert len(left.lines) == 2
    assert all(float(x).is_integer() for axes in (left, right) for x in axes.get_xticks())  # no k = 1.5
    assert list(left.lines[0].get_xdata()) == ks and list(left.lines[0].get_ydata()) == pytest.approx(values)
    assert right.get_xlabel() == "problems, sorted by pass rate" and right.get_ylabel() == "pass rate c/n (%)"
    assert right.get_title() == "per-problem pass rate"
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["rtllm-v2", "again"]
    assert len(right.lines) == 2
    # the headline problems' rates, highest first; broken_adder's 20 % is not plotted
    assert list(right.lines[0].get_ydata()) == pytest.approx([80.0, 40.0])

    one = score(tmp_path, rows[:5], "adder_only")[1]
    legend = report.figure([one]).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["rtllm-v2 (1 problem)"]

    # passk.png is that figure (11 x 4.5 inches at 120 dpi)
    png = (out / "passk.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1320, 540)


def test_readme_samples_file_example_scores_as_documented(tmp_path, data):
    example = readme_block("**Samples file**", "jsonl")
    lines = [line.strip() for line in example.strip().splitlines()]
    (tmp_path / "readme.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "readme_out"
    assert cli_main(["bench", "score", "--suite", "rtllm-v2", "--data", str(data), "--samples",
                     str(tmp_path / "readme.jsonl"), "--out", str(out), "--no-progress"]) == 0
    results = [json.loads(line) for line in (out / "rtllm-v2" / "results.jsonl").read_text().splitlines()]
    assert [(r["sample_index"], r["passed"]) for r in results] == [(0, True), (1, False)]


@pytest.mark.shared
def test_summary_legend_spells_out_verilogeval_letters(tmp_path):
    """VerilogEval's outcome codes are single letters (sv-iv-analyze's): summary.md says
    what each one it shows means."""
    module = "module TopModule(output zero);\n  assign zero = {};\nendmodule\n"
    rows = [{"problem_id": "Prob001_zero", "code": module.format(value)} for value in ("1'b0", "1'b1", "undeclared", "")]
    (tmp_path / "ve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli_main(["bench", "score", "--suite", "verilogeval-v2-spec-to-rtl", "--data", str(shared_benchmarks()),
                     "--samples", str(tmp_path / "ve.jsonl"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert ("Outcomes: `.` pass; `R` runtime mismatch; `p` unable to bind wire/reg; `screened` refused before "
            "compiling (could fake the verdict, or cannot be analysed; see benchmarks/screen.py).") in markdown
    assert per_problem_table(markdown)[2].split("|")[-4].strip() == ". ×1, R ×1, p ×1, screened ×1"


def test_samples_file_fields_as_the_readme_lists_them(tmp_path, data):
    """The README's samples-file fields: the id under any of its three names, sample_index
    defaulting to the problem's line order from 0, finish_reason "length" counted as
    truncated, tokens kept with the sample."""
    rows = [{"id": "adder", "code": RIGHT.format(top="adder"), "finish_reason": "length", "tokens": 7},
            {"task_id": "adder", "code": WRONG.format(top="adder")},
            {"problem_id": "adder", "code": RIGHT.format(top="adder"), "finish_reason": "stop"}]
    out, summary = score(tmp_path, rows)
    results = sorted((json.loads(line) for line in (out / "rtllm-v2" / "results.jsonl").read_text().splitlines()),
                     key=lambda r: r["sample_index"])
    assert [(r["sample_index"], r["passed"]) for r in results] == [(0, True), (1, False), (2, True)]
    assert summary["truncated_samples"] == 1 and summary["per_problem"]["adder"]["truncated"] == 1
    samples = [json.loads(line) for line in (out / "rtllm-v2" / "samples.jsonl").read_text().splitlines()]
    assert [s["tokens"] for s in samples] == [7, None, None]
    assert "truncated (max tokens) 33.3%" in (out / "summary.md").read_text()
