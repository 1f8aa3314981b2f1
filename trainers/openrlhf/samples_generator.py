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
node). Should that ever stop (Ray shipping the trainer classes by reference, so the actors
import OpenRLHF's own names), the job would silently run the stock filter: so
:func:`install` also makes the driver's ``PPOTrainer.remote`` / ``PPOTrainerAsync.remote``
ask the new actor which generator it built (:func:`check_adaptive`) and raise a one-line
``RuntimeError`` at start-up when it is not the adaptive one.

Checkpoints: the sampler's state (step, survival estimator's statistics, surplus groups
with their ``Experience`` objects, rounds dispatched) rides in OpenRLHF's own checkpoint.
OpenRLHF 0.11.2's trainers put ``prompts_dataloader.state_dict()`` into the
``client_states`` the actor saves with DeepSpeed's ``save_checkpoint`` (key
``data_loader_state_dict``, every step) and hand it back to
``prompts_dataloader.load_state_dict`` on resume; the generator shares that dataloader and
wraps both methods (:meth:`AdaptiveSamplesGenerator.sampler_state`, key
:data:`STATE_KEY`), so the surplus prompts the dataloader position already counts as
consumed are trained after a resume and the estimate continues where it was.
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
CHECKED_TRAINERS = (("openrlhf.trainer.ppo_trainer", "PPOTrainer"), ("openrlhf.trainer.ppo_trainer_async", "PPOTrainerAsync"))
"""The Ray actor classes whose ``remote`` :func:`install` makes check the generator."""

MARKER = "verilog_env_adaptive"
"""Class attribute (``True``) that marks the adaptive generator."""

STATE_KEY = "verilog_env_adaptive_sampler"
"""Key of the sampler's state inside the dataloader state OpenRLHF checkpoints."""

STATE_VERSION = 1

NOT_ACTIVE = (
    "adaptive DAPO is not active: OpenRLHF's trainer actor built {found}, not the adaptive "
    "SamplesGenerator (Ray no longer ships the trainer class by value?); run with "
    "--adaptive.off for OpenRLHF's own filtering, or use the tested ray/OpenRLHF {version}"
)


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
    exclude_check_timeouts: bool = True
    """Leave a group out of the batch, like a filtered one, when one of its answers has an
    unknown reward: its check timed out (``timeout``: an overloaded checker as often as a
    slow design) or it was not scored in time (``reward_timeout``). Scored 0 instead, a
    correct answer would be trained as wrong; and OpenRLHF normalises advantages over
    whole groups of ``n_samples_per_prompt``, so one answer cannot be dropped alone. The
    bundled trainer's ``exclude_check_timeouts`` does the same per answer."""

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


UNKNOWN_REWARD = ("timeout", "reward_timeout")
"""``extra_logs`` keys (:data:`verilog_env.service.LOG_KEYS`), 1 for an answer whose reward
is unknown; OpenRLHF copies them into ``Experience.info``."""


def unknown_reward(group: list[Any]) -> bool:
    """Whether an answer of the group has an unknown reward (see :data:`UNKNOWN_REWARD`)."""
    for e in group:
        info = getattr(e, "info", None) or {}
        if any(key in info and float(torch.as_tensor(info[key]).flatten()[0]) > 0 for key in UNKNOWN_REWARD):
            return True
    return False


FILTERED: tuple = ("filtered",)
"""What a round returns in place of a group the filter rejected as it came back: its
experiences (up to ``n_samples`` sequences of up to 18K tokens) are dropped at once, so a
round holds only its survivors, not ~1,400 prompts x 16 sequences at floor 0.1."""


