"""The benchmark harness: pass@k, answer extraction, generation back ends, resume, reports, CLI.

Generation goes over real HTTP to ``tests/fake_openai_server.py`` (a loopback server
process with canned, deterministic answers); scoring uses the tiny suite defined there
(the equivalence checker as its "official" testbench, one deliberately lenient problem,
one problem whose reference pretends to fail its testbench). Expected pass@k figures are
computed by hand from the canned mix.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from fractions import Fraction
from math import comb
from pathlib import Path

import fake_openai_server as fake
import pytest
from fake_openai_server import reset, stats

from benchmarks import generation as gen
from benchmarks import harness, passk, rundir
from verilog_env.cli import main as cli_main

httpx = pytest.importorskip("httpx")

TESTS = Path(__file__).resolve().parent
SUITE = fake.TinySuite()
PROBLEMS = SUITE.load(Path("."))


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    """``tiny`` is in the suite registry only while these tests run."""
    from benchmarks import registry

    fake.register_tiny_suite()
    yield
    registry._SUITES.pop("tiny", None)
ALL_SAMPLES = {(pid, i) for pid in fake.PROBLEMS for i in range(10)}


# ---------------------------------------------------------------- pass@k


def test_pass_at_k_hand_cases():
    assert passk.pass_at_k(20, 0, 1) == 0.0
    assert passk.pass_at_k(20, 20, 1) == 1.0
    assert passk.pass_at_k(20, 20, 20) == 1.0
    assert passk.pass_at_k(5, 2, 2) == 0.7  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert passk.pass_at_k(20, 5, 1) == 0.25  # pass@1 is c/n
    assert passk.pass_at_k(20, 5, 10) == 1 - comb(15, 10) / comb(20, 10)
    assert passk.pass_at_k_exact(20, 5, 10) == 1 - Fraction(comb(15, 10), comb(20, 10))
    assert passk.pass_at_k(10, 3, 8) == 1.0  # n - c < k: every draw has a correct one
    assert passk.pass_at_k(1, 1, 1) == 1.0 and passk.pass_at_k(1, 0, 1) == 0.0
    # Chen et al.'s numerically stable product form agrees.
    n, c, k = 200, 37, 50
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1 - k / i
    assert passk.pass_at_k(n, c, k) == pytest.approx(1 - product, rel=1e-12)


def test_pass_at_k_undefined_and_invalid():
    assert passk.pass_at_k(5, 1, 10) is None  # k > n
    assert passk.mean_pass_at_k([(5, 1), (20, 3)], 10) == 1 - comb(17, 10) / comb(20, 10)
    assert passk.mean_pass_at_k([(5, 1), (20, 3)], 10, strict=True) is None
    assert passk.mean_pass_at_k([], 1) is None
    with pytest.raises(ValueError):
        passk.pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        passk.pass_at_k(5, 1, 0)
    with pytest.raises(TypeError):
        passk.pass_at_k(5.0, 1, 1)
    summary = passk.suite_summary({"a": (10, 3), "b": (10, 0), "c": (4, 4)}, ks=(1, 5))
    assert summary["pass@1"] == float(Fraction(3, 10) + 0 + 1) / 3
    assert summary["problems@5"] == 2
    assert summary["pass@5"] == float((1 - Fraction(comb(7, 5), comb(10, 5))) / 2)


# ---------------------------------------------------------------- answer extraction


def test_extract_code():
    good = fake.wrap("module TopModule(); endmodule")
    e = gen.extract_code(good)
    assert (e.code, e.format_ok, e.source) == ("module TopModule(); endmodule", True, "answer")
    # No tags: the last Verilog block of the whole text, format not ok.
    e = gen.extract_code("draft\n```verilog\nmodule A(); endmodule\n```\nfinal:\n```verilog\nmodule B(); endmodule\n```")
    assert (e.code, e.format_ok, e.source) == ("module B(); endmodule", False, "text")
    # An answer without code: fall back to the whole text (the draft in the reasoning).
    e = gen.extract_code("<think>```verilog\nmodule D(); endmodule\n```</think><answer>see above</answer>")
    assert (e.code, e.format_ok, e.source) == ("module D(); endmodule", True, "text")
    # The fallback is the reward's parser: a trailing bare notes block that mentions a
    # module does not displace the code, and backticks in a comment do not end it.
    e = gen.extract_code("<think>x</think><answer>below</answer>\n```verilog\nmodule F(); // ```\nendmodule\n```\n"
                         "```\nNote: module F has no ports.\n```")
    assert (e.code, e.source) == ("module F(); // ```\nendmodule", "text")
    # Unfenced code after the reasoning.
    e = gen.extract_code("<think>hmm</think>\nmodule E(input a); endmodule\nThat's it.")
    assert (e.code, e.source) == ("module E(input a); endmodule", "bare")
    e = gen.extract_code("<think>I am not sure.</think><answer>No idea.</answer>")
    assert (e.code, e.format_ok, e.source) == (None, True, None)
    assert gen.extract_code(None).code is None
    # Completion tasks: a body without `module` gets the header.
    e = gen.extract_code(fake.wrap("assign y = a;\nendmodule"), header="module TopModule(input a, output y);")
    assert e.code == "module TopModule(input a, output y);\nassign y = a;\nendmodule"
    e = gen.extract_code(good, header="module TopModule(input a, output y);")
    assert e.code == "module TopModule(); endmodule"
    # A chat template that opens <think> itself.
    assert gen.extract_code("x</think><answer>```verilog\nmodule F(); endmodule\n```</answer>", think_prefilled=True).format_ok


def test_split_and_urls():
    assert gen.split_n(10, 4) == [(0, 4), (4, 4), (8, 2)]
    assert gen.split_n(10, None) == [(0, 10)]
    assert gen.split_n(0, 4) == []
    assert harness._runs([0, 1, 2, 5, 7, 8]) == [(0, 3), (5, 1), (7, 2)]
    for base in ("http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/chat/completions"):
        assert gen.chat_completions_url(base) == "http://h:8000/v1/chat/completions"
    assert gen.models_url("http://h:8000/v1/") == "http://h:8000/v1/models"
    from benchmarks.cli import _data_paths

    assert _data_paths(["b=x", "data"], ["a", "b"]) == {"a": "data", "b": "x"}  # SUITE=PATH wins
    assert _data_paths(None, ["a"]) == {"a": None}
    reasoning = gen._choice_text({"content": "<answer>x</answer>", "reasoning_content": "why"})
    assert reasoning == "<think>\nwhy\n</think>\n<answer>x</answer>"


# ---------------------------------------------------------------- the fake server


@pytest.fixture(scope="module")
def server():
    with fake.running() as url:
        yield url


def client(url: str, **kw) -> gen.OpenAIChatGenerator:
    kw.setdefault("concurrency", 4)
    return gen.OpenAIChatGenerator(url, fake.MODEL, backoff=0.01, max_retries=4, **kw)


def run_tiny(url_or_generator, out: Path, **kw) -> dict:
    generator = client(url_or_generator) if isinstance(url_or_generator, str) else url_or_generator
    kw.setdefault("n", 10)
    kw.setdefault("seed", 0)
    return harness.run(SUITE, PROBLEMS, generator, out, progress=False, score_workers=4, **kw)


# The canned mix (fake_openai_server.PATTERNS), 10 samples each:
#   and2 c=3, mux2 c=0, counter c=10, inv c=3 (1 truly equivalent), xor2 c=5 (excluded).
# Headline (and2, mux2, counter, inv):
#   pass@1  = (3/10 + 0 + 1 + 3/10) / 4 = 0.4
#   pass@5  = (11/12 + 0 + 1 + 11/12) / 4 = 17/24     [1 - C(7,5)/C(10,5) = 1 - 21/252 = 11/12]
#   pass@10 = (1 + 0 + 1 + 1) / 4 = 0.75
# All problems (+ xor2: pass@1 1/2, pass@5 1 - 1/252 = 251/252, pass@10 1):
#   pass@1 = 2.1 / 5 = 0.42, pass@5 = (17/6 + 251/252) / 5 = 193/252, pass@10 = 4/5
# Equivalence checker, headline: (3/10 + 0 + 1 + 1/10) / 4 = 0.35; disagreements: inv's 2 lenient samples.
HEADLINE = {"pass@1": 0.4, "pass@5": 17 / 24, "pass@10": 0.75}
ALL = {"pass@1": 0.42, "pass@5": 193 / 252, "pass@10": 0.8}
COUNTS = {"and2": 3, "mux2": 0, "counter": 10, "xor2": 5, "inv": 3}


def check_figures(summary: dict) -> None:
    for k, value in HEADLINE.items():
        assert summary["headline"][k] == value, k
    for k, value in ALL.items():
        assert summary["all"][k] == value, k
    assert {pid: (p["n"], p["c"]) for pid, p in summary["per_problem"].items()} == {
        pid: (10, c) for pid, c in COUNTS.items()
    }


def test_acceptance_http(server, tmp_path):
    reset(server)
    summary = run_tiny(server, tmp_path, also_equivalence=True)
    check_figures(summary)
    assert summary["headline"]["problems"] == 4 and summary["all"]["problems"] == 5
    assert [x["id"] for x in summary["excluded"]] == ["xor2"]
    assert summary["truncated_samples"] == 2  # the T samples of and2 and mux2
    assert summary["no_code_samples"] == 5  # and2: M, T; mux2: M, M, T
    assert summary["format_ok_samples"] == 50 - 4  # the two B (no tags) and two T (cut off) samples
    assert summary["harness_errors"] == 0
    eq = summary["equivalence"]
    assert eq["headline"]["pass@1"] == 0.35
    assert (eq["compared"], eq["agree"], eq["official_pass_equivalence_fail"]) == (50, 48, 2)
    assert eq["problems_disagreeing"] == ["inv"]
    assert [d["sample_index"] for d in summary["per_problem"]["inv"]["equivalence"]["disagreements"]] == [1, 2]

    # One request per problem (n = 10 at once), every sample served once.
    s = stats(server)
    assert s["requests"] == s["ok"] == 5
    assert {tuple(x) for x in s["served"]} == ALL_SAMPLES

    samples = rundir.read_jsonl(tmp_path / rundir.SAMPLES)
    assert len(samples) == 50
    row = next(r for r in samples if (r["problem_id"], r["sample_index"]) == ("counter", 0))
    assert row["code"].startswith("module TopModule(input clk") and row["extraction"] == "answer"
    assert set(row) >= {"suite", "problem_id", "sample_index", "response", "finish_reason", "code", "format_ok"}
    results = rundir.read_jsonl(tmp_path / rundir.RESULTS)
    assert len(results) == 50 and all({"passed", "outcome", "detail", "seconds"} <= set(r) for r in results)
    assert len(rundir.read_jsonl(tmp_path / rundir.EQUIVALENCE)) == 50

    md = (tmp_path / "summary.md").read_text()
    assert "| tiny | 4 | 40.0 | 70.8 | 75.0 | 42.0 | 1 | 50 |" in md
    assert "Reference fails its own testbench" in md and "| xor2 | 10 | 5 | 50.0 | pretend testbench bug |" in md
    assert "Checker agreement" in md and "| inv | 3/10 | 1/10 | 2 | 0 |" in md
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["suites"]["tiny"]["headline"]["pass@1"] == 0.4
    pytest.importorskip("matplotlib")
    assert (tmp_path / "passk.png").stat().st_size > 1000

    # Everything done: a rerun sends no request and scores nothing again.
    reset(server)
    calls = []

    class Counting(fake.TinySuite):
        def score(self, problem, code, timeout=None):
            calls.append(problem.id)
            return super().score(problem, code, timeout)

    again = harness.run(Counting(), PROBLEMS, client(server), tmp_path, n=10, seed=0, progress=False, also_equivalence=True)
    check_figures(again)
    assert stats(server)["requests"] == 0 and calls == []


def test_retries_on_429_and_5xx(server, tmp_path):
    reset(server, fail_first=3, fail_statuses=[500, 429, 503])
    generator = client(server, concurrency=1)
    out = generator.generate([SUITE.messages(PROBLEMS[0], None)], n=4, seed=0, max_tokens=64)
    assert [c.finish_reason for c in out[0]] == ["stop"] * 4
    s = stats(server)
    assert (s["requests"], s["failed"], s["ok"]) == (4, 3, 1)
    assert generator.requests_sent == 4

    # A refused request (HTTP 400) is not retried; nor is a server that stays down forever.
    reset(server, fail_first=100, fail_statuses=[502])
    with pytest.raises(gen.GenerationError, match="after 5 attempts"):
        client(server).generate([SUITE.messages(PROBLEMS[0], None)], n=1)
    reset(server, max_n=4)
    with pytest.raises(gen.GenerationError, match="n must be at most 4"):
        client(server).generate([SUITE.messages(PROBLEMS[0], None)], n=5)
    assert stats(server)["requests"] == 1
    # Splitting at the cap: chunks are seeded seed + offset, so the samples are the same.
    reset(server, max_n=4)
    out = client(server, max_n_per_request=4).generate([SUITE.messages(PROBLEMS[0], None)], n=10, seed=0)
    assert [c.text for c in out[0]] == [fake.canned("and2", i)[0] for i in range(10)]
    assert stats(server)["ok"] == 3


def test_api_key(server, monkeypatch):
    reset(server, require_key="sekrit")
    messages = [SUITE.messages(PROBLEMS[0], None)]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(gen.GenerationError, match="HTTP 401"):
        client(server).generate(messages, n=1)
    assert len(client(server, api_key="sekrit").generate(messages, n=2)[0]) == 2
    monkeypatch.setenv("OPENAI_API_KEY", "sekrit")
    assert len(client(server).generate(messages, n=1)[0]) == 1


def test_resume_after_interrupt(server, tmp_path):
    # Run 1: the server caps n at 4 and refuses everything after 3 successful requests.
    reset(server, max_n=4, fail_after=3)
    generator = client(server, concurrency=1, max_n_per_request=4)
    with pytest.raises(gen.GenerationError, match="refusing"):
        run_tiny(generator, tmp_path)
    first = {tuple(x) for x in stats(server)["served"]}
    saved = {(r["problem_id"], r["sample_index"]) for r in rundir.read_jsonl(tmp_path / rundir.SAMPLES)}
    assert len(first) == 10 and saved == first  # everything served was flushed to disk
    # An interrupt in the middle of a write leaves a torn last line: it is cut off.
    with open(tmp_path / rundir.SAMPLES, "a") as f:
        f.write('{"suite": "tiny", "problem_id": "mu')

    # Run 2: only the missing samples are requested.
    reset(server, max_n=4)
    summary = run_tiny(client(server, concurrency=3, max_n_per_request=4), tmp_path)
    second = {tuple(x) for x in stats(server)["served"]}
    assert first.isdisjoint(second) and first | second == ALL_SAMPLES
    rows = rundir.read_jsonl(tmp_path / rundir.SAMPLES)
    assert len(rows) == 50 and {(r["problem_id"], r["sample_index"]) for r in rows} == ALL_SAMPLES
    check_figures(summary)  # the seeded split gives the very same samples

    # Asking for more samples later generates only the new indices.
    reset(server)
    summary = run_tiny(client(server), tmp_path, n=12)
    assert {tuple(x) for x in stats(server)["served"]} == {(pid, i) for pid in fake.PROBLEMS for i in (10, 11)}
    assert summary["per_problem"]["and2"]["n"] == 12

    # Other sampling settings cannot be mixed into the same directory.
    with pytest.raises(harness.HarnessError, match="temperature"):
        run_tiny(client(server), tmp_path, temperature=1.0)


def test_scorer_errors_are_retried_next_run(tmp_path):
    class Flaky(fake.TinySuite):
        fail = True

        def score(self, problem, code, timeout=None):
            if self.fail and problem.id == "inv":
                raise RuntimeError("scorer crashed")
            return super().score(problem, code, timeout)

    samples = [{"suite": "tiny", "problem_id": pid, "sample_index": 0, "code": fake.PROBLEMS[pid]["correct"]}
               for pid in ("and2", "inv")]
    flaky = Flaky()
    rows = harness.score_samples(flaky, PROBLEMS, samples, tmp_path, progress=False)
    assert [(r["problem_id"], r["passed"], r["outcome"], r.get("error")) for r in rows] == [
        ("and2", True, ".", None), ("inv", False, "harness_error", True)]
    flaky.fail = False
    rows = harness.score_samples(flaky, PROBLEMS, samples, tmp_path, progress=False)
    assert [(r["problem_id"], r["passed"]) for r in rows] == [("and2", True), ("inv", True)]


# ---------------------------------------------------------------- other back ends


def tiny_hf_model():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["user", "assistant", "system", ":", "module", "endmodule", "a", "b", "y", "assign", "=", "&", ";", "(", ")", "```", "verilog"]
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant : {% endif %}"
    )
    config = transformers.GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                                     eos_token_id=1, bos_token_id=1, pad_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config), tokenizer


def test_hf_backend(tmp_path):
    model, tokenizer = tiny_hf_model()
    generator = gen.HFGenerator(model, tokenizer=tokenizer, device="cpu", max_n_per_request=2)
    conversations = [[{"role": "user", "content": "a b"}], [{"role": "user", "content": "y"}]]
    out = generator.generate(conversations, n=3, max_tokens=6, seed=1)
    assert [len(x) for x in out] == [3, 3]
    for c in out[0] + out[1]:
        assert c.finish_reason in ("stop", "length") and 1 <= c.tokens <= 6 and isinstance(c.text, str)
    assert [c.text for c in generator.generate(conversations, n=3, max_tokens=6, seed=1)[0]] == [c.text for c in out[0]]
    # Through the harness: random text has no code, so every sample fails as no_code.
    summary = harness.run(SUITE, PROBLEMS[:2], generator, tmp_path, n=2, max_tokens=4, seed=0, progress=False)
    assert summary["headline"]["pass@1"] == 0.0 and summary["samples"] == 4


def test_vllm_backend_with_a_stub_engine(monkeypatch):
    """The vLLM back end's calls (LLM(model, **kw).chat(conversations, [SamplingParams]))
    and bookkeeping, against a stand-in module: vLLM itself needs a GPU and a model."""
    import types

    calls = []

    class SamplingParams:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class LLM:
        def __init__(self, model, **kw):
            calls.append(("init", model, kw))

        def chat(self, conversations, params, use_tqdm=True):
            calls.append(("chat", len(conversations), [(p.n, p.seed, p.temperature, p.max_tokens) for p in params]))
            out = []
            for conv, p in zip(conversations, params):
                outputs = [types.SimpleNamespace(text=f"{conv[-1]['content']}#{p.seed}.{j}", finish_reason="stop",
                                                 token_ids=[1, 2, 3]) for j in range(p.n)]
                out.append(types.SimpleNamespace(outputs=outputs))
            return out

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    for name in ("vllm.entrypoints", "vllm.entrypoints.llm"):  # what the back end checks imports
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(LLM=LLM))
    generator = gen.VLLMGenerator("some/model", batch_requests=2, max_n_per_request=3, tensor_parallel_size=2)
    seen = []
    requests = [gen.GenerationRequest([{"role": "user", "content": c}], 4, 10, key=c) for c in ("p", "q")]
    out = generator.generate_requests(requests, gen.Sampling(0.6, 0.95, 100), lambda r, cs: seen.append((r.key, len(cs))))
    assert [[c.text for c in x] for x in out] == [
        ["p#10.0", "p#10.1", "p#10.2", "p#13.0"], ["q#10.0", "q#10.1", "q#10.2", "q#13.0"]]
    assert out[0][0].tokens == 3
    assert calls == [("init", "some/model", {"tensor_parallel_size": 2}),
                     ("chat", 2, [(3, 10, 0.6, 100), (1, 13, 0.6, 100)]),
                     ("chat", 2, [(3, 10, 0.6, 100), (1, 13, 0.6, 100)])]
    assert seen == [("p", 3), ("p", 1), ("q", 3), ("q", 1)]


# ---------------------------------------------------------------- command line


def test_cli_list_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "verilog_env.cli", "bench", "list", "--import", "fake_openai_server"],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(TESTS), "VERILOG_ENV_TEST_TINY_SUITE": "1"},
    )
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "tiny" in names
    try:
        import benchmarks.suites  # noqa: F401
    except ModuleNotFoundError:
        return
    assert "verilogeval-v2-spec-to-rtl" in names


def test_cli_run_and_report(server, tmp_path, capsys):
    reset(server)
    out = tmp_path / "out"
    args = ["bench", "run", "--suite", "tiny", "--data", str(tmp_path), "--endpoint", server, "--n", "10",
            "--seed", "0", "--out", str(out), "--no-progress", "--problems", "and2", "counter", "--ks", "1,5"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert "| tiny | 2 | 65.0 | 95.8 |" in printed  # (0.3 + 1) / 2; (11/12 + 1) / 2
    data = json.loads((out / "summary.json").read_text())
    assert set(data["suites"]["tiny"]["per_problem"]) == {"and2", "counter"}
    assert (out / "tiny" / "samples.jsonl").exists() and (out / "summary.md").exists()
    (out / "summary.md").unlink()
    assert cli_main(["bench", "report", "--out", str(out)]) == 0
    assert "| tiny | 2 | 65.0 |" in (out / "summary.md").read_text()


def test_cli_score(tmp_path, capsys):
    p = fake.PROBLEMS
    lines = [
        {"problem_id": "and2", "response": fake.wrap(p["and2"]["correct"])},
        {"problem_id": "and2", "code": p["and2"]["wrong"]},
        {"id": "counter", "response": fake.wrap(p["counter"]["body"])},  # header prepended
        {"task_id": "counter", "response": "no code at all"},
    ]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "scored"
    assert cli_main(["bench", "score", "--suite", "tiny", "--data", str(tmp_path), "--samples", str(samples),
                     "--out", str(out), "--no-progress"]) == 0
    per = json.loads((out / "summary.json").read_text())["suites"]["tiny"]["per_problem"]
    assert {pid: (x["n"], x["c"]) for pid, x in per.items()} == {"and2": (2, 1), "counter": (2, 1)}
    assert per["counter"]["outcomes"] == {".": 1, "no_code": 1}
    capsys.readouterr()


class TrapSuite(fake.TinySuite):
    """One problem, ``tests/formal_trap.py``'s adder, whose "official" testbench is random simulation."""

    name = "trap"

    def load(self, root):
        from formal_trap import GOLDEN

        from benchmarks.registry import EvalProblem

        return [EvalProblem(suite=self.name, id="adder", prompt="add", reference=GOLDEN, top="top", reference_top="top")]


