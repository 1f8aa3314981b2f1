"""Small pieces the SFT and DAPO trainers share: devices, precision, schedules, log-probs,
metrics files, RNG state and checkpoints.

A checkpoint is a folder ``<output_dir>/checkpoint-<step>/`` holding the model and
tokenizer (``save_pretrained``) and ``trainer_state.pt`` (optimizer, scheduler, step,
RNG states and whatever else the trainer adds, as plain data). It is written under a
temporary name and renamed, so a folder with that name is always complete.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import math
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.pt"


# --- device and precision ---------------------------------------------------------------

def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for CUDA without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA GPU (use device: cpu or auto)")
    return device


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when ``bf16``; full fp32 otherwise (CPU always)."""
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_dtype(name: str) -> torch.dtype | None:
    """``auto`` (None: the checkpoint's own), ``float32``, ``bfloat16`` or ``float16``."""
    table = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"model_dtype must be one of {', '.join(table)}, got {name!r}")
    return table[name]


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak CUDA memory allocated by torch on ``device`` so far (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- schedules ----------------------------------------------------------------------------

def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str = "cosine") -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based).

    Linear warm-up over ``warmup_steps``, then ``constant``, ``linear`` decay to 0 or
    ``cosine`` decay to 0 at ``total_steps``.
    """
    if schedule not in ("constant", "linear", "cosine"):
        raise ValueError(f"lr schedule must be constant, linear or cosine, got {schedule!r}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))


# --- log-probabilities --------------------------------------------------------------------

def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(target) per position for ``(B, T, V)`` logits and ``(B, T)`` targets, in fp32.

    Computed as ``logit[target] - logsumexp(logits)`` so no second ``(B, T, V)`` tensor of
    log-probabilities is kept. ``temperature`` divides the logits, matching how sampled
    tokens were drawn.
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def sequence_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0,
                      position_ids: torch.Tensor | None = None, first: int = 0) -> torch.Tensor:
    """Log-probs of ``input_ids[:, 1:]`` under ``model`` given the tokens before: ``(B, T-1)``.

    ``first``: the first target index the caller needs (a prompt's targets are masked out of
    every loss). Where the model takes ``logits_to_keep`` (HF causal LMs do), logits before
    it are never computed and those entries are 0: the LM head and the float32 softmax over a
    prompt are the largest cost of a pass at a 152K-token vocabulary (Qwen2.5-0.5B: 136M of
    its 494M weights), and TRL skips them the same way.
    """
    width = input_ids.shape[1]
    kwargs: dict[str, Any] = {"position_ids": position_ids} if position_ids is not None else {}
    first = max(0, min(first, width - 1))
    if first and _takes_logits_to_keep(type(model)):
        kwargs["logits_to_keep"] = width - first
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs).logits
    skipped = width - logits.shape[1]
    out = token_logprobs(logits[:, :-1], input_ids[:, skipped + 1:], temperature)
    return torch.nn.functional.pad(out, (skipped, 0)) if skipped else out


@functools.lru_cache(maxsize=None)
def _takes_logits_to_keep(model_class: type) -> bool:
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def pad(rows: list[list[int]], value: int, left: bool = False) -> torch.Tensor:
    """Stack ragged rows into a ``(B, max_len)`` long tensor padded with ``value``."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            if left:
                out[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            else:
                out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


# --- metrics ------------------------------------------------------------------------------

class MetricsLog:
    """Appends one JSON object per line to ``path``; mirrors numbers to TensorBoard when
    ``tensorboard`` is on and the package is installed (silently skipped otherwise)."""

    def __init__(self, path: str | Path, tensorboard: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))
            except Exception:  # noqa: BLE001 - tensorboard is optional
                self._tb = None

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=_jsonable) + "\n")
        if self._tb is not None:
            step = int(row.get("step", 0))
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_jsonl(path: str | Path, keep: Any) -> None:
    """Drop rows for which ``keep(row)`` is false (used on resume: steps after the checkpoint)."""
    p = Path(path)
    if p.exists():
        rows = [r for r in read_jsonl(p) if keep(r)]
        p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


