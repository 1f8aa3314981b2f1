"""The OpenRLHF plugins (trainers/openrlhf) driven through the real OpenRLHF 0.11.2 code.

OpenRLHF is installed by ``scripts/install_openrlhf_cpu.sh`` into ``.venv-openrlhf``, where
``make test`` and CI run this module (with ``VERILOG_ENV_REQUIRE_OPENRLHF=1``: a missing
install fails); elsewhere, without OpenRLHF, ``conftest.py`` does not collect it, and says so.
An install that is found but broken fails here at import. What runs for real: OpenRLHF's ``SingleTurnAgentExecutor`` (which
loads the reward file by path and calls it from ``asyncio.to_thread``),
``MultiTurnAgentExecutor`` and its agent-file loader, ``RolloutRayActor.generate_responses``,
``SamplesGenerator``, ``PromptDataset``, ``DeepspeedStrategy``, the ``train_ppo_ray``
command line and the ``PPOTrainer`` Ray actor; rewards come from the equivalence
checker (Icarus simulations). Stand-ins, and only these: the vLLM engine inside the
rollout actor (its token-level ``generate`` answers from canned texts), a byte-level
tokenizer built offline (no hub), and, where flash-attn is not installed (it needs CUDA
to build), an import-only stand-in for it whose functions raise: ``openrlhf.models``
imports it at module level, and no code path run here calls it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import openrlhf  # noqa: F401
import pytest
import ray
import torch
from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator
from openrlhf.trainer.ray.vllm_engine import RolloutRayActor, _load_agent_executor
from openrlhf.utils.agent import MultiTurnAgentExecutor, SingleTurnAgentExecutor
from vllm import SamplingParams
from vllm.outputs import CompletionOutput, RequestOutput

import verilog_env.service as service_module
from trainers.openrlhf import agent_path, reward_func_path, scoring, train_dapo
from trainers.openrlhf.data import (
    answer_text,
    check_rows,
    record_sft_rows,
    suite_sft_rows,
)
from trainers.openrlhf.samples_generator import (
    AdaptiveOptions,
    AdaptiveSamplesGenerator,
)
from verilog_env import load_suite
from verilog_env.export import rows as export_rows
from verilog_env.testing.mutation import mutants

SUITE = load_suite("starter")
TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def flash_attn_path(tmp_path_factory) -> str:
    """A directory to put on the path so that ``openrlhf.models`` imports without CUDA
    (empty when the real flash-attn is installed)."""
    root = tmp_path_factory.mktemp("flash_attn_stand_in")
    if importlib.util.find_spec("flash_attn") is None:
        pkg = root / "flash_attn"
        (pkg / "utils").mkdir(parents=True)
        raise_ = "def _missing(*args, **kwargs):\n    raise RuntimeError('flash-attn is not installed (CPU test stand-in)')\n"
        (pkg / "__init__.py").write_text("")
        (pkg / "utils" / "__init__.py").write_text("")
        (pkg / "utils" / "distributed.py").write_text(raise_ + "all_gather = _missing\n")
        (pkg / "bert_padding.py").write_text(
            raise_ + "index_first_axis = pad_input = rearrange = unpad_input = _missing\n"
        )
        sys.path.insert(0, str(root))
    return str(root)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> str:
    """A lossless byte-level tokenizer with ChatML special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML
    out = tmp_path_factory.mktemp("tokenizer")
    fast.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    text = "<|im_start|>user\nmodule m; assign y = a & ~b; endmodule<|im_end|>"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    return tok


def chat_prompt(tok, problem) -> str:
    return tok.apply_chat_template(problem.messages(), tokenize=False, add_generation_prompt=True)


def correct(problem) -> str:
    return answer_text(problem.golden, "Straight from the spec.")


def mutant(problem) -> str:
    return answer_text(mutants(problem.golden, limit=1)[0].text, "A subtle slip.")


def malformed(problem) -> str:
    return f"Here you go:\n```verilog\n{problem.golden}\n```"


def compile_error(problem) -> str:
    return answer_text(problem.golden.replace("endmodule", ""), "Forgot something.")


def hostile(problem) -> str:
    evil = 'initial begin $system("touch /tmp/verilog_env_pwned"); $display("PASS"); $finish; end\nendmodule'
    return answer_text(problem.golden.replace("endmodule", evil, 1), "Trust me.")


def request_output(tok, prompt_ids, text: str) -> RequestOutput:
    """What vLLM's engine returns for one finished request (ids end with <|im_end|>)."""
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    completion = CompletionOutput(
        index=0, text=text, token_ids=ids, cumulative_logprob=None, logprobs=None, finish_reason="stop"
    )
    return RequestOutput(
        request_id="canned",
        prompt=None,
        prompt_token_ids=list(prompt_ids),
        prompt_logprobs=None,
        outputs=[completion],
        finished=True,
    )


class ScriptedEngine:
    """Stands in for the rollout actor's ``generate`` (the method the executors call)."""

    def __init__(self, tok, answers: list[str]):
        self.tok, self.answers, self.prompts = tok, list(answers), []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        self.prompts.append(self.tok.decode(prompt_token_ids))
        return request_output(self.tok, prompt_token_ids, self.answers[len(self.prompts) - 1])


# ------------------------------------------------------------------------- reward file


