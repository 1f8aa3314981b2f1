"""Every shipped config loads from any clone: nothing in it points at ``../shared`` (which only
developers have) or at a file the clone lacks (issue 16 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "examples" / "configs").glob("*.yaml"))


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def load(path: Path):
    from trainers.config import load_config
    from trainers.dapo.trainer import DAPOConfig
    from trainers.sft import SFTConfig
    from trainers.synth.config import load_synth_config

    if path.name.startswith("synth"):
        return load_synth_config(path)
    return load_config(DAPOConfig if path.name.startswith("dapo") else SFTConfig, path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_needs_nothing_outside_the_clone(path):
    assert CONFIGS
    text = path.read_text(encoding="utf-8")
    assert not [s for s in strings(yaml.safe_load(text)) if "shared" in Path(s).parts], path.name
    config = load(path)
    prompt_file = getattr(config, "system_prompt_file", None) or getattr(
        getattr(config, "output", None), "system_prompt_file", None)
    assert prompt_file is None or (REPO / prompt_file).is_file(), prompt_file
