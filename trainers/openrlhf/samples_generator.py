"""Adaptive DAPO inside OpenRLHF: a ``SamplesGenerator`` whose dynamic filtering is our
:class:`~trainers.dapo.sampler.AdaptiveSampler`.

OpenRLHF 0.11.2's ``SamplesGenerator._generate_vllm`` (with
``--algo.dynamic_filtering_enable``) dispatches a batch of prompts, drops each group whose
*mean* score is not strictly inside ``--algo.dynamic_filtering_range`` and dispatches
one replacement prompt per dropped group, one at a time, until the batch is full; the
surplus is never generated, but every replacement is another trip to the engines behind
the slowest group. :class:`AdaptiveSamplesGenerator` overrides only ``_generate_vllm``
(and only when dynamic filtering is on; evaluation and unfiltered runs use the stock
code): each round dispatches ``ceil(needed / p)`` prompts at once (``p`` = the running
survival estimate, see :func:`~trainers.dapo.sampler.round_size`), keeps groups whose
score *standard deviation* exceeds ``min_std``
(:func:`~trainers.dapo.filters.informative_groups`), and keeps surviving groups beyond
the batch for the next step. The rest of OpenRLHF's flow (prompt collection, engine
dispatch, turning responses into ``Experience`` objects, the sample buffer of
``generate_samples``) is the stock code, called as is.

No plugin hook selects the class: :func:`install` replaces the name ``SamplesGenerator``
in ``openrlhf.trainer.ppo_trainer`` and ``openrlhf.trainer.ppo_trainer_async`` on the
driver. Ray serialises the trainer actor classes (``PPOTrainer``, and
``PPOTrainerAsync`` with its ``GenerateSamplesActor``) by value, with the globals their
methods use, so the actors built on the cluster construct the configured class. That
class is made inside :func:`configured` so that it, and its options, travel by value
too; its base class here is imported by reference (install ``verilog-env`` on every
node).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import ray
import torch
from openrlhf.trainer.ppo_utils.samples_generator import (
    SamplesGenerator,
    _collect_prompt_batch,
)

from trainers.dapo.filters import informative_groups
from trainers.dapo.sampler import ESTIMATORS, AdaptiveSampler, StepMetrics

log = logging.getLogger("verilog_env.openrlhf")

PATCHED_MODULES = ("openrlhf.trainer.ppo_trainer", "openrlhf.trainer.ppo_trainer_async")


@dataclasses.dataclass(frozen=True)
class AdaptiveOptions:
    """Options of the adaptive sampler (see :class:`~trainers.dapo.sampler.AdaptiveSampler`)."""

    estimator: str = "beta"
    floor: float = 0.1
    max_round_prompts: int = 4096
    max_rounds: int = 8
    keep_surplus: bool = True
    max_surplus_age: int = 1
    margin_z: float = 1.3
    min_std: float = 1e-6

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if not 0 < self.floor <= 1:
            raise ValueError("floor must be in (0, 1]")
        if self.max_round_prompts < 1 or self.max_rounds < 1 or self.max_surplus_age < 0:
            raise ValueError("max_round_prompts and max_rounds must be >= 1, max_surplus_age >= 0")
        if self.margin_z < 0 or self.min_std < 0:
            raise ValueError("margin_z and min_std must be >= 0")


def group_scores(group: list[Any]) -> list[float] | None:
    """The scores of a prompt group's experiences (``None`` when some have none)."""
    if any(getattr(e, "scores", None) is None for e in group):
        return None
    return [float(e.scores.flatten()[0].item()) for e in group]


