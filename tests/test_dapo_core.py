"""DAPO core functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainers.dapo.advantages import group_advantages
from trainers.dapo.filters import informative_groups, truncation_mask
from trainers.dapo.loss import masked_mean, policy_loss
from trainers.dapo.sampler import AdaptiveSampler, BetaLowerBound, MovingAverage, RunningMin, round_size
from trainers.dapo.shaping import overlong_penalty


# --- advantages ---------------------------------------------------------------------------

def test_group_advantages_normalised():
    adv = group_advantages(np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]), eps=0.0 + 1e-12)
    # mean 0.5, unbiased std sqrt(1/3) (issue 15 item 12: was the population std 0.5, advantages +-1)
    np.testing.assert_allclose(adv[0], np.array([1, -1, -1, 1]) * math.sqrt(3) / 2, atol=1e-9)
    np.testing.assert_array_equal(adv[1], [0, 0, 0, 0])


def test_group_advantages_use_the_unbiased_std_like_torch_std():
    """CodeV-R1 (verl) and OpenRLHF divide by torch.std (ddof=1): at n=16 the population
    std made every advantage sqrt(16/15) = 1.033 times too large."""
    rewards = np.random.default_rng(0).integers(0, 2, size=(5, 16)).astype(np.float64)
    rewards[0, :2] = (0.0, 1.0)  # no group is constant
    t = torch.tensor(rewards)
    expected = ((t - t.mean(dim=1, keepdim=True)) / (t.std(dim=1, keepdim=True) + 1e-6)).numpy()
    np.testing.assert_allclose(group_advantages(rewards), expected, rtol=1e-12, atol=1e-12)
    population = group_advantages(rewards, ddof=0)
    np.testing.assert_allclose(population[0] / group_advantages(rewards)[0], math.sqrt(16 / 15), rtol=1e-5)
    np.testing.assert_array_equal(group_advantages(np.array([[0.7]])), [[0.0]])  # one sample: no spread


def test_group_advantages_mean_only_and_non_binary():
    np.testing.assert_allclose(group_advantages(np.array([[2.0, 0.0, 1.0]]), normalize_std=False), [[1, -1, 0]])
    # rewards 0.9 / -0.1 (format penalty): mean 0.4, unbiased std sqrt(0.5) (was the population std 0.5: +-1)
    np.testing.assert_allclose(group_advantages(np.array([[0.9, -0.1]]), eps=1e-12), [[math.sqrt(0.5), -math.sqrt(0.5)]],
                               atol=1e-9)
    with pytest.raises(ValueError, match="2-D"):
        group_advantages(np.array([1.0, 0.0]))


# --- loss ---------------------------------------------------------------------------------

def one_token_loss(ratio: float, advantage: float, **kw):
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    out = policy_loss(logp, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1), **kw)
    out.loss.backward()
    return out, logp.grad.item()


@pytest.mark.parametrize(
    "ratio, advantage, loss, grad, clipped",
    [
        (1.1, 1.0, -1.1, -1.1, False),   # inside the clip range: plain -rho*A, gradient -rho*A raises logp
        (1.5, 1.0, -1.28, 0.0, True),    # above 1+eps_high (0.28): clipped, no gradient
        (1.25, 1.0, -1.25, -1.25, False),  # above 1+0.2 but below 1+0.28: clip-higher keeps the gradient
        (0.5, -1.0, 0.8, 0.0, True),     # below 1-eps_low with A<0: clipped at 0.8
        (1.5, -1.0, 1.5, 1.5, False),    # A<0 and ratio high: unclipped (pessimistic), gradient lowers logp
        (0.5, 1.0, -0.5, -0.5, False),   # A>0 and ratio low: unclipped
    ],
)
def test_decoupled_clip_values_and_gradient_sign(ratio, advantage, loss, grad, clipped):
    out, g = one_token_loss(ratio, advantage)
    assert out.loss.item() == pytest.approx(loss, abs=1e-6)
    assert g == pytest.approx(grad, abs=1e-6)
    assert out.clip_fraction == (1.0 if clipped else 0.0)


def test_loss_is_a_token_mean_over_the_batch():
    # Sequence 0: one token, A=+1, ratio 1 -> -1. Sequence 1: three tokens, A=-1, ratio 1 -> +1 each.
    logp = torch.zeros(2, 3)
    mask = torch.tensor([[1.0, 0, 0], [1, 1, 1]])
    out = policy_loss(logp, torch.zeros(2, 3), torch.tensor([1.0, -1.0]), mask)
    assert out.loss.item() == pytest.approx((-1 + 3) / 4)  # not the sequence mean (0)


def test_kl_term_uses_k3_and_needs_a_reference():
    logp = torch.zeros(1, 1)
    ref = torch.tensor([[math.log(2.0)]])
    out = policy_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 1), kl_coef=0.5, ref_logprobs=ref)
    k3 = 2.0 - math.log(2.0) - 1.0
    assert out.kl == pytest.approx(k3) and out.loss.item() == pytest.approx(0.5 * k3)
    with pytest.raises(ValueError, match="ref_logprobs"):
        policy_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 1), kl_coef=0.1)


def test_masked_mean_of_empty_mask_is_zero():
    assert masked_mean(torch.ones(2, 2), torch.zeros(2, 2)).item() == 0.0


# --- shaping and filters ----------------------------------------------------------------

def test_overlong_penalty_ramp():
    np.testing.assert_allclose(overlong_penalty(np.array([6, 8, 10, 11, 0]), max_length=10, buffer_length=4), [0, -0.5, -1, -1, 0])
    np.testing.assert_allclose(overlong_penalty(np.array([9]), 10, 4, factor=2.0), [-1.5])
    with pytest.raises(ValueError, match="buffer_length"):
        overlong_penalty(np.array([1]), 10, 0)


def test_filter_uses_std_so_non_binary_rewards_work():
    rewards = np.array([[1, 1, 1], [0, 1, 0], [0.5, 0.5, 0.5], [-0.1, -0.1, 0.0], [0.3, 0.3, 0.3]])
    assert informative_groups(rewards).tolist() == [False, True, False, True, False]


def test_truncation_mask():
    assert truncation_mask(np.array([True, False]), mask_truncated=True).tolist() == [0.0, 1.0]
    assert truncation_mask(np.array([True, False]), mask_truncated=False).tolist() == [1.0, 1.0]


# --- sampler --------------------------------------------------------------------------------

def test_round_size():
    assert round_size(32, 0.25, floor=0.1, cap=4096) == 128
    assert round_size(32, None, floor=0.1, cap=4096) == 32
    assert round_size(32, 0.01, floor=0.1, cap=4096) == 320
    assert round_size(32, 0.01, floor=0.1, cap=100) == 100
    assert round_size(0, 0.5, floor=0.1, cap=100) == 0
    assert round_size(3, 0.7, floor=0.1, cap=100) == 5  # ceil(4.29)


def test_round_size_margin_solves_the_binomial_bound():
    # p = 0.5, needed = 32, z = 1: sqrt(m) = (0.5 + sqrt(0.25 + 64)) / 1 = 8.5156 -> m = ceil(72.52) = 73
    m = round_size(32, 0.5, floor=0.1, cap=4096, margin_z=1.0)
    assert m == 73
    assert m * 0.5 - math.sqrt(m * 0.25) >= 32 > (m - 1) * 0.5 - math.sqrt((m - 1) * 0.25)
    assert round_size(32, 1.0, floor=0.1, cap=4096, margin_z=2.0) == 32  # certain survival needs no margin


def test_estimators():
    rm, ema, beta = RunningMin(), MovingAverage(alpha=0.5), BetaLowerBound(decay=1.0, z=0.0)
    for est in (rm, ema, beta):
        assert est.estimate() is None
        est.update(10, 5)
        est.update(10, 8)
    assert rm.estimate() == 0.5
    assert ema.estimate() == pytest.approx(0.65)
    assert beta.estimate() == pytest.approx((1 + 13) / (2 + 20))  # posterior mean with z=0
    z1 = BetaLowerBound(decay=1.0, z=1.0)
    z1.update(20, 13)
    a, b = 14.0, 8.0
    assert z1.estimate() == pytest.approx(a / (a + b) - math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))


def survival_stream(pattern):
    """generate(n) returns n groups numbered in order; keep() says which survive (by pattern)."""
    counter = iter(range(10**6))
    calls = []

    def generate(n):
        calls.append(n)
        return [next(counter) for _ in range(n)]

    return generate, (lambda g: pattern(g)), calls


def test_adaptive_sampler_sizes_rounds_and_keeps_surplus():
    generate, keep, calls = survival_stream(lambda g: g % 2 == 0)  # half survive
    sampler = AdaptiveSampler(batch_size=4, estimator=RunningMin(), floor=0.1, margin_z=0.0)
    batch, m = sampler.next_batch(generate, keep)
    # no estimate yet: 4 prompts -> 2 kept (p=0.5); then ceil(2/0.5)=4 -> 2 more
    assert calls == [4, 4] and batch == [0, 2, 4, 6]
    assert (m.rounds, m.prompts_sampled, m.groups_kept, m.short) == (2, 8, 4, False)
    batch, m = sampler.next_batch(generate, keep)
    assert calls[2:] == [8] and m.rounds == 1 and batch == [8, 10, 12, 14]


def test_adaptive_sampler_uses_surplus_first_and_ages_it_out():
    generate, keep, calls = survival_stream(lambda g: True)
    sampler = AdaptiveSampler(batch_size=2, estimator=MovingAverage(), max_surplus_age=1, margin_z=0.0)
    sampler.estimator.update(10, 1)  # pessimistic estimate 0.1 -> over-generates 20
    batch, m = sampler.next_batch(generate, keep)
    assert calls == [20] and batch == [0, 1] and m.surplus_left == 18
    batch, m = sampler.next_batch(generate, keep)
    assert batch == [2, 3] and m.groups_from_surplus == 2 and m.rounds == 0
    batch, m = sampler.next_batch(generate, keep)  # the rest is 2 steps old now: dropped
    assert batch == [20, 21] and m.rounds == 1


def test_simulator_meets_its_targets(tmp_path):
    from trainers.dapo.simulate import main

    out = tmp_path / "sim.json"
    assert main(["--steps", "40", "--batch", "32", "--seeds", "1", "--out", str(out)]) == 0
    import json

    report = json.loads(out.read_text())
    for scenario, strategies in report["scenarios"].items():
        assert strategies["ours"]["rounds_per_step"] <= 1.1, scenario
        assert strategies["ours"]["samples_per_trained_sample"] <= strategies["codev_r1"]["samples_per_trained_sample"], scenario
        assert strategies["openrlhf"]["rounds_per_step"] > 1.5, scenario  # one-for-one replacement waves


def test_adaptive_sampler_gives_up_after_max_rounds():
    generate, keep, _ = survival_stream(lambda g: False)
    batch, m = AdaptiveSampler(batch_size=4, max_rounds=3, max_round_prompts=16).next_batch(generate, keep)
    assert batch == [] and m.short and m.rounds == 3