def test_reward_file_through_openrlhf_executor(tokenizer):
    executor = SingleTurnAgentExecutor(remote_rm_url=reward_func_path())  # loads the file as OpenRLHF does
    assert executor.reward_func is not None and executor.reward_func.__module__ == "reward_func"
    problem = SUITE.get("abs_diff8")
    prompt = chat_prompt(tokenizer, problem)
    golden_label = json.dumps({"golden": problem.golden, "id": "inline"})
    cases = [
        ("correct", correct(problem), problem.id, 1.0),
        ("correct, golden as label", correct(problem), problem.golden, 1.0),
        ("correct, JSON label", correct(problem), golden_label, 1.0),
        ("wrong", mutant(problem), problem.id, 0.0),
        ("malformed", malformed(problem), problem.id, 0.0),
        ("hostile", hostile(problem), problem.id, 0.0),
        ("compile error", compile_error(problem), problem.id, 0.0),
        ("unknown label", correct(problem), "no_such_problem", 0.0),
    ]
    queries = [prompt + answer + "<|im_end|>" for _, answer, _, _ in cases]
    results = asyncio.run(
        executor._fetch_rewards_via_func(queries, [prompt] * len(cases), [label for _, _, label, _ in cases])
    )
    assert len(results) == len(cases)
    for (name, _, _, expected), info in zip(cases, results):
        assert set(info) == {"rewards", "scores", "extra_logs"}, name
        assert isinstance(info["rewards"], torch.Tensor) and info["rewards"].tolist() == [expected], name
        assert info["scores"].tolist() == [expected], name
        assert set(info["extra_logs"]) == set(scoring.LOG_KEYS), name
    logs = {name: {k: v.item() for k, v in info["extra_logs"].items()} for (name, *_), info in zip(cases, results)}
    assert logs["correct"]["correct"] == 1.0 and logs["correct"]["format_ok"] == 1.0
    assert logs["wrong"]["mismatch"] == 1.0
    assert logs["malformed"]["format_ok"] == 0.0
    assert logs["hostile"]["rejected"] == 1.0
    assert logs["compile error"]["compile_error"] == 1.0
    assert logs["unknown label"]["label_error"] == 1.0
    assert not os.path.exists("/tmp/verilog_env_pwned")


def test_reward_file_inside_openrlhf_single_turn_execute(tokenizer):
    """The whole single-turn path: tokenise, generate, decode the query, reward, output."""
    executor = SingleTurnAgentExecutor(remote_rm_url=reward_func_path())
    problem = SUITE.get("counter_mod10")
    for answer, expected in ((correct(problem), 1.0), (mutant(problem), 0.0)):
        out = asyncio.run(
            executor.execute(
                prompt=chat_prompt(tokenizer, problem),
                label=problem.id,
                sampling_params=SamplingParams(max_tokens=None, logprobs=None),
                max_length=8192,
                hf_tokenizer=tokenizer,
                llm_engine=ScriptedEngine(tokenizer, [answer]),
            )
        )
        assert out["reward"].tolist() == [expected] and out["scores"].tolist() == [expected]
        assert out["extra_logs"]["correct"].item() == expected


