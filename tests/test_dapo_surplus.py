"""Surplus groups (kept for a later step) are trained with the log-probs of the policy
that sampled them, not recomputed with the current one (issue 15 item 3)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from trainers.dapo import trainer as dapo
from trainers.dapo.trainer import DAPOConfig, Group, Rollout

CPU = torch.device("cpu")


@pytest.fixture
def model():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    m = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    return m


def group(problem_id: str) -> Group:
    return Group(problem_id, [1, 2, 3], [Rollout([4, 5, 6], "a", 1.0, 1.0, "equivalent", False),
                                         Rollout([7, 8], "b", 0.0, 0.0, "mismatch", False)])


def test_surplus_groups_train_with_their_behaviour_logprobs(model, monkeypatch):
    config = DAPOConfig(micro_batch_size=4, mini_batch_size=4, temperature=1.0, device="cpu", kl_coef=0.0)
    surplus, fresh = group("kept_from_last_step"), group("sampled_now")
    assert dapo.remember_behaviour(model, [surplus], config, CPU, 0) == 1
    assert [len(r.behaviour_logprobs) for r in surplus.rollouts] == [3, 2]
    assert dapo.remember_behaviour(model, [surplus], config, CPU, 0) == 0  # recorded once
    behaviour = [list(r.behaviour_logprobs) for r in surplus.rollouts]
    restored = Group.from_dict(surplus.to_dict())  # checkpoints keep it
    assert [r.behaviour_logprobs for r in restored.rollouts] == behaviour

    with torch.no_grad():  # the policy moves before the surplus is trained
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    seen = []
    original = dapo.policy_loss

    def spy(logp, old, advantages, mask, *args):
        seen.append((logp.detach().clone(), old.clone(), mask.clone()))
        return original(logp, old, advantages, mask, *args)

    monkeypatch.setattr(dapo, "policy_loss", spy)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    dapo.policy_update(model, optimizer, scheduler, [surplus, fresh], config, CPU, pad_id=0)
    [(logp, old, mask)] = seen
    for i, (start, recorded) in enumerate(zip((2, 2), behaviour)):  # rows 0-1: the surplus group
        got = old[i, start:start + len(recorded)]
        assert torch.allclose(got, torch.tensor(recorded), atol=1e-6)
        assert not torch.allclose(got, logp[i, start:start + len(recorded)], atol=1e-4)  # the ratio is not 1
    on_policy = mask[2:] > 0  # rows 2-3: generated this step, old log-probs = current policy's
    assert torch.allclose(old[2:][on_policy], logp[2:][on_policy], atol=1e-5)


def test_timed_out_checks_are_left_out_of_filter_advantages_and_loss():
    """An answer whose check timed out (an overloaded checker as often as a slow design) is
    not scored 0 as wrong: it leaves its group (issue 15 item 8, bundled trainer)."""
    import numpy as np

    def answers(*statuses: str) -> Group:
        return Group("p", [1, 2], [Rollout([3, 4], "", float(s == "equivalent"), float(s == "equivalent"), s, False)
                                   for s in statuses])

    config, old = DAPOConfig(), DAPOConfig(exclude_check_timeouts=False)
    right_but_one_timeout = answers("equivalent", "equivalent", "timeout")
    assert not dapo.keeps_group(config)(right_but_one_timeout)  # every counted answer is right: no signal
    assert dapo.keeps_group(old)(right_but_one_timeout)  # scored 0, the timeout looked like a wrong answer

    [rows] = dapo.rows_of([answers("equivalent", "timeout", "mismatch", "equivalent")], config)
    assert [r.weight for r in rows] == [1.0, 0.0, 1.0, 1.0] and rows[1].advantage == 0.0
    expected = dapo.group_advantages(np.array([[1.0, 0.0, 1.0]]))[0]
    assert [rows[0].advantage, rows[2].advantage, rows[3].advantage] == pytest.approx(list(expected))
    [rows] = dapo.rows_of([answers("timeout", "timeout")], config)
    assert [r.weight for r in rows] == [0.0, 0.0]
