"""SFT warm-up: distil (spec, reasoning, code) records into a chat model, CodeV-R1 style.

    verilog-env train sft --config examples/configs/sft_codev_r1.yaml

Each record becomes a conversation: the system prompt, the spec as the user turn, and
the assistant turn ``<think>reasoning</think><answer>```verilog code```</answer>``.
It is rendered with the tokenizer's own chat template, and the loss is taken on the
assistant turn only: the prompt (rendered with ``add_generation_prompt=True``) must be a
token prefix of the whole conversation, and every label up to that boundary is -100.

Top to bottom: :class:`SFTConfig` -> :func:`load_records` -> :func:`sft_messages` ->
:func:`tokenize_conversation` -> (:func:`pack`) -> :func:`micro_batch_stream` /
:func:`collate` -> :func:`train_sft` (AdamW, warm-up + cosine schedule, gradient
accumulation, clipping, bf16 autocast on CUDA, checkpoints and resume, JSONL metrics).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from verilog_env.problems import DEFAULT_SYSTEM_PROMPT, read_system_prompt

from . import common
from .config import ConfigError, save_config

IGNORE = -100


@dataclasses.dataclass
class SFTConfig:
    """SFT hyper-parameters. Defaults are CodeV-R1's (LLaMA-Factory, Qwen2.5-Coder-7B-Instruct:
    full fine-tune, cutoff 16384, lr 1e-5, 6 epochs, cosine, warm-up 3%, bf16, packing;
    their effective batch was 8 per GPU times the GPU count)."""

    PATH_KEYS: ClassVar[dict[str, str]] = {  # see trainers.config.resolve_paths
        "model": "name_or_path", "data": "path", "output_dir": "path", "system_prompt_file": "path"}

    model: str = ""
    """Hub name or folder of the model to fine-tune (its tokenizer must have a chat template)."""
    data: str = ""
    """JSONL file of records, one object per line."""
    output_dir: str = "runs/sft"
    """Where metrics, checkpoints, the final model (final/) and the run's config.yaml go."""
    spec_key: str = "spec"
    """Column mapping: the record key holding the spec (user turn) ..."""
    reasoning_key: str = "reasoning"
    """... the reasoning (inside <think>) ..."""
    code_key: str = "code"
    """... and the Verilog code (inside <answer>```verilog ...```</answer>)."""
    response_key: str | None = None
    """Take the whole assistant turn verbatim from this key instead (reasoning/code unused)."""
    system_prompt: str | None = None
    """System prompt text (None: verilog_env's default, or system_prompt_file)."""
    system_prompt_file: str | None = None
    """Read the system prompt from this file (e.g. the model card's, for exact reproduction)."""
    max_length: int = 16384
    """Longest tokenized conversation; longer ones are dropped (and counted)."""
    packing: bool = False
    """Concatenate conversations into rows of max_length (position ids restart per conversation;
    only flash-attention-2 models keep them from attending to each other)."""
    epochs: float = 6.0
    """Passes over the data (fractions allowed; CodeV-R1: 6)."""
    max_steps: int = -1
    """Optimizer steps to run (-1: as many as ``epochs`` take)."""
    batch_size: int = 1
    """Conversations (or packed rows) per forward pass."""
    grad_accum: int = 8
    """Forward passes per optimizer step."""
    lr: float = 1e-5
    """AdamW peak learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_ratio: float = 0.03
    """Fraction of the optimizer steps spent warming the learning rate up linearly."""
    lr_schedule: str = "cosine"
    """constant, linear or cosine decay after warm-up."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    seed: int = 42
    """Seed of shuffling, dropout and initialisation."""
    device: str = "auto"
    """auto, cpu, cuda or cuda:N."""
    bf16: bool = True
    """bf16 autocast on CUDA (CPU always trains in fp32)."""
    model_dtype: str = "float32"
    """dtype the weights are loaded in: float32 (fp32 master weights, the safe choice), bfloat16, auto."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, more time)."""
    trust_remote_code: bool = False
    """Allow the model's own code from the hub (transformers' trust_remote_code)."""
    log_every: int = 1
    """Write a metrics line every this many optimizer steps."""
    save_every: int = 500
    """Checkpoint every this many optimizer steps (0: only at the end)."""
    save_total_limit: int = 2
    """Keep this many newest checkpoints (0: all)."""
    resume: bool = False
    """Continue from the newest checkpoint in output_dir."""
    progress: bool = True
    """Progress bars."""
    tensorboard: bool = True
    """Also log metrics to TensorBoard (when installed)."""

    def __post_init__(self):
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be >= 1")
        if self.lr_schedule not in ("constant", "linear", "cosine"):
            raise ValueError(f"lr_schedule must be constant, linear or cosine, got {self.lr_schedule!r}")
        common.model_dtype(self.model_dtype)


# --- records and conversations ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SFTRecord:
    """One distillation example. ``response`` (when set) is the whole assistant turn."""

    spec: str
    reasoning: str = ""
    code: str = ""
    response: str | None = None


