"""Problems, the suite registry, and the JSONL / Parquet / HF / CodeV-R1 loaders."""

from __future__ import annotations

import json
import pickle

import pytest

from verilog_env import Problem, list_suites, load_suite, register_suite
from verilog_env.problems import DEFAULT_SYSTEM_PROMPT, read_system_prompt
from verilog_env.suites import Suite, SuiteError, load_codev_r1, load_hf, load_jsonl, load_parquet

GOLDEN = "module TopModule(input a, output y); assign y = ~a; endmodule"
ROWS = [
    {"id": "inv", "spec": "Invert a.", "golden": GOLDEN, "tags": ["combinational", "easy"]},
    {"id": "inv2", "spec": "Invert a again.", "golden": GOLDEN, "tags": "combinational, easy", "top": "TopModule"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- Problem ----------------------------------------------------------------------------

def test_problem_messages_and_completion_prompt():
    p = Problem(id="x", spec="Invert a.", golden=GOLDEN)
    assert p.messages() == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Invert a."},
    ]
    assert p.messages(system_prompt=None) == [{"role": "user", "content": "Invert a."}]
    c = Problem(id="x", spec="Invert a.", golden=GOLDEN, header="module TopModule(input a, output y);")
    assert c.user_prompt().endswith("```verilog\nmodule TopModule(input a, output y);\n```")


def test_problem_rejects_empty_fields():
    with pytest.raises(ValueError, match="'golden' must be a non-empty string"):
        Problem(id="x", spec="s", golden="  ")


@pytest.mark.shared
def test_read_system_prompt(tmp_path):
    from shared_data import shared_benchmarks

    text = read_system_prompt(shared_benchmarks().parent / "codev_r1_system_prompt.txt")
    assert "<think>" in text and "```verilog" in text
    with pytest.raises(FileNotFoundError, match="system prompt file"):
        read_system_prompt(tmp_path / "missing.txt")


# --- registry ---------------------------------------------------------------------------

def test_builtin_suites_are_listed():
    assert {"starter", "jsonl", "parquet", "hf", "codev-r1"} <= set(list_suites())


def test_register_and_load_custom_suite():
    def loader(n: int = 2):
        """Tiny generated suite."""
        return [Problem(id=f"g{i}", spec="s", golden=GOLDEN) for i in range(n)]

    register_suite("test-generated", loader, overwrite=True)
    suite = load_suite("test-generated", n=3)
    assert isinstance(suite, Suite) and suite.ids == ["g0", "g1", "g2"]
    assert list_suites()["test-generated"] == "Tiny generated suite."
    with pytest.raises(SuiteError, match="already registered"):
        register_suite("test-generated", loader)


def test_unknown_suite_error_names_the_options():
    with pytest.raises(SuiteError, match="unknown suite 'nope'; registered: .*starter"):
        load_suite("nope")


def test_suite_lookup_and_tags():
    suite = Suite("s", [Problem(id="a", spec="s", golden=GOLDEN, tags=("x", "y")), Problem(id="b", spec="s", golden=GOLDEN, tags=("x",))])
    assert suite.get("b").id == "b" and "a" in suite and len(suite) == 2
    assert suite.with_tags("y").ids == ["a"]
    with pytest.raises(KeyError, match="no problem 'zz' in suite 's'"):
        suite.get("zz")
    with pytest.raises(SuiteError, match="duplicate problem id 'a'"):
        Suite("dup", [suite[0], suite[0]])


def test_starter_suite_is_the_default():
    suite = load_suite()
    assert suite.name == "starter" and len(suite) >= 40
    assert all(p.golden.strip() and p.spec.strip() and p.source == "starter" for p in suite)


# --- JSONL / Parquet / HF ---------------------------------------------------------------

def test_jsonl_loader_maps_rows(tmp_path):
    suite = load_suite("jsonl", path=write_jsonl(tmp_path / "p.jsonl", ROWS))
    assert suite.ids == ["inv", "inv2"]
    assert suite.get("inv2").tags == ("combinational", "easy")
    assert suite.get("inv2").top == "TopModule" and suite.get("inv").top is None


def test_jsonl_by_path_and_column_mapping(tmp_path):
    rows = [{"question": "Invert a.", "reference": GOLDEN}]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    problems = load_jsonl(path, columns={"spec": "question", "golden": "reference"})
    assert problems[0].id == "mine/0" and problems[0].spec == "Invert a."
    assert load_suite(str(path), columns={"spec": "question", "golden": "reference"}).ids == ["mine/0"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "spec": "s"}\n', r"p.jsonl:1: column 'golden' \(problem golden\) is missing.*columns=\{'golden': '<column>'\}"),
        ('{"id": "a",\n', r"p.jsonl:1: not valid JSON"),
        ("[1, 2]\n", r"p.jsonl:1: expected a JSON object, got list"),
    ],
)
def test_malformed_jsonl_gives_one_line_errors(tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(SuiteError, match=message) as info:
        load_jsonl(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_mapping(tmp_path):
    with pytest.raises(SuiteError, match="JSONL file '.*nothere.jsonl' not found"):
        load_jsonl(tmp_path / "nothere.jsonl")
    with pytest.raises(SuiteError, match="unknown problem field"):
        load_jsonl(write_jsonl(tmp_path / "p.jsonl", ROWS), columns={"golden_code": "x"})


def test_parquet_loader(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "tags": ",".join(r["tags"]) if isinstance(r["tags"], list) else r["tags"]} for r in ROWS]), path)
    problems = load_parquet(path)
    assert [p.id for p in problems] == ["inv", "inv2"] and problems[0].tags == ("combinational", "easy")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(SuiteError, match="not a readable Parquet file"):
        load_parquet(tmp_path / "junk.parquet")


