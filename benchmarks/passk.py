"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models
Trained on Code", section 2.1).

From ``n`` samples of a problem, ``c`` of them correct, the probability that at least one
of ``k`` samples drawn without replacement is correct::

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

The paper evaluates the product in floating point to avoid huge binomials; here it is
evaluated in exact rational arithmetic (Python integers do not overflow), so the result
is the correctly rounded value of the exact fraction, and a suite mean is the rounded
exact mean: figures are reproducible bit for bit, whatever the order of the problems.

``k > n`` is undefined (fewer samples than draws): :func:`pass_at_k` returns ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from math import comb

DEFAULT_KS = (1, 5, 10)


def _check(n: int, c: int, k: int) -> None:
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"pass@k: {name} must be an integer, got {value!r}")
    if n < 0 or c < 0:
        raise ValueError(f"pass@k: n and c must be >= 0, got n={n}, c={c}")
    if c > n:
        raise ValueError(f"pass@k: c ({c} correct) cannot exceed n ({n} samples)")
    if k < 1:
        raise ValueError(f"pass@k: k must be >= 1, got {k}")


def pass_at_k_exact(n: int, c: int, k: int) -> Fraction | None:
    """The exact pass@k of one problem as a fraction; ``None`` when ``k > n``."""
    _check(n, c, k)
    if k > n:
        return None
    if n - c < k:  # every draw of k contains a correct sample
        return Fraction(1)
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """pass@k of one problem (``n`` samples, ``c`` correct); ``None`` when ``k > n``.

    >>> pass_at_k(5, 2, 2)
    0.7
    """
    exact = pass_at_k_exact(n, c, k)
    return None if exact is None else float(exact)


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int, *, strict: bool = False) -> float | None:
    """Mean pass@k over problems given as ``(n, c)`` pairs.

    Problems with fewer than ``k`` samples have no pass@k: with ``strict`` the mean is
    then ``None``; otherwise they are left out (see :func:`defined_count` for how many
    were used). ``None`` when no problem is left.
    """
    values = []
    for n, c in counts:
        exact = pass_at_k_exact(n, c, k)
        if exact is None:
            if strict:
                return None
            continue
        values.append(exact)
    if not values:
        return None
    return float(sum(values, Fraction(0)) / len(values))


def defined_count(counts: Iterable[tuple[int, int]], k: int) -> int:
    """How many of the ``(n, c)`` problems have a pass@k (``n >= k``)."""
    return sum(1 for n, _ in counts if n >= k)


def per_problem(counts: Mapping[str, tuple[int, int]], ks: Iterable[int] = DEFAULT_KS) -> dict[str, dict]:
    """``{problem: {"n", "c", "pass@k"...}}`` for each ``(n, c)`` in ``counts``."""
    ks = tuple(ks)
    return {
        pid: {"n": n, "c": c, **{f"pass@{k}": pass_at_k(n, c, k) for k in ks}} for pid, (n, c) in counts.items()
    }


def suite_summary(counts: Mapping[str, tuple[int, int]], ks: Iterable[int] = DEFAULT_KS) -> dict:
    """Suite means: ``{"problems": N, "pass@k": mean or None, "problems@k": how many
    problems the mean of k covers}`` (problems with ``n < k`` are left out of that mean)."""
    ks = tuple(ks)
    pairs = list(counts.values())
    out: dict = {"problems": len(pairs)}
    for k in ks:
        out[f"pass@{k}"] = mean_pass_at_k(pairs, k)
        out[f"problems@{k}"] = defined_count(pairs, k)
    return out
