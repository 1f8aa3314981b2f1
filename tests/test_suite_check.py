"""Suites whose goldens cannot judge: check_suite, `verilog-env suite check`, load_suite(validate=),
and the synthesis pipeline dropping such goldens.

Every check here is real: goldens go through the checker (Icarus Verilog), suites are
files in tmp_path, the command line runs through ``main()`` or a subprocess, and the
synthesis pipeline runs over HTTP against ``tests/fake_openai_server.py``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import fake_openai_server
import pytest
import synth_corpus as corpus_data

from verilog_env import Problem, load_suite
from verilog_env.cli import main
from verilog_env.suites import SuiteError, UncheckedGoldensWarning
from verilog_env.testing import SuiteCheckError, check_suite

INV = "module TopModule(input a, output y);\n  assign y = ~a;\nendmodule\n"
SYNTAX_ERROR = "module TopModule(input a, output y)\n  assign y = ~a\nendmodule\n"  # two missing ';'
CANNOT_JUDGE = {  # each parses, elaborates and simulates, but its output is X on every tick
    "counter_no_reset": """module TopModule(input clk, output reg [3:0] q);
  always @(posedge clk) q <= q + 4'd1;
endmodule
""",
    "output_never_assigned": """module TopModule(input clk, input [3:0] d, output reg [3:0] q);
  reg [3:0] last;
  always @(posedge clk) last <= d;
endmodule
""",
    "x_register_output": """module TopModule(input clk, input [7:0] d, output [7:0] y);
  reg [7:0] acc;
  always @(posedge clk) acc <= acc ^ d;
  assign y = acc + d;
endmodule
""",
}
COUNTER = """module TopModule(input clk, input reset, output reg [3:0] q);
  always @(posedge clk) if (reset) q <= 4'd0; else q <= q + 4'd1;
