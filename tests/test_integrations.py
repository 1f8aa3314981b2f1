"""Reward functions for verl, TRL and plain Python, and label / query handling."""

from __future__ import annotations

import importlib.util
import json

import pytest
from readme import readme_block

from verilog_env import integrations, load_suite
from verilog_env.integrations.trl import verilog_reward
from verilog_env.labels import LabelError, ProblemIndex, response_of
from verilog_env.problems import DEFAULT_SYSTEM_PROMPT


@pytest.fixture(scope="module")
def problem():
    suite = load_suite("starter")
    return next(p for p in suite if "combinational" in p.tags)


def answer(code: str) -> str:
    return f"<think>ok</think><answer>```verilog\n{code}\n```</answer>"


def broken(code: str) -> str:
    return code.replace("endmodule", "wire oops = ; endmodule", 1)


# --- labels and queries -----------------------------------------------------------------

def test_label_forms(problem):
    index = ProblemIndex([load_suite("starter")])
    assert index.resolve(problem.id) == problem
    assert index.resolve(json.dumps({"problem_id": problem.id})) == problem
    adhoc = index.resolve(json.dumps({"golden": problem.golden, "top": "TopModule"}))
    assert adhoc.golden == problem.golden and adhoc.top == "TopModule"
    assert index.resolve(problem.golden).golden == problem.golden
    for bad in ("no_such_problem", "", None, '{"x": 1}', "{broken json"):
        with pytest.raises(LabelError):
            index.resolve(bad)


def test_response_of_strips_the_prompt_and_its_tag_mentions():
    prompt = f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\nspec<|im_end|>\n<|im_start|>assistant\n"
    assert "<think>" in prompt
    assert response_of(prompt + "RESPONSE<|im_end|>", prompt) == "RESPONSE<|im_end|>"
    assert response_of("noise " + prompt + "R", prompt) == "R"
    assert response_of(prompt + "R") == "\nR"  # no prompt given: cut after the assistant marker
    assert response_of("plain response") == "plain response"


# --- adapters ---------------------------------------------------------------------------

def test_reward_fn_plain_python(problem):
    rewards = integrations.reward_fn(["p"] * 4, [answer(problem.golden), answer(broken(problem.golden)), "junk", answer(problem.golden)], [problem.id, problem.id, problem.id, "unknown-id"])
    assert rewards == [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="differ in length"):
        integrations.reward_fn(["p"], [], [])