class AdaptiveSamplesGenerator(SamplesGenerator):
    """OpenRLHF's ``SamplesGenerator`` with adaptive DAPO rounds (see the module doc).

    Attributes kept for logging and tests: ``step_metrics`` (the last step's
    :class:`~trainers.dapo.sampler.StepMetrics`), ``rounds_dispatched`` (engine trips
    made with dynamic filtering, all steps), ``timeout_groups`` (the last step's groups left
    out for an unknown reward, also logged as ``adaptive_timeout_groups``).
    """

    adaptive_options: AdaptiveOptions = AdaptiveOptions()
    verilog_env_adaptive = True  # MARKER, read by check_adaptive on the trainer actor

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
        self._hook_checkpoint()

    # ------------------------------------------------------------------ checkpoints

    def sampler_state(self) -> dict[str, Any]:
        """The adaptive sampler's state, a snapshot (lists copied): what a resume needs."""
        s = self.sampler
        return {
            "version": STATE_VERSION,
            "estimator_name": self.adaptive_options.estimator,
            "estimator": dataclasses.asdict(s.estimator),
            "step": s.step,
            "surplus": [(step, list(group)) for step, group in s._surplus],
            "rounds_dispatched": self.rounds_dispatched,
        }

    def load_sampler_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`sampler_state`'s snapshot (estimator statistics only when the
        estimator is the same kind; otherwise it starts afresh, with a warning)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"adaptive sampler state version {state.get('version')!r} (expected {STATE_VERSION})")
        s = self.sampler
        if state["estimator_name"] == self.adaptive_options.estimator:
            for key, value in state["estimator"].items():
                setattr(s.estimator, key, value)
        else:
            log.warning("adaptive DAPO: the checkpoint's estimator is %r, this run's %r: its estimate starts afresh",
                        state["estimator_name"], self.adaptive_options.estimator)
        s.step = int(state["step"])
        s._surplus = [(int(step), list(group)) for step, group in state["surplus"]]
        self.rounds_dispatched = int(state.get("rounds_dispatched", 0))
        estimate = s.estimator.estimate()
        log.info("adaptive DAPO: sampler restored at step %d, survival estimate %s, %d surplus group(s)",
                 s.step, "n/a" if estimate is None else f"{estimate:.3f}", len(s._surplus))

    def _hook_checkpoint(self) -> None:
        """Carry :meth:`sampler_state` in the prompt dataloader's ``state_dict`` (which
        OpenRLHF saves as ``client_states["data_loader_state_dict"]``) and restore it in
        its ``load_state_dict`` (which OpenRLHF calls on resume)."""
        loader = self.prompts_dataloader
        if loader is None or not hasattr(loader, "state_dict") or not hasattr(loader, "load_state_dict"):
            return
        save, load = loader.state_dict, loader.load_state_dict

        def state_dict() -> dict[str, Any]:
            return {**save(), STATE_KEY: self.sampler_state()}

        def load_state_dict(state: dict[str, Any]) -> None:
            state = dict(state)
            ours = state.pop(STATE_KEY, None)
            if ours is None:
                log.warning("adaptive DAPO: the checkpoint has no adaptive sampler state: the survival "
                            "estimate restarts and no surplus groups are restored")
            else:
                self.load_sampler_state(ours)
            load(state)

        loader.state_dict = state_dict
        loader.load_state_dict = load_state_dict

    def _keep(self, group: list[Any]) -> bool:
        if group is FILTERED:
            return False
        if self.adaptive_options.exclude_check_timeouts and unknown_reward(group):
            self.timeout_groups = getattr(self, "timeout_groups", 0) + 1
            return False
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
        self.timeout_groups = 0  # this step's groups left out for an unknown reward

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
            # One group per prompt, in dispatch (= dataloader) order; each filtered as it
            # returns, a rejected one replaced by FILTERED there and then.
            place = {ref: i for i, ref in enumerate(refs)}
            groups: list[Any] = [FILTERED] * len(refs)
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    group = [self._process_response_into_experience(r, **generate_kwargs) for r in ray.get(ref)]
                    if self._keep(group):
                        groups[place[ref]] = group
                    del group  # a rejected group goes now, not when the next one is read
            return groups

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
            "adaptive_timeout_groups": float(self.timeout_groups),
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


def generator_in_use(trainer: Any) -> str | None:
    """Run on a trainer actor (``__ray_call__``): ``None`` when the samples generator it
    built is the adaptive one, else that generator's class name. ``PPOTrainerAsync`` keeps
    its generator in its ``generator_actor``, asked in turn."""
    inner = getattr(trainer, "generator_actor", None)
    if inner is not None and not hasattr(trainer, "samples_generator"):
        return ray.get(inner.__ray_call__.remote(generator_in_use))
    generator = getattr(trainer, "samples_generator", None)
    cls = type(generator)
    if getattr(cls, MARKER, False) is True:
        return None
    return "no samples generator" if generator is None else f"{cls.__module__}.{cls.__qualname__}"


def check_adaptive(trainer_handle: Any) -> None:
    """Raise a one-line ``RuntimeError`` unless the trainer actor behind ``trainer_handle``
    built the adaptive generator."""
    from trainers.openrlhf import OPENRLHF_VERSION

    found = ray.get(trainer_handle.__ray_call__.remote(generator_in_use))
    if found is not None:
        raise RuntimeError(NOT_ACTIVE.format(found=found, version=OPENRLHF_VERSION))


def checked_remote(actor_class: Any) -> None:
    """Make ``actor_class.remote(...)`` (on this driver) run :func:`check_adaptive` on the
    actor it creates before returning its handle (idempotent)."""
    original = getattr(actor_class.remote, "__wrapped_remote__", actor_class.remote)

    def remote(*args, **kwargs):
        handle = original(*args, **kwargs)
        check_adaptive(handle)
        return handle

    remote.__wrapped_remote__ = original
    actor_class.remote = remote


def install(options: AdaptiveOptions | None = None) -> type[AdaptiveSamplesGenerator]:
    """Make OpenRLHF's trainers build the adaptive generator, and their ``remote`` check
    that they did (:func:`checked_remote`); returns the class installed.

    Call on the driver before ``openrlhf.cli.train_ppo_ray`` creates the trainer actors.
    """
    import importlib

    cls = configured(options)
    for name in PATCHED_MODULES:
        module = importlib.import_module(name)
        if not hasattr(module, "SamplesGenerator"):
            raise RuntimeError(f"{name} has no SamplesGenerator: this OpenRLHF version is not supported (0.11.2 is)")
        module.SamplesGenerator = cls
    for name, trainer in CHECKED_TRAINERS:
        actor_class = getattr(importlib.import_module(name), trainer, None)
        if actor_class is None or not hasattr(actor_class, "remote"):
            raise RuntimeError(f"{name} has no Ray actor {trainer}: this OpenRLHF version is not supported (0.11.2 is)")
        checked_remote(actor_class)
    return cls
