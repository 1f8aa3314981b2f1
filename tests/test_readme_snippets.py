"""The README's Python snippets, run as written in a fresh interpreter.

Each snippet names what the reader supplies (``my_llm``, ``golden_source``, a
``problems.jsonl``): the test defines exactly those, in a preamble, and runs the block
verbatim after it, in a temporary folder. A README edit that breaks a snippet fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from readme import readme_block

from verilog_env import load_suite

GOLDEN = "module TopModule(input [3:0] a, input [3:0] b, output [4:0] s);\n  assign s = a + b;\nendmodule\n"
WRONG = GOLDEN.replace("a + b", "a - b")


def run_snippet(preamble: str, snippet: str, cwd, epilogue: str = "") -> str:
    run = subprocess.run([sys.executable, "-c", preamble + "\n" + snippet + "\n" + epilogue], cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_environment_loop(tmp_path):
    problem = load_suite("starter")[0]
    preamble = (f"GOLDEN = {problem.golden!r}\n"
                "def my_llm(messages):  # the reader's policy: here a fixed wrong answer, then the golden\n"
                "    my_llm.calls = getattr(my_llm, 'calls', 0) + 1\n"
                "    code = GOLDEN if my_llm.calls == 2 else 'module TopModule(); endmodule'\n"
                "    return '<think>ok</think><answer>```verilog\\n' + code + '\\n```</answer>'\n")
    snippet = readme_block("## The environment")
    assert 'reset(seed=0)' in snippet
    # the snippet's env picks a seeded random problem: answer with that problem's golden
    snippet = snippet.replace("messages, info = env.reset(seed=0)           # [system prompt, user spec] chat messages",
                              "messages, info = env.reset(seed=0)           # [system prompt, user spec] chat messages\n"
                              "GOLDEN = env.unwrapped.problem.golden", 1)
    out = run_snippet(preamble, snippet, tmp_path, "print('REWARD', reward, terminated, truncated)")
    assert out.splitlines()[-1] == "REWARD 1.0 True False"
    assert out.splitlines()[0].startswith(("compile_error", "mismatch"))


def test_suite_check(tmp_path):
    rows = [{"id": "add", "spec": "Add a and b.", "golden": GOLDEN},
            {"id": "undriven", "spec": "A counter without reset.",
             "golden": "module TopModule(input clk, output reg [3:0] q);\n  always @(posedge clk) q <= q + 1;\nendmodule\n"}]
    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    snippet = readme_block("Check a suite before you")
    out = run_snippet("", snippet.replace("report.raise_if_failed()", "# report.raise_if_failed()"), tmp_path,
                      "import json\nprint('COUNTS', json.dumps(report.counts()), report.ok)\n"
                      "from verilog_env.testing import SuiteCheckError\n"
                      "try:\n    report.raise_if_failed()\nexcept SuiteCheckError as e:\n    print('RAISED', 'undriven' in str(e))")
    assert "COUNTS " in out
    line = next(line for line in out.splitlines() if line.startswith("COUNTS "))
    counts = json.loads(line[len("COUNTS "):].rsplit(" ", 1)[0])
    assert line.endswith(" False")  # report.ok: one golden cannot be checked
    assert counts.get("ok") == 1 and sum(counts.values()) == 2
    assert "RAISED True" in out


def test_equivalence_checker(tmp_path):
    snippet = readme_block("## Equivalence checker")
    out = run_snippet(f"golden_source = {GOLDEN!r}\ncandidate_source = {WRONG!r}", snippet, tmp_path,
                      "print('STATUS', verdict.status, bool(verdict.counterexample))")
    assert "STATUS mismatch True" in out


def test_formal_snippet(tmp_path):
    from verilog_env import formal

    if not formal.available():
        pytest.skip("Yosys not installed (scripts/ensure_yosys.sh)")
    snippet = readme_block("## Formal equivalence")
    out = run_snippet(f"from verilog_env import check_equivalence\ngolden = {GOLDEN!r}\ncandidate = {WRONG!r}",
                      snippet, tmp_path, "print('FORMAL', verdict.status, verdict.details['formal']['result'])")
    assert "FORMAL mismatch refuted" in out
