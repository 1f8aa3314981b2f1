"""Round-trip data synthesis (trainers/synth): unit tests, and the pipeline end to end.

The end-to-end tests run the whole pipeline over real HTTP against
``tests/fake_openai_server.py`` (scripted answers: see ``tests/synth_corpus.py``) on a
corpus made of the starter problems plus one case per filter, and assert the count of
every stage exactly; then they interrupt runs (the server starts refusing; a
KeyboardInterrupt) and check that resuming asks nothing twice.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import sqlite3
from pathlib import Path

import fake_openai_server
import pytest
import synth_corpus as corpus_data
from fake_openai_server import reset, stats
from shared_data import shared_benchmarks

from trainers.config import ConfigError
from trainers.synth import SynthInterrupted, load_synth_config, run_pipeline
from trainers.synth.config import SynthConfig, config_from_dict
from trainers.synth.decontam import (
    BenchmarkProblem,
    ContaminationIndex,
    lcs_length,
    rouge_l,
    rouge_tokens,
)
from trainers.synth.dedup import code_tokens, deduplicate, jaccard
from trainers.synth.intake import CorpusRecord, analyze_unit, build_units, split_modules
from trainers.synth.prompts import render, spec_problem

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


# ---------------------------------------------------------------- module splitting

LEAF = "module leaf (input [3:0] a, output [3:0] y);\n  assign y = ~a;\nendmodule\n"
MID = "module mid (input [3:0] a, output [3:0] y, output p);\n  leaf l0 (.a(a), .y(y));\n  assign p = ^a;\nendmodule\n"
TOP = ("`define W 4\nmodule top (input [`W-1:0] a, input [3:0] b, output [3:0] y, output p, output z);\n"
       "  mid m0 (.a(a), .y(y), .p(p));\n  helper h0 (.a(b), .z(z));\nendmodule\n")
HELPER = "module helper (input [3:0] a, output z);\n  and g (z, a[0], a[1]);\nendmodule\n"
ORPHAN = "module orphan (input a, output y);\n  missing_cell u (.a(a), .y(y));\nendmodule\n"


def _units(files: dict[str, str], split: str = "all"):
    records = []
    for path, text in files.items():
        records.append((CorpusRecord(path, str(Path(path).parent), text), split_modules(text, path)))
    return build_units(records, split)


def test_split_module_with_instantiated_submodules():
    units, counts = _units({"d/a.v": LEAF + MID + TOP, "d/b.v": HELPER, "e/c.v": ORPHAN, "e/empty.v": "`define X 1\n"})
    by_name = {u.module: u for u in units}
    assert counts == {"files_without_modules": 1, "files_unparsable": 0}
    # every module is a unit: itself, then (breadth first) what it instantiates, transitively;
    # helper comes from another file of the same folder
    assert by_name["top"].modules == ["top", "mid", "helper", "leaf"]
    assert by_name["mid"].modules == ["mid", "leaf"]
    assert by_name["leaf"].modules == ["leaf"] and by_name["helper"].modules == ["helper"]
    assert "`W" not in by_name["top"].code and "[4-1:0]" in by_name["top"].code  # macros expanded
    # each unit elaborates alone, as a golden, with the checker's own analysis
    for name in ("top", "mid", "leaf", "helper"):
        result = analyze_unit(by_name[name].code, name)
        assert result["ok"], (name, result)
    assert [p["name"] for p in analyze_unit(by_name["top"].code, "top")["ports"]] == ["a", "b", "y", "p", "z"]
    # a submodule defined nowhere: dropped before analysis
    assert by_name["orphan"].drop == "missing_submodule" and "missing_cell" in by_name["orphan"].detail
    assert all(u.drop is None for u in units if u.module != "orphan")
    # a folder does not see another folder's modules
    units, _ = _units({"d/a.v": TOP, "x/b.v": MID + LEAF + HELPER})
    assert next(u for u in units if u.module == "top").drop == "missing_submodule"


def test_split_tops_only_and_unusable_modules():
    units, _ = _units({"d/a.v": LEAF + MID + TOP + HELPER}, split="tops")
    assert [u.module for u in units] == ["top"]
    inout = analyze_unit("module b (inout p, input a, output y);\n  assign y = a;\nendmodule\n", "b")
    assert inout["ok"] is False and "inout" in inout["reason"]
    no_out = analyze_unit("module s (input a);\n  wire b = a;\nendmodule\n", "s")
    assert no_out["ok"] is False and "no output" in no_out["reason"]


ROM = """module rom16 (input [3:0] addr, output [7:0] data);
  reg [7:0] mem [0:15];
  initial $readmemh("rom16.hex", mem);
  assign data = mem[addr];