def test_reward_file_never_raises(tokenizer, monkeypatch):
    executor = SingleTurnAgentExecutor(remote_rm_url=reward_func_path())
    func = executor.reward_func
    problem = SUITE.get("abs_diff8")
    prompt = chat_prompt(tokenizer, problem)

    # a query that is not text
    out = func([None], [prompt], [problem.id])
    assert out["rewards"].tolist() == [0.0] and out["extra_logs"]["reward_internal_error"].tolist() == [1.0]

    # the checker itself fails
    def broken(*args, **kwargs):
        raise RuntimeError("checker exploded")

    monkeypatch.setattr(service_module, "score_many", broken)  # what the reward service's batcher calls
    out = func([prompt + correct(problem)], [prompt], [problem.id])
    assert out["rewards"].tolist() == [0.0] and out["extra_logs"]["reward_internal_error"].tolist() == [1.0]

    # a bug anywhere inside reward_func
    def bug(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setitem(func.__globals__, "score_responses", bug)
    out = func([prompt + correct(problem)], [prompt], [problem.id])
    assert out["rewards"].tolist() == [0.0] and out["extra_logs"]["reward_internal_error"].tolist() == [1.0]
    assert set(out["extra_logs"]) == set(scoring.LOG_KEYS)


def test_reward_deadline(monkeypatch):
    problem = SUITE.get("abs_diff8")

    def slow(*args, **kwargs):
        time.sleep(1.0)
        raise AssertionError("never reached in time")

    monkeypatch.setattr(service_module, "score_many", slow)
    started = time.monotonic()
    [outcome] = scoring.score_responses([correct(problem)], [problem.id], scoring.Settings(deadline=0.2))
    assert time.monotonic() - started < 0.9
    assert outcome.reward == 0.0 and outcome.logs["reward_timeout"] == 1.0


def test_settings_from_env():
    s = scoring.Settings.from_env(
        {"VERILOG_REWARD_FORMAT_PENALTY": "0.1", "VERILOG_REWARD_REQUIRE_FORMAT": "0", "VERILOG_REWARD_DEADLINE": "bad"}
    )
    assert s.reward.format_penalty == 0.1 and not s.reward.require_format and s.deadline == 120.0


@pytest.fixture
def trap_env(monkeypatch):
    """Sets the process's VERILOG_REWARD_* checker variables (the reward file and agent
    read them again when they change); all unset at first: the default settings."""
    from verilog_env import CheckSettings, formal

    if not formal.available():
        pytest.skip("Yosys not installed (scripts/ensure_yosys.sh)")
    for name in CheckSettings().to_env():
        monkeypatch.delenv(name, raising=False)

    def set_settings(check: CheckSettings) -> None:
        for name, value in check.to_env().items():
            monkeypatch.setenv(name, value)

    return set_settings


def test_method_both_reaches_the_reward_file(tokenizer, trap_env):
    from formal_trap import BOTH, LABEL, PROBLEM, RIGHT_RESPONSE, TRAP_RESPONSE

    executor = SingleTurnAgentExecutor(remote_rm_url=reward_func_path())
    prompt = chat_prompt(tokenizer, PROBLEM)

    def rewards() -> list[float]:
        queries = [prompt + answer + "<|im_end|>" for answer in (TRAP_RESPONSE, RIGHT_RESPONSE)]
        results = asyncio.run(executor._fetch_rewards_via_func(queries, [prompt] * 2, [LABEL] * 2))
        return [info["rewards"].item() for info in results]

    assert rewards() == [1.0, 1.0]  # random simulation misses the bug
    trap_env(BOTH)
    assert rewards() == [0.0, 1.0]


def test_malformed_checker_variable_stops_the_reward_file_from_loading(monkeypatch, caplog):
    monkeypatch.setenv("VERILOG_REWARD_METHOD", "proof")
    with pytest.raises(ValueError, match="VERILOG_REWARD_"):
        SingleTurnAgentExecutor(remote_rm_url=reward_func_path())
    with caplog.at_level("ERROR", logger="verilog_env.openrlhf"):
        outcomes = [scoring.score_responses([correct(SUITE[0])], [SUITE[0].id]) for _ in range(3)]
    assert all(o.reward == 0.0 and o.logs["reward_internal_error"] == 1.0 for [o] in outcomes)
    assert len([r for r in caplog.records if "method" in r.getMessage()]) <= 1  # said once, not per answer


def test_server_and_reward_file_log_the_same_keys_for_the_same_batch(tokenizer):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from loopback_server import running

    from verilog_env.server import ServerConfig, create_app

    problem = SUITE.get("abs_diff8")
    prompt = chat_prompt(tokenizer, problem)
    answers = [correct(problem), mutant(problem), malformed(problem), compile_error(problem), correct(problem)]
    labels = [problem.id] * 4 + ["no_such_problem"]
    queries = [prompt + answer + "<|im_end|>" for answer in answers]
    executor = SingleTurnAgentExecutor(remote_rm_url=reward_func_path())
    from_file = asyncio.run(executor._fetch_rewards_via_func(queries, [prompt] * len(queries), labels))
    config = ServerConfig(warmup=False)
    with running(create_app(config), config) as url:
        reply = httpx.post(url + "/reward", json={"query": queries, "prompts": [prompt] * len(queries), "labels": labels},
                           timeout=120)
    assert reply.status_code == 200, reply.text
    served = reply.json()
    for i, info in enumerate(from_file):
        assert list(info["extra_logs"]) == list(served["extra_logs"]), i  # the same keys, in the same order
        for key, values in served["extra_logs"].items():
            if key != "check_seconds":
                assert info["extra_logs"][key].item() == values[i], (i, key)
        assert info["rewards"].item() == served["rewards"][i] and info["scores"].item() == served["scores"][i]
    assert served["rewards"] == [1.0, 0.0, 0.0, 0.0, 0.0]


# ------------------------------------------------------------------------------ agent


def test_agent_through_openrlhf_multi_turn_executor(tokenizer):
    executor = _load_agent_executor(agent_path())  # OpenRLHF's own loader
    assert isinstance(executor, MultiTurnAgentExecutor)
    problem = SUITE.get("abs_diff8")
    prompt = chat_prompt(tokenizer, problem)
    engine = ScriptedEngine(tokenizer, [mutant(problem), correct(problem)])
    out = asyncio.run(
        executor.execute(
            prompt=prompt,
            label=problem.id,
            sampling_params=SamplingParams(max_tokens=None, logprobs=None),
            max_length=8192,
            hf_tokenizer=tokenizer,
            llm_engine=engine,
        )
    )
    assert out["reward"] == 1.0 and out["scores"].tolist() == [1.0]
    assert len(out["action_ranges"]) == 2 and len(engine.prompts) == 2
    second_turn = engine.prompts[1]
    feedback = second_turn[len(prompt) :]
    assert "behaves differently" in feedback and "expected" in feedback.lower()
    assert "<|im_end|>\n<|im_start|>user\n" in feedback and feedback.endswith("<|im_start|>assistant\n")
    assert problem.golden not in feedback  # only the golden's outputs, never its code
    assert out["extra_logs"]["turns"].item() == 2.0 and out["extra_logs"]["correct"].item() == 1.0


def test_agent_gives_compiler_feedback_and_stops_at_turn_limit(tokenizer, monkeypatch):
    monkeypatch.setenv("VERILOG_AGENT_MAX_TURNS", "2")
    executor = _load_agent_executor(agent_path())
    problem = SUITE.get("counter_mod10")
    engine = ScriptedEngine(tokenizer, [compile_error(problem), malformed(problem), correct(problem)])
    out = asyncio.run(
        executor.execute(
            prompt=chat_prompt(tokenizer, problem),
            label=problem.id,
            sampling_params=SamplingParams(max_tokens=None, logprobs=None),
            max_length=8192,
            hf_tokenizer=tokenizer,
            llm_engine=engine,
        )
    )
    assert len(engine.prompts) == 2 and out["reward"] == 0.0 and out["scores"].tolist() == [0.0]
    assert "does not compile" in engine.prompts[1]
    assert out["extra_logs"]["turns"].item() == 2.0 and out["extra_logs"]["format_ok"].item() == 0.0


def test_method_both_reaches_the_agent(tokenizer, trap_env, monkeypatch):
    from formal_trap import BOTH, LABEL, PROBLEM, RIGHT_RESPONSE, TRAP_RESPONSE

    monkeypatch.setenv("VERILOG_AGENT_MAX_TURNS", "1")
    executor = _load_agent_executor(agent_path())

    def episode(answer: str) -> float:
        out = asyncio.run(
            executor.execute(
                prompt=chat_prompt(tokenizer, PROBLEM),
                label=LABEL,
                sampling_params=SamplingParams(max_tokens=None, logprobs=None),
                max_length=8192,
                hf_tokenizer=tokenizer,
                llm_engine=ScriptedEngine(tokenizer, [answer]),
            )
        )
        return out["reward"]

    assert episode(TRAP_RESPONSE) == 1.0  # random simulation misses the bug
    trap_env(BOTH)
    assert episode(TRAP_RESPONSE) == 0.0
    assert episode(RIGHT_RESPONSE) == 1.0


# ------------------------------------------------------------- data and launchers (no Ray)


def test_sft_rows_parse_and_match_rl_prompts():
    rows = suite_sft_rows(SUITE)
    assert len(rows) == len(SUITE) and not check_rows(rows)
    rl = {r["problem_id"]: r["input"] for r in export_rows(SUITE, "openrlhf")}
    for row in rows[:5]:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][:2] == rl[row["problem_id"]]
    [row] = record_sft_rows(
        [
            {
                "spec": "Make an inverter TopModule(a, y).",
                "code": "module TopModule(input a, output y); assign y = ~a; endmodule",
                "reasoning": "y is not a",
            }
        ]
    )
    assert "<think>\ny is not a\n</think>" in row["messages"][-1]["content"] and not check_rows([row])


