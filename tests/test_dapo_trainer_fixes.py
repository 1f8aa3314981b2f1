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