endmodule
"""
BIG_CASE = ("module sbox (input [5:0] x, output reg [7:0] y);\n  always @* begin\n    case (x)\n"
            + "".join(f"      6'd{i}: y = 8'd{(i * 37 + 11) % 256};\n" for i in range(64))
            + "      default: y = 8'd0;\n    endcase\n  end\nendmodule\n")


def test_intake_drops_unsupported_and_oversize_units(tmp_path):
    from trainers.synth.config import IntakeConfig
    from trainers.synth.intake import Unit, apply_analysis

    # unit level: a golden the checker cannot drive (file I/O) is `unsupported`, with the reason
    result = analyze_unit(ROM, "rom16")
    assert result["ok"] is False and result["status"] == "unsupported" and "$readmem" in result["reason"]
    unit = Unit(id="rom16_x", module="rom16", code=ROM, source="rom.v:rom16", modules=["rom16"])
    apply_analysis(unit, result, IntakeConfig())
    assert unit.drop == "unsupported" and "$readmem" in unit.detail and not unit.ports
    ok = Unit(id="mid_x", module="mid", code=LEAF + MID, source="a.v:mid", modules=["mid", "leaf"])
    apply_analysis(ok, analyze_unit(LEAF + MID, "mid"), IntakeConfig(min_tokens=1))
    assert ok.drop is None and ok.port_names() == ["a", "y", "p"]

    # through the pipeline's intake (a dry run: no requests): both drops counted and recorded
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in {"rom.v": ROM, "sbox.v": BIG_CASE, "pair.v": LEAF + MID}.items():
        (corpus / name).write_text(text)
    limit = 1000
    assert len(ROM) < limit < len(BIG_CASE) and analyze_unit(BIG_CASE, "sbox")["ok"]  # too long, otherwise fine
    config = config_from_dict(SynthConfig, {
        "output_dir": str(tmp_path / "out"), "corpus": [str(corpus)], "progress": False,
        "intake": {"max_unit_chars": limit, "min_tokens": 1, "workers": 1, "self_check": False},
        "decontam": {"suites": []}, "output": {"plot": False}})
    result = run_pipeline(config, dry_run=True)
    assert (result.stage("intake").entered, result.stage("intake").kept) == (4, 2)
    assert result.stage("intake").drops == {"oversize": 1, "unsupported": 1}
    drops = {d["module"]: d for d in map(json.loads, (tmp_path / "out" / "drops.jsonl").read_text().splitlines())}
    assert set(drops) == {"rom16", "sbox"}
    assert (drops["sbox"]["stage"], drops["sbox"]["reason"]) == ("intake", "oversize")
    assert drops["sbox"]["detail"] == f"{len(BIG_CASE)} characters (> max_unit_chars {limit})"
    assert (drops["rom16"]["reason"], drops["rom16"]["source"]) == ("unsupported", f"{corpus / 'rom.v'}:rom16")


def test_corpus_readers(tmp_path):
    from trainers.synth.config import CorpusSource
    from trainers.synth.intake import CorpusStats, IntakeError, read_corpus

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.v").write_text(LEAF)
    (tmp_path / "d" / "sub" / "b.sv").write_text(MID)
    (tmp_path / "d" / "notes.txt").write_text("not verilog")
    (tmp_path / "d" / "big.v").write_text(LEAF * 100)
    rows = [{"content": LEAF, "name": "r0"}, {"content": MID, "name": "r1"}, {"content": None, "name": "r2"}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    sources = [
        CorpusSource(path=str(tmp_path / "d")),
        CorpusSource(path=str(tmp_path / "c.jsonl"), text_key="content", id_key="name"),
        CorpusSource(path=str(tmp_path / "c.parquet"), text_key="content", limit=1),
    ]
    stats = CorpusStats()
    records = list(read_corpus(sources, 2000, stats))
    assert [Path(r.source).name for r in records] == ["a.v", "b.sv", "c.jsonl#r0", "c.jsonl#r1", "c.parquet#0"]
    assert records[1].group.endswith("sub") and records[2].group != records[3].group  # rows are their own group
    assert (stats.files, stats.skipped_oversize, stats.skipped_unreadable) == (5, 1, 1)
    with pytest.raises(IntakeError, match="no column 'text'"):
        list(read_corpus([CorpusSource(path=str(tmp_path / "c.jsonl"))], 2000, CorpusStats()))
    with pytest.raises(IntakeError, match="not found"):
        list(read_corpus([CorpusSource(path=str(tmp_path / "nowhere"), kind="dir")], 2000, CorpusStats()))


def test_corpus_reader_hugging_face_dataset_on_disk(tmp_path):
    """kind hf: a dataset saved with save_to_disk (a Dataset, or a DatasetDict and its split),
    through the corpus entry of a config; the modules of its rows come out."""
    import datasets

    from trainers.synth.intake import CorpusStats, read_corpus

    rows = [{"content": LEAF + MID, "name": "r0"}, {"content": None, "name": "r1"}, {"content": HELPER, "name": "r2"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:1]),
                          "test": datasets.Dataset.from_list(rows[2:])}).save_to_disk(str(tmp_path / "hf_dict"))
    config = config_from_dict(SynthConfig, {"corpus": [
        {"path": str(tmp_path / "hf"), "text_key": "content", "id_key": "name"},  # kind auto: a saved dataset
        {"path": str(tmp_path / "hf_dict"), "kind": "hf", "text_key": "content", "split": "test"},
        {"path": str(tmp_path / "hf_dict"), "text_key": "content"},  # split train (the default)
    ]})
    assert [s.resolved_kind() for s in config.corpus] == ["hf", "hf", "hf"]
    stats = CorpusStats()
    records = list(read_corpus(config.corpus, 2000, stats))
    assert [Path(r.source).name for r in records] == ["hf#r0", "hf#r2", "hf_dict#0", "hf_dict#0"]
    assert (stats.files, stats.skipped_unreadable) == (4, 1)  # r1 has no text
    modules = [[m["name"] for m in split_modules(r.text, r.source)["modules"]] for r in records]
    assert modules == [["leaf", "mid"], ["helper"], ["helper"], ["leaf", "mid"]]


# ---------------------------------------------------------------- dedup

def test_dedup_exact_and_near_duplicates():
    golden = corpus_data.golden("popcount16")
    renamed = "/* another repo */\n" + re.sub(r"\s+", "  ", golden).replace("popcount16", "pc16")
    near = golden.replace("count = 5'd0;", "count = 5'b0;")
    other = corpus_data.golden("decoder3to8_en")
    items = [
        ("orig", code_tokens(golden, ["popcount16"])),
        ("renamed", code_tokens(renamed, ["pc16"])),
        ("near", code_tokens(near, ["popcount16"])),
        ("other", code_tokens(other, ["decoder3to8_en"])),
    ]
    # comments, whitespace and the module's own name do not count
    assert items[0][1] == items[1][1]
    assert "<m0>" in items[0][1] and not any("another" in t for t in items[1][1])
    exact_j = jaccard(items[0][1], items[2][1])
    assert 0.8 < exact_j < 1.0
    dropped = deduplicate(items, threshold=0.8)
    assert set(dropped) == {"renamed", "near"}
    assert (dropped["renamed"].reason, dropped["renamed"].of) == ("exact_duplicate", "orig")
    assert (dropped["near"].reason, dropped["near"].of) == ("near_duplicate", "orig")
    assert abs(dropped["near"].similarity - exact_j) < 0.1  # the MinHash estimate
    assert jaccard(items[0][1], items[3][1]) < 0.2
    # first come, first kept; a stricter threshold keeps the near duplicate
    assert set(deduplicate(items[::-1], threshold=0.8)) == {"orig", "renamed"}
    assert set(deduplicate(items, threshold=0.99)) == {"renamed"}


# ---------------------------------------------------------------- decontamination

def _lcs_table(a, b) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_bit_parallel_lcs_matches_dynamic_programming():
    rng = random.Random(0)
    for _ in range(400):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]  # > 64: several machine words
        b = [rng.choice("abcdef") for _ in range(rng.randint(0, 70))]
        assert lcs_length(a, b) == _lcs_table(a, b)


def test_rouge_l_agrees_with_rouge_score():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    texts = [corpus_data.golden(p) for p in corpus_data.STARTER[:5]] + [corpus_data.spec(p) for p in corpus_data.STARTER[:5]]
    texts += ["", "module", "Implement a 4-bit counter with synchronous reset, as TopModule."]
    for reference in texts:
        for candidate in texts:
            assert rouge_l(candidate, reference) == scorer.score(reference, candidate)["rougeL"].fmeasure


def test_contamination_index_best_match():
    refs = [BenchmarkProblem("bench", pid, corpus_data.spec(pid), corpus_data.golden(pid)) for pid in corpus_data.STARTER]
    index = ContaminationIndex(refs)
    copied = corpus_data.golden("lfsr8").replace("lfsr8", "my_lfsr")
    score, ref = index.best_match(copied, "code")
    assert ref == "bench/lfsr8" and score > 0.9
    # the pruned search finds the same maximum as trying every problem
    for pid in ("abs_diff8", "pwm4"):
        text = corpus_data.spec(pid) + " Also add an enable."
        brute = max((rouge_l(text, r.prompt), f"bench/{r.id}") for r in refs)
        assert index.best_match(text, "spec") == brute
    assert index.best_match("", "spec") == (0.0, None)
    assert rouge_tokens("Input [7:0] a_b; // X") == ["input", "7", "0", "a", "b", "x"]


# ---------------------------------------------------------------- prompts and config

def test_describe_template_and_spec_checks():
    ports = [{"name": "a", "direction": "input", "width": 8}, {"name": "y", "direction": "output", "width": 1}]
    text = render("{module}: {ports}\n{code} {other}", code="module m; endmodule\n", module="m", ports=ports)
    assert text == "m:   - input [7:0] a\n  - output y\nmodule m; endmodule {other}"
    assert spec_problem("Module `m`: input a, output y.", "m", ["a", "y"]) is None
    assert spec_problem("Module m2: input a, output y.", "m", ["a", "y"]) == ("spec_missing_names", "does not name m")
    assert spec_problem("Module m: input a_b, output y.", "m", ["a", "y"])[1] == "does not name a"
    assert spec_problem("module m(input a, output y); endmodule", "m", ["a", "y"])[0] == "spec_contains_code"
    assert spec_problem("", "m", [])[0] == "spec_empty"


def test_config_errors_are_one_line(tmp_path, capsys):
    from verilog_env.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("corpus: [x]\ndescribe:\n  modle: foo\n")
    with pytest.raises(ConfigError) as error:
        load_synth_config(bad)
    assert "unknown key(s) 'modle'" in str(error.value) and "\n" not in str(error.value)
    assert main(["synth", "run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "modle" in err and "valid keys" in err
    bad.write_text("corpus: [x]\nthreshold: 0.5\n")
    assert main(["synth", "run", "--config", str(bad)]) == 2
    assert "unknown key(s) 'threshold'" in capsys.readouterr().err
    bad.write_text("corpus: [{path: x, kind: zip}]\n")
    assert main(["synth", "run", "--config", str(bad)]) == 2
    assert "corpus kind must be" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="config file not found"):
        load_synth_config(tmp_path / "missing.yaml")
    # overrides reach into sections
    good = tmp_path / "good.yaml"
    good.write_text("corpus: [some/dir]\n")
    config = load_synth_config(good, ["describe.model=m1", "difficulty.enabled=true", "difficulty.k=3"])
    assert (config.describe.model, config.difficulty.enabled, config.difficulty.k) == ("m1", True, 3)
    assert config.corpus[0].path == "some/dir"


def test_example_config_loads():
    config = load_synth_config(REPO / "examples" / "configs" / "synth_example.yaml")
    assert config.regenerate.model and config.describe.model and config.decontam.threshold == 0.5
    assert config.corpus
    # the SFT example trains on this config's sft.jsonl and renders its own system prompt: the same one
    from trainers.config import load_config
    from trainers.sft import SFTConfig

    sft = load_config(SFTConfig, REPO / "examples" / "configs" / "sft_codev_r1.yaml")
    assert Path(sft.data) == Path(config.output_dir) / "sft.jsonl"
    assert (sft.system_prompt, sft.system_prompt_file) == (config.output.system_prompt, config.output.system_prompt_file)


# ---------------------------------------------------------------- the fake server

@pytest.fixture(scope="module")
def server():
    with fake_openai_server.running() as url:
        yield url


def test_generator_on_error_and_usage(server):
    """The extension of benchmarks.generation the pipeline relies on: with on_error, a
    failed request is reported and the others go on; completions carry the usage."""
    from benchmarks import generation as gen

    reset(server, script=[
        {"name": "ok", "match": "fine", "responses": [{"text": "yes", "completion_tokens": 7}]},
        {"name": "slow", "match": "slow", "responses": [{"text": "late", "delay": 2.0}]},
    ])
    generator = gen.OpenAIChatGenerator(server, "any", concurrency=2, timeout=0.5, max_retries=0)
    requests = [gen.GenerationRequest([{"role": "user", "content": t}], 1, key=t) for t in ("fine", "slow", "fine 2")]
    errors = []
    out = generator.generate_requests(requests, gen.Sampling(), on_error=lambda r, e: errors.append(r.key))
    assert [len(x) for x in out] == [1, 0, 1] and errors == ["slow"]
    assert out[0][0].usage == {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}
    assert out[0][0] == gen.Completion("yes", "stop", 7)  # usage takes no part in equality
    with pytest.raises(gen.GenerationError):  # without on_error: the run stops, as before
        generator.generate_requests(requests[1:2], gen.Sampling())


# ---------------------------------------------------------------- end to end

EXPECTED = {  # stage: (in, out, {drop reason: count}); see tests/synth_corpus.py
    "corpus": (20, 19, {"no_modules": 1}),
    "intake": (20, 17, {"inout_port": 1, "no_outputs": 1, "trivial": 1}),
    "dedup": (17, 14, {"exact_duplicate": 2, "near_duplicate": 1}),
    "self_check": (14, 14, {}),
    "decontam_code": (14, 12, {"contaminated_code": 2}),
    "describe": (12, 10, {"describe_failed": 1, "spec_missing_names": 1}),
    "decontam_spec": (10, 9, {"contaminated_spec": 1}),
    "regenerate": (9, 6, {"regenerate_failed": 1, "regenerate_malformed": 1, "regenerate_truncated": 1}),
    "verify": (6, 5, {"verify_mismatch": 1}),
    "difficulty": (5, 3, {"solved_by_base": 2}),
}
SFT_MODULES = {"abs_diff8", "popcount16", "decoder3to8_en", "seq110_mealy", "absdiff_pair"}
RL_MODULES = {"popcount16", "seq110_mealy", "absdiff_pair"}
TIMEOUT_RULES = {"describe:lfsr8", "regenerate:edge_detect_both"}  # answered too late: failures
JOBS = {"describe": 12, "regenerate": 9, "difficulty": 5}


def make_config(url: str, corpus: Path, out: Path, **overrides) -> SynthConfig:
    llm = {"endpoint": url, "concurrency": 4, "timeout": 1.0, "max_retries": 1, "backoff": 0.01}
    data = {
        "output_dir": str(out),
        "corpus": [str(corpus)],
        "progress": False,
        "decontam": {"data": str(shared_benchmarks())},
        "describe": {**llm, "model": "describer", "price_prompt": 1.0, "price_completion": 2.0},
        "regenerate": {**llm, "model": "reasoner", "price_prompt": 0.5, "price_completion": 4.0},
        "difficulty": {**llm, "model": "base", "enabled": True, "k": 2, "seed": 0},
    }
    data.update(overrides)
    return config_from_dict(SynthConfig, data)


def assert_counts(result) -> None:
    got = {s.stage: (s.entered, s.kept, s.drops) for s in result.stages}
    assert got == EXPECTED
    assert (result.sft, result.rl) == (5, 3)
    assert result.verdicts == {"equivalent": 5, "mismatch": 1}


def served_names(url: str) -> list[str]:
    return [name for name, _ in stats(url)["served"]]


@pytest.mark.shared
def test_end_to_end_pipeline(server, tmp_path, capsys):
    corpus = corpus_data.build_corpus(tmp_path / "corpus", shared_benchmarks())
    reset(server, script=corpus_data.script(shared_benchmarks()))
    out = tmp_path / "out"
    result = run_pipeline(make_config(server, corpus, out))
    assert_counts(result)
    assert result.corpus == {"files_found": 20, "files_read": 20, "modules": 20}
    assert result.samples == {"regenerate_malformed": 1, "regenerate_truncated": 1, "request_failed": 1, "usable": 6}

    # requests, retries, tokens and cost
    assert stats(server)["requests"] == 12 + 9 + 5 + 2  # each timeout was retried once
    usage = {k: u.to_dict() for k, u in result.usage.items()}
    assert {k: (u["jobs"], u["sent"], u["errors"], u["http_attempts"], u["cached"]) for k, u in usage.items()} == {
        "describe": (12, 12, 1, 13, 0), "regenerate": (9, 9, 1, 10, 0), "difficulty": (5, 5, 0, 5, 0)}
    # the fake server reports 100 prompt tokens per request and 50 completion tokens per choice
    assert (usage["describe"]["prompt_tokens"], usage["describe"]["completion_tokens"]) == (1100, 550)
    assert (usage["difficulty"]["prompt_tokens"], usage["difficulty"]["completion_tokens"]) == (500, 500)
    assert usage["describe"]["cost"] == pytest.approx((1100 * 1.0 + 550 * 2.0) / 1e6)
    assert usage["regenerate"]["cost"] == pytest.approx((800 * 0.5 + 400 * 4.0) / 1e6)

    # every pair's verdict and every drop are recorded
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert sorted((v["module"], v["status"]) for v in verdicts) == sorted(
        [(m, "equivalent") for m in SFT_MODULES] + [("counter_mod10", "mismatch")])
    drops = [json.loads(line) for line in (out / "drops.jsonl").read_text().splitlines()]
    assert len(drops) == sum(sum(d.values()) for _, _, d in EXPECTED.values()) - 1  # the file without modules
    by_module = {d["module"]: d for d in drops}
    assert by_module["count15_copy"]["detail"].endswith(corpus_data.VE_PROBLEM)
    assert by_module["counter12_copy"]["detail"].endswith(f"rtllm-v1.1/{corpus_data.RTLLM_PROBLEM}")
    assert by_module["pwm4"]["detail"].endswith(corpus_data.VE_PROMPT_FOR_PWM4)
    assert by_module["sat_add8"]["detail"] == "does not name is_signed"
    assert by_module["popcount16_v2"]["reason"] == "near_duplicate"
    assert by_module["decade_counter"]["reason"] == "exact_duplicate"

    # the RL dataset loads as an environment suite, and every golden is equivalent to itself
    from verilog_env import CheckRequest, check_requests, load_suite

    suites = [load_suite("jsonl", path=str(out / "rl.jsonl")), load_suite("parquet", path=str(out / "rl.parquet"))]
    for suite in suites:
        assert {p.top for p in suite} == RL_MODULES
        assert all("synth" in p.tags and p.source for p in suite)
    assert [p.to_dict() for p in suites[0]] == [p.to_dict() for p in suites[1]]
    verdicts = check_requests([CheckRequest(p.golden, p.golden, top=p.top) for p in suites[0]])
    assert all(v.equivalent for v in verdicts), [v.reason for v in verdicts]
    hier = next(p for p in suites[0] if p.top == "absdiff_pair")
    assert "hierarchical" in hier.tags and "module abs_diff8" in hier.golden
    openrlhf = [json.loads(line) for line in (out / "rl_openrlhf.jsonl").read_text().splitlines()]
    assert len(openrlhf) == 3 and all(json.loads(r["label"])["golden"] for r in openrlhf)

    # the SFT dataset (trained on at the end of this test)
    sft_rows = [json.loads(line) for line in (out / "sft.jsonl").read_text().splitlines()]
    assert {r["top"] for r in sft_rows} == SFT_MODULES
    assert all(r["messages"][2]["content"].startswith("<think>\n") and r["reasoning"] for r in sft_rows)
    import pyarrow.parquet as pq

    assert pq.read_table(out / "sft.parquet").to_pylist() == sft_rows

    # the report
    report = json.loads((out / "report.json").read_text())
    assert [(s["stage"], s["in"], s["out"], s["drops"]) for s in report["stages"]] == [
        (k, *v) for k, v in EXPECTED.items()]
    markdown = (out / "report.md").read_text()
    assert "| Verify <br><sub>regenerated code equivalent to the original</sub> | 6 | 5 | 1 | verify_mismatch 1 |" in markdown
    assert (out / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a rerun from the command line (the same config, as YAML) asks nothing and writes the same datasets
    import yaml

    from verilog_env.cli import main

    before = {name: (out / name).read_bytes() for name in ("sft.jsonl", "rl.jsonl", "verdicts.jsonl", "drops.jsonl")}
    config_file = tmp_path / "synth.yaml"
    config_file.write_text(yaml.safe_dump(make_config(server, corpus, out).to_dict()))
    reset(server, script=corpus_data.script(shared_benchmarks()))
    assert main(["synth", "run", "--config", str(config_file), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "requests: 0 sent, 26 from earlier runs" in printed and "SFT 5, RL 3" in printed
    assert stats(server)["requests"] == 0
    again = json.loads((out / "report.json").read_text())
    assert [(s["stage"], s["in"], s["out"], s["drops"]) for s in again["stages"]] == [(k, *v) for k, v in EXPECTED.items()]
    assert {k: (u["cached"], u["sent"]) for k, u in again["usage"].items()} == {k: (n, 0) for k, n in JOBS.items()}
    assert {name: (out / name).read_bytes() for name in before} == before
    assert "$0.0022" in (out / "report.md").read_text()  # all runs' cost, from the store
    assert [r["outcome"] for r in again["runs"]] == ["complete", None]

    # --dry-run: no request at all, counts up to code decontamination
    assert main(["synth", "run", "--config", str(config_file), "--no-progress", "--dry-run",
                 "--set", f"output_dir={tmp_path / 'dry'}"]) == 0
    dry = json.loads((tmp_path / "dry" / "report.json").read_text())
    assert [s["stage"] for s in dry["stages"]] == list(EXPECTED)[:5] and dry["dry_run"]
    assert stats(server)["requests"] == 0 and not (tmp_path / "dry" / "sft.jsonl").exists()

    # the SFT dataset loads in the bundled SFT trainer and trains (last: needs torch)
    train_bundled_sft(out / "sft.jsonl", tmp_path / "sft_run")


def train_bundled_sft(data: Path, out: Path) -> None:
    """``data`` (a synthesized sft.jsonl) through the bundled SFT trainer, as ``verilog-env
    train sft`` runs it (records read from ``config.data``), with a from-scratch tokenizer and
    model (trainers.demo's): the conversations it renders are the rows' ``messages`` (both
    sides default to the same system prompt), its labels cover exactly the synthesized
    answers, and two optimizer steps change the weights."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from trainers.common import read_jsonl
    from trainers.demo import build_tokenizer, tiny_model
    from trainers.sft import (
        IGNORE,
        SFTConfig,
        build_examples,
        load_records,
        resolve_system_prompt,
        sft_messages,
        train_sft,
    )

    rows = [json.loads(line) for line in data.read_text().splitlines()]
    config = SFTConfig(data=str(data), output_dir=str(out), max_length=512, batch_size=len(rows), grad_accum=1,
                       max_steps=2, lr=1e-3, lr_schedule="constant", warmup_ratio=0.0, save_every=0, progress=False,
                       tensorboard=False, device="cpu")
    system_prompt = resolve_system_prompt(config.system_prompt, config.system_prompt_file)
    records = load_records(data)
    assert [sft_messages(r, system_prompt) for r in records] == [row["messages"] for row in rows]
    tokenizer = build_tokenizer([m["content"] for row in rows for m in row["messages"]], 1000)
    examples, dropped = build_examples(tokenizer, records, system_prompt, config.max_length)
    assert dropped == 0 and len(examples) == len(rows)
    for example, row in zip(examples, rows):  # the loss is on the assistant turn, all of it
        answer = [t for t, label in zip(example.input_ids, example.labels) if label != IGNORE]
        assert tokenizer.decode(answer) == row["messages"][-1]["content"] + "<|end|>\n"
    label_tokens = sum(label != IGNORE for e in examples for label in e.labels)

    model = tiny_model(tokenizer, hidden=32, layers=1, heads=2, intermediate=64, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is as fast, and far faster on a busy machine
    try:
        result = train_sft(config, model=model, tokenizer=tokenizer)
    finally:
        torch.set_num_threads(threads)
    assert (result.steps, result.dropped) == (2, 0)
    assert 0 < result.last_loss < result.first_loss < 20  # finite, and the second step saw the first's update
    assert [(r["step"], r["label_tokens"]) for r in read_jsonl(out / "metrics.jsonl")] == [(1, label_tokens), (2, label_tokens)]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert (result.output / "config.json").exists()


@pytest.mark.shared
def test_interrupted_run_resumes_without_repeating_requests(server, tmp_path, monkeypatch):
    corpus = corpus_data.build_corpus(tmp_path / "corpus", shared_benchmarks())
    out = tmp_path / "out"
    script = corpus_data.script(shared_benchmarks())
    config = make_config(server, corpus, out, max_consecutive_failures=3)

    def finished_requests() -> list[str]:
        with contextlib.closing(sqlite3.connect(out / "state.sqlite")) as db:
            rows = db.execute("SELECT stage, item FROM llm WHERE status = 'ok'").fetchall()
        return [f"{stage}:{item.rsplit('_', 1)[0]}" for stage, item in rows]  # item: MODULE_HASH

    # 1. the server answers 7 requests, then refuses everything: the run stops during describe
    reset(server, script=script, fail_after=7)
    with pytest.raises(SynthInterrupted, match="3 requests in a row failed"):
        run_pipeline(config)
    first = served_names(server)
    assert len(first) == 7 and all(n.startswith("describe:") for n in first)
    done_first = {n for n in first if n not in TIMEOUT_RULES}  # a late answer is not a finished request
    assert sorted(finished_requests()) == sorted(done_first)

    # 2. the server is back; a KeyboardInterrupt arrives once the requests to regenerate are done
    from trainers.synth import pipeline

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    reset(server, script=script)
    monkeypatch.setattr(pipeline._Run, "verify", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config)
    monkeypatch.undo()
    second = served_names(server)
    assert not set(second) & done_first  # nothing finished is asked again
    assert {n.split(":")[0] for n in second} == {"describe", "regenerate"}
    # each unfinished request once, and the two that time out once more (the client's retry)
    assert len([n for n in second if n.startswith("describe:")]) == JOBS["describe"] - len(done_first) + 1
    assert len([n for n in second if n.startswith("regenerate:")]) == JOBS["regenerate"] + 1

    # 3. resumed to the end: the base model's requests are left, and the two that timed out
    #    in run 2 are asked again (that run was interrupted: its failures are not final)
    reset(server, script=script)
    result = run_pipeline(config)
    third = served_names(server)
    base = [f"base:{m}" for m in sorted(RL_MODULES | {"abs_diff8", "decoder3to8_en"}) for _ in range(2)]  # n = 2
    assert sorted(third) == sorted(base + [*TIMEOUT_RULES] * 2)
    assert_counts(result)
    assert {k: u.sent for k, u in result.usage.items()} == {"describe": 1, "regenerate": 1, "difficulty": 5}

    # over the three runs, every request that finished was asked exactly once
    finished = [n for n in first + second + sorted(set(third)) if n not in TIMEOUT_RULES]
    assert len(finished) == len(set(finished)) == sum(JOBS.values()) - len(TIMEOUT_RULES)
    runs = json.loads((out / "report.json").read_text())["runs"]
    assert [r["outcome"] for r in runs] == ["interrupted", "interrupted", None]  # the last one is being written

    # 4. and once more: nothing at all
    reset(server, script=script)
    assert_counts(run_pipeline(config))
    assert stats(server)["requests"] == 0


def test_check_settings_method_both_reaches_the_synthesis_filter(tmp_path):
    """The synthesis config's check: section (one CheckSettings) decides which pairs are
    kept: a regenerated design that simulation passes and formal refutes is dropped with
    method both, kept with the default settings; each settings has its own cached verdict."""
    from formal_trap import BOTH, GOLDEN, WRONG_ON_ONE_VALUE

    from trainers.synth.config import load_synth_config
    from trainers.synth.state import StateStore
    from trainers.synth.verify import Pair, check_pairs
    from verilog_env import CheckSettings

    store = StateStore(tmp_path / "state.sqlite")
    pairs = [Pair(GOLDEN, WRONG_ON_ONE_VALUE, "top"), Pair(GOLDEN, GOLDEN, "top")]
    assert [r["status"] for r in check_pairs(pairs, store, CheckSettings())] == ["equivalent", "equivalent"]
    path = tmp_path / "synth.yaml"
    path.write_text(f"check:\n  method: both\n  formal_budget: {BOTH.formal_budget}\n")
    settings = load_synth_config(path).check
    assert settings == BOTH
    both = check_pairs(pairs, store, settings)
    assert [r["status"] for r in both] == ["mismatch", "equivalent"] and not any(r["cached"] for r in both)


@pytest.mark.parametrize("path", ["./corpora/missing", "/nonexistent/verilog/corpus", "~/no/such/corpus", "data/x/y"])
def test_a_missing_local_corpus_path_is_a_one_line_error_at_once(path):
    """Not retried as a Hugging Face hub name for 25 s (issue 16 item 4)."""
    import time

    from trainers.synth.config import CorpusSource
    from trainers.synth.intake import CorpusStats, IntakeError, looks_like_path, read_corpus

    assert looks_like_path(path) and not looks_like_path("owner/dataset") and not looks_like_path("dataset")
    start = time.perf_counter()
    with pytest.raises(IntakeError, match="corpus path not found") as info:
        list(read_corpus([CorpusSource(path=path, kind="hf")], 2000, CorpusStats()))
    assert time.perf_counter() - start < 2 and "\n" not in str(info.value)
