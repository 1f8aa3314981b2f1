"""Token-level policy-gradient loss with decoupled clipping (DAPO).

Per token t of response i, with importance ratio rho = exp(logp - logp_old):

    L_it = -min(rho * A_i, clip(rho, 1 - eps_low, 1 + eps_high) * A_i)

DAPO's "clip-higher": ``eps_high`` (0.28) > ``eps_low`` (0.2) leaves low-probability
tokens room to grow. The loss is averaged over *all tokens of the batch* ("token-mean"),
so long responses weigh by their length rather than being averaged per sequence first.
An optional KL penalty to a reference policy uses the k3 estimator
``exp(ref - logp) - (ref - logp) - 1`` (off by default, as in DAPO and CodeV-R1).
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class LossOutput:
    loss: torch.Tensor
    clip_fraction: float
    approx_kl: float  # mean of (logp_old - logp): drift from the sampling policy
    kl: float  # mean k3 KL to the reference policy (0 without one)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over tokens where ``mask`` is 1 (0 if the mask is empty)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    kl_coef: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
) -> LossOutput:
    """Clipped token-level loss for ``(batch, tokens)`` log-probs; ``advantages`` is ``(batch,)``.

    ``mask`` marks response tokens that count (1) - padding and, optionally, truncated
    responses are 0.
    """
    adv = advantages.to(logprobs.dtype).unsqueeze(-1)
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    with torch.no_grad():
        clip_fraction = masked_mean((clipped < unclipped).to(logprobs.dtype), mask).item()
        approx_kl = masked_mean(-log_ratio, mask).item()
    kl_value = 0.0
    if kl_coef:
        if ref_logprobs is None:
            raise ValueError("kl_coef > 0 needs ref_logprobs")
        delta = ref_logprobs - logprobs
        k3 = torch.exp(delta) - delta - 1.0
        per_token = per_token + kl_coef * k3
        kl_value = masked_mean(k3.detach(), mask).item()
    return LossOutput(masked_mean(per_token, mask), clip_fraction, approx_kl, kl_value)