def test_dapo_launcher_defaults_yield_to_user_flags():
    _, options, argv = train_dapo.parse(
        ["--adaptive.estimator", "ema", "--rollout.batch_size", "64", "--actor.eps_clip_low_high", "0.1", "0.2"]
    )
    assert options["estimator"] == "ema"
    assert argv.count("--rollout.batch_size") == 1 and argv[argv.index("--rollout.batch_size") + 1] == "64"
    assert argv.count("--actor.eps_clip_low_high") == 1
    assert "--algo.dynamic_filtering_enable" in argv and reward_func_path() in argv
    _, _, argv = train_dapo.parse(["--verilog.agent"])
    assert agent_path() in argv and "--reward.remote_url" not in argv
    _, options, _ = train_dapo.parse(["--adaptive.off"])
    assert options is None


# ------------------------------------------------------------------ with a local Ray


@pytest.fixture(scope="module")
def ray_cluster(flash_attn_path):
    # workers import this module (the engine stand-in lives here), the repository and flash-attn's stand-in
    path = os.pathsep.join(
        p for p in (flash_attn_path, str(TESTS_DIR), str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {
        "PYTHONPATH": path,
        "VERILOG_ENV_SUITES": "starter",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=256 * 1024 * 1024, runtime_env={"env_vars": env})
    yield
    ray.shutdown()


class _Stop(Exception):
    pass


def args_openrlhf_gets(launcher_main, argv: list[str]):
    """Run one of our launchers for real and return the args OpenRLHF's trainer receives.

    The launcher runs OpenRLHF's CLI module with ``runpy``, which re-executes its
    ``from openrlhf.utils import get_strategy``: patching ``openrlhf.utils`` therefore
    reaches it, and the stand-in stops the run right after parsing."""
    import openrlhf.utils

    captured = {}

    def stop(args):
        captured["args"] = args
        raise _Stop

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(openrlhf.utils, "get_strategy", stop)
        with pytest.raises(_Stop):
            launcher_main(argv)
    return captured["args"]


def test_dapo_launcher_sets_codev_r1_lr_schedule_and_adam_betas(flash_attn_path, monkeypatch):
    """Issue 15 item 5: constant LR, no warm-up, Adam betas (0.9, 0.999) for actor and critic,
    as OpenRLHF's own parser reads the launcher's command line (OpenRLHF's defaults are
    cosine_with_min_lr, 3 % warm-up, betas (0.9, 0.95)); flags on the command line still win."""
    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # train() must not start Ray here
    base = ["--adaptive.off", "--actor.model_name_or_path", "unused"]
    args = args_openrlhf_gets(train_dapo.main, base)
    for role in (args.actor, args.critic):
        assert role.lr_scheduler == "constant" and role.lr_warmup_ratio == 0.0
        assert list(role.adam.betas) == [0.9, 0.999]
    assert args.actor.adam.lr == 1e-6
    given = ["--actor.lr_scheduler", "cosine_with_min_lr", "--actor.lr_warmup_ratio", "0.05",
             "--actor.adam.betas", "0.9", "0.95", "--critic.lr_scheduler", "linear"]
    args = args_openrlhf_gets(train_dapo.main, base + given)
    assert args.actor.lr_scheduler == "cosine_with_min_lr" and args.actor.lr_warmup_ratio == 0.05
    assert list(args.actor.adam.betas) == [0.9, 0.95] and args.critic.lr_scheduler == "linear"
    assert list(args.critic.adam.betas) == [0.9, 0.999] and args.critic.lr_warmup_ratio == 0.0


@pytest.fixture(scope="module")
def launched(ray_cluster, tokenizer_dir, tmp_path_factory):
    """Run ``python -m trainers.openrlhf.train_dapo`` for real up to the point where
    ``train_ppo_ray.train`` builds its strategy; return the parsed args and the dataset."""
    problems = [SUITE[i] for i in range(24)]
    data = tmp_path_factory.mktemp("rl") / "rl.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in export_rows(problems, "openrlhf")))
    argv = (
        f"--actor.model_name_or_path {tokenizer_dir} --data.prompt_dataset {data} --rollout.batch_size 4 "
        "--rollout.n_samples_per_prompt 4 --train.batch_size 16 --actor.num_gpus_per_node 1 --vllm.num_engines 2 "
        "--data.max_len 8192 --rollout.max_new_tokens 4096 --adaptive.max_round_prompts 12 --adaptive.estimator beta"
    ).split()
    return args_openrlhf_gets(train_dapo.main, argv), problems


def test_launcher_parses_with_openrlhf_cli_and_patches_trainers(launched):
    args, _ = launched
    assert list(args.actor.eps_clip_low_high) == [0.2, 0.28]
    assert args.algo.dynamic_filtering_enable and args.algo.advantage.estimator == "group_norm"
    assert args.reward.overlong_buffer_len == 1024 and args.reward.overlong_penalty_factor == 1.0
    assert args.actor.adam.lr == 1e-6 and args.actor.max_norm == 0.5 and args.algo.kl.init_coef == 0
    assert args.rollout.temperature == 1.0 and args.reward.remote_url == [reward_func_path()]
    assert args.rollout.batch_size == 4 and args.data.apply_chat_template and args.data.label_key == "label"
    import openrlhf.trainer.ppo_trainer as sync_trainer
    import openrlhf.trainer.ppo_trainer_async as async_trainer

    cls = sync_trainer.SamplesGenerator
    assert issubclass(cls, AdaptiveSamplesGenerator) and async_trainer.SamplesGenerator is cls
    assert cls.adaptive_options == AdaptiveOptions(estimator="beta", max_round_prompts=12)
    # what Ray ships: the actor classes by value, with the globals their methods read
    for actor in (sync_trainer.PPOTrainer, async_trainer.PPOTrainerAsync):
        shipped = ray.cloudpickle.loads(ray.cloudpickle.dumps(actor.__ray_metadata__.modified_class))
        original = shipped.__ray_actor_class__
        if actor is async_trainer.PPOTrainerAsync:
            original = original.__init__.__globals__["GenerateSamplesActor"].__ray_metadata__.modified_class
            original = original.__ray_actor_class__
        assert original.__init__.__globals__["SamplesGenerator"].adaptive_options == cls.adaptive_options


def _canned_answers(problems):
    """Per problem, the 4 answers its group gets: every third problem is informative
    (2 right, 2 wrong); the others are all right or all wrong."""
    canned, informative = {}, []
    for i, p in enumerate(problems):
        if i % 3 == 1:
            canned[p.spec] = [correct(p), malformed(p), correct(p), compile_error(p)]
            informative.append(p.id)
        elif i % 3 == 0:
            canned[p.spec] = [correct(p)] * 4
        else:
            canned[p.spec] = [malformed(p), compile_error(p), malformed(p), hostile(p)]
    return canned, informative


_RolloutActorClass = RolloutRayActor.__ray_metadata__.modified_class.__ray_actor_class__


class CannedRolloutActor(_RolloutActorClass):
    """OpenRLHF's rollout actor with its vLLM engine replaced by canned answers: the
    executor is chosen as the real ``__init__`` does, and ``generate_responses`` (the
    method ``SamplesGenerator`` calls) is the real one, running the real executor with
    this actor as its engine."""

    def __init__(self, canned: dict, tokenizer_dir: str, remote_rm_url=None, agent_func_path=None):
        from transformers import AutoTokenizer

        self.executor = (
            _load_agent_executor(agent_func_path) if agent_func_path else SingleTurnAgentExecutor(remote_rm_url)
        )
        self.canned, self.served = canned, {}
        self.tok = AutoTokenizer.from_pretrained(tokenizer_dir)

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        prompt = self.tok.decode(prompt_token_ids)
        key = next(k for k in self.canned if k in prompt)
        n = self.served[key] = self.served.get(key, 0) + 1
        return request_output(self.tok, prompt_token_ids, self.canned[key][(n - 1) % len(self.canned[key])])

    def get_num_unfinished_requests(self) -> int:
        return 0


@pytest.fixture(scope="module")
def engines(launched, tokenizer_dir):
    _, problems = launched
    canned, _ = _canned_answers(problems)
    remote = ray.remote(CannedRolloutActor)
    actors = [
        remote.options(num_cpus=0).remote(canned, tokenizer_dir, remote_rm_url=reward_func_path()) for _ in range(2)
    ]
    ray.get([a.get_num_unfinished_requests.remote() for a in actors])
    return actors


def _dataloader(args, tok):
    from openrlhf.datasets import PromptDataset
    from openrlhf.datasets.utils import blending_datasets
    from openrlhf.utils import get_strategy

    strategy = get_strategy(args)
    data = blending_datasets(args.data.prompt_dataset, None, strategy)
    dataset = PromptDataset(data, tok, strategy, input_template=args.data.input_template)
    return strategy, strategy.setup_dataloader(dataset, 1, True, False, dataset.collate_fn)  # in file order


def _run_steps(gen, steps, generate_kwargs):
    calls = []
    dispatch = gen._dispatch_prompts_to_vllm

    def counting(prompts, labels, **kw):
        calls.append(len(prompts))
        return dispatch(prompts, labels, **kw)

    gen._dispatch_prompts_to_vllm = counting
    batches = [gen.generate_samples(**generate_kwargs)[0] for _ in range(steps)]
    return batches, calls


def _groups(batch, problems):
    by_spec = {p.spec: p.id for p in problems}
    out: dict[str, list[float]] = {}
    for e in batch:
        pid = next(pid for spec, pid in by_spec.items() if spec in e.prompts[0])
        out.setdefault(pid, []).append(e.rewards.flatten()[0].item())
    return out


def test_adaptive_generator_fewer_rounds_same_groups(launched, engines, tokenizer):
    args, problems = launched
    strategy, stock_loader = _dataloader(args, tokenizer)
    _, adaptive_loader = _dataloader(args, tokenizer)
    import openrlhf.trainer.ppo_trainer as sync_trainer

    stock = SamplesGenerator(strategy, stock_loader, None, tokenizer, engines)
    adaptive = sync_trainer.SamplesGenerator(strategy, adaptive_loader, None, tokenizer, engines)  # as installed
    assert isinstance(adaptive, AdaptiveSamplesGenerator)
    kwargs = {  # what train_ppo_ray passes as generate kwargs
        "do_sample": True,
        "max_len": args.data.max_len,
        "max_new_tokens": args.rollout.max_new_tokens,
        "temperature": args.rollout.temperature,
        "top_p": args.rollout.top_p,
    }

    stock_batches, stock_calls = _run_steps(stock, 2, kwargs)
    adaptive_batches, adaptive_calls = _run_steps(adaptive, 2, kwargs)

    _, informative = _canned_answers(problems)
    for step, (s, a) in enumerate(zip(stock_batches, adaptive_batches)):
        sg, ag = _groups(s, problems), _groups(a, problems)
        assert set(sg) == set(ag) == set(informative[4 * step : 4 * step + 4]), step  # same kept groups
        for pid, rewards in ag.items():  # real checks: 2 right, 2 wrong
            assert sorted(rewards) == [0.0, 0.0, 1.0, 1.0] and sorted(sg[pid]) == sorted(rewards), pid
        assert len(a) == 16 and all("adaptive_rounds" in e.info and "correct" in e.info for e in a)
    # stock: the first batch plus one dispatch per rejected prompt; adaptive: a few rounds
    assert len(stock_calls) == 17 and len(adaptive_calls) == 3, (stock_calls, adaptive_calls)
    assert adaptive.step_metrics.groups_from_surplus == 1


def test_patched_class_reaches_the_ppo_trainer_actor(launched, engines, tokenizer_dir):
    """OpenRLHF's own ``PPOTrainer`` actor, created by Ray from the driver-side class,
    builds the adaptive generator and fills a batch with it."""
    args, _ = launched
    from openrlhf.trainer.ppo_trainer import PPOTrainer
    from openrlhf.utils import get_strategy

    trainer = PPOTrainer.options(num_cpus=0).remote(
        tokenizer_dir,
        get_strategy(args),
        None,
        None,
        None,
        None,
        engines,
        do_sample=True,
        max_len=args.data.max_len,
        max_new_tokens=args.rollout.max_new_tokens,
        temperature=args.rollout.temperature,
        top_p=args.rollout.top_p,
    )

    def one_step(self):
        gen = self.samples_generator
        samples, _, consumed, _ = gen.generate_samples(**self.generate_kwargs)
        return (
            type(gen).__mro__[1].__name__,
            gen.adaptive_options,
            [e.prompts[0] for e in samples],
            [e.scores.flatten()[0].item() for e in samples],
            consumed,
        )

    base, options, prompts, scores, consumed = ray.get(trainer.__ray_call__.remote(one_step), timeout=120)
    assert base == "AdaptiveSamplesGenerator" and options.max_round_prompts == 12
    assert len(prompts) == 16 and consumed > 4
    for start in range(0, 16, 4):  # every kept group has both right and wrong answers
        assert len(set(prompts[start : start + 4])) == 1 and 0 < sum(scores[start : start + 4]) < 4
    ray.kill(trainer)


def test_sft_launcher_and_data_through_openrlhf_sft_dataset(flash_attn_path, tokenizer, tmp_path):
    """``train_sft``'s command line parsed by OpenRLHF's own ``train_sft``, and our SFT rows
    read by its ``SFTDataset``: the prompt ends where the assistant turn starts and the
    trained response is exactly our answer."""
    data = tmp_path / "sft.jsonl"
    rows = suite_sft_rows([SUITE.get("abs_diff8"), SUITE.get("counter_mod10")])
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import openrlhf.utils
    from openrlhf.datasets import SFTDataset
    from openrlhf.datasets.utils import blending_datasets

    from trainers.openrlhf import train_sft

    args = args_openrlhf_gets(train_sft.main, ["--model.model_name_or_path", "unused", "--data.dataset", str(data)])
    assert args.data.input_key == "messages" and args.data.apply_chat_template and args.data.max_len == 16384
    assert args.train.max_epochs == 6 and args.adam.lr == 1e-5 and args.ds.zero_stage == 3
    strategy = openrlhf.utils.get_strategy(args)
    dataset = SFTDataset(
        blending_datasets(str(data), None, strategy), tokenizer, args.data.max_len, strategy, num_processors=1
    )
    assert len(dataset) == 2
    assert dataset.prompts[0].startswith("<|im_start|>system\n") and dataset.prompts[0].endswith(
        "<|im_start|>assistant\n"
    )
    assert dataset.responses[0] == rows[0]["messages"][-1]["content"] + "<|im_end|>\n"


@pytest.mark.parametrize("script", ["single_node.sh", "multi_node.sh"])
def test_example_dapo_command_lines_parse_in_openrlhf(script, ray_cluster, tokenizer_dir, tmp_path):
    """The adaptive-DAPO command of each example launch script, as written, passes our
    launcher and OpenRLHF's own parser (run last: it re-installs the launcher's patch)."""
    import re
    import shlex

    text = (Path(__file__).resolve().parents[1] / "examples" / "openrlhf" / script).read_text()
    command = re.search(r"^[ \t-]*python -m trainers\.openrlhf\.train_dapo((?:.*\\\n)*.*)", text, re.MULTILINE).group(1)
    data = tmp_path / "data"
    data.mkdir()
    (data / "rl.jsonl").write_text("".join(json.dumps(r) + "\n" for r in export_rows([SUITE[0]], "openrlhf")))
    values = {"CKPT": str(tmp_path / "ckpt"), "DATA": str(data), "GPUS": "8"}
    argv = shlex.split(re.sub(r"\$(\w+)", lambda m: values[m.group(1)], command.replace("\\\n", " ")))
    argv[argv.index("--actor.model_name_or_path") + 1] = tokenizer_dir
    args = args_openrlhf_gets(train_dapo.main, argv)
    assert args.data.prompt_dataset == str(data / "rl.jsonl") and args.reward.remote_url == [reward_func_path()]
    assert args.ds.zero_stage == 3 and args.vllm.num_engines == {"single_node.sh": 8, "multi_node.sh": 16}[script]
    assert list(args.actor.eps_clip_low_high) == [0.2, 0.28] and args.algo.dynamic_filtering_enable


# ------------------------------------------------------- issue 15 items 10 and 11


class _Args:
    """The ``strategy.args`` fields ``SamplesGenerator.generate_samples`` reads."""

    def __init__(self, batch_size: int, n: int):
        from types import SimpleNamespace as NS

        self.rollout = NS(batch_size=batch_size, n_samples_per_prompt=n, vllm_generate_batch_size=None)
        self.vllm = NS(enable_sleep=False)
        self.algo = NS(dynamic_filtering_enable=True)


def _scripted_generator(cls, loader, n: int, calls: list[int]):
    """``cls`` over ``loader`` with the engines replaced: prompt ``pK``'s group of ``n``
    is informative (one right answer) iff K % 3 == 1, else all wrong."""
    from types import SimpleNamespace

    from openrlhf.trainer.ppo_utils.experience import Experience

    gen = cls(SimpleNamespace(args=_Args(4, n)), loader, None, None, [])

    def dispatch(prompts, labels, **kwargs):
        calls.append(len(prompts))
        return [tuple((p, float(int(p[1:]) % 3 == 1 and i == 0)) for i in range(n)) for p in prompts]

    def experience(response, **kwargs):
        prompt, score = response
        return Experience(scores=torch.tensor([score]), rewards=torch.tensor([score]), prompts=[prompt])

    gen._dispatch_prompts_to_vllm = dispatch
    gen._process_response_into_experience = experience
    return gen


def _prompt_loader():
    from torchdata.stateful_dataloader import StatefulDataLoader

    rows = [(f"p{k}", f"label{k}") for k in range(200)]
    # OpenRLHF's prompt batches: (indices, prompts, labels, images)
    return StatefulDataLoader(rows, batch_size=1, shuffle=False,
                              collate_fn=lambda b: (None, [b[0][0]], [b[0][1]], [None]))


def test_adaptive_sampler_state_rides_openrlhf_checkpoint_and_resumes(tmp_path, monkeypatch):
    """Issue 15 item 10: what OpenRLHF 0.11.2 checkpoints (``client_states
    ["data_loader_state_dict"] = prompts_dataloader.state_dict()``, saved by DeepSpeed with
    torch.save and handed back to ``prompts_dataloader.load_state_dict`` on resume) carries
    the adaptive sampler: a resumed generator has the saved survival estimate, step and
    surplus groups, and its next batch (groups and round sizes) is the uninterrupted run's."""
    import trainers.openrlhf.samples_generator as sg

    monkeypatch.setattr(sg, "ray", type("R", (), {  # a ref is its group's responses, ready in dispatch order
        "get": staticmethod(lambda ref: list(ref)),
        "wait": staticmethod(lambda pending, num_returns: (pending[:num_returns], pending[num_returns:])),
    }))
    cls = sg.configured(AdaptiveOptions(estimator="beta", max_round_prompts=64))
    run_calls, resumed_calls = [], []
    run = _scripted_generator(cls, _prompt_loader(), 4, run_calls)
    for _ in range(2):
        run.generate_samples()
    assert run.sampler._surplus and run.sampler.estimator.estimate() is not None  # something to lose
    path = tmp_path / "client_states.pt"
    torch.save({"data_loader_state_dict": run.prompts_dataloader.state_dict()}, path)  # as the trainer saves it
    saved = torch.load(path, weights_only=False)["data_loader_state_dict"]  # as DeepSpeed loads it

    resumed = _scripted_generator(cls, _prompt_loader(), 4, resumed_calls)
    resumed.prompts_dataloader.load_state_dict(saved)  # as PPOTrainer.fit does on resume
    assert resumed.sampler.estimator == run.sampler.estimator and resumed.sampler.step == run.sampler.step
    assert [(s, [e.prompts for e in g]) for s, g in resumed.sampler._surplus] == [
        (s, [e.prompts for e in g]) for s, g in run.sampler._surplus
    ]

    del run_calls[:]
    expected = [e.prompts[0] for e in run.generate_samples()[0]]
    got = [e.prompts[0] for e in resumed.generate_samples()[0]]
    assert got == expected and resumed_calls == run_calls  # surplus trained, rounds sized from the saved estimate
    assert resumed.sampler.estimator == run.sampler.estimator


def test_openrlhf_checkpoints_the_prompt_dataloader_state(flash_attn_path):
    """The mechanism item 10 relies on, in OpenRLHF 0.11.2's own trainers: the dataloader's
    state_dict goes into the checkpoint's client_states and comes back on resume."""
    import inspect

    import openrlhf.trainer.ppo_trainer as sync_trainer
    import openrlhf.trainer.ppo_trainer_async as async_trainer

    def source(actor_class, method):
        return inspect.getsource(getattr(actor_class.__ray_metadata__.modified_class.__ray_actor_class__, method))

    assert '"data_loader_state_dict": self.prompts_dataloader.state_dict()' in source(sync_trainer.PPOTrainer, "fit")
    assert "self.prompts_dataloader.load_state_dict(state_dict)" in source(sync_trainer.PPOTrainer, "fit")
    generator_actor = async_trainer.GenerateSamplesActor
    assert '"data_loader_state_dict": self.prompts_dataloader.state_dict()' in source(generator_actor, "fit")
    assert "self.prompts_dataloader.load_state_dict(state_dict)" in source(generator_actor, "load_state_dict")


class _TrainerWith:
    """Stands in for a trainer actor that built ``generator_cls`` (PPOTrainer's shape)."""

    def __init__(self, generator_cls):
        self.samples_generator = object.__new__(generator_cls)


class _AsyncTrainerWith:
    """PPOTrainerAsync's shape: the generator lives in another actor."""

    def __init__(self, generator_cls):
        self.generator_actor = ray.remote(num_cpus=0)(_TrainerWith).remote(generator_cls)


def test_unpatched_trainer_actor_fails_fast_with_one_line(ray_cluster):
    """Issue 15 item 11: were Ray to ship OpenRLHF's trainer by reference, its actor would
    build the stock SamplesGenerator and the job would silently run stock filtering; the
    checked ``remote`` the launcher installs raises a one-line error as the actor starts."""
    from trainers.openrlhf.samples_generator import checked_remote, configured

    for shape in (_TrainerWith, _AsyncTrainerWith):
        trainer_class = ray.remote(num_cpus=0)(shape)
        checked_remote(trainer_class)
        checked_remote(trainer_class)  # idempotent: one check per creation
        with pytest.raises(RuntimeError) as info:
            trainer_class.remote(SamplesGenerator)
        message = str(info.value)
        assert message.startswith("adaptive DAPO is not active") and "\n" not in message, message
        assert "openrlhf.trainer.ppo_utils.samples_generator.SamplesGenerator" in message
        assert "--adaptive.off" in message
        handle = trainer_class.remote(configured(AdaptiveOptions()))  # the adaptive one passes
        ray.kill(handle)


def test_launcher_installs_the_check_on_openrlhf_trainers(launched, engines, tokenizer_dir):
    """The launcher wraps both OpenRLHF trainers' ``remote``; the check passes on OpenRLHF's
    real ``PPOTrainer`` actor built with the patch."""
    import openrlhf.trainer.ppo_trainer as sync_trainer
    import openrlhf.trainer.ppo_trainer_async as async_trainer
    from openrlhf.utils import get_strategy

    from trainers.openrlhf.samples_generator import check_adaptive

    for actor_class in (sync_trainer.PPOTrainer, async_trainer.PPOTrainerAsync):
        assert hasattr(actor_class.remote, "__wrapped_remote__"), actor_class
    args, _ = launched
    trainer = sync_trainer.PPOTrainer.options(num_cpus=0).remote(
        tokenizer_dir, get_strategy(args), None, None, None, None, engines, do_sample=True, max_len=args.data.max_len
    )
    check_adaptive(trainer)  # no error: it built the adaptive generator
    ray.kill(trainer)


def test_adaptive_round_drops_rejected_groups_as_they_return(monkeypatch):
    """A round's groups are filtered one by one as the engines return them (ray.wait), so
    a round holds its survivors, not every group it sampled (issue 15 item 9): at floor 0.1
    a 128-prompt step is ~1,400 prompts x 16 sequences of up to 18K tokens."""
    import gc
    import weakref

    from trainers.dapo.sampler import AdaptiveSampler, MovingAverage
    from trainers.openrlhf import samples_generator as sg

    class Exp:  # what the filter reads of an Experience
        def __init__(self, score: float):
            self.scores, self.info = torch.tensor([score]), {}

    alive, peak = weakref.WeakSet(), [0]
    scores = {i: [1.0, 0.0] if i % 4 == 0 else [1.0, 1.0] for i in range(12)}  # 3 of 12 informative

    def process(response, **_):
        e = Exp(response)
        alive.add(e)
        gc.collect()
        peak[0] = max(peak[0], len(alive))
        return e

    gen = object.__new__(sg.AdaptiveSamplesGenerator)
    gen.sampler = AdaptiveSampler(batch_size=3, estimator=MovingAverage(value=0.25), floor=0.1, max_rounds=1,
                                  keep_surplus=False, margin_z=0.0)
    gen.rounds_dispatched, gen.step_metrics = 0, None
    gen._dispatch_prompts_to_vllm = lambda prompts, labels, **_: list(prompts)  # a ref per prompt: its index
    gen._process_response_into_experience = process
    monkeypatch.setattr(sg.ray, "wait", lambda pending, num_returns: (pending[:num_returns], pending[num_returns:]))
    monkeypatch.setattr(sg.ray, "get", lambda ref: scores[ref])
    loader = iter([(None, [i], [f"label{i}"], [None]) for i in range(12)])

    experiences, consumed, _ = gen._generate_vllm(loader, 3, True)
    assert consumed == 12 and gen.step_metrics.prompts_sampled == 12 and gen.step_metrics.groups_kept == 3
    assert sorted(e.scores.item() for e in experiences) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert peak[0] <= len(experiences) + 2  # the kept groups and the one being read, never the round


def test_group_with_a_timed_out_check_is_left_out_of_the_batch(tokenizer, monkeypatch):
    """Issue 15 item 8: an answer whose check timed out has an unknown reward; the adaptive
    generator leaves its group out like a filtered one (scored 0 it would be trained as
    wrong) and logs the count, unless ``--adaptive.keep_check_timeouts``. The whole path is
    real: the reward file as OpenRLHF's executor runs it (a real simulation that hangs, cut
    by the checker's timeout), OpenRLHF's own ``_process_response_into_experience``
    (which copies ``extra_logs`` into ``Experience.info``), then our filter."""
    import trainers.openrlhf.samples_generator as sg
    from trainers.dapo.sampler import AdaptiveSampler, MovingAverage

    monkeypatch.setenv("VERILOG_REWARD_CHECK_TIMEOUT", "1.5")
    problem = SUITE.get("counter_mod10")
    body, tail = problem.golden.rsplit("endmodule", 1)
    hang = answer_text(body + "  always @(posedge clk) while (1) ;\nendmodule" + tail, "Loops forever.")
    executor = SingleTurnAgentExecutor(remote_rm_url=reward_func_path())

    def group(answers):
        outs = [asyncio.run(executor.execute(
            prompt=chat_prompt(tokenizer, problem), label=problem.id,
            sampling_params=SamplingParams(max_tokens=None, logprobs=None), max_length=8192,
            hf_tokenizer=tokenizer, llm_engine=ScriptedEngine(tokenizer, [a]))) for a in answers]
        return [SamplesGenerator._process_response_into_experience(None, out, max_len=8192) for out in outs]

    timed_out, informative = group([correct(problem), hang]), group([correct(problem), mutant(problem)])
    assert [e.info["timeout"].item() for e in timed_out] == [0.0, 1.0]
    assert [e.scores.item() for e in timed_out] == [1.0, 0.0]  # informative by its scores alone

    def generator(options):
        gen = object.__new__(sg.configured(options))
        gen.timeout_groups = 0
        return gen

    default = generator(AdaptiveOptions())
    assert default.adaptive_options.exclude_check_timeouts
    assert default._keep(informative) and not default._keep(timed_out) and default.timeout_groups == 1
    assert generator(AdaptiveOptions(exclude_check_timeouts=False))._keep(timed_out)

    # through a whole step: the count reaches the logged stats; the launcher flag turns it off
    groups = {0: timed_out, 1: informative}  # a ref is its prompt
    monkeypatch.setattr(sg, "ray", type("R", (), {
        "get": staticmethod(lambda ref: groups[ref]),
        "wait": staticmethod(lambda pending, num_returns: (pending[:num_returns], pending[num_returns:])),
    }))
    gen = generator(AdaptiveOptions(max_round_prompts=4))
    gen.sampler = AdaptiveSampler(batch_size=1, estimator=MovingAverage(value=0.5), floor=0.1, max_rounds=1,
                                  keep_surplus=False, margin_z=0.0)
    gen.rounds_dispatched, gen.step_metrics = 0, None
    gen._dispatch_prompts_to_vllm = lambda prompts, labels, **_: list(prompts)
    gen._process_response_into_experience = lambda e, **_: e
    experiences, _, _ = gen._generate_vllm(iter([(None, [0, 1], ["a", "b"], [None, None])]), 1, True)
    assert experiences == informative and gen.timeout_groups == 1
    assert all(e.info["adaptive_timeout_groups"].item() == 1.0 for e in experiences)
    _, options, _ = train_dapo.parse(["--adaptive.keep_check_timeouts"])
    assert options["exclude_check_timeouts"] is False
    assert train_dapo.parse([])[1]["exclude_check_timeouts"] is True
