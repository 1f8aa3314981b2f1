"""Soft overlong punishment (DAPO).

With maximum response length ``L_max`` and buffer ``L_cache``, a response of length ``L``
gets an added reward of

    0                                       if L <= L_max - L_cache
    ((L_max - L_cache) - L) / L_cache * f   if L_max - L_cache < L <= L_max
    -f                                      if L > L_max

where ``f`` is the penalty factor (1.0 in DAPO and CodeV-R1, with L_cache = 1024).
"""

from __future__ import annotations

import numpy as np


def overlong_penalty(lengths: np.ndarray, max_length: int, buffer_length: int, factor: float = 1.0) -> np.ndarray:
    """The penalty (<= 0) for each response length."""
    if buffer_length <= 0 or buffer_length > max_length:
        raise ValueError(f"buffer_length must be in 1..max_length ({max_length}), got {buffer_length}")
    lengths = np.asarray(lengths, dtype=np.float64)
    start = max_length - buffer_length
    ramp = (start - lengths) / buffer_length * factor
    return np.where(lengths <= start, 0.0, np.where(lengths <= max_length, ramp, -factor))