def test_verl_compute_score_loaded_by_path_like_verl_does(problem):
    spec = importlib.util.spec_from_file_location("custom_reward", integrations.__path__[0] + "/verl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.compute_score("verilog", answer(problem.golden), problem.id, extra_info={"index": 0}) == 1.0
    assert module.compute_score("verilog", answer(broken(problem.golden)), problem.id) == 0.0
    assert module.compute_score("verilog", answer(problem.golden), "not-a-problem") == 0.0
    batch = module.compute_score(["v", "v"], [answer(problem.golden), "x"], [problem.golden, problem.golden], [None, None])
    assert batch == [1.0, 0.0]


def test_trl_reward_accepts_text_and_conversational_completions(problem):
    completions = [answer(problem.golden), [{"role": "assistant", "content": answer(problem.golden)}], [{"role": "assistant", "content": "no"}]]
    assert verilog_reward(prompts=["p"] * 3, completions=completions, label=[problem.id] * 3, completion_ids=None) == [1.0, 1.0, 0.0]



TRL_RUN = """
import json, sys
import verilog_env.integrations.trl as trl_reward
calls, real = [], trl_reward.verilog_reward
def verilog_reward(prompts, completions, label, **kwargs):
    rewards = real(prompts, completions, label, **kwargs)
    calls.append({"prompts": prompts, "completions": completions, "label": list(label), "rewards": rewards})
    return rewards
trl_reward.verilog_reward = verilog_reward
sys.path.insert(0, "examples")
import trl_grpo
result = trl_grpo.main(["--tiny", "--steps", "2", "--out", sys.argv[1]])
print("RESULT " + json.dumps({"result": result, "calls": calls}))
"""


def test_trl_grpo_trainer_calls_the_reward_with_aligned_labels(tmp_path):
    """examples/trl_grpo.py under TRL's real GRPOTrainer: TRL hands ``verilog_reward`` the
    dataset's ``label`` column (here ``{"golden": ..., "id": ...}`` objects) aligned with the
    prompts, and its logged reward is ours."""
    if importlib.util.find_spec("trl") is None:
        pytest.skip("TRL is not installed (pip install -e '.[trl]'; make test installs it)")
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", TRL_RUN, str(tmp_path)], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert report["result"]["steps"] == 2 and len(report["calls"]) == 2
    problems = [json.loads(line) for line in (tmp_path / "warm_start" / "train_problems.jsonl").read_text().splitlines()]
    spec_of = {p["id"]: p["spec"] for p in problems}
    for call in report["calls"]:
        assert len(call["label"]) == len(call["completions"]) == len(call["rewards"]) == 16
        for prompt, label, completion in zip(call["prompts"], call["label"], call["completions"]):
            assert prompt[-1] == {"role": "user", "content": spec_of[json.loads(label)["id"]]}
            assert completion[-1]["role"] == "assistant"
        assert set(call["rewards"]) <= {0.0, 1.0}
        golden_answers = [[{"role": "assistant", "content": answer(json.loads(label)["golden"])}] for label in call["label"]]
        assert verilog_reward(call["prompts"], golden_answers, call["label"]) == [1.0] * 16
    assert [sum(c["rewards"]) / 16 for c in report["calls"]] == report["result"]["rewards"]


def test_trl_example_tiny_run_as_a_user_runs_it(tmp_path):
    """``python examples/trl_grpo.py --tiny --steps 2``, as the README says, in the venv
    ``make setup`` builds: it trains, and the SFT-warmed tiny model earns some reward (an
    untrained one earned 0 on every answer, which teaches nothing)."""
    if importlib.util.find_spec("trl") is None:
        pytest.skip("TRL is not installed (pip install -e '.[trl]'; make test installs it)")
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "examples/trl_grpo.py", "--tiny", "--steps", "2", "--out", str(tmp_path)],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    rewards = json.loads(re.search(r"2 steps; mean reward per step: (\[.*\])", run.stdout).group(1))
    assert len(rewards) == 2 and all(0.0 <= r <= 1.0 for r in rewards) and max(rewards) > 0.0


def test_readme_trl_snippet_runs_as_written(tmp_path):
    """The README's TRL snippet, run as a user would (a fresh interpreter, the venv
    ``make setup`` builds, nothing hidden from TRL), with only what cannot run here changed:
    the hub model becomes a small local one (no network) and the run is one short step."""
    if importlib.util.find_spec("trl") is None:
        pytest.skip("TRL is not installed (pip install -e '.[trl]'; make test installs it)")
    import subprocess
    import sys

    from trainers.demo import build_tokenizer, tiny_model

    suite = load_suite("starter")
    tokenizer = build_tokenizer([p.spec + "\n" + p.golden for p in suite], vocab_size=800)
    model = tiny_model(tokenizer, hidden=64, layers=2, heads=4, intermediate=128, seed=0)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    snippet = readme_block("**TRL** (`GRPOTrainer`")
    for old, new in {
        '"Qwen/Qwen2.5-Coder-1.5B-Instruct"': repr(str(tmp_path / "model")),
        "max_completion_length=2048": "max_completion_length=16, max_steps=1, per_device_train_batch_size=4, "
                                      "num_generations=4, use_cpu=True, report_to='none'",
    }.items():
        assert old in snippet, f"README's TRL snippet no longer contains {old}: update this test"
        snippet = snippet.replace(old, new)
    snippet += "\nprint('STEPS', trainer.state.global_step)\n"
    run = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "STEPS 1" in run.stdout
