"""VerilogSpecEnv: Gymnasium contract, episodes, multi-turn feedback, vector envs."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import verilog_env
from verilog_env import CheckSettings, Problem, RewardConfig, Status, VerilogSpecEnv
from verilog_env.suites import Suite

COUNTER = """module TopModule(input clk, input reset, input en, output reg [3:0] q);
  always @(posedge clk) begin
    if (reset) q <= 4'd0;
    else if (en) q <= (q == 4'd9) ? 4'd0 : q + 4'd1;
  end
endmodule"""
WRONG_WRAP = COUNTER.replace("q == 4'd9", "q == 4'd10")
XOR = "module TopModule(input [7:0] a, b, output [7:0] y); assign y = a ^ b; endmodule"

PROBLEMS = [
    Problem(id="counter", spec="A decimal counter with enable and synchronous reset.", golden=COUNTER, tags=("sequential",)),
    Problem(id="xor", spec="Bitwise XOR of a and b.", golden=XOR, tags=("combinational",)),
]


def answer(code: str) -> str:
    return f"<think>Let me write it.</think><answer>```verilog\n{code}\n```</answer>"


@pytest.fixture
def env():
    e = VerilogSpecEnv(PROBLEMS)
    yield e
    e.close()


@pytest.mark.parametrize("max_turns", [1, 3])
def test_check_env_passes_without_warnings(max_turns):
    env = gymnasium.make(verilog_env.ENV_ID, suite=Suite("t", PROBLEMS), max_turns=max_turns).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert [str(w.message) for w in caught] == []


def test_make_uses_the_starter_suite_by_default():
    env = gymnasium.make(verilog_env.ENV_ID)
    obs, info = env.reset(seed=3)
    assert info["problem_id"] in env.unwrapped.suite
    assert obs[0]["role"] == "system" and obs[1]["role"] == "user"
    assert obs[1]["content"] == env.unwrapped.problem.spec


def test_reset_is_seeded_and_honours_problem_id(env):
    ids = [env.reset(seed=s)[1]["problem_id"] for s in range(8)]
    assert ids == [env.reset(seed=s)[1]["problem_id"] for s in range(8)]
    assert set(ids) == {"counter", "xor"}
    obs, info = env.reset(options={"problem_id": "xor"})
    assert info == {"problem_id": "xor", "tags": ["combinational"], "turn": 0}
    assert env.observation_space.contains(obs)
    with pytest.raises(KeyError, match="no problem 'nope'"):
        env.reset(options={"problem_id": "nope"})


def test_correct_answer_earns_one_and_ends_the_episode(env):
    env.reset(options={"problem_id": "counter"})
    obs, reward, terminated, truncated, info = env.step(answer(COUNTER))
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["correct"] and info["status"] == "equivalent"
    assert info["verdict"].status is Status.EQUIVALENT and info["verdict"].timings["total"] > 0
    assert obs[-1] == {"role": "assistant", "content": answer(COUNTER)}


def test_wrong_answer_earns_zero_with_a_counterexample(env):
    env.reset(options={"problem_id": "counter"})
    _, reward, terminated, truncated, info = env.step(answer(WRONG_WRAP))
    assert (reward, terminated, truncated, info["status"]) == (0.0, True, False, "mismatch")
    cex = info["verdict"].counterexample
    assert cex is not None and cex.mismatched == ["q"]
    assert "q: expected" in info["feedback"]


def test_malformed_answer_earns_zero_with_a_clear_reason(env):
    env.reset(options={"problem_id": "xor"})
    _, reward, terminated, _, info = env.step("I think y = a ^ b, but no tags or code.")
    assert (reward, terminated, info["status"], info["verdict"]) == (0.0, True, "format_error", None)
    assert info["reason"] == "expected exactly one <think>, found 0"
    assert not info["format_ok"] and info["parsed"].code is None


def test_multi_turn_episode_fails_then_succeeds():
    env = VerilogSpecEnv(PROBLEMS, max_turns=3)
    obs, _ = env.reset(options={"problem_id": "counter"})
    assert len(obs) == 2
    obs, reward, terminated, truncated, info = env.step(answer(WRONG_WRAP))
    assert (reward, terminated, truncated, info["turn"]) == (0.0, False, False, 1)
    assert [m["role"] for m in obs] == ["system", "user", "assistant", "user"]
    feedback = obs[-1]["content"]
    assert feedback == info["feedback"] and "behaves differently" in feedback and "q: expected" in feedback
    assert "4'd9" not in feedback  # feedback never leaks the golden's code
    obs, reward, terminated, truncated, info = env.step(answer(COUNTER))
    assert (reward, terminated, truncated, info["turn"]) == (1.0, True, False, 2)


@pytest.mark.parametrize("max_turns", [1, 2])
def test_correct_answers_and_the_last_turn_terminate_nothing_truncates(max_turns):
    """VerilogSpecEnv's rule, the same for every max_turns: a correct answer terminates
    (at any turn), a wrong answer at the turn limit terminates (the limit is part of the
    task, Gymnasium's "time limit inherent to the environment"), a wrong answer before it
    ends nothing; the environment never truncates."""
    env = VerilogSpecEnv(PROBLEMS, max_turns=max_turns)
    env.reset(options={"problem_id": "counter"})
    for turn in range(1, max_turns + 1):
        obs, reward, terminated, truncated, info = env.step(answer(WRONG_WRAP))
        assert (reward, terminated, truncated, info["turn"]) == (0.0, turn == max_turns, False, turn)
        last = turn == max_turns  # feedback only where there is a next turn to read it
        assert obs[-1] == ({"role": "assistant", "content": answer(WRONG_WRAP)} if last
                           else {"role": "user", "content": info["feedback"]})

    for correct_at in range(1, max_turns + 1):
        env.reset(options={"problem_id": "counter"})
        for _ in range(correct_at - 1):
            env.step(answer(WRONG_WRAP))
        obs, reward, terminated, truncated, info = env.step(answer(COUNTER))
        assert (reward, terminated, truncated, info["turn"]) == (1.0, True, False, correct_at)


def test_a_time_limit_from_outside_truncates():
    """What ``truncated`` is left for (README "Episode end"): a limit outside the task."""
    env = gymnasium.make(verilog_env.ENV_ID, suite=Suite("t", PROBLEMS), max_turns=3, max_episode_steps=1)
    env.reset(options={"problem_id": "counter"})
    _, _, terminated, truncated, _ = env.step(answer(WRONG_WRAP))
    assert (terminated, truncated) == (False, True)


def test_multi_turn_ends_at_the_turn_limit_with_compile_feedback():
    env = VerilogSpecEnv(PROBLEMS, max_turns=2)
    env.reset(options={"problem_id": "xor"})
    obs, _, terminated, truncated, info = env.step(answer(XOR.replace("a ^ b", "a ^ c")))
    assert (terminated, truncated, info["status"]) == (False, False, "compile_error")
    assert obs[-1]["content"].startswith("Your code does not compile:") and "'c'" in obs[-1]["content"]
    _, _, terminated, truncated, _ = env.step("no idea")
    assert (terminated, truncated) == (True, False)


def test_step_before_reset_and_bad_arguments():
    env = VerilogSpecEnv(PROBLEMS)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step("x")
    with pytest.raises(ValueError, match="max_turns"):
        VerilogSpecEnv(PROBLEMS, max_turns=0)


def test_reward_and_check_settings_are_used():
    env = VerilogSpecEnv(PROBLEMS, reward=RewardConfig(require_format=False, format_penalty=0.25), check=CheckSettings(seed=5, cycles=200))
    env.reset(options={"problem_id": "xor"})
    _, reward, _, _, info = env.step(f"```verilog\n{XOR}\n```")
    assert reward == pytest.approx(0.75)
    assert "seed 5" in info["reason"]


def test_render_ansi():
    env = VerilogSpecEnv(PROBLEMS, render_mode="ansi")
    env.reset(options={"problem_id": "xor"})
    assert env.render().startswith("[xor] turn 0/1\nBitwise XOR")
    env.step(answer(XOR))
    assert env.render() == "[xor] turn 1/1: reward 1 (equivalent) outputs matched the reference at all 2000 sampled ticks (seed 0)"


@pytest.mark.parametrize("mode, kwargs", [("sync", {}), ("async", {"shared_memory": False})])
def test_make_vec(mode, kwargs):
    envs = gymnasium.make_vec(
        verilog_env.ENV_ID, num_envs=2, vectorization_mode=mode, vector_kwargs=kwargs, suite=Suite("t", PROBLEMS)
    )
    try:
        obs, info = envs.reset(seed=0, options={"problem_id": "counter"})
        assert len(obs) == 2 and list(info["problem_id"]) == ["counter", "counter"]
        _, rewards, terminated, truncated, info = envs.step((answer(COUNTER), answer(WRONG_WRAP)))
        assert rewards.tolist() == [1.0, 0.0]
        assert terminated.tolist() == [True, True] and not truncated.any()
        assert list(info["status"]) == ["equivalent", "mismatch"]
        assert isinstance(info["verdict"], np.ndarray) and info["verdict"][1].counterexample is not None
    finally:
        envs.close()


def test_gym_loop_example_runs():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "gym_loop.py"
    out = subprocess.run([sys.executable, str(script), "--episodes", "2"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": compile_error (reward 0)") == 2
    assert out.stdout.count(": equivalent (reward 1)") == 2


def test_check_settings_method_both_reaches_the_env_reward():
    """CheckSettings(method="both") given to the environment (here through gymnasium.make)
    scores a simulation-passing, formally refuted answer 0; the default settings pay it."""
    from formal_trap import BOTH, PROBLEM, RIGHT_RESPONSE, TRAP_RESPONSE

    def reward(check: CheckSettings, response: str) -> float:
        env = gymnasium.make("verilog_env/VerilogSpec-v0", suite=[PROBLEM], check=check)
        env.reset(seed=0)
        return env.step(response)[1]

    assert reward(CheckSettings(), TRAP_RESPONSE) == 1.0  # random simulation misses the bug
    assert reward(BOTH, TRAP_RESPONSE) == 0.0
    assert reward(BOTH, RIGHT_RESPONSE) == 1.0
