"""A bundled, single-machine (adaptive) DAPO trainer: one process, one device, HF models.

    verilog-env train dapo --config examples/configs/dapo_tiny.yaml

Every step, top to bottom (:func:`train_dapo`):

1. **Rollouts** - :class:`~trainers.dapo.sampler.AdaptiveSampler` asks for rounds of
   prompts (:func:`rollout_round`): prompts drawn from the training suite, each answered
   ``samples_per_prompt`` times (HF ``generate``, or vLLM when installed on CUDA), scored
   by real simulation (:func:`verilog_env.score_many`, all cores). Groups whose checker
   scores all agree carry no signal and are dropped
   (:func:`~trainers.dapo.filters.informative_groups`), judged on the score *before* length
   shaping, as DAPO and CodeV-R1 do (verl's ``filter_groups.metric=acc``); the sampler sizes
   rounds from its survival estimate and keeps the surplus.
2. **Update** (:func:`policy_update`) - group-normalised advantages
   (:mod:`~trainers.dapo.advantages`) of the shaped reward, checker score plus the soft
   overlong penalty (:mod:`~trainers.dapo.shaping`), log-probs of the sampling policy (no
   grad, eval mode), then the clipped token-level loss
   (:func:`~trainers.dapo.loss.policy_loss`) over mini-batches of prompt groups, each one
   optimizer step accumulated over micro-batches. The policy's dropout is switched off at
   load (:func:`disable_dropout`, as CodeV-R1 trains), so the first mini-batch's ratio is
   exactly 1.
3. **Bookkeeping** - JSONL metrics (and TensorBoard when installed), periodic pass@1 on a
   held-out suite (:func:`evaluate`), checkpoints that resume exactly (model, optimizer,
   sampler and its surplus, RNG, step).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from verilog_env import CheckSettings
from verilog_env.problems import Problem
from verilog_env.reward import RewardConfig, Score, score_many

from .. import common
from ..config import ConfigError, read_section, save_config
from ..sft import render, resolve_system_prompt
from .advantages import group_advantages
from .filters import informative_groups, truncation_mask
from .loss import policy_loss
from .sampler import ESTIMATORS, AdaptiveSampler
from .shaping import overlong_penalty


@dataclasses.dataclass
class DAPOConfig:
    """DAPO hyper-parameters. Defaults are CodeV-R1's RL settings (verl recipe
    ``run_dapo_codev_7b_3.1k.sh``, 8 x A100-80GB): 16 rollouts per prompt, 128 prompts
    per step, mini-batch 64 prompts, lr 1e-6 (no weight decay), no KL, grad clip 0.5,
    clip 0.2/0.28, token-level loss, overlong buffer 1024 tokens with penalty 1.0,
    temperature 1.0, max response 16384 tokens, prompts up to 2048; plus our adaptive
    sampling (Beta lower-bound estimator, surplus kept).

    In YAML every field is a top-level key except the two sections, ``check:`` and
    ``reward:`` (``--set check.method=both`` reaches into them). The fields, by group
    (each is documented where it is declared, below):

    **Model and data**: model, output_dir, train_suite, train_suite_options, eval_suite,
    eval_suite_options, system_prompt, system_prompt_file.

    **Rollouts**: samples_per_prompt, prompts_per_step, temperature, top_p,
    max_prompt_length, max_response_length, generation_batch_size, backend,
    vllm_gpu_memory_utilization.

    **Reward**: check (section: :class:`verilog_env.CheckSettings`), reward (section:
    :class:`verilog_env.RewardConfig`), overlong_buffer, overlong_penalty.

    **Dynamic sampling**: dynamic_sampling, estimator, keep_surplus, sampler_floor,
    max_rounds, max_round_prompts, max_surplus_age, margin_z.

    **Update**: mini_batch_size, micro_batch_size, ppo_epochs, lr, weight_decay,
    warmup_steps, max_grad_norm, clip_low, clip_high, kl_coef, normalize_advantages_std,
    mask_truncated, exclude_check_timeouts.

    **Evaluation**: eval_every, eval_before_training, eval_samples, eval_temperature,
    eval_max_problems.

    **Run, checkpoints and logging**: steps, save_every, save_total_limit, resume, seed,
    device, bf16, model_dtype, gradient_checkpointing, trust_remote_code, log_rollouts,
    progress, tensorboard.
    """

    MOVED_KEYS: ClassVar[dict[str, str]] = {  # not a field: hints for configs written before issue 14
        "check_seed": "check.seed", "check_cycles": "check.cycles", "check_timeout": "check.timeout",
        "require_format": "reward.require_format", "format_penalty": "reward.format_penalty",
        "think_prefilled": "reward.think_prefilled",
    }
    PATH_KEYS: ClassVar[dict[str, str]] = {  # see trainers.config.resolve_paths
        "model": "name_or_path", "output_dir": "path", "train_suite": "name_or_path", "eval_suite": "name_or_path",
        "train_suite_options": "options", "eval_suite_options": "options", "system_prompt_file": "path"}

    # --- model and data
    model: str = ""
    """Hub name or folder of the policy (usually the SFT output, e.g. runs/sft/final). Its
    dropout is set to 0 at load (CodeV-R1 trains with dropout 0), so checkpoints' configs
    say 0 too. With kl_coef > 0 the KL reference is loaded from here, on resume as well."""
    output_dir: str = "runs/dapo"
    """Where metrics, rollouts, evaluations, checkpoints and the run's config.yaml go."""
    train_suite: str = "starter"
    """verilog_env suite name or .jsonl/.parquet path (see verilog_env.load_suite)."""
    train_suite_options: dict = dataclasses.field(default_factory=dict)
    """Keyword options for load_suite, e.g. {path: rl.parquet, allow_pickle: true}."""
    eval_suite: str | None = None
    """Held-out suite for periodic pass@1 (None: no evaluation)."""
    eval_suite_options: dict = dataclasses.field(default_factory=dict)
    """Keyword options for load_suite of the held-out suite."""
    system_prompt: str | None = None
    """System prompt text (None: verilog_env's default, or system_prompt_file)."""
    system_prompt_file: str | None = None
    """Read the system prompt from this file (e.g. the model card's, for exact reproduction)."""

    # --- rollouts
    samples_per_prompt: int = 16
    """Answers sampled per prompt: one group, whose advantages are relative to its mean (>= 2)."""
    prompts_per_step: int = 128
    """Prompt groups per training step (after dynamic-sampling filtering)."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts."""
    top_p: float = 1.0
    """Nucleus sampling of the rollouts (1.0: off)."""
    max_prompt_length: int = 2048
    """Problems whose prompt is longer (in tokens) are skipped."""
    max_response_length: int = 16384
    """Longest response in tokens; a longer one is cut and marked truncated."""
    generation_batch_size: int = 256
    """Sequences per HF generate call."""
    backend: str = "auto"
    """hf, vllm, or auto (vllm when importable and on CUDA, else hf)."""
    vllm_gpu_memory_utilization: float = 0.4
    """Fraction of the GPU's memory vLLM may take (weights and KV cache), with backend vllm."""

    # --- reward
    check: CheckSettings = dataclasses.field(default_factory=CheckSettings)
    """How answers are checked (YAML section ``check:``, a :class:`verilog_env.CheckSettings`):
    seed (``random`` / null: a fresh stimulus seed for every scoring call, so no answer
    tuned to one stimulus keeps earning over a run; recorded in each verdict), cycles,
    timeout, method (sim, formal, or both: simulation, then a Yosys proof of what it
    passes), formal_budget, formal_fallback, batch_size, isolate."""
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    """How a verdict becomes a reward (YAML section ``reward:``, a
    :class:`verilog_env.RewardConfig`): require_format, format_penalty, partial_credit,
    think_prefilled."""
    overlong_buffer: int = 1024
    """Soft overlong punishment window in tokens (0: off). The penalty shapes the reward the
    advantages use, not the dynamic-sampling filter (which judges the checker score)."""
    overlong_penalty: float = 1.0
    """Reward taken off a response of max_response_length tokens, ramping linearly from 0
    at max_response_length - overlong_buffer (0: off)."""

    # --- dynamic sampling
    dynamic_sampling: str = "adaptive"
    """adaptive: drop groups whose checker scores (before overlong shaping) all agree, size
    rounds by the survival estimate; off: keep every group."""
    estimator: str = "beta"
    """beta (lower confidence bound), running_min (CodeV-R1's rule) or ema."""
    keep_surplus: bool = True
    """Keep informative groups beyond a step's batch for the next step."""
    sampler_floor: float = 0.1
    """Smallest survival estimate used to size a round (bounds a round's size)."""
    max_rounds: int = 8
    """Generation rounds per step before training on a short batch."""
    max_round_prompts: int = 4096
    """Most prompts one round may sample."""
    max_surplus_age: int = 1
    """Steps a kept surplus group may wait before it is dropped as stale. Surplus groups
    were sampled by an older policy: they are trained with the log-probs recorded when
    they were generated as old log-probs (the clipped ratio corrects for the policy's
    move), at the cost of one forward pass over them when they are kept. 0 drops every
    surplus group at the next step, as CodeV-R1 does (fully on-policy, more generation)."""
    margin_z: float = 1.3
    """Round-size safety margin, in binomial standard deviations."""

    # --- update
    mini_batch_size: int = 64
    """Prompt groups per optimizer step (128 / 64: two updates per training step)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass (gradient accumulation inside a mini-batch)."""
    ppo_epochs: int = 1
    """Passes over a step's rollouts."""
    lr: float = 1e-6
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 0
    """Optimizer steps of linear learning-rate warm-up."""
    max_grad_norm: float = 0.5
    """Gradient clipping norm."""
    clip_low: float = 0.2
    """Lower PPO clip range (ratio >= 1 - clip_low)."""
    clip_high: float = 0.28
    """Upper PPO clip range (ratio <= 1 + clip_high; DAPO's clip-higher)."""
    kl_coef: float = 0.0
    """KL penalty to the initial policy (k3 estimator); 0 = no reference model, as in DAPO.
    The reference is the policy before the first step; a resumed run loads it from ``model``."""
    normalize_advantages_std: bool = True
    """Divide a group's advantages by its reward std (GRPO/DAPO); false: mean-centred only."""
    mask_truncated: bool = False
    """Give responses cut at max_response_length zero loss weight."""
    exclude_check_timeouts: bool = True
    """Leave answers whose check timed out (``timeout``: an overloaded checker as often as
    a slow design) out of their group: out of the filter, the advantages and the loss,
    instead of scoring them 0 as wrong. Their count is the step's ``check_timeouts``."""

    # --- evaluation
    eval_every: int = 20
    """Held-out pass@1 every this many steps (0: never during training)."""
    eval_before_training: bool = True
    """Evaluate once before the first step (the starting policy's pass@1)."""
    eval_samples: int = 4
    """Samples per held-out problem for pass@1 (0: one greedy answer)."""
    eval_temperature: float = 1.0
    """Sampling temperature of the evaluation."""
    eval_max_problems: int = 0
    """Evaluate on the first N held-out problems (0: all)."""

    # --- run, checkpoints and logging
    steps: int = 100
    """Training steps."""
    save_every: int = 20
    """Checkpoint every this many steps (0: only at the end)."""
    save_total_limit: int = 2
    """Keep this many newest checkpoints (0: all)."""
    resume: bool = False
    """Continue from the newest checkpoint in output_dir (model, optimizer, sampler, RNG, step)."""
    seed: int = 0
    """Seed of prompt sampling, generation and initialisation (not the checker's: check.seed)."""
    device: str = "auto"
    """auto, cpu, cuda or cuda:N."""
    bf16: bool = True
    """bf16 autocast on CUDA (CPU always runs fp32)."""
    model_dtype: str = "float32"
    """dtype the weights are loaded in: float32 (fp32 master weights, the safe choice), bfloat16, auto."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, more time)."""
    trust_remote_code: bool = False
    """Allow the model's own code from the hub (transformers' trust_remote_code)."""
    log_rollouts: int = 8
    """Rollouts per step written to rollouts.jsonl with their verdicts (0: none, -1: all)."""
    progress: bool = True
    """Progress bars."""
    tensorboard: bool = True
    """Also log metrics to TensorBoard (when installed)."""

    def __post_init__(self):
        self.check = read_section(self.check, CheckSettings, "check")
        self.reward = read_section(self.reward, RewardConfig, "reward")
        if self.dynamic_sampling not in ("adaptive", "off"):
            raise ValueError(f"dynamic_sampling must be adaptive or off, got {self.dynamic_sampling!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}")
        if self.backend not in ("auto", "hf", "vllm"):
            raise ValueError(f"backend must be auto, hf or vllm, got {self.backend!r}")
        if self.samples_per_prompt < 2:
            raise ValueError("samples_per_prompt must be >= 2 (advantages are relative within a group)")
        if self.mini_batch_size < 1 or self.micro_batch_size < 1 or self.prompts_per_step < 1:
            raise ValueError("prompts_per_step, mini_batch_size and micro_batch_size must be >= 1")
        common.model_dtype(self.model_dtype)


