"""Group-normalised advantages (GRPO/DAPO).

For prompt group ``g`` with rewards ``r_g1..r_gn`` every response of the group gets

    A_gi = (r_gi - mean(r_g)) / (std(r_g) + eps)     (normalize_std=True)
    A_gi =  r_gi - mean(r_g)                         (normalize_std=False, Dr. GRPO style)

``std`` is the unbiased sample standard deviation (ddof=1), as ``torch.std`` computes it
in CodeV-R1's verl fork and in OpenRLHF; the population std (ddof=0) would make every
advantage sqrt(n / (n - 1)) times larger (3.3 % at n=16). A group of one response gets
zero advantages. A group whose rewards are all equal gets zero advantages either way
(DAPO filters such groups out beforehand). The per-response advantage is broadcast to
every token of the response by the loss.
"""

from __future__ import annotations

import numpy as np


def group_advantages(rewards: np.ndarray, normalize_std: bool = True, eps: float = 1e-6, ddof: int = 1) -> np.ndarray:
    """Advantages for a ``(groups, samples_per_group)`` reward array (same shape back).

    ``ddof``: delta degrees of freedom of the std (1: unbiased, CodeV-R1's and OpenRLHF's;
    0: the population std)."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"rewards must be 2-D (groups, samples), got shape {r.shape}")
    centred = r - r.mean(axis=1, keepdims=True)
    if not normalize_std:
        return centred
    if r.shape[1] <= ddof:  # no spread can be estimated: the centred rewards are all 0
        return centred
    return centred / (r.std(axis=1, ddof=ddof, keepdims=True) + eps)