def test_hf_loader_from_local_files(tmp_path):
    import datasets

    jsonl = write_jsonl(tmp_path / "p.jsonl", [ROWS[0]])
    assert [p.id for p in load_hf(str(jsonl))] == ["inv"]
    saved = tmp_path / "saved"
    datasets.Dataset.from_list([{"q": "Invert a.", "g": GOLDEN}]).save_to_disk(str(saved))
    problems = load_suite("hf", dataset=str(saved), columns={"spec": "q", "golden": "g"})
    assert problems[0].golden == GOLDEN and problems[0].id == "saved/0"


# --- CodeV-R1 layout --------------------------------------------------------------------

def codev_parquet(tmp_path, truth_blob):
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = {
        "data_source": "codev",
        "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": "Invert a."}],
        "reward_model": {"ground_truth": truth_blob, "style": "rule"},
        "extra_info": {"index": 7},
    }
    path = tmp_path / "codev.parquet"
    pq.write_table(pa.Table.from_pylist([row]), path)
    return path


def test_codev_r1_requires_pickle_opt_in(tmp_path):
    path = codev_parquet(tmp_path, pickle.dumps({"answer": {"code": GOLDEN}}))
    with pytest.raises(SuiteError, match="allow_pickle=True"):
        load_codev_r1(path)
    [problem] = load_codev_r1(path, allow_pickle=True)
    assert (problem.id, problem.spec, problem.golden, problem.source) == ("codev/7", "Invert a.", GOLDEN, "codev")


class _Evil:
    def __reduce__(self):  # exec, not print: other tests' imports (ray) may replace builtins.print
        return (exec, ("import sys; sys.stdout.write('pwned')",))


def test_codev_r1_refuses_objects_even_when_opted_in(tmp_path, capsys):
    path = codev_parquet(tmp_path, pickle.dumps({"answer": {"code": _Evil()}}))
    with pytest.raises(SuiteError, match="not a plain pickled dict .*refusing to load builtins.exec"):
        load_codev_r1(path, allow_pickle=True)
    assert "pwned" not in capsys.readouterr().out