def load_records(path: str | Path, spec_key: str = "spec", reasoning_key: str = "reasoning",
                 code_key: str = "code", response_key: str | None = None) -> list[SFTRecord]:
    """Records from a JSONL file, through a column mapping; errors name the line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"SFT data file not found: {p}")
    needed = [spec_key] + ([response_key] if response_key else [reasoning_key, code_key])
    records = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{p}:{n}: not valid JSON ({error.msg})") from None
        missing = [k for k in needed if not isinstance(row.get(k), str)]
        if missing:
            raise ConfigError(f"{p}:{n}: missing text key(s) {missing}; keys present: {sorted(row)} "
                              "(map yours with spec_key/reasoning_key/code_key/response_key)")
        if response_key:
            records.append(SFTRecord(row[spec_key], response=row[response_key]))
        else:
            records.append(SFTRecord(row[spec_key], row[reasoning_key], row[code_key]))
    if not records:
        raise ConfigError(f"{p}: no records")
    return records


def assistant_response(reasoning: str, code: str) -> str:
    """The CodeV-R1 answer format: reasoning in <think>, code in a ```verilog block in <answer>."""
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>\n```verilog\n{code.strip()}\n```\n</answer>"


def sft_messages(record: SFTRecord, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> list[dict[str, str]]:
    """[system, user spec, assistant answer] (no system turn when ``system_prompt`` is None)."""
    answer = record.response if record.response is not None else assistant_response(record.reasoning, record.code)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": record.spec}, {"role": "assistant", "content": answer}]


def resolve_system_prompt(text: str | None, path: str | None) -> str:
    if text and path:
        raise ConfigError("set system_prompt or system_prompt_file, not both")
    if path:
        try:
            return read_system_prompt(path)
        except FileNotFoundError as error:
            raise ConfigError(str(error)) from None
    return text if text is not None else DEFAULT_SYSTEM_PROMPT


@dataclasses.dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int] | None = None


def render(tokenizer, messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    """Token ids of ``messages`` through the tokenizer's chat template (no extra special tokens)."""
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def tokenize_conversation(tokenizer, messages: Sequence[dict[str, str]]) -> Tokenized:
    """Ids and labels of a conversation ending in the assistant turn; labels are -100 on
    everything before the assistant's content (the prompt, up to and including the
    template's assistant header)."""
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant turn")
    prompt = render(tokenizer, messages[:-1], add_generation_prompt=True)
    full = render(tokenizer, messages, add_generation_prompt=False)
    if full[: len(prompt)] != prompt:
        raise ValueError(
            "the chat template does not render the prompt as a prefix of the full conversation "
            "(it may rewrite earlier turns); cannot tell where the assistant turn starts"
        )
    if len(full) == len(prompt):
        raise ValueError("the assistant turn rendered to no tokens")
    return Tokenized(full, [IGNORE] * len(prompt) + full[len(prompt):])


def pack(examples: Sequence[Tokenized], max_length: int) -> list[Tokenized]:
    """Greedily concatenate examples into rows of at most ``max_length`` tokens; position
    ids restart at 0 for each example."""
    rows: list[Tokenized] = []
    current = Tokenized([], [], [])
    for ex in examples:
        if current.input_ids and len(current.input_ids) + len(ex.input_ids) > max_length:
            rows.append(current)
            current = Tokenized([], [], [])
        current.input_ids += ex.input_ids
        current.labels += ex.labels
        current.position_ids += list(range(len(ex.input_ids)))
    if current.input_ids:
        rows.append(current)
    return rows


def build_examples(tokenizer, records: Sequence[SFTRecord], system_prompt: str | None, max_length: int,
                   packing: bool = False) -> tuple[list[Tokenized], int]:
    """Tokenized (and optionally packed) examples, and how many were dropped as too long."""
    examples, dropped = [], 0
    for record in records:
        ex = tokenize_conversation(tokenizer, sft_messages(record, system_prompt))
        if len(ex.input_ids) > max_length:
            dropped += 1
            continue
        examples.append(ex)
    return (pack(examples, max_length) if packing else examples), dropped


# --- batches ------------------------------------------------------------------------------

def micro_batch_stream(n_examples: int, batch_size: int, seed: int, start: int = 0) -> Iterator[tuple[int, list[int]]]:
    """Endless ``(epoch, example indices)`` micro-batches; each epoch is a fresh seeded
    shuffle. ``start`` skips that many micro-batches (resume lands on the same data)."""
    per_epoch = math.ceil(n_examples / batch_size)
    index = start
    while True:
        epoch, within = divmod(index, per_epoch)
        order = np.random.default_rng(seed + epoch).permutation(n_examples)
        yield epoch, order[within * batch_size:(within + 1) * batch_size].tolist()
        index += 1


def collate(examples: Sequence[Tokenized], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask``, ``labels`` (-100 on padding), and
    ``position_ids`` when the examples are packed."""
    batch = {
        "input_ids": common.pad([e.input_ids for e in examples], pad_id),
        "attention_mask": common.pad([[1] * len(e.input_ids) for e in examples], 0),
        "labels": common.pad([e.labels for e in examples], IGNORE),
    }
    if any(e.position_ids is not None for e in examples):
        batch["position_ids"] = common.pad([e.position_ids or list(range(len(e.input_ids))) for e in examples], 0)
    return batch


def loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over label tokens, and their count."""
    kwargs = {"position_ids": batch["position_ids"]} if "position_ids" in batch else {}
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False, **kwargs).logits
    targets = batch["labels"][:, 1:]
    mask = targets != IGNORE
    logp = common.token_logprobs(logits[:, :-1], targets.clamp(min=0))
    return -(logp * mask).sum(), int(mask.sum())


# --- training -----------------------------------------------------------------------------

@dataclasses.dataclass
class SFTResult:
    steps: int
    first_loss: float | None
    last_loss: float | None
    output: Path
    seconds: float
    dropped: int


def train_sft(config: SFTConfig, *, model=None, tokenizer=None, records: Sequence[SFTRecord] | None = None) -> SFTResult:
    """Run SFT. ``model``/``tokenizer``/``records`` may be given in memory (the demo does);
    otherwise they are loaded from ``config.model`` and ``config.data``."""
    from tqdm.auto import tqdm

    clock = common.Stopwatch()
    out = Path(config.output_dir)
    device = common.resolve_device(config.device)
    common.set_seed(config.seed)
    system_prompt = resolve_system_prompt(config.system_prompt, config.system_prompt_file)

    resume_from = common.start_run(out, config.resume, logs=("metrics.jsonl",))
    if model is None or tokenizer is None or resume_from is not None:
        source = str(resume_from) if resume_from is not None else config.model
        if not source:
            raise ConfigError("set 'model' (a hub name or folder)")
        model, tokenizer = common.load_model_and_tokenizer(
            source, dtype=common.model_dtype(config.model_dtype), trust_remote_code=config.trust_remote_code,
            progress=config.progress)
    if records is None:
        if not config.data:
            raise ConfigError("set 'data' (a JSONL file of records)")
        records = load_records(config.data, config.spec_key, config.reasoning_key, config.code_key, config.response_key)
    examples, dropped = build_examples(tokenizer, records, system_prompt, config.max_length, config.packing)
    if not examples:
        raise ConfigError(f"no example fits max_length={config.max_length}")

    model.to(device)
    model.train()
    if config.gradient_checkpointing:
        common.enable_activation_checkpointing(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    micro_per_epoch = math.ceil(len(examples) / config.batch_size)
    total = config.max_steps if config.max_steps > 0 else max(1, math.ceil(micro_per_epoch * config.epochs / config.grad_accum))
    warmup = round(config.warmup_ratio * total)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: common.lr_factor(s, warmup, total, config.lr_schedule))

    step = 0
    if resume_from is not None:
        state = common.load_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        common.set_rng_state(state["rng"])
        step = state["step"]
    save_config(config, out / "config.yaml")
    log = common.MetricsLog(out / "metrics.jsonl", tensorboard=config.tensorboard)
    common.truncate_jsonl(log.path, lambda row: row.get("step", 0) <= step)

    def save(at: int) -> Path:
        state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": common.rng_state(),
                 "kind": "sft"}
        return common.save_checkpoint(out, at, model, tokenizer, state, keep=config.save_total_limit)

    stream = micro_batch_stream(len(examples), config.batch_size, config.seed, start=step * config.grad_accum)
    bar = tqdm(total=total, initial=step, desc="sft", disable=not config.progress, dynamic_ncols=True)
    first_loss = last_loss = None
    window_tokens, window = 0, common.Stopwatch()
    while step < total:
        micro = [next(stream) for _ in range(config.grad_accum)]
        batches = [collate([examples[i] for i in indices], pad_id) for _, indices in micro]
        n_label = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
        loss_total = 0.0
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            with common.autocast(device, config.bf16):
                summed, _ = loss_sum(model, batch)
            (summed / max(1, n_label)).backward()
            loss_total += summed.item()
            window_tokens += int(batch["attention_mask"].sum())
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss = loss_total / max(1, n_label)
        first_loss = loss if first_loss is None else first_loss
        last_loss = loss
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if step % config.log_every == 0 or step == total:
            seconds = window()
            row = {"step": step, "epoch": round(step * config.grad_accum / micro_per_epoch, 3), "loss": loss, "lr": scheduler.get_last_lr()[0],
                   "grad_norm": float(grad_norm), "label_tokens": n_label, "tokens_per_s": window_tokens / max(seconds, 1e-9)}
            memory = common.peak_memory_gib(device)
            if memory is not None:
                row["peak_memory_gib"] = memory
            log.write(row)
            window_tokens, window = 0, common.Stopwatch()
        if config.save_every and step % config.save_every == 0 and step < total:
            save(step)
    bar.close()
    save(step)
    final = out / "final"
    common.save_pretrained(final, model, tokenizer)
    log.close()
    return SFTResult(step, first_loss, last_loss, final, clock(), dropped)


def main_config(config: SFTConfig) -> dict[str, Any]:
    """CLI entry: train and return a JSON-ready summary."""
    result = train_sft(config)
    return {"steps": result.steps, "first_loss": result.first_loss, "last_loss": result.last_loss,
            "output": str(result.output), "seconds": round(result.seconds, 1), "dropped_too_long": result.dropped}
