"""OpenRLHF plugins (tested against OpenRLHF 0.11.2).

* :mod:`.reward_func` - the file to pass as ``--reward.remote_url`` (single-turn rewards);
* :mod:`.agent` - the file to pass as ``--train.agent_func_path`` (multi-turn, with the
  checker's feedback between attempts);
* :mod:`.samples_generator` - adaptive DAPO as an OpenRLHF ``SamplesGenerator``;
* ``python -m trainers.openrlhf.train_dapo`` / ``train_sft`` - launchers with CodeV-R1
  defaults around ``openrlhf.cli.train_ppo_ray`` / ``train_sft``;
* ``python -m trainers.openrlhf.data`` - SFT and RL prompt datasets in OpenRLHF's format.

Importing this package does not import OpenRLHF (only the submodules that need it do);
``scripts/install_openrlhf_cpu.sh`` installs it where flash-attn cannot be built.
"""

from __future__ import annotations

from pathlib import Path

OPENRLHF_VERSION = "0.11.2"
"""The OpenRLHF release these plugins are written and tested against."""

_HERE = Path(__file__).resolve().parent


def reward_func_path() -> str:
    """Path of the reward file, for ``--reward.remote_url``."""
    return str(_HERE / "reward_func.py")


def agent_path() -> str:
    """Path of the agent file, for ``--train.agent_func_path``."""
    return str(_HERE / "agent.py")
