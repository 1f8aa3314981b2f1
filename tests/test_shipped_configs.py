"""Every shipped config works from any clone and any working directory (issue 16 item 3):
nothing in it points at ``../shared`` (which only developers have) or at a file the clone
lacks, and a relative path written in a config file is relative to the file's folder
(``trainers.config.load_config``), so the same config means the same files wherever the
command is run from. The documented way to use the exact CodeV-R1 system prompt (a file
saved from the model card, named in ``system_prompt_file``) loads that text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "examples" / "configs").glob("*.yaml"))

# Each shipped config's path fields as loaded from any directory (relative to the clone's
# root), and the values that name something (a hub model, a suite) and stay as written.
# They chain: synth writes runs/synth/example/{sft,rl}.jsonl, SFT reads the first and writes
# runs/sft_codev_r1/final, DAPO trains that on the second.
PATHS = {
    "synth_example.yaml": {"output_dir": "runs/synth/example", "corpus.0.path": "data/verilog_repos"},
    "sft_codev_r1.yaml": {"data": "runs/synth/example/sft.jsonl", "output_dir": "runs/sft_codev_r1"},
    "dapo_codev_r1.yaml": {"model": "runs/sft_codev_r1/final", "output_dir": "runs/dapo_codev_r1",
                           "train_suite": "runs/synth/example/rl.jsonl"},
    "dapo_tiny.yaml": {"model": "runs/demo/sft/final", "output_dir": "runs/dapo_tiny",
                       "train_suite": "runs/demo/train_problems.jsonl", "eval_suite": "runs/demo/heldout_problems.jsonl"},
}
NAMES = {
    "sft_codev_r1.yaml": {"model": "Qwen/Qwen2.5-Coder-1.5B-Instruct"},
    "dapo_codev_r1.yaml": {"eval_suite": "starter"},
}

# A prompt with the odd spacing of the CodeV-R1 model card's ("and<answer>", two spaces, a
# line break inside): what the user saves must reach the model unchanged.
PROMPT = "You are a helpful assistant. Enclosed within <think> </think> and<answer> </answer>.  Now\n ```verilog"


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def load(path: Path, overrides=()):
    from trainers.config import load_config
    from trainers.dapo.trainer import DAPOConfig
    from trainers.sft import SFTConfig
    from trainers.synth.config import load_synth_config

    if path.name.startswith("synth"):
        return load_synth_config(path, overrides)
    return load_config(DAPOConfig if path.name.startswith("dapo") else SFTConfig, path, overrides)


def field(config, dotted: str):
    for part in dotted.split("."):
        config = config[int(part)] if part.isdigit() else getattr(config, part)
    return config


def system_prompt(config) -> str:
    """The system prompt a run of ``config`` uses (the trainers' and the pipeline's own resolution)."""
    from trainers.sft import resolve_system_prompt
    from trainers.synth.config import SynthConfig
    from trainers.synth.pipeline import _system_prompt

    if isinstance(config, SynthConfig):
        return _system_prompt(config)
    return resolve_system_prompt(config.system_prompt, config.system_prompt_file)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_needs_nothing_outside_the_clone(path):
    assert CONFIGS
    text = path.read_text(encoding="utf-8")
    assert not [s for s in strings(yaml.safe_load(text)) if "shared" in Path(s).parts], path.name
    config = load(path)
    prompt_file = getattr(config, "system_prompt_file", None) or getattr(
        getattr(config, "output", None), "system_prompt_file", None)
    assert prompt_file is None or Path(prompt_file).is_file(), prompt_file


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_paths_are_the_clones_from_any_directory(path, tmp_path, monkeypatch):
    assert sorted(PATHS) == [p.name for p in CONFIGS]  # a new shipped config gets its entry here
    monkeypatch.chdir(tmp_path)
    config = load(path)
    for key, relative in PATHS[path.name].items():
        assert field(config, key) == str(REPO / relative), key
    for key, name in NAMES.get(path.name, {}).items():
        assert field(config, key) == name, key
    # a path typed on the command line is the shell's: relative to the current directory
    key = "output_dir"
    assert field(load(path, [f"{key}=mine/run"]), key) == str(tmp_path / "mine" / "run")


@pytest.mark.parametrize("name", ["synth_example.yaml", "sft_codev_r1.yaml", "dapo_codev_r1.yaml"])
def test_documented_codev_r1_prompt_step_loads_the_saved_text(name, tmp_path, monkeypatch):
    """README 'Reproducing the CodeV-R1 model card': save the model card's prompt as
    codev_r1_system_prompt.txt in the clone's root and uncomment the config's
    ``system_prompt_file`` line. Done in a copy of the clone, run from elsewhere."""
    clone = tmp_path / "clone"
    (clone / "examples" / "configs").mkdir(parents=True)
    (clone / "codev_r1_system_prompt.txt").write_text(PROMPT + "\n", encoding="utf-8")
    lines = (REPO / "examples" / "configs" / name).read_text(encoding="utf-8").splitlines()
    commented = [i for i, line in enumerate(lines) if line.lstrip().startswith("# system_prompt_file:")]
    assert len(commented) == 1, "the config documents the prompt file in one commented line"
    lines[commented[0]] = lines[commented[0]].replace("# system_prompt_file:", "system_prompt_file:", 1)
    copy = clone / "examples" / "configs" / name
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert system_prompt(load(copy)) == PROMPT


@pytest.mark.parametrize("kind", ["sft", "dapo", "synth"])
def test_prompt_file_beside_a_config_is_found_from_another_directory(kind, tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "prompt.txt").write_text(PROMPT, encoding="utf-8")
    text = "output:\n  system_prompt_file: prompt.txt\n" if kind == "synth" else "system_prompt_file: prompt.txt\n"
    path = folder / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert system_prompt(load(path)) == PROMPT
    # the same name given with --set is looked up where the command runs: there is none here
    key = "output.system_prompt_file" if kind == "synth" else "system_prompt_file"
    with pytest.raises((FileNotFoundError, ValueError), match=str(tmp_path / "elsewhere" / "prompt.txt")):
        system_prompt(load(path, [f"{key}=prompt.txt"]))


def test_synth_and_decontam_paths_resolve_against_the_config(tmp_path, monkeypatch):
    from trainers.synth.config import load_synth_config

    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "synth.yaml"
    path.write_text("output_dir: out\ncorpus: [verilog, {path: owner/dataset, kind: hf}, ../rows.jsonl]\n"
                    "decontam: {data: bench, extra: [more.jsonl]}\ndescribe: {template_file: t.txt}\n")
    monkeypatch.chdir(tmp_path)
    config = load_synth_config(path)
    (folder / "verilog").mkdir()  # a bare name is a path when it exists beside the config
    again = load_synth_config(path)
    assert config.output_dir == str(folder / "out")
    assert [c.path for c in config.corpus] == ["verilog", "owner/dataset", str(tmp_path / "rows.jsonl")]
    assert again.corpus[0].path == str(folder / "verilog")
    assert (config.decontam.data, config.decontam.extra) == (str(folder / "bench"), [str(folder / "more.jsonl")])
    assert config.describe.template_file == str(folder / "t.txt")


def test_saved_config_loads_the_same_from_anywhere(tmp_path, monkeypatch):
    """A run's config.yaml holds absolute paths: loading it from its run folder does not
    move them there (relative paths of a config made in Python are the current directory's)."""
    from trainers.config import load_config, save_config
    from trainers.dapo.trainer import DAPOConfig

    monkeypatch.chdir(tmp_path)
    config = DAPOConfig(model="runs/sft/final", output_dir="runs/dapo", train_suite="data/rl.jsonl",
                        train_suite_options={"columns": {"spec": "prompt"}, "path": "data/rl.jsonl"})
    saved = save_config(config, tmp_path / "runs" / "dapo" / "config.yaml")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = load_config(DAPOConfig, saved)
    assert (loaded.model, loaded.output_dir, loaded.train_suite, loaded.train_suite_options) == (
        str(tmp_path / "runs/sft/final"), str(tmp_path / "runs/dapo"), str(tmp_path / "data/rl.jsonl"),
        {"columns": {"spec": "prompt"}, "path": str(tmp_path / "data/rl.jsonl")})


def test_sft_config_beside_its_files_runs_from_another_directory(tmp_path, monkeypatch):
    """A real ``verilog-env train sft`` run: the config names its model, data, prompt and
    output folder relative to itself, and the command runs from an unrelated directory."""
    import torch

    from trainers.demo import build_tokenizer, teacher_records, tiny_model
    from trainers.sft import sft_messages
    from verilog_env.cli import main

    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    records = teacher_records(8, 0.0, seed=0)[0]
    tokenizer = build_tokenizer([m["content"] for r in records for m in sft_messages(r, PROMPT)], 300)
    tiny_model(tokenizer, hidden=16, layers=1, heads=2, intermediate=32, seed=0).save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    (folder / "records.jsonl").write_text(
        "".join(json.dumps({"spec": r.spec, "reasoning": r.reasoning, "code": r.code}) + "\n" for r in records))
    (folder / "prompt.txt").write_text(PROMPT)
    (folder / "sft.yaml").write_text(
        "model: model\ndata: records.jsonl\nsystem_prompt_file: prompt.txt\noutput_dir: ../runs/sft\n"
        "max_steps: 1\ngrad_accum: 1\nmax_length: 1024\ndevice: cpu\nprogress: false\ntensorboard: false\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "sft", "--config", str(folder / "sft.yaml")]) == 0
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "project" / "runs" / "sft"
    assert (out / "final").is_dir() and not list(elsewhere.iterdir())
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (saved["model"], saved["data"], saved["system_prompt_file"]) == (
        str(folder / "model"), str(folder / "records.jsonl"), str(folder / "prompt.txt"))


def test_shipped_synth_config_runs_from_another_directory_without_benchmark_data(tmp_path, monkeypatch, capsys):
    """`verilog-env synth run --config examples/configs/synth_example.yaml --dry-run` in a copy of
    the clone with a corpus at data/verilog_repos, run from elsewhere, with no benchmark data
    anywhere: the default decontamination says in one line how to get the data or turn it off;
    turned off, the run reads the clone's corpus and writes to the clone's runs/."""
    from verilog_env import load_suite
    from verilog_env.cli import main

    clone = tmp_path / "clone"
    (clone / "examples" / "configs").mkdir(parents=True)
    config = clone / "examples" / "configs" / "synth_example.yaml"
    config.write_text((REPO / "examples" / "configs" / "synth_example.yaml").read_text())
    corpus = clone / "data" / "verilog_repos"
    corpus.mkdir(parents=True)
    (corpus / "abs_diff8.v").write_text(load_suite("starter").get("abs_diff8").golden)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.delenv("VERILOG_ENV_BENCHMARKS", raising=False)
    run = ["synth", "run", "--config", str(config), "--dry-run", "--no-progress", "--set", "intake.workers=1"]
    assert main(run) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("verilog-env synth: decontam: no data for suite") and "\n" not in err
    assert "$VERILOG_ENV_BENCHMARKS" in err and "decontam.suites=[]" in err
    assert main([*run, "--set", "decontam.suites=[]"]) == 0
    report = json.loads((clone / "runs" / "synth" / "example" / "report.json").read_text())
    assert report["corpus"]["files_read"] == 1
    assert not list((tmp_path / "elsewhere").iterdir())
