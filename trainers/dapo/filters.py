"""DAPO's dynamic-sampling filter and the truncation mask.

A prompt group whose rewards all agree carries no learning signal (its advantages are
zero), so DAPO drops it and samples more prompts. The test is a *standard deviation*
threshold, not "mean strictly between 0 and 1", so non-binary rewards (format penalties,
partial credit) are handled: a group is kept iff std(rewards) > min_std.

Pass the checker's scores *before* any length shaping (DAPO and CodeV-R1 filter on
accuracy: verl's ``filter_groups.metric=acc``; the overlong penalty is added afterwards,
for the advantages only). On shaped rewards a group of correct answers, one of them a
token into the overlong buffer, would survive with a std of ~0.0002 and its 0.001 penalty
would become advantages of -3.9 and +0.26.
"""

from __future__ import annotations

import numpy as np


def informative_groups(rewards: np.ndarray, min_std: float = 1e-6) -> np.ndarray:
    """Boolean mask over groups of a ``(groups, samples)`` reward array: True = keep."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"rewards must be 2-D (groups, samples), got shape {r.shape}")
    return r.std(axis=1) > min_std


def truncation_mask(truncated: np.ndarray, mask_truncated: bool) -> np.ndarray:
    """Per-response loss weight: 0 for responses cut at the length limit when masking is on."""
    truncated = np.asarray(truncated, dtype=bool)
    return np.where(truncated & mask_truncated, 0.0, 1.0)