class Stopwatch:
    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


# --- RNG state ----------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- checkpoints --------------------------------------------------------------------------

def checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``output_dir`` as ``(step, path)``, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = CHECKPOINT.match(child.name)
        if match and (child / STATE_FILE).exists():
            found.append((int(match.group(1)), child))
    return sorted(found)


def start_run(output_dir: str | Path, resume: bool, logs: tuple[str, ...]) -> Path | None:
    """Where a run starts: the newest checkpoint when resuming (None if there is none).

    A fresh run refuses an ``output_dir`` that already holds checkpoints (they would be
    mixed with the new run's, and pruning could delete the wrong ones), and empties the
    JSONL ``logs`` a previous run left there.
    """
    from .config import ConfigError

    root = Path(output_dir)
    if resume:
        return latest_checkpoint(root)
    if checkpoints(root):
        raise ConfigError(f"output_dir {str(root)!r} already holds checkpoints: set resume: true to continue that run, "
                          "or use another output_dir")
    for name in logs:
        (root / name).unlink(missing_ok=True)
    return None


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = checkpoints(output_dir)
    return found[-1][1] if found else None


def _below_error(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextlib.contextmanager
def quiet_hf(progress: bool = False):
    """Around the trainers' ``from_pretrained`` and ``save_pretrained`` calls: transformers'
    own progress bars ("Loading weights", "Writing model shards") only when ``progress``,
    and DeepSpeed's log lines below ERROR dropped.

    Why DeepSpeed: ``save_pretrained`` unwraps the model through accelerate, which imports
    DeepSpeed whenever it is installed, only to recognise DeepSpeed's engine class (these
    trainers never use DeepSpeed); the import costs seconds and logs its accelerator guess
    on stdout ("Setting accelerator to CPU. If you have GPU ..."). The filter is on the
    ``DeepSpeed`` logger for the length of the call only: other loggers, our own
    warnings, and DeepSpeed's errors still show, and so does DeepSpeed when a program uses it."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    deepspeed = logging.getLogger("DeepSpeed")
    deepspeed.addFilter(_below_error)
    try:
        yield
    finally:
        deepspeed.removeFilter(_below_error)
        if bars:
            hf_logging.enable_progress_bar()


def save_pretrained(folder: str | Path, model, tokenizer=None) -> None:
    """``model`` (and ``tokenizer``) written to ``folder`` in Hugging Face format, quietly
    (:func:`quiet_hf`: the trainers' own bars report progress)."""
    with quiet_hf():
        model.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)


def enable_activation_checkpointing(model) -> None:
    """Recompute activations in the backward pass: transformers 5's
    ``activation_checkpointing_enable``, else (4.x) ``gradient_checkpointing_enable``, which
    5.x keeps as a deprecated alias that warns on every run."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def save_checkpoint(output_dir: str | Path, step: int, model, tokenizer, state: dict[str, Any],
                    keep: int = 0) -> Path:
    """Write ``checkpoint-<step>`` (model, tokenizer, ``state``); keep the newest ``keep`` (0: all)."""
    root = Path(output_dir)
    final = root / f"checkpoint-{step}"
    tmp = root / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_pretrained(tmp, model, tokenizer)
    torch.save({**state, "step": step}, tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if keep > 0:
        for _, old in checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(checkpoint: str | Path) -> dict[str, Any]:
    """The trainer state of a checkpoint written by :func:`save_checkpoint`.

    Loaded with ``weights_only=False``: the RNG states are NumPy objects. Only load
    checkpoints you wrote yourself.
    """
    return torch.load(Path(checkpoint) / STATE_FILE, map_location="cpu", weights_only=False)


def load_model_and_tokenizer(path: str, *, dtype: torch.dtype | None = None, trust_remote_code: bool = False,
                             progress: bool = True):
    """``AutoModelForCausalLM`` and ``AutoTokenizer`` from a hub name or folder (transformers'
    loading bar only with ``progress``; :func:`quiet_hf`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"dtype": dtype} if dtype is not None else {}
    with quiet_hf(progress):
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