def test_cli_also_equivalence_takes_the_checkers_settings(tmp_path, monkeypatch, capsys):
    """``--also-equivalence --method both`` reaches the checker as one CheckSettings: the answer
    random simulation passes (so the suite's own testbench does) is counted not equivalent."""
    import verilog_env
    from formal_trap import GOLDEN, TRAP_RESPONSE, answer

    from benchmarks.registry import _SUITES, register_eval_suite

    if not verilog_env.formal.available():
        pytest.skip("Yosys not installed (scripts/ensure_yosys.sh)")
    seen = []
    real = verilog_env.check_requests

    def recording(requests, settings=None, **kw):
        seen.append(settings)
        return real(requests, settings, **kw)

    monkeypatch.setattr(verilog_env, "check_requests", recording)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": "adder", "response": r}) + "\n"
                               for r in (TRAP_RESPONSE, answer(GOLDEN))))
    register_eval_suite(TrapSuite(), overwrite=True)
    try:
        for method, equivalent in (("sim", 2), ("both", 1)):
            out = tmp_path / method
            assert cli_main(["bench", "score", "--suite", "trap", "--data", str(tmp_path), "--samples", str(samples),
                             "--out", str(out), "--no-progress", "--also-equivalence", "--method", method,
                             "--formal-budget", "8", "--check-seed", "3", "--cycles", "500"]) == 0
            per = json.loads((out / "summary.json").read_text())["suites"]["trap"]["per_problem"]["adder"]
            assert (per["n"], per["c"]) == (2, 2)  # the suite's simulation passes the trap
            assert per["equivalence"]["c"] == equivalent
            assert seen[-1] == verilog_env.CheckSettings(method=method, formal_budget=8.0, seed=3, cycles=500)
        rows = rundir.read_jsonl(tmp_path / "both" / "trap" / rundir.EQUIVALENCE)
        assert [r["equivalent"] for r in sorted(rows, key=lambda r: r["sample_index"])] == [False, True]
    finally:
        _SUITES.pop("trap", None)
    capsys.readouterr()


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"problem_id": "nope", "code": "x"}\n', "unknown problem id 'nope'"),
        ('{"problem_id": "and2"}\n', "neither 'response' nor 'code'"),
        ('{"problem_id": "and2", "code": "x"}\nnot json\n{"problem_id": "and2", "code": "y"}\n', ":2: not a JSON line"),
    ],
)
def test_cli_score_bad_samples(tmp_path, capsys, content, message):
    samples = tmp_path / "bad.jsonl"
    samples.write_text(content)
    code = cli_main(["bench", "score", "--suite", "tiny", "--data", str(tmp_path), "--samples", str(samples)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("verilog-env: ") and message in err[0]


def test_cli_errors(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cases = [
        (["--suite", "tiny", "--data", str(tmp_path), "--endpoint", f"http://127.0.0.1:{port}"], "cannot reach"),
        (["--suite", "tiny", "--data", str(tmp_path / "missing"), "--endpoint", "http://x"], "data path not found"),
        (["--suite", "nope", "--endpoint", "http://x"], "unknown evaluation suite 'nope'"),
        (["--suite", "tiny", "--data", str(tmp_path), "--problems", "zzz", "--endpoint", "x"], "no such problem"),
        (["--suite", "tiny", "--data", str(tmp_path), "--system-prompt", str(tmp_path / "no.txt"), "--endpoint", "x"],
         "system prompt file"),
    ]
    for args, message in cases:
        code = cli_main(["bench", "run", *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("verilog-env: ") and message in err[0], (args, err)