endmodule
"""


def write_suite(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(pid: str, golden: str, spec: str = "Implement TopModule.") -> dict:
    return {"id": pid, "spec": spec, "golden": golden}


def run_cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(["suite", "check", *args, "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- the bundled suite

def test_starter_suite_checks_ok():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncheckedGoldensWarning)  # registered checked=True: no warning
        suite = load_suite("starter")
    report = check_suite(suite).raise_if_failed()
    assert report.ok and report.counts() == {"ok": len(suite)} and len(report.results) == len(suite)
    assert [r.id for r in report.results] == suite.ids
    assert all(r.verdict is not None and r.verdict.equivalent and r.reason == "" for r in report.results)


# ---------------------------------------------------------------- a golden with a syntax error

def test_golden_syntax_error_on_load_and_in_suite_check(tmp_path, capsys):
    path = write_suite(tmp_path / "p.jsonl", [row("inv", INV), row("broken", SYNTAX_ERROR)])

    # validate=True: one line naming the problem and what to do
    with pytest.raises(SuiteError) as error:
        load_suite(str(path), validate=True)
    message = str(error.value)
    assert "\n" not in message
    assert "problem 'broken'" in message and "golden.v:1:36: error: expected ';'" in message
    assert f"`verilog-env suite check {path}`" in message and "fix or remove it" in message
    two = write_suite(tmp_path / "two.jsonl", [row("broken", SYNTAX_ERROR), row("inv", INV), row("no_top", INV)])
    two.write_text(two.read_text().replace('"id": "no_top"', '"id": "no_top", "top": "Missing"'))
    with pytest.raises(SuiteError, match=r"problem 'broken' cannot be checked .*\(1 more problem\(s\) fail too\)"):
        load_suite(str(two), validate=True)

    # validate=False (the default): loads, and warns that goldens were not checked
    with pytest.warns(UncheckedGoldensWarning, match=r"goldens are not checked on load.*suite check"):
        suite = load_suite(str(path))
    assert suite.ids == ["inv", "broken"]

    # the check reports it, with the checker's reason, and exits 1
    code, out, err = run_cli(str(path), "--out", str(tmp_path / "report.md"), capsys=capsys)
    assert code == 1 and err == ""
    assert "| inv | ok |  |" in out
    assert "| broken | unsupported | golden cannot be checked: golden.v:1:36: error: expected ';' |" in out
    assert out.rstrip().splitlines()[-1].startswith("suite 'p': 2 problems: 1 ok, 1 unsupported (")
    assert (tmp_path / "report.md").read_text() == out

    code, out, _ = run_cli(str(path), "--json", "--out", str(tmp_path / "report.json"), capsys=capsys)
    report = json.loads(out)
    assert code == 1 and report == json.loads((tmp_path / "report.json").read_text())
    assert (report["ok"], report["problems"], report["counts"]) == (False, 2, {"ok": 1, "unsupported": 1})
    broken = report["results"][1]
    assert (broken["id"], broken["status"]) == ("broken", "unsupported")
    assert "golden.v:2:16: error: expected ';'" in broken["verdict"]["reason"]  # the whole log is kept


def test_suite_check_exit_status_from_a_real_process(tmp_path):
    ok = write_suite(tmp_path / "ok.jsonl", [row("inv", INV), row("counter", COUNTER)])
    bad = write_suite(tmp_path / "bad.jsonl", [row("inv", INV), row("broken", SYNTAX_ERROR)])
    command = [sys.executable, "-m", "verilog_env.cli", "suite", "check"]
    done = subprocess.run([*command, str(ok)], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "suite 'ok': 2 problems: 2 ok (" in done.stdout and "UncheckedGoldensWarning" not in done.stderr
    done = subprocess.run([*command, str(bad)], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "| broken | unsupported |" in done.stdout
    # the listing command still works beside the new group
    done = subprocess.run([sys.executable, "-m", "verilog_env.cli", "suites"], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("codev-r1") and "starter" in done.stdout


# ---------------------------------------------------------------- malformed suites

def test_duplicate_ids(tmp_path, capsys):
    path = write_suite(tmp_path / "dup.jsonl", [row("inv", INV), row("counter", COUNTER), row("inv", INV)])
    with pytest.raises(SuiteError, match=r"^suite 'dup': duplicate problem id 'inv'; every problem needs its own id$"):
        load_suite(str(path))
    code, out, err = run_cli(str(path), capsys=capsys)
    assert (code, out) == (1, "")
    assert err == "verilog-env: suite 'dup': duplicate problem id 'inv'; every problem needs its own id\n"

    # a plain list of problems may repeat an id: later copies are reported, not checked
    problems = [Problem(id=r["id"], spec=r["spec"], golden=r["golden"]) for r in map(json.loads, path.read_text().splitlines())]
    report = check_suite(problems)
    assert [(r.id, r.status) for r in report.results] == [("inv", "ok"), ("counter", "ok"), ("inv", "duplicate_id")]
    assert report.results[2].verdict is None and report.summary().startswith("suite 'custom': 3 problems: 2 ok, 1 duplicate_id")
    with pytest.raises(SuiteCheckError, match=r"(?s)1 duplicate_id.*\ninv: duplicate_id: another problem"):
        report.raise_if_failed()


def test_empty_spec(tmp_path, capsys):
    path = write_suite(tmp_path / "empty.jsonl", [row("inv", INV), row("blank", INV, spec="   ")])
    with pytest.raises(SuiteError) as error:
        load_suite(str(path))
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}:2: column 'spec' (problem spec) is missing or empty")
    code, out, err = run_cli(str(path), capsys=capsys)
    assert (code, out) == (1, "") and err == f"verilog-env: {message}\n"


def test_missing_file(tmp_path, capsys):
    code, out, err = run_cli(str(tmp_path / "nowhere.jsonl"), capsys=capsys)
    assert (code, out) == (1, "")
    assert err == f"verilog-env: JSONL file '{tmp_path / 'nowhere.jsonl'}' not found: check the path\n"


# ---------------------------------------------------------------- goldens that cannot judge

def test_goldens_that_cannot_judge_are_reported(tmp_path, capsys):
    """Needs the checker to report goldens whose outputs stay X as unsupported."""
    rows = [row("counter", COUNTER)] + [row(pid, golden) for pid, golden in CANNOT_JUDGE.items()]
    path = write_suite(tmp_path / "x.jsonl", rows)
    assert load_suite(str(path), validate=True).ids == [r["id"] for r in rows]  # they parse: only simulation tells

    report = check_suite(str(path))
    statuses = {r.id: (r.status, r.reason) for r in report.results}
    assert statuses["counter"] == ("ok", "")
    for pid in CANNOT_JUDGE:
        status, reason = statuses[pid]
        assert status == "unsupported" and reason.startswith("golden cannot be checked:"), (pid, reason)
    assert not report.ok and report.counts() == {"ok": 1, "unsupported": 3}

    code, out, _ = run_cli(str(path), capsys=capsys)
    assert code == 1
    for pid in CANNOT_JUDGE:
        assert f"| {pid} | unsupported | golden cannot be checked:" in out


# ---------------------------------------------------------------- synthesis drops them

X_GOLDEN = """module free_counter (
    input            clk,
    input      [7:0] step,
    output reg [7:0] total
);
  // no reset: total starts X and stays X
  always @(posedge clk) total <= total + step;