class AdaptiveSamplesGenerator(SamplesGenerator):
    """OpenRLHF's ``SamplesGenerator`` with adaptive DAPO rounds (see the module doc).

    Attributes kept for logging and tests: ``step_metrics`` (the last step's
    :class:`~trainers.dapo.sampler.StepMetrics`), ``rounds_dispatched`` (engine trips
    made with dynamic filtering, all steps).
    """

    adaptive_options: AdaptiveOptions = AdaptiveOptions()

    def __init__(self, strategy, prompts_dataloader, eval_dataloader, tokenizer, vllm_engines):
        super().__init__(strategy, prompts_dataloader, eval_dataloader, tokenizer, vllm_engines)
        opts = self.adaptive_options
        self.sampler: AdaptiveSampler = AdaptiveSampler(
            batch_size=max(1, int(self.args.rollout.batch_size)),
            estimator=ESTIMATORS[opts.estimator](),
            floor=opts.floor,
            max_round_prompts=opts.max_round_prompts,
            max_rounds=opts.max_rounds,
            keep_surplus=opts.keep_surplus,
            max_surplus_age=opts.max_surplus_age,
            margin_z=opts.margin_z,
        )
        self.step_metrics: StepMetrics | None = None
        self.rounds_dispatched = 0

    def _keep(self, group: list[Any]) -> bool:
        scores = group_scores(group)
        if scores is None:  # nothing to filter on (the stock filter keeps these too)
            return True
        return bool(informative_groups(np.asarray([scores], dtype=np.float64), self.adaptive_options.min_std)[0])

    def _generate_vllm(self, dataloader_iter, num_prompts: int, dynamic_filtering, **generate_kwargs):
        if not dynamic_filtering:
            return super()._generate_vllm(dataloader_iter, num_prompts, dynamic_filtering, **generate_kwargs)

        consumed = 0
        exhausted = False
        dispatched_before = self.rounds_dispatched

        def generate(n: int) -> list[list[Any]]:
            nonlocal consumed, exhausted
            if exhausted or n <= 0:
                return []
            prompts, labels, images, exhausted = _collect_prompt_batch(dataloader_iter, n)
            if not prompts:
                exhausted = True
                return []
            consumed += len(prompts)
            refs = self._dispatch_prompts_to_vllm(prompts, labels, images=images, **generate_kwargs)
            self.rounds_dispatched += 1
            # one group per prompt, in dispatch (= dataloader) order
            return [
                [self._process_response_into_experience(r, **generate_kwargs) for r in responses]
                for responses in ray.get(refs)
            ]

        self.sampler.batch_size = max(1, int(num_prompts))
        groups, metrics = self.sampler.next_batch(generate, self._keep)
        self.step_metrics = metrics
        rounds = self.rounds_dispatched - dispatched_before  # engine trips (empty rounds at exhaustion excluded)
        log.info(
            "adaptive DAPO: %d group(s) (%d from surplus) in %d round(s), %d prompt(s) sampled, "
            "survival estimate %s, surplus left %d%s",
            len(groups),
            metrics.groups_from_surplus,
            rounds,
            metrics.prompts_sampled,
            "n/a" if metrics.estimate is None else f"{metrics.estimate:.3f}",
            metrics.surplus_left,
            " (short batch)" if metrics.short else "",
        )
        stats = {
            "adaptive_rounds": float(rounds),
            "adaptive_prompts_sampled": float(metrics.prompts_sampled),
            "adaptive_pass_rate": metrics.groups_kept / metrics.prompts_sampled if metrics.prompts_sampled else 0.0,
            "adaptive_survival_estimate": float(metrics.estimate) if metrics.estimate is not None else 0.0,
            "adaptive_from_surplus": float(metrics.groups_from_surplus),
            "adaptive_surplus_left": float(metrics.surplus_left),
        }
        experiences = [e for group in groups for e in group]
        for e in experiences:  # per-sample metrics (OpenRLHF logs Experience.info)
            for key, value in stats.items():
                e.info[key] = torch.tensor([value])
        return experiences, consumed, exhausted


def configured(options: AdaptiveOptions | None = None) -> type[AdaptiveSamplesGenerator]:
    """A subclass carrying ``options``; made here (a local class) so that Ray and
    cloudpickle ship it, options included, by value."""
    opts = options or AdaptiveOptions()

    class ConfiguredAdaptiveSamplesGenerator(AdaptiveSamplesGenerator):
        adaptive_options = opts

    return ConfiguredAdaptiveSamplesGenerator


def install(options: AdaptiveOptions | None = None) -> type[AdaptiveSamplesGenerator]:
    """Make OpenRLHF's trainers build the adaptive generator; returns the class installed.

    Call on the driver before ``openrlhf.cli.train_ppo_ray`` creates the trainer actors.
    """
    import importlib

    cls = configured(options)
    for name in PATCHED_MODULES:
        module = importlib.import_module(name)
        if not hasattr(module, "SamplesGenerator"):
            raise RuntimeError(f"{name} has no SamplesGenerator: this OpenRLHF version is not supported (0.11.2 is)")
        module.SamplesGenerator = cls
    return cls
