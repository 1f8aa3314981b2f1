"""The bundled DAPO trainer against CodeV-R1's and verl's behaviour (issue 15): the
dynamic-sampling filter judges accuracy, not the length-shaped reward; vLLM's prefix cache
is reset after every weight load; old log-probs are on-policy despite dropout; the KL
reference is the initial policy after a resume.

CPU only, tiny models built from scratch (no downloads); a few seconds in all.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from trainers.dapo import trainer as dapo
from trainers.dapo.trainer import DAPOConfig, Group, Rollout, keeps_group, rows_of, shaped_rewards


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- item 1: filter on accuracy, shape only the advantages ----------------------------------

def _scored_group(scores: list[float], lengths: list[int], config: DAPOConfig) -> Group:
    shaped = shaped_rewards(np.array(scores), np.array(lengths), config)
    return Group("p", [1, 2], [Rollout([5] * n, "", float(r), float(s), "equivalent" if s else "mismatch", False)
                               for s, n, r in zip(scores, lengths, shaped)])


def test_filter_judges_the_score_before_overlong_shaping():
    config = DAPOConfig()  # CodeV-R1's: max response 16384, buffer 1024, penalty 1.0, 16 samples
    into_buffer = config.max_response_length - config.overlong_buffer + 1  # penalty 1/1024 ~ 0.001
    lengths = [900] * 15 + [into_buffer]
    all_right = _scored_group([1.0] * 16, lengths, config)
    assert all_right.rewards[-1] == pytest.approx(1 - 1 / 1024) and all_right.rewards[0] == 1.0
    assert not keeps_group(config)(all_right)  # every answer correct: no signal, dropped
    mixed = _scored_group([1.0] * 8 + [0.0] * 8, lengths, config)
    assert keeps_group(config)(mixed)
    assert keeps_group(DAPOConfig(dynamic_sampling="off"))(all_right)
    # a surviving group's advantages come from the shaped reward: the long correct answer
    # ranks below the other correct ones
    [rows] = rows_of([mixed], config)
    advantages = [r.advantage for r in rows]
    assert advantages[0] > 0 and advantages[-1] < 0
    correct_long = _scored_group([1.0] * 8 + [0.0] * 7 + [1.0], lengths, config)
    [rows] = rows_of([correct_long], config)
    assert 0 < rows[-1].advantage < rows[0].advantage


# --- item 2: vLLM's prefix cache is reset after every weight load ---------------------------

class FakeLLM:
    """Stands in for ``vllm.LLM`` (vLLM needs a GPU): records the engine calls in order."""

    def __init__(self, events: list, reset_result=True, **kwargs):
        self.events, self.kwargs, self.reset_result = events, kwargs, reset_result
        self.loaded: dict = {}

    def apply_model(self, func):
        engine_model = type("EngineModel", (), {"load_weights": lambda _, items: self.loaded.update(items)})()
        self.events.append("apply_model")
        return [func(engine_model)]

    def reset_prefix_cache(self, reset_running_requests: bool = False, reset_connector: bool = False) -> bool:
        self.events.append("reset_prefix_cache")
        return self.reset_result


@pytest.fixture
def fake_vllm(monkeypatch):
    """A ``vllm`` module whose LLM is :class:`FakeLLM`; monkeypatch puts sys.modules back."""
    import sys
    import types

    events: list = []
    module = types.ModuleType("vllm")
    module.reset_result = True
    module.LLM = lambda **kwargs: FakeLLM(events, module.reset_result, **kwargs)
    monkeypatch.setitem(sys.modules, "vllm", module)
    for name in ("vllm.entrypoints", "vllm.entrypoints.llm"):  # what the back end checks imports
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setenv("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")  # the back end sets it if unset
    return module, events


def test_vllm_sync_resets_the_prefix_cache_after_loading_weights(fake_vllm):
    module, events = fake_vllm
    model = torch.nn.Linear(3, 2)
    config = DAPOConfig(backend="vllm", max_prompt_length=16, max_response_length=16)
    tokenizer = type("Tok", (), {"eos_token_id": 7})()
    model.generation_config = type("GenCfg", (), {"eos_token_id": 7})()
    generator = dapo.make_generator(config, model, tokenizer, torch.device("cuda"), "some/model")
    assert isinstance(generator, dapo.VLLMRollouts) and isinstance(generator.llm, FakeLLM)
    assert events == ["apply_model", "reset_prefix_cache"]  # the first load, too
    assert set(generator.llm.loaded) == {"weight", "bias"}
    with torch.no_grad():
        model.weight.add_(1.0)
    generator.sync(model)
    assert events == ["apply_model", "reset_prefix_cache"] * 2
    torch.testing.assert_close(generator.llm.loaded["weight"], model.weight.detach())
    generator.llm.reset_result = False  # vLLM could not drop its cache: stale KV must not go unnoticed
    with pytest.raises(RuntimeError, match="prefix cache"):
        generator.sync(model)


# --- a tiny end-to-end run on the CPU (items 6 and 7) ---------------------------------------

class FakeScore:
    """What rollout_round reads of a verilog_env Score: alternating 1/0 rewards, so every
    group has signal without running a simulator."""

    def __init__(self, reward: float):
        self.reward, self.verdict, self.reason = reward, None, ""
        self.status = "equivalent" if reward else "mismatch"
        self.correct = bool(reward)


@pytest.fixture(scope="module")
def curriculum_and_tokenizer():
    from trainers.demo import build_tokenizer, curriculum

    train, _ = curriculum()
    return train[:4], build_tokenizer([p.spec for p in train] + [p.golden for p in train], 300)


def save_tiny_llama(folder, tokenizer, **config_kw):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None, **config_kw)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def tiny_run_config(out, model_folder, **kw) -> DAPOConfig:
    base = dict(model=str(model_folder), output_dir=str(out), samples_per_prompt=2, prompts_per_step=2,
                mini_batch_size=2, micro_batch_size=2, max_response_length=6, overlong_buffer=0, lr=1e-2,
                dynamic_sampling="off", steps=1, save_every=0, eval_before_training=False, eval_every=0,
                log_rollouts=0, progress=False, tensorboard=False, device="cpu", seed=0)
    return DAPOConfig(**{**base, **kw})


@pytest.fixture
def fake_scores(monkeypatch):
    monkeypatch.setattr(dapo, "score_texts", lambda problems, texts, config: [FakeScore(float(i % 2)) for i in range(len(texts))])


# --- item 6: old log-probs on-policy despite dropout ----------------------------------------

def test_first_update_ratio_is_exactly_one_with_a_dropout_model(tmp_path, curriculum_and_tokenizer, fake_scores, monkeypatch):
    problems, tokenizer = curriculum_and_tokenizer
    model = save_tiny_llama(tmp_path / "init", tokenizer, attention_dropout=0.1)
    ids = torch.tensor([[3, 4, 5, 6, 7, 8, 9, 10]])
    model.train()
    assert not torch.equal(model(ids).logits, model(ids).logits)  # the dropout really is on in train mode

    log_ratios = []
    real_loss = dapo.policy_loss

    def recording_loss(logp, old, advantages, mask, *args, **kwargs):
        log_ratios.append(((logp.detach() - old) * (mask > 0)).abs().max().item())
        return real_loss(logp, old, advantages, mask, *args, **kwargs)

    monkeypatch.setattr(dapo, "policy_loss", recording_loss)
    config = tiny_run_config(tmp_path / "run", tmp_path / "init")  # one mini-batch: every loss call precedes the step
    result = dapo.train_dapo(config, train_problems=problems)
    assert result.steps == 1 and result.history[0]["optimizer_steps"] == 1
    assert len(log_ratios) == 2 and max(log_ratios) < 1e-6
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path / "run" / "checkpoint-1").attention_dropout == 0.0  # documented


def test_disable_dropout_reaches_config_modules_and_module_attributes():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=1, n_head=2))
    assert model.config.resid_pdrop == 0.1
    changed = dapo.disable_dropout(model)
    assert {"config.resid_pdrop", "config.embd_pdrop", "config.attn_pdrop"} <= set(changed)
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    model.train()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    assert torch.equal(model(ids).logits, model(ids).logits)
    assert dapo.disable_dropout(model) == []  # idempotent

    # cache_logprobs (the old and reference log-probs) runs in eval mode and restores the mode
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, attention_dropout=0.5))
    llama.train()
    rows = [dapo.Row([1, 2, 3, 4, 5, 6], 2, 1.0, 1.0)]
    first, second = [dapo.Row(r.ids, r.response_start, r.advantage, r.weight) for r in rows * 2]
    config = DAPOConfig(micro_batch_size=1, device="cpu")
    dapo.cache_logprobs(llama, [first], "old_logprobs", config, torch.device("cpu"), 0)
    dapo.cache_logprobs(llama, [second], "old_logprobs", config, torch.device("cpu"), 0)
    assert llama.training and torch.equal(first.old_logprobs, second.old_logprobs)


# --- item 7: after a resume the KL reference is still the initial policy --------------------

def test_resumed_run_keeps_the_initial_policy_as_kl_reference(tmp_path, curriculum_and_tokenizer, fake_scores, monkeypatch):
    problems, tokenizer = curriculum_and_tokenizer
    initial = {k: v.clone() for k, v in save_tiny_llama(tmp_path / "init", tokenizer).state_dict().items()}
    references = []
    real_update = dapo.policy_update

    def recording_update(model, optimizer, scheduler, groups, config, device, pad_id, ref_model=None):
        references.append({k: v.detach().clone() for k, v in ref_model.state_dict().items()})
        return real_update(model, optimizer, scheduler, groups, config, device, pad_id, ref_model)

    monkeypatch.setattr(dapo, "policy_update", recording_update)
    out = tmp_path / "run"
    dapo.train_dapo(tiny_run_config(out, tmp_path / "init", kl_coef=0.1), train_problems=problems)
    from transformers import AutoModelForCausalLM

    saved = AutoModelForCausalLM.from_pretrained(out / "checkpoint-1").state_dict()
    assert any(not torch.equal(saved[k], initial[k]) for k in initial)  # the step moved the policy
    result = dapo.train_dapo(tiny_run_config(out, tmp_path / "init", kl_coef=0.1, steps=2, resume=True),
                             train_problems=problems)
    assert result.steps == 2 and len(references) == 2
    for reference in references:  # the fresh run's and the resumed run's
        assert set(reference) == set(initial)
        assert all(torch.equal(reference[k], initial[k]) for k in initial)

    from trainers.config import ConfigError

    with pytest.raises(ConfigError, match="KL reference"):
        dapo.train_dapo(tiny_run_config(out, "", kl_coef=0.1, steps=3, resume=True), train_problems=problems)


def test_without_dynamic_sampling_a_step_generates_exactly_its_batch():
    """``dynamic_sampling: off`` keeps every group, so each step must generate exactly
    ``prompts_per_step`` prompts; sized from the survival estimate's lower bound, it
    generated 15 answers for a batch of 8 in the second step and threw the rest away."""
    config = DAPOConfig(dynamic_sampling="off", prompts_per_step=4)
    sampler, keep, asked = dapo.make_sampler(config), keeps_group(config), []

    def generate(n):
        asked.append(n)
        return [f"group{i}" for i in range(n)]

    for _ in range(5):
        batch, metrics = sampler.next_batch(generate, keep)
        assert len(batch) == 4 and metrics.surplus_left == 0
    assert asked == [4] * 5