# --- rollouts -----------------------------------------------------------------------------

@dataclasses.dataclass
class Rollout:
    response_ids: list[int]
    text: str
    reward: float
    """Shaped reward (what the advantages use)."""
    score: float
    """Checker reward before overlong shaping."""
    status: str
    truncated: bool
    behaviour_logprobs: list[float] | None = None
    """Per-token log-probs of the response under the policy that generated it, recorded
    for groups kept as surplus (:func:`remember_behaviour`): when such a group is trained
    a step later, these are its old log-probs, so the PPO ratio corrects for the policy
    having moved since (None: the group is trained in the step that generated it)."""


@dataclasses.dataclass
class Group:
    """The ``samples_per_prompt`` answers to one prompt."""

    problem_id: str
    prompt_ids: list[int]
    rollouts: list[Rollout]

    @property
    def rewards(self) -> np.ndarray:
        """Shaped rewards: what the advantages use."""
        return np.array([r.reward for r in self.rollouts], dtype=np.float64)

    @property
    def scores(self) -> np.ndarray:
        """Checker rewards before overlong shaping: what the dynamic-sampling filter uses."""
        return np.array([r.score for r in self.rollouts], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Group:
        return cls(d["problem_id"], list(d["prompt_ids"]), [Rollout(**r) for r in d["rollouts"]])


def stop_token_ids(model, tokenizer) -> list[int]:
    """Ids that end a response: the tokenizer's EOS and the generation config's."""
    ids = set()
    for source in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(source)
    if not ids:
        raise ConfigError("the tokenizer has no EOS token: responses could never end")
    return sorted(ids)


def _is_dropout_key(name: str) -> bool:
    return "dropout" in name or name.endswith("pdrop")  # attention_dropout, hidden_dropout_prob, resid_pdrop, ...


def disable_dropout(model) -> list[str]:
    """Switch every dropout of ``model`` off, in place, and return what was changed.

    CodeV-R1 trains with dropout 0. Dropout on during the update would make the policy's
    log-probs differ from the sampling policy's before any step (ratio != 1 from noise) and
    the clipping act on that noise. Train mode cannot simply be left for eval mode in the
    loss pass (HF models skip gradient checkpointing outside train mode), so the dropout
    itself goes: float config attributes named ``*dropout*`` or ``*pdrop`` (sub-configs
    too) become 0.0, and so do ``nn.Dropout`` modules' ``p`` and modules' own float
    ``*dropout*`` attributes (e.g. Llama's attention, which copies its rate at init)."""
    changed: list[str] = []

    def zero_floats(obj, prefix: str, seen: set) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for key, value in list(vars(obj).items()):
            if isinstance(value, float) and not isinstance(value, bool) and _is_dropout_key(key) and value != 0.0:
                setattr(obj, key, 0.0)
                changed.append(f"{prefix}{key}")
            elif hasattr(value, "to_dict") and hasattr(value, "model_type"):  # a nested PretrainedConfig
                zero_floats(value, f"{prefix}{key}.", seen)

    config = getattr(model, "config", None)
    if config is not None:
        zero_floats(config, "config.", set())
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) and module.p != 0.0:
            module.p = 0.0
            changed.append(f"{name or 'model'}.p")
        zero_floats(module, f"{name or 'model'}.", set())
    return changed


