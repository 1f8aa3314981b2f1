"""The trainers' user-facing configs (issue 14): nested ``check:`` / ``reward:`` sections
that load from YAML into :class:`verilog_env.CheckSettings` / :class:`verilog_env.RewardConfig`,
every field documented, and ``CheckSettings(method="both")`` reaching the bundled DAPO
trainer's reward through its YAML."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import verilog_env
from trainers.config import ConfigError, describe_fields, load_config, save_config
from trainers.dapo.trainer import DAPOConfig, score_texts
from trainers.demo import DemoConfig
from trainers.sft import SFTConfig
from trainers.synth import config as synth_config
from verilog_env import CheckSettings, RewardConfig

REPO = Path(__file__).resolve().parents[1]


def test_dapo_yaml_sections_load_into_check_settings_and_reward_config(tmp_path):
    path = tmp_path / "dapo.yaml"
    path.write_text(
        "model: m\nsteps: 3\n"
        "check:\n  seed: random\n  cycles: 200\n  method: both\n  formal_budget: 8\n"
        "reward:\n  require_format: false\n  format_penalty: 0.1\n"
    )
    config = load_config(DAPOConfig, path)
    assert config.check == CheckSettings(seed=None, cycles=200, method="both", formal_budget=8.0)
    assert config.reward == RewardConfig(require_format=False, format_penalty=0.1)
    # saved nested, loaded back equal; dotted overrides reach into a section
    assert "check:\n  seed: null\n" in save_config(config, tmp_path / "saved.yaml").read_text()
    assert load_config(DAPOConfig, tmp_path / "saved.yaml") == config
    again = load_config(DAPOConfig, path, ["check.seed=7", "check.method=sim", "reward.think_prefilled=true"])
    assert (again.check.seed, again.check.method, again.check.cycles) == (7, "sim", 200)
    assert again.reward.think_prefilled and again.reward.format_penalty == 0.1
    # defaults, and a section given as a mapping in Python
    assert DAPOConfig().check == CheckSettings() and DAPOConfig().reward == RewardConfig()
    assert DAPOConfig(check={"method": "both"}).check == CheckSettings(method="both")


@pytest.mark.parametrize(("text", "message"), [
    ("check:\n  methd: both\n", "key 'check': unknown check setting(s) methd"),
    ("check:\n  method: smt\n", "key 'check': method must be one of"),
    ("check:\n  seed: soon\n", "key 'check': seed must be an integer or 'random'"),
    ("check: both\n", "key 'check': expected a mapping of CheckSettings keys"),
    ("reward:\n  partial: true\n", "key 'reward': unknown key(s) 'partial' for RewardConfig"),
    ("reward:\n  format_penalty: 2\n", "format_penalty must be a number in [0, 1]"),
    ("check_seed: 3\n", "unknown key(s) 'check_seed' for DAPOConfig (check_seed is now check.seed)"),
    ("require_format: true\n", "(require_format is now reward.require_format)"),
])
def test_dapo_section_mistakes_are_one_line_errors_naming_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(DAPOConfig, path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_shipped_configs_use_the_sections():
    root = REPO / "examples" / "configs"
    codev = load_config(DAPOConfig, root / "dapo_codev_r1.yaml")
    assert codev.reward == RewardConfig(require_format=True) and codev.check.method == "sim"
    assert codev.check.seed is None  # a fresh stimulus seed per scoring call
    assert load_config(DAPOConfig, root / "dapo_tiny.yaml").check == CheckSettings(seed=0)
    synth = synth_config.load_synth_config(root / "synth_example.yaml")
    assert synth.check == CheckSettings(seed=0, timeout=10.0)


@pytest.mark.parametrize("cls", [
    DAPOConfig, SFTConfig, DemoConfig, synth_config.SynthConfig, synth_config.CorpusSource,
    *synth_config.SECTIONS.values(),
])
def test_every_user_facing_field_is_documented(cls):
    undocumented = [name for name, _, _, doc in describe_fields(cls) if not doc]
    assert not undocumented, f"{cls.__name__}: {undocumented}"


def test_dapo_docstring_groups_name_every_field_once():
    doc = inspect.getdoc(DAPOConfig)
    groups = [line for line in doc.split("\n\n") if line.startswith("**")]
    named = [word.strip(" ,.") for group in groups for word in group.split(":", 1)[1].split()
             if word.strip(" ,.").isidentifier()]
    fields = [f.name for f in dataclasses.fields(DAPOConfig)]
    assert sorted(n for n in named if n in fields) == sorted(fields)
    assert len([n for n in named if n in fields]) == len(fields)


def test_synth_check_section(tmp_path):
    from trainers.synth.verify import cache_options

    config = synth_config.load_synth_config(None, ["corpus=[x]", "check.method=both", "check.formal_budget=5"])
    assert config.check == CheckSettings(method="both", formal_budget=5.0)
    # the cache key of plain simulation is the one stores were written with before
    assert cache_options(CheckSettings()) == {"seed": 0, "cycles": 1000, "timeout": 10.0}
    assert cache_options(config.check)["method"] == "both"
    bad = tmp_path / "old.yaml"
    bad.write_text("corpus: [x]\nverify:\n  seed: 0\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'verify'.*\(verify is now check\)"):
        synth_config.load_synth_config(bad)


def test_trainers_cli_and_demo_import_no_cycle_and_no_torch():
    code = (
        "import sys, trainers.cli, trainers.demo\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "import ast, inspect\n"
        "for mod, other in ((trainers.demo, 'cli'), (trainers.cli, None)):\n"
        "    tree = ast.parse(inspect.getsource(mod))\n"
        "    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}\n"
        "    names |= {n.module or '' for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}\n"
        "    assert other is None or other not in names, (mod.__name__, names)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_train_config_lists_keys(capsys):
    import argparse

    from trainers.cli import register

    parser = argparse.ArgumentParser(prog="verilog-env")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "config", "dapo"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "\ncheck:  # How answers are checked" in out and "\n  seed: 0  # int | None. " in out
    assert "\nreward:  # How a verdict becomes a reward" in out and "\n  require_format: true  # bool. " in out
    assert "\nlr: 1e-06  # float. AdamW learning rate." in out


def test_check_settings_method_both_reaches_the_dapo_trainer_reward(tmp_path):
    """``check: {method: both}`` in the bundled trainer's YAML reaches its reward: the
    function it scores rollouts with pays a simulation-passing, formally refuted answer 0."""
    from formal_trap import BOTH, PROBLEM, RIGHT_RESPONSE, TRAP_RESPONSE

    if not verilog_env.formal.available():
        pytest.skip("Yosys not installed (scripts/ensure_yosys.sh)")
    path = tmp_path / "dapo.yaml"
    path.write_text("model: m\ncheck:\n  method: both\n  formal_budget: 8\n")
    config = load_config(DAPOConfig, path)
    assert config.check == BOTH
    scores = score_texts([PROBLEM, PROBLEM], [TRAP_RESPONSE, RIGHT_RESPONSE], config)
    assert [s.reward for s in scores] == [0.0, 1.0]
    default = score_texts([PROBLEM], [TRAP_RESPONSE], load_config(DAPOConfig, None, ["model=m"]))
    assert [s.reward for s in default] == [1.0]  # random simulation misses the bug
