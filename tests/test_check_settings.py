"""CheckSettings read from text: a malformed value is an error naming where it came from."""

from __future__ import annotations

import pytest

from verilog_env import CheckSettings


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("VERILOG_REWARD_METHOD", "proof", "method must be one of"),
    ("VERILOG_REWARD_SEED", "soon", "seed must be an integer or 'random'"),
    ("VERILOG_REWARD_CHECK_TIMEOUT", "-1", "timeout must be a positive number"),
    ("VERILOG_REWARD_BATCH_SIZE", "0", "batch_size must be a positive integer"),
    ("VERILOG_REWARD_ISOLATE", "maybe", "expected 0/1/true/false"),
])
def test_a_malformed_environment_variable_is_named(variable, value, message):
    with pytest.raises(ValueError) as info:
        CheckSettings.from_env({variable: value, "VERILOG_REWARD_CYCLES": "300"})
    assert str(info.value).startswith(f"{variable}={value!r}: ") and message in str(info.value)


def test_environment_round_trip():
    settings = CheckSettings(seed=None, cycles=300, timeout=4.0, method="both", formal_budget=8.0,
                             formal_fallback="simulation", batch_size=3, isolate=False)
    assert CheckSettings.from_env(settings.to_env()) == settings
    assert CheckSettings.from_env({}) == CheckSettings()
