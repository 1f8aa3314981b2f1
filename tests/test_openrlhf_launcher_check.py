"""The OpenRLHF DAPO launcher's checker settings (issue 14): ``--check.*`` flags (or a
``--check.config`` file) make one :class:`verilog_env.CheckSettings` that reaches the
reward file and agent as ``VERILOG_REWARD_*`` variables, in the launcher's environment and
in the ``env_vars`` of OpenRLHF's ``ray.init``. No GPU, no OpenRLHF import: the OpenRLHF
module run is replaced by a stand-in that records what it would see."""

from __future__ import annotations

import os

import pytest

from trainers.openrlhf import train_dapo
from verilog_env import CheckSettings

BOTH_FLAGS = ["--check.method", "both", "--check.formal_budget", "8", "--check.seed", "random"]


@pytest.fixture(autouse=True)
def _no_reward_variables(monkeypatch):
    for key in list(os.environ):
        if key.startswith("VERILOG_REWARD_"):
            monkeypatch.delenv(key)


def test_check_flags_make_one_check_settings_and_its_variables():
    ns, _, argv = train_dapo.parse([*BOTH_FLAGS, "--rollout.batch_size", "64"])
    assert ns.check == CheckSettings(seed=None, method="both", formal_budget=8.0)
    assert not any(arg.startswith("--check.") for arg in argv) and "64" in argv  # ours stay ours
    env = ns.check.to_env()
    assert env["VERILOG_REWARD_METHOD"] == "both" and env["VERILOG_REWARD_SEED"] == "random"
    assert env["VERILOG_REWARD_FORMAL_BUDGET"] == "8.0"
    assert CheckSettings.from_env(env) == ns.check  # what the reward file reads back
    assert train_dapo.parse([])[0].check == CheckSettings()


def test_check_config_file_then_flags_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VERILOG_REWARD_CYCLES", "300")
    assert train_dapo.parse([])[0].check.cycles == 300  # variables already exported count
    config = tmp_path / "dapo.yaml"  # the bundled trainer's YAML works: its check: section is used
    config.write_text("model: m\ncheck:\n  method: both\n  formal_budget: 8\n  seed: 5\n")
    ns, _, _ = train_dapo.parse(["--check.config", str(config), "--check.seed", "6"])
    assert ns.check == CheckSettings(seed=6, cycles=300, method="both", formal_budget=8.0)
    (tmp_path / "c.json").write_text('{"method": "formal", "timeout": 4}')
    assert train_dapo.parse(["--check.config", str(tmp_path / "c.json")])[0].check.method == "formal"


@pytest.mark.parametrize(("argv", "message"), [
    (["--check.method", "smt"], "method must be one of"),
    (["--check.seed", "soon"], "seed: seed must be an integer or 'random'"),
    (["--check.cycle", "3"], "unknown launcher flag(s) ['--check.cycle'"),
])
def test_check_mistakes_exit_with_one_line(argv, message):
    with pytest.raises(SystemExit) as info:
        train_dapo.parse(argv)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_dry_run_prints_the_variables(capsys):
    train_dapo.main(["--verilog.dry_run", *BOTH_FLAGS])
    command = capsys.readouterr().out.strip().splitlines()[-1]
    assert "VERILOG_REWARD_METHOD=both " in command and "VERILOG_REWARD_SEED=random " in command
    assert command.index("VERILOG_REWARD_METHOD") < command.index(f"python -m {train_dapo.OPENRLHF_MODULE}")


def test_launch_exports_the_settings_to_the_run_and_ray(monkeypatch):
    import ray

    inits, overrides = [], []

    def fake_init(*args, **kwargs):
        inits.append(kwargs)
        overrides.append(os.environ.get("RAY_OVERRIDE_JOB_RUNTIME_ENV"))

    monkeypatch.delenv("RAY_OVERRIDE_JOB_RUNTIME_ENV", raising=False)
    monkeypatch.setattr(ray, "init", fake_init)
    seen = {}

    def openrlhf_stand_in(module, argv):  # what OpenRLHF's train_ppo_ray does first
        seen["env"] = {k: v for k, v in os.environ.items() if k.startswith("VERILOG_REWARD_")}
        ray.init(runtime_env={"env_vars": {"NCCL_DEBUG": "WARN"}})

    monkeypatch.setattr(train_dapo, "run_module", openrlhf_stand_in)
    train_dapo.main(["--adaptive.off", *BOTH_FLAGS])
    expected = CheckSettings(seed=None, method="both", formal_budget=8.0).to_env()
    assert seen["env"] == expected and seen["env"]["VERILOG_REWARD_METHOD"] == "both"
    workers = {"VERILOG_ENV_WORKERS": str(os.cpu_count() or 1)}  # one engine: the node's cores
    assert inits == [{"runtime_env": {"env_vars": {"NCCL_DEBUG": "WARN", **expected, **workers}}}]
    assert overrides == ["1"]  # under `ray job submit`, the launcher's values win over the job's
    # restored afterwards: nothing leaks into the calling process
    assert not any(k.startswith("VERILOG_REWARD_") for k in os.environ)
    assert "RAY_OVERRIDE_JOB_RUNTIME_ENV" not in os.environ
    ray.init()
    assert inits[-1] == {} and overrides[-1] is None


def test_the_reward_file_reads_back_what_the_launcher_exports():
    from trainers.openrlhf import scoring

    ns, _, _ = train_dapo.parse(BOTH_FLAGS)
    assert scoring.Settings.from_env(ns.check.to_env()).check == ns.check


def test_rollout_engines_of_a_node_share_its_cores_for_checking(capsys, monkeypatch):
    """OpenRLHF scores inside each vLLM engine: each engine's checker pool gets its share of
    the node's cores (VERILOG_ENV_WORKERS), not one worker per core (issue 15 item 8)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)

    def workers(*flags: str) -> str:
        train_dapo.main(["--verilog.dry_run", *flags])
        command = capsys.readouterr().out.strip().splitlines()[-1]
        return command.split("VERILOG_ENV_WORKERS=")[1].split()[0]

    assert workers("--vllm.num_engines", "8", "--actor.num_nodes", "2") == "16"  # 4 engines a node
    assert workers("--vllm.num_engines=8") == "8"
    assert workers() == "64"
    assert workers("--vllm.num_engines", "8", "--verilog.check_workers", "3") == "3"
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert workers("--vllm.num_engines", "8") == "1"


def test_kept_surplus_turns_on_openrlhf_truncated_importance_sampling():
    """Surplus groups come from an earlier step's policy: with them kept, the launcher asks
    OpenRLHF for token-level TIS (pi_old / pi_rollout, clipped) unless told otherwise
    (issue 15 item 3, OpenRLHF side)."""
    def value(argv, flag):
        return argv[argv.index(flag) + 1] if flag in argv else None

    _, _, argv = train_dapo.parse([])
    assert value(argv, "--algo.advantage.is_correction_level") == "token"
    assert value(argv, "--algo.advantage.is_correction_mode") == "clip"
    for ours in (["--adaptive.no_surplus"], ["--adaptive.off"]):  # nothing off-policy: no correction
        assert "--algo.advantage.is_correction_level" not in train_dapo.parse(ours)[2]
    _, _, argv = train_dapo.parse(["--algo.advantage.is_correction_level", "seq"])
    assert argv.count("--algo.advantage.is_correction_level") == 1 and value(argv, "--algo.advantage.is_correction_level") == "seq"
    assert "--algo.advantage.is_correction_mode" not in argv  # the user's scheme, not half of ours