endmodule
"""
X_SPEC = ("Implement a Verilog module named `free_counter`. Ports: input clk; input [7:0] step; output reg [7:0] "
          "total. On every rising edge of clk, total increases by step.")


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "free_counter.v").write_text(X_GOLDEN)
    (root / "abs_diff8.v").write_text(corpus_data.golden("abs_diff8"))
    return root


def synth_config(tmp_path: Path, corpus: Path, **sections):
    from trainers.synth.config import SynthConfig, config_from_dict

    data = {"output_dir": str(tmp_path / "out"), "corpus": [str(corpus)], "progress": False,
            "intake": {"min_tokens": 1, "workers": 1}, "decontam": {"suites": []}, "output": {"plot": False}}
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return config_from_dict(SynthConfig, data)


def test_synth_self_check_drops_a_golden_that_cannot_judge(tmp_path):
    """Needs the checker to report goldens whose outputs stay X as unsupported."""
    from trainers.synth import run_pipeline

    result = run_pipeline(synth_config(tmp_path, write_corpus(tmp_path / "corpus")), dry_run=True)
    stage = result.stage("self_check")
    assert (stage.entered, stage.kept, stage.drops) == (2, 1, {"self_check_unsupported": 1})
    [drop] = [json.loads(line) for line in (tmp_path / "out" / "drops.jsonl").read_text().splitlines()]
    assert (drop["module"], drop["stage"], drop["reason"]) == ("free_counter", "self_check", "self_check_unsupported")
    assert drop["detail"].startswith("golden cannot be checked:") and "total" in drop["detail"]


def test_synth_does_not_trust_verdicts_of_an_older_checker(tmp_path, monkeypatch):
    """A store whose verdicts say `equivalent` (as the checker did for such goldens before it
    learnt better) is used as it is under the same CHECKER_REVISION, and ignored under a new one."""
    from trainers.synth import run_pipeline, verify

    config = synth_config(tmp_path, write_corpus(tmp_path / "corpus"))
    assert run_pipeline(config, dry_run=True).stage("self_check").drops == {"self_check_unsupported": 1}
    with contextlib.closing(sqlite3.connect(tmp_path / "out" / "state.sqlite")) as db, db:
        stale = json.dumps({"status": "equivalent", "reason": "outputs matched the reference"})
        assert db.execute("UPDATE kv SET value = ? WHERE kind = 'verdict'", (stale,)).rowcount == 2
    assert run_pipeline(config, dry_run=True).stage("self_check").drops == {}  # the cache is trusted
    monkeypatch.setattr(verify, "CHECKER_REVISION", verify.CHECKER_REVISION + 1)
    assert run_pipeline(config, dry_run=True).stage("self_check").drops == {"self_check_unsupported": 1}


def test_synth_verify_drops_it_when_the_self_check_stage_is_off(tmp_path):
    """With intake.self_check off, the golden reaches verify (described and regenerated, its
    regeneration a verbatim copy) and is dropped there: the RL set holds only goldens that
    check equivalent against themselves. Needs the checker change, as above."""
    from trainers.synth import run_pipeline

    llm = {"concurrency": 2, "timeout": 5.0, "max_retries": 0}
    script = [
        {"name": "describe:free_counter", "model": "describer", "match": "`free_counter`", "responses": [{"text": X_SPEC}]},
        {"name": "describe:abs_diff8", "model": "describer", "match": "`abs_diff8`",
         "responses": [{"text": corpus_data.spec("abs_diff8")}]},
        {"name": "regenerate:free_counter", "model": "reasoner", "match": "`free_counter`",
         "responses": [corpus_data.answer(X_GOLDEN)]},
        {"name": "regenerate:abs_diff8", "model": "reasoner", "match": "`abs_diff8`",
         "responses": [corpus_data.answer(corpus_data.EQUIVALENT["abs_diff8"])]},
    ]
    with fake_openai_server.running() as url:
        fake_openai_server.reset(url, script=script)
        config = synth_config(tmp_path, write_corpus(tmp_path / "corpus"), intake={"self_check": False},
                              describe={**llm, "endpoint": url, "model": "describer"},
                              regenerate={**llm, "endpoint": url, "model": "reasoner"})
        result = run_pipeline(config)
    counts = {s.stage: (s.entered, s.kept, s.drops) for s in result.stages}
    assert counts["self_check"] == (2, 2, {})
    assert counts["regenerate"] == (2, 2, {})
    assert counts["verify"] == (2, 1, {"self_check_unsupported": 1})
    assert (result.sft, result.rl) == (1, 1)
    drops = [json.loads(line) for line in (tmp_path / "out" / "drops.jsonl").read_text().splitlines()]
    assert [(d["module"], d["stage"], d["reason"]) for d in drops] == [("free_counter", "verify", "self_check_unsupported")]
    assert drops[0]["detail"].startswith("golden cannot be checked:")
    rl = tmp_path / "out" / "rl.jsonl"
    assert [p.top for p in load_suite(str(rl), validate=True)] == ["abs_diff8"]
    assert check_suite(str(rl)).raise_if_failed().ok