def cut_response(ids: Sequence[int], stops: Sequence[int]) -> tuple[list[int], bool]:
    """Tokens up to and including the first stop token; ``truncated`` when there is none."""
    for i, token in enumerate(ids):
        if token in stops:
            return list(ids[: i + 1]), False
    return list(ids), True


class HFRollouts:
    """Samples with ``model.generate`` in left-padded chunks of ``batch_size`` sequences.

    The sampling settings are passed in full every call (top-k off, no repetition
    penalty), so a model's own generation defaults cannot bias the rollouts away from the
    policy the loss assumes.
    """

    def __init__(self, model, tokenizer, device: torch.device, bf16: bool, batch_size: int):
        self.model, self.tokenizer, self.device, self.bf16 = model, tokenizer, device, bf16
        self.batch_size = max(1, batch_size)
        self.stops = stop_token_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stops[0]

    def sync(self, model) -> None:  # the policy *is* the generator
        pass

    @torch.no_grad()
    def __call__(self, prompts: Sequence[list[int]], n: int, max_new_tokens: int, temperature: float = 1.0,
                 top_p: float = 1.0, do_sample: bool = True) -> list[list[tuple[list[int], bool]]]:
        from transformers import GenerationConfig

        n = n if do_sample else 1
        config = GenerationConfig(
            do_sample=do_sample, temperature=temperature if do_sample else None, top_p=top_p if do_sample else None,
            top_k=0 if do_sample else None, repetition_penalty=1.0, max_new_tokens=max_new_tokens,
            num_return_sequences=n, pad_token_id=self.pad_id, eos_token_id=self.stops,
        )
        was_training = self.model.training
        self.model.eval()
        results: list[list[tuple[list[int], bool]]] = []
        per_call = max(1, self.batch_size // n)
        for start in range(0, len(prompts), per_call):
            chunk = prompts[start:start + per_call]
            ids = common.pad(list(chunk), self.pad_id, left=True).to(self.device)
            mask = common.pad([[1] * len(p) for p in chunk], 0, left=True).to(self.device)
            with common.autocast(self.device, self.bf16):
                out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            new = out[:, ids.shape[1]:].tolist()
            for i in range(len(chunk)):
                results.append([cut_response(row, self.stops) for row in new[i * n:(i + 1) * n]])
        self.model.train(was_training)
        return results


class VLLMRollouts:
    """Samples with vLLM (optional; CUDA only). The engine holds its own copy of the
    weights on the GPU and receives the policy's after every update (:meth:`sync`), which
    then resets vLLM's prefix cache: vLLM caches prompt KV by default, and without the reset
    rollouts of a prompt seen before would reuse KV computed with the old weights.

    Experimental: written against vLLM's ``LLM.generate``/``apply_model``/
    ``reset_prefix_cache`` API (0.29); the tests check the calls against a stand-in for
    ``vllm.LLM``, not a real engine. Use ``backend: hf`` if it fails.
    """

    def __init__(self, model_path: str, stops: Sequence[int], *, seed: int, max_model_len: int,
                 gpu_memory_utilization: float):
        os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")  # apply_model ships a function
        from verilog_env.extras import require_extra

        require_extra("vllm.entrypoints.llm", "openrlhf", "backend: vllm (a CUDA machine)")  # a partial vLLM fails here, in one line
        from vllm import LLM

        self.llm = LLM(model=model_path, tokenizer=model_path, seed=seed, dtype="bfloat16",
                       max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization)
        self.stops = list(stops)

    def sync(self, model) -> None:
        """Load the policy's weights into the engine, then drop every cached prefix (its KV
        was computed with the old weights)."""
        weights = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        self.llm.apply_model(lambda m: m.load_weights(weights.items()))
        if self.llm.reset_prefix_cache() is False:
            raise RuntimeError("vLLM refused to reset its prefix cache after a weight sync (requests still running?)")

    def __call__(self, prompts, n, max_new_tokens, temperature=1.0, top_p=1.0, do_sample=True):
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(n=n if do_sample else 1, temperature=temperature if do_sample else 0.0,
                                top_p=top_p if do_sample else 1.0, top_k=-1, max_tokens=max_new_tokens)
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        results = []
        for o in outs:
            answers = []
            for c in o.outputs:
                ids, truncated = list(c.token_ids), c.finish_reason == "length"
                if not truncated and (not ids or ids[-1] not in self.stops):
                    ids.append(self.stops[0])  # vLLM may leave the stop token out; the policy must learn it
                answers.append(cut_response(ids, self.stops))
            results.append(answers)
        return results


def make_generator(config: DAPOConfig, model, tokenizer, device: torch.device, model_path: str | None):
    use_vllm = config.backend == "vllm"
    if config.backend == "auto" and device.type == "cuda" and model_path:
        import importlib.util

        use_vllm = importlib.util.find_spec("vllm") is not None
    if use_vllm:
        if device.type != "cuda" or not model_path:
            raise ConfigError("backend 'vllm' needs a CUDA device and a model folder or hub name")
        generator = VLLMRollouts(model_path, stop_token_ids(model, tokenizer), seed=config.seed,
                                  max_model_len=config.max_prompt_length + config.max_response_length,
                                  gpu_memory_utilization=config.vllm_gpu_memory_utilization)
        generator.sync(model)
        return generator
    return HFRollouts(model, tokenizer, device, config.bf16, config.generation_batch_size)


def shaped_rewards(scores: np.ndarray, lengths: np.ndarray, config: DAPOConfig) -> np.ndarray:
    """Checker rewards plus the soft overlong penalty (when enabled)."""
    if config.overlong_buffer <= 0 or config.overlong_penalty == 0:
        return scores.astype(np.float64)
    return scores + overlong_penalty(lengths, config.max_response_length, config.overlong_buffer, config.overlong_penalty)


def score_texts(problems: Sequence[Problem], texts: Sequence[str], config: DAPOConfig) -> list[Score]:
    """Every response checked against its problem's golden (verilog_env.score_many: all
    cores, duplicates checked once) with the run's ``check`` settings, its verdict made a
    reward by the run's ``reward`` rules."""
    return score_many(list(zip(problems, texts)), config.reward, config.check)


@dataclasses.dataclass
class StepLog:
    """What the rounds of one training step generated (all groups, kept or not)."""

    groups: list[Group] = dataclasses.field(default_factory=list)
    gen_seconds: float = 0.0
    score_seconds: float = 0.0
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    checked: list[tuple[Rollout, Score]] = dataclasses.field(default_factory=list)


def rollout_round(n: int, *, problems: Sequence[Problem], prompt_ids: dict[str, list[int]], generator, tokenizer,
                  config: DAPOConfig, rng: np.random.Generator, log: StepLog) -> list[Group]:
    """One generation round: ``n`` prompts, ``samples_per_prompt`` scored answers each."""
    picks = rng.choice(len(problems), size=n, replace=n > len(problems))
    chosen = [problems[i] for i in picks]
    watch = common.Stopwatch()
    outputs = generator([prompt_ids[p.id] for p in chosen], config.samples_per_prompt, config.max_response_length,
                        config.temperature, config.top_p, do_sample=True)
    log.gen_seconds += watch()
    flat = [(p, ids, truncated) for p, answers in zip(chosen, outputs) for ids, truncated in answers]
    texts = tokenizer.batch_decode([ids for _, ids, _ in flat], skip_special_tokens=True)
    watch = common.Stopwatch()
    scores = score_texts([p for p, _, _ in flat], texts, config)
    log.score_seconds += watch()
    raw = np.array([s.reward for s in scores], dtype=np.float64)
    rewards = shaped_rewards(raw, np.array([len(ids) for _, ids, _ in flat]), config)
    rollouts = [Rollout(ids, text, float(r), float(s.reward), s.status, truncated)
                for (_, ids, truncated), text, r, s in zip(flat, texts, rewards, scores)]
    log.statuses.update(r.status for r in rollouts)
    log.checked.extend(zip(rollouts, scores))
    k = config.samples_per_prompt
    groups = [Group(p.id, prompt_ids[p.id], rollouts[i * k:(i + 1) * k]) for i, p in enumerate(chosen)]
    log.groups.extend(groups)
    return groups


def keeps_group(config: DAPOConfig) -> Callable[[Group], bool]:
    """The dynamic-sampling filter: keep a group iff its checker *scores* differ.

    The scores are taken before the overlong shaping, as DAPO and CodeV-R1 filter (verl's
    ``algorithm.filter_groups.metric=acc``; the length penalty is added to the reward
    afterwards). Filtering on the shaped reward instead would keep a group of correct
    answers that differ only by a tiny length penalty, and the division by its tiny std
    would blow that penalty up into advantages of order one."""
    if config.dynamic_sampling == "off":
        return lambda group: True
    return lambda group: bool(informative_groups(group.scores[counted(group, config)][None, :])[0])


def counted(group: Group, config: DAPOConfig) -> np.ndarray:
    """Which answers of ``group`` count (all but timed-out checks, with
    ``exclude_check_timeouts``)."""
    if not config.exclude_check_timeouts:
        return np.ones(len(group.rollouts), dtype=bool)
    return np.array([r.status != "timeout" for r in group.rollouts], dtype=bool)


# --- the policy update --------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    """One prompt+response token sequence of the update, with its advantage."""

    ids: list[int]
    response_start: int
    advantage: float
    weight: float
    """Loss weight of its response tokens (0 for masked truncated responses)."""
    old_logprobs: torch.Tensor | None = None
    ref_logprobs: torch.Tensor | None = None

    @property
    def response_tokens(self) -> float:
        return self.weight * (len(self.ids) - self.response_start)


def rows_of(groups: Sequence[Group], config: DAPOConfig) -> list[list[Row]]:
    """Per group, its rows with group-normalised advantages (and, for a surplus group, the
    behaviour log-probs recorded at generation as its old log-probs)."""
    out = []
    for g in groups:
        valid = counted(g, config)
        advantages = np.zeros(len(g.rollouts))
        if valid.any():
            advantages[valid] = group_advantages(g.rewards[valid][None, :], normalize_std=config.normalize_advantages_std)[0]
        weights = truncation_mask(np.array([r.truncated for r in g.rollouts]), config.mask_truncated) * valid
        out.append([Row(g.prompt_ids + r.response_ids, len(g.prompt_ids), float(a), float(w),
                        old_logprobs=_behaviour(r, len(g.prompt_ids)))
                    for r, a, w in zip(g.rollouts, advantages, weights)])
    return out


def _behaviour(rollout: Rollout, prompt_length: int) -> torch.Tensor | None:
    """A row's old log-probs from its recorded behaviour log-probs (response positions;
    the prompt's positions are masked out of the loss and left 0)."""
    if rollout.behaviour_logprobs is None:
        return None
    return torch.cat([torch.zeros(prompt_length - 1), torch.tensor(rollout.behaviour_logprobs, dtype=torch.float32)])


def collate_rows(rows: Sequence[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, the response mask over target positions (``ids[:, 1:]``),
    advantages, and the cached log-probs when present."""
    ids = common.pad([r.ids for r in rows], pad_id)
    width = max(0, ids.shape[1] - 1)
    batch = {"input_ids": ids, "attention_mask": common.pad([[1] * len(r.ids) for r in rows], 0),
             "mask": torch.zeros(len(rows), width),
             "advantages": torch.tensor([r.advantage for r in rows], dtype=torch.float32)}
    for i, r in enumerate(rows):
        batch["mask"][i, r.response_start - 1:len(r.ids) - 1] = r.weight
    for key in ("old_logprobs", "ref_logprobs"):
        known = [getattr(r, key) is not None for r in rows]
        if any(known) if key == "old_logprobs" else all(known):
            batch[key] = torch.zeros(len(rows), width)
            for i, r in enumerate(rows):
                values = getattr(r, key)
                if values is not None:
                    batch[key][i, :values.shape[0]] = values
    batch["old_known"] = torch.tensor([r.old_logprobs is not None for r in rows])
    return batch


def first_target(rows: Sequence[Row]) -> int:
    """The first target index any of ``rows`` trains on (for ``sequence_logprobs(first=)``)."""
    return min(r.response_start for r in rows) - 1


def chunks(items: Sequence, size: int) -> list:
    return [items[i:i + size] for i in range(0, len(items), size)]


@torch.no_grad()
def cache_logprobs(model, rows: Sequence[Row], key: str, config: DAPOConfig, device: torch.device, pad_id: int) -> None:
    """Store each row's per-token log-probs under ``model`` (no grad, eval mode: no
    dropout) in ``row.<key>``; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        for micro in chunks(rows, config.micro_batch_size):
            batch = collate_rows(micro, pad_id)
            with common.autocast(device, config.bf16):
                logp = common.sequence_logprobs(model, batch["input_ids"].to(device), batch["attention_mask"].to(device),
                                                config.temperature, first=first_target(micro)).cpu()
            for i, r in enumerate(micro):
                setattr(r, key, logp[i, :len(r.ids) - 1])
    finally:
        model.train(was_training)


def policy_update(model, optimizer, scheduler, groups: Sequence[Group], config: DAPOConfig, device: torch.device,
                  pad_id: int, ref_model=None) -> dict[str, float]:
    """The DAPO update on one batch of groups; returns token-weighted loss statistics.

    The batch is split into mini-batches of ``mini_batch_size`` groups, each one optimizer
    step, its loss the token mean over the whole mini-batch (micro-batch losses are scaled by
    their share of its response tokens before accumulating gradients).

    Old log-probs are the sampling policy's (verl's ``old_log_prob``): rows of surplus groups
    carry those recorded when they were sampled. The first mini-batch is trained before any
    update, so its own loss pass gives them (detached; TRL and OpenRLHF do the same when a
    batch is one optimizer step), and only later mini-batches need the extra no-grad pass,
    taken before the first update in eval mode. The loss pass runs in train mode: ``model``
    should have its dropout off (:func:`disable_dropout`, done at load by
    :func:`train_dapo`) for the two to agree.
    """
    per_group = rows_of(groups, config)
    every = [r for rows in per_group for r in rows]
    if not every:
        return {}
    minis = chunks(per_group, config.mini_batch_size)
    first_mini = {id(r) for rows in minis[0] for r in rows}
    cache_logprobs(model, [r for r in every if r.old_logprobs is None and id(r) not in first_mini], "old_logprobs",
                   config, device, pad_id)
    if ref_model is not None:
        cache_logprobs(ref_model, every, "ref_logprobs", config, device, pad_id)

    totals = collections.defaultdict(float)
    tokens_seen = 0.0
    grad_norms = []
    for _ in range(config.ppo_epochs):
        for mini_groups in minis:
            mini = [r for rows in mini_groups for r in rows]
            mini_tokens = sum(r.response_tokens for r in mini)
            if mini_tokens <= 0:
                continue
            for micro in chunks(mini, config.micro_batch_size):
                batch = {k: v.to(device) for k, v in collate_rows(micro, pad_id).items()}
                with common.autocast(device, config.bf16):
                    logp = common.sequence_logprobs(model, batch["input_ids"], batch["attention_mask"], config.temperature,
                                                    first=first_target(micro))
                old = logp.detach().float()
                if "old_logprobs" in batch:
                    old = torch.where(batch["old_known"][:, None], batch["old_logprobs"], old)
                for i, r in enumerate(micro):  # first mini-batch: kept for later epochs
                    if r.old_logprobs is None:
                        r.old_logprobs = old[i, :len(r.ids) - 1].cpu()
                out = policy_loss(logp, old, batch["advantages"], batch["mask"],
                                  config.clip_low, config.clip_high, config.kl_coef, batch.get("ref_logprobs"))
                weight = float(batch["mask"].sum())
                (out.loss * (weight / mini_tokens)).backward()
                for key, value in (("loss", out.loss.item()), ("clip_fraction", out.clip_fraction),
                                   ("approx_kl", out.approx_kl), ("kl", out.kl)):
                    totals[key] += value * weight
                tokens_seen += weight
            grad_norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
    stats = {k: v / max(tokens_seen, 1e-9) for k, v in totals.items()}
    stats["grad_norm"] = float(np.mean(grad_norms)) if grad_norms else 0.0
    stats["optimizer_steps"] = len(grad_norms)
    stats["trained_tokens"] = tokens_seen
    return stats


def remember_behaviour(model, groups: Sequence[Group], config: DAPOConfig, device: torch.device, pad_id: int) -> int:
    """Record, on each rollout of ``groups`` that has none yet, its response's log-probs
    under ``model`` (the policy that just generated it): called on the groups a step keeps
    as surplus, before the step's update moves the policy. Returns the groups recorded."""
    todo = [g for g in groups if any(r.behaviour_logprobs is None for r in g.rollouts)]
    rows = [Row(g.prompt_ids + r.response_ids, len(g.prompt_ids), 0.0, 1.0) for g in todo for r in g.rollouts]
    if not rows:
        return 0
    cache_logprobs(model, rows, "old_logprobs", config, device, pad_id)
    k = 0
    for g in todo:
        for r in g.rollouts:
            r.behaviour_logprobs = rows[k].old_logprobs[rows[k].response_start - 1:].tolist()
            k += 1
    return len(todo)


# --- evaluation ---------------------------------------------------------------------------

def evaluate(generator, tokenizer, problems: Sequence[Problem], prompt_ids: dict[str, list[int]], config: DAPOConfig,
             *, samples: int | None = None, temperature: float | None = None) -> dict[str, Any]:
    """pass@1 on ``problems``: the mean, over problems, of the fraction of ``samples``
    sampled answers that are equivalent (``samples=0``: one greedy answer each)."""
    samples = config.eval_samples if samples is None else samples
    temperature = config.eval_temperature if temperature is None else temperature
    outputs = generator([prompt_ids[p.id] for p in problems], max(1, samples), config.max_response_length,
                        temperature, config.top_p, do_sample=samples > 0)
    flat = [(p, ids) for p, answers in zip(problems, outputs) for ids, _ in answers]
    texts = tokenizer.batch_decode([ids for _, ids in flat], skip_special_tokens=True)
    scores = score_texts([p for p, _ in flat], texts, config)
    per_problem: dict[str, list[bool]] = collections.defaultdict(list)
    for (p, _), s in zip(flat, scores):
        per_problem[p.id].append(s.correct)
    rates = {pid: float(np.mean(v)) for pid, v in per_problem.items()}
    return {
        "pass@1": float(np.mean(list(rates.values()))) if rates else 0.0,
        "reward_mean": float(np.mean([s.reward for s in scores])) if scores else 0.0,
        "samples": samples,
        "temperature": temperature if samples > 0 else 0.0,
        "problems": len(rates),
        "statuses": dict(collections.Counter(s.status for s in scores)),
        "per_problem": rates,
    }


# --- state --------------------------------------------------------------------------------

def sampler_state(sampler: AdaptiveSampler) -> dict[str, Any]:
    return {"step": sampler.step, "estimator": dataclasses.asdict(sampler.estimator),
            "surplus": [(step, g.to_dict()) for step, g in sampler._surplus]}


def restore_sampler(sampler: AdaptiveSampler, state: dict[str, Any]) -> None:
    sampler.step = state["step"]
    for key, value in state["estimator"].items():
        setattr(sampler.estimator, key, value)
    sampler._surplus = [(step, Group.from_dict(g)) for step, g in state["surplus"]]


def make_sampler(config: DAPOConfig) -> AdaptiveSampler:
    """The step's sampler. With ``dynamic_sampling: off`` every group is kept, so a round is
    exactly ``prompts_per_step`` prompts (floor 1, no margin): sized from a survival
    estimate, it generated groups only to drop them as surplus."""
    adaptive = config.dynamic_sampling == "adaptive"
    return AdaptiveSampler(
        config.prompts_per_step, ESTIMATORS[config.estimator](), floor=config.sampler_floor if adaptive else 1.0,
        max_round_prompts=config.max_round_prompts, max_rounds=config.max_rounds,
        keep_surplus=config.keep_surplus and adaptive,
        max_surplus_age=config.max_surplus_age, margin_z=config.margin_z if adaptive else 0.0,
    )


def load_problems(name: str, options: dict) -> list[Problem]:
    from verilog_env.suites import SuiteError, load_suite

    try:
        return list(load_suite(name, **options))
    except (SuiteError, FileNotFoundError, TypeError) as error:
        raise ConfigError(f"suite {name!r}: {error}") from None


def prompt_table(tokenizer, problems: Sequence[Problem], system_prompt: str, max_length: int) -> tuple[dict[str, list[int]], list[Problem]]:
    """Prompt ids per problem (chat template + generation prompt); problems over ``max_length`` are skipped."""
    table, kept = {}, []
    for p in problems:
        ids = render(tokenizer, p.messages(system_prompt), add_generation_prompt=True)
        if len(ids) <= max_length:
            table[p.id] = ids
            kept.append(p)
    return table, kept


# --- the loop -----------------------------------------------------------------------------

@dataclasses.dataclass
class DAPOResult:
    steps: int
    output: Path
    history: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    seconds: float


def _rollout_rows(step: int, log: StepLog, limit: int) -> list[dict[str, Any]]:
    pairs = log.checked if limit < 0 else log.checked[:limit]
    rows = []
    for rollout, score in pairs:
        verdict = score.verdict
        rows.append({"step": step, "status": score.status, "reward": rollout.reward, "score": rollout.score,
                     "reason": (score.reason or "")[:300], "truncated": rollout.truncated,
                     "length": len(rollout.response_ids), "response": rollout.text,
                     "timings": verdict.timings if verdict is not None else None})
    return rows


def initial_policy(config: DAPOConfig, model, *, resumed: bool, device: torch.device):
    """The KL reference (None when ``kl_coef`` is 0): the initial policy, frozen, in eval mode.

    A fresh run copies ``model`` (the policy before its first step). A resumed run's model
    is the checkpoint, so the reference is loaded from ``config.model`` instead: the
    penalty must keep pulling towards where the run started, not where it was saved."""
    if config.kl_coef <= 0:
        return None
    if not resumed:
        import copy

        return copy.deepcopy(model).eval().requires_grad_(False)
    if not config.model:
        raise ConfigError("kl_coef > 0 on resume needs 'model' (the initial policy) to load the KL reference from")
    ref, _ = common.load_model_and_tokenizer(config.model, dtype=common.model_dtype(config.model_dtype),
                                             trust_remote_code=config.trust_remote_code, progress=config.progress)
    disable_dropout(ref)
    return ref.to(device).eval().requires_grad_(False)


def train_dapo(config: DAPOConfig, *, model=None, tokenizer=None, train_problems: Sequence[Problem] | None = None,
               eval_problems: Sequence[Problem] | None = None) -> DAPOResult:
    """Run DAPO. The model, tokenizer and problem lists may be given in memory (the demo
    does); otherwise they come from ``config.model`` and the configured suites."""
    from tqdm.auto import tqdm

    clock = common.Stopwatch()
    out = Path(config.output_dir)
    device = common.resolve_device(config.device)
    common.set_seed(config.seed)
    system_prompt = resolve_system_prompt(config.system_prompt, config.system_prompt_file)

    resume_from = common.start_run(out, config.resume, logs=("metrics.jsonl", "evals.jsonl", "rollouts.jsonl"))
    model_path = str(resume_from) if resume_from is not None else (config.model or None)
    if model is None or tokenizer is None or resume_from is not None:
        if not model_path:
            raise ConfigError("set 'model' (a hub name or folder)")
        model, tokenizer = common.load_model_and_tokenizer(
            model_path, dtype=common.model_dtype(config.model_dtype), trust_remote_code=config.trust_remote_code,
            progress=config.progress)
    train_problems = list(train_problems) if train_problems is not None else load_problems(config.train_suite, config.train_suite_options)
    if eval_problems is None and config.eval_suite:
        eval_problems = load_problems(config.eval_suite, config.eval_suite_options)
    eval_problems = list(eval_problems or [])
    if config.eval_max_problems > 0:
        eval_problems = eval_problems[:config.eval_max_problems]
    prompts, train_problems = prompt_table(tokenizer, train_problems, system_prompt, config.max_prompt_length)
    eval_prompts, eval_problems = prompt_table(tokenizer, eval_problems, system_prompt, config.max_prompt_length)
    if not train_problems:
        raise ConfigError(f"no training problem has a prompt within max_prompt_length={config.max_prompt_length}")

    dropped = disable_dropout(model)
    if dropped and config.progress:
        import sys

        print(f"dapo: dropout set to 0, as CodeV-R1 trains ({len(dropped)} settings: {', '.join(dropped[:4])}"
              + (", ...)" if len(dropped) > 4 else ")"), file=sys.stderr, flush=True)
    model.to(device)
    model.train()
    if config.gradient_checkpointing:
        common.enable_activation_checkpointing(model)
    ref_model = initial_policy(config, model, resumed=resume_from is not None, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: common.lr_factor(s, config.warmup_steps, 1, "constant"))
    sampler = make_sampler(config)
    rng = np.random.default_rng(config.seed)
    generator = make_generator(config, model, tokenizer, device, model_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else generator.stops[0]

    step = 0
    if resume_from is not None:
        state = common.load_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_sampler(sampler, state["sampler"])
        rng.bit_generator.state = state["problem_rng"]
        common.set_rng_state(state["rng"])
        step = state["step"]
    save_config(config, out / "config.yaml")
    metrics = common.MetricsLog(out / "metrics.jsonl", tensorboard=config.tensorboard)
    common.truncate_jsonl(metrics.path, lambda row: row.get("step", 0) <= step)
    common.truncate_jsonl(out / "rollouts.jsonl", lambda row: row.get("step", 0) <= step)
    evals: list[dict[str, Any]] = [r for r in common.read_jsonl(out / "evals.jsonl") if r["step"] <= step]
    common.truncate_jsonl(out / "evals.jsonl", lambda row: row.get("step", 0) <= step)

    def run_eval(at: int) -> dict[str, Any]:
        result = evaluate(generator, tokenizer, eval_problems, eval_prompts, config)
        row = {"step": at, **{k: v for k, v in result.items() if k != "per_problem"}}
        with (out / "evals.jsonl").open("a") as f:
            f.write(json.dumps({**row, "per_problem": result["per_problem"]}) + "\n")
        evals.append(row)
        return row

    def save(at: int) -> Path:
        state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "sampler": sampler_state(sampler), "problem_rng": rng.bit_generator.state,
                 "rng": common.rng_state(), "kind": "dapo"}
        return common.save_checkpoint(out, at, model, tokenizer, state, keep=config.save_total_limit)

    if eval_problems and config.eval_before_training and step == 0:
        run_eval(0)
    keep = keeps_group(config)
    history = [r for r in common.read_jsonl(metrics.path)]
    bar = tqdm(total=config.steps, initial=step, desc="dapo", disable=not config.progress, dynamic_ncols=True)
    while step < config.steps:
        watch = common.Stopwatch()
        log = StepLog()
        generate = functools.partial(rollout_round, problems=train_problems, prompt_ids=prompts, generator=generator,
                                     tokenizer=tokenizer, config=config, rng=rng, log=log)
        batch, sm = sampler.next_batch(generate, keep)
        update_watch = common.Stopwatch()
        remember_behaviour(model, [g for _, g in sampler._surplus], config, device, pad_id)
        stats = policy_update(model, optimizer, scheduler, batch, config, device, pad_id, ref_model)
        generator.sync(model)
        update_seconds = update_watch()
        step += 1

        generated = [r for g in log.groups for r in g.rollouts]
        lengths = np.array([len(r.response_ids) for r in generated]) if generated else np.zeros(1)
        gen_tokens = int(lengths.sum())
        row = {
            "step": step,
            "reward_mean": float(np.mean([r.reward for r in generated])) if generated else 0.0,
            "score_mean": float(np.mean([r.score for r in generated])) if generated else 0.0,
            "pass_rate": float(np.mean([r.status == "equivalent" for r in generated])) if generated else 0.0,
            "batch_reward_mean": float(np.mean([g.rewards.mean() for g in batch])) if batch else 0.0,
            "groups_trained": len(batch),
            "groups_kept": sm.groups_kept,
            "groups_from_surplus": sm.groups_from_surplus,
            "surplus_left": sm.surplus_left,
            "rounds": sm.rounds,
            "prompts_sampled": sm.prompts_sampled,
            "estimate": sm.estimate,
            "short_batch": sm.short,
            **{k: stats.get(k, 0.0) for k in ("loss", "clip_fraction", "approx_kl", "kl", "grad_norm")},
            "optimizer_steps": stats.get("optimizer_steps", 0),
            "response_length_mean": float(lengths.mean()),
            "response_length_max": int(lengths.max()),
            "truncated_fraction": float(np.mean([r.truncated for r in generated])) if generated else 0.0,
            "generated_tokens": gen_tokens,
            "tokens_per_s": gen_tokens / max(log.gen_seconds, 1e-9),
            "gen_seconds": log.gen_seconds,
            "score_seconds": log.score_seconds,
            "update_seconds": update_seconds,
            "seconds": watch(),
            "lr": scheduler.get_last_lr()[0],
            "statuses": dict(log.statuses),
            "check_timeouts": int(log.statuses.get("timeout", 0)),
        }
        memory = common.peak_memory_gib(device)
        if memory is not None:
            row["peak_memory_gib"] = memory
        if eval_problems and config.eval_every > 0 and (step % config.eval_every == 0 or step == config.steps):
            ev = run_eval(step)
            row["eval_pass@1"] = ev["pass@1"]
            row["seconds"] = watch()
        metrics.write(row)
        history.append(row)
        if config.log_rollouts:
            with (out / "rollouts.jsonl").open("a") as f:
                for r in _rollout_rows(step, log, config.log_rollouts):
                    f.write(json.dumps(r) + "\n")
        bar.update(1)
        bar.set_postfix(reward=f"{row['reward_mean']:.3f}", kept=sm.groups_kept, rounds=sm.rounds)
        if config.save_every and step % config.save_every == 0 and step < config.steps:
            save(step)
    bar.close()
    save(step)
    metrics.close()
    return DAPOResult(step, out, history, evals, clock())


def main_config(config: DAPOConfig) -> dict[str, Any]:
    """CLI entry: train and return a JSON-ready summary."""
    result = train_dapo(config)
    last = result.history[-1] if result.history else {}
    return {"steps": result.steps, "output": str(result.output), "seconds": round(result.seconds, 1),
            "last_reward_mean": last.get("reward_mean"),
            "evals": [{"step": e["step"], "pass@1": e["pass@1"]} for e in result.evals]}
