"""Adaptive DAPO sampling: size each generation round so one round usually suffices.

Plain DAPO generates a fixed batch of prompt groups, drops the groups whose rewards all
agree (:func:`~trainers.dapo.filters.informative_groups`), and repeats until a training
batch of ``batch_size`` groups survives, discarding the surplus. Adaptive DAPO keeps an
estimate ``p`` of the fraction of groups that survive and generates

    ceil(needed / max(p, floor))   prompts, at most ``max_round_prompts``,

where ``needed`` is the number of groups still missing (plus a binomial safety margin
when the surplus is kept, see :func:`round_size`). Surviving groups beyond the batch are kept for the next step (at most ``max_surplus_age`` steps old, since they
come from an older policy) instead of being thrown away.

The estimator is pluggable (:class:`SurvivalEstimator`):

* :class:`RunningMin` - the smallest survival ratio of any round so far (safe, but it
  only ratchets down, so it over-generates once training improves). Harsher than
  CodeV-R1's rule, which takes the lowest ratio of a completed step and of the current
  step's rounds, resetting the latter every step (modelled faithfully in
  :func:`trainers.dapo.simulate.run_codev_r1`);
* :class:`MovingAverage` - an exponential moving average of per-round ratios;
* :class:`BetaLowerBound` - a Beta posterior over the survival probability, with
  exponential forgetting for drift, read at ``mean - z * std`` (a lower confidence bound:
  under-estimating costs a few extra samples, over-estimating costs a whole extra round).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

Group = TypeVar("Group")


class SurvivalEstimator(Protocol):
    def estimate(self) -> float | None:
        """Current estimate of the surviving fraction (``None`` before any data)."""

    def update(self, sampled: int, survived: int) -> None:
        """Record that ``survived`` of ``sampled`` prompt groups passed the filter."""


@dataclasses.dataclass
class RunningMin:
    value: float | None = None

    def estimate(self) -> float | None:
        return self.value

    def update(self, sampled: int, survived: int) -> None:
        if sampled > 0:
            ratio = survived / sampled
            self.value = ratio if self.value is None else min(self.value, ratio)


@dataclasses.dataclass
class MovingAverage:
    alpha: float = 0.3
    value: float | None = None

    def estimate(self) -> float | None:
        return self.value

    def update(self, sampled: int, survived: int) -> None:
        if sampled > 0:
            ratio = survived / sampled
            self.value = ratio if self.value is None else (1 - self.alpha) * self.value + self.alpha * ratio


@dataclasses.dataclass
class BetaLowerBound:
    """Beta(a, b) posterior over the survival probability with forgetting factor ``decay``."""

    decay: float = 0.7
    z: float = 1.0
    a: float = 1.0
    b: float = 1.0
    observed: bool = False

    def estimate(self) -> float | None:
        if not self.observed:
            return None
        n = self.a + self.b
        mean = self.a / n
        std = math.sqrt(self.a * self.b / (n * n * (n + 1)))
        return max(0.0, mean - self.z * std)

    def update(self, sampled: int, survived: int) -> None:
        if sampled > 0:
            self.a = self.decay * self.a + survived
            self.b = self.decay * self.b + (sampled - survived)
            self.observed = True


ESTIMATORS: dict[str, Callable[[], SurvivalEstimator]] = {
    "running_min": RunningMin,
    "ema": MovingAverage,
    "beta": BetaLowerBound,
}


def round_size(needed: int, estimate: float | None, floor: float, cap: int, margin_z: float = 0.0) -> int:
    """Prompts to generate for ``needed`` surviving groups, capped at ``cap``.

    With ``margin_z = 0`` this is ceil(needed / p), p = max(estimate, floor): enough *on
    average*. A positive ``margin_z`` asks for the smallest m whose binomial survivor
    count m*p - z*sqrt(m*p*(1-p)) still reaches ``needed`` - enough in most rounds (z=1.3:
    about 90%), worth it when the surplus is kept rather than wasted.
    """
    if needed <= 0:
        return 0
    p = 1.0 if estimate is None else min(1.0, max(estimate, floor))
    spread = margin_z * math.sqrt(p * (1.0 - p))
    root = (spread + math.sqrt(spread * spread + 4.0 * p * needed)) / (2.0 * p)
    return max(1, min(cap, math.ceil(root * root - 1e-9)))


@dataclasses.dataclass
class StepMetrics:
    rounds: int
    prompts_sampled: int
    groups_kept: int
    groups_from_surplus: int
    surplus_left: int
    estimate: float | None
    short: bool  # the batch is incomplete because max_rounds was reached


class AdaptiveSampler(Generic[Group]):
    """Collects one training batch of informative groups per :meth:`next_batch` call.

    Args:
        batch_size: groups per training step.
        estimator: a :class:`SurvivalEstimator` (default :class:`BetaLowerBound`).
        floor: smallest estimate used for sizing (bounds a round at batch/floor prompts).
        max_round_prompts: largest generation round.
        max_rounds: rounds per step before giving up with a short batch.
        keep_surplus: keep surviving groups beyond the batch for the next steps.
        max_surplus_age: drop kept groups generated more than this many steps ago.
        margin_z: round-size safety margin (see :func:`round_size`); 0 without surplus.
    """

    def __init__(
        self,
        batch_size: int,
        estimator: SurvivalEstimator | None = None,
        *,
        floor: float = 0.1,
        max_round_prompts: int = 4096,
        max_rounds: int = 8,
        keep_surplus: bool = True,
        max_surplus_age: int = 1,
        margin_z: float = 1.3,
    ):
        if batch_size < 1 or not 0 < floor <= 1:
            raise ValueError("batch_size must be >= 1 and floor in (0, 1]")
        self.batch_size = batch_size
        self.estimator = estimator if estimator is not None else BetaLowerBound()
        self.floor = floor
        self.max_round_prompts = max_round_prompts
        self.max_rounds = max_rounds
        self.keep_surplus = keep_surplus
        self.max_surplus_age = max_surplus_age
        self.margin_z = margin_z if keep_surplus else 0.0
        self.step = 0
        self._surplus: list[tuple[int, Group]] = []

    def next_batch(
        self, generate: Callable[[int], Sequence[Group]], keep: Callable[[Group], bool]
    ) -> tuple[list[Group], StepMetrics]:
        """Generate rounds via ``generate(n_prompts)`` until ``batch_size`` groups pass ``keep``."""
        self._surplus = [(s, g) for s, g in self._surplus if self.step - s <= self.max_surplus_age]
        batch = [g for _, g in self._surplus[: self.batch_size]]
        from_surplus = len(batch)
        self._surplus = self._surplus[self.batch_size :]
        rounds = sampled = kept_total = 0
        fresh: list[Group] = []
        while len(batch) + len(fresh) < self.batch_size and rounds < self.max_rounds:
            needed = self.batch_size - len(batch) - len(fresh)
            n = round_size(needed, self.estimator.estimate(), self.floor, self.max_round_prompts, self.margin_z)
            groups = list(generate(n))
            kept = [g for g in groups if keep(g)]
            self.estimator.update(len(groups), len(kept))
            fresh.extend(kept)
            rounds, sampled, kept_total = rounds + 1, sampled + len(groups), kept_total + len(kept)
        room = self.batch_size - len(batch)
        batch.extend(fresh[:room])
        if self.keep_surplus:
            self._surplus.extend((self.step, g) for g in fresh[room:])
        self.step += 1
        metrics = StepMetrics(
            rounds=rounds,
            prompts_sampled=sampled,
            groups_kept=kept_total,
            groups_from_surplus=from_surplus,
            surplus_left=len(self._surplus),
            estimate=self.estimator.estimate(),
            short=len(batch) < self.batch_size,
        )
        return batch, metrics
