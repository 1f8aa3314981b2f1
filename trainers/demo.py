"""The project's main demo: SFT then adaptive DAPO on a tiny model, with no downloads.

    verilog-env train demo [--seed N] [--out runs/demo] [--quick] [--device auto|cpu|cuda]

What happens, top to bottom (:func:`run_demo`):

1. **Curriculum** (:func:`curriculum`): procedurally generated spec -> Verilog tasks
   (bitwise and/or/xor, add, sub, not, 2:1 mux, equality and less-than comparators, a
   D flip-flop with synchronous reset) at widths 1-8, as :class:`~verilog_env.problems.Problem`
   objects with golden answers. A fixed set of (task kind, width) combinations is held
   out: neither SFT nor RL ever sees them; they measure pass@1.
2. **Teacher data** (:func:`teacher_records`): (spec, reasoning, code) records like real
   distillation data, *imperfect*: a fraction carry a teacher mistake (a wrong operator,
   swapped mux inputs, an asynchronous reset, or an off-by-one port width). The demo
   checks them all by simulation and reports how many are right.
3. **Model**: a byte-level BPE tokenizer trained on the generated text
   (:func:`build_tokenizer`, wrapped in ``PreTrainedTokenizerFast`` with a Jinja chat
   template) and a tiny Llama (:func:`tiny_model`) initialised from scratch.
4. **SFT** (:func:`trainers.sft.train_sft`) on the teacher records: the model learns the
   format and the tasks, mistakes included.
5. **RL** (:func:`trainers.dapo.trainer.train_dapo`): adaptive DAPO on the training
   combinations, rewarded by real Icarus simulation through ``verilog_env.score_many``.
6. **Report** (:func:`write_report`): held-out pass@1 after SFT and after RL, the reward
   curve, the adaptive sampler's rounds and estimates, in ``report.md``/``report.png``,
   with metrics JSONL and checkpoints beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verilog_env.problems import Problem

if TYPE_CHECKING:
    from .sft import SFTRecord

SYSTEM_PROMPT = "Answer with <think>reasoning</think> then <answer>```verilog code```</answer>."
KINDS = ("and", "or", "xor", "add", "sub", "not", "mux", "eq", "lt", "dff")
WIDTHS = tuple(range(1, 9))

BINARY = {
    "and": ("&", "the bitwise AND of a and b"),
    "or": ("|", "the bitwise OR of a and b"),
    "xor": ("^", "the bitwise XOR of a and b"),
    "add": ("+", "the sum of a and b, truncated to {w} bits"),
    "sub": ("-", "the difference a minus b, truncated to {w} bits"),
}
# What a confused teacher writes instead (operator mistakes).
WRONG_OP = {"and": "|", "or": "^", "xor": "|", "add": "-", "sub": "+", "not": "!", "mux": "swap", "eq": "!=",
            "lt": ">", "dff": "async"}


# --- 1. curriculum ------------------------------------------------------------------------

def held_out(kind: str, width: int) -> bool:
    """The fixed held-out combinations: 16 of 80, every kind and every width among them."""
    return (KINDS.index(kind) + width) % 5 == 0


def spec_text(kind: str, w: int, template: int) -> str:
    """The natural-language spec (two phrasings per kind)."""
    if kind in BINARY:
        what = BINARY[kind][1].format(w=w)
        return (f"Implement a module named TopModule with two {w}-bit inputs a and b and a {w}-bit output y. "
                f"y is {what}." if template == 0 else
                f"Design TopModule. Inputs: a and b, {w} bits each. Output: y, {w} bits, equal to {what}.")
    if kind == "not":
        return (f"Implement a module named TopModule with a {w}-bit input a and a {w}-bit output y. "
                "y is the bitwise NOT of a." if template == 0 else
                f"Design TopModule. Input: a, {w} bits. Output: y, {w} bits, equal to the bitwise NOT of a.")
    if kind == "mux":
        return (f"Implement a module named TopModule with {w}-bit inputs a and b, a 1-bit select sel and a "
                f"{w}-bit output y. y is a when sel is 0 and b when sel is 1." if template == 0 else
                f"Design TopModule, a 2-to-1 multiplexer. Inputs: a and b, {w} bits each, and sel, 1 bit. "
                f"Output: y, {w} bits: b if sel is 1, else a.")
    if kind in ("eq", "lt"):
        rel = "a equals b" if kind == "eq" else "a is less than b (unsigned)"
        return (f"Implement a module named TopModule with two {w}-bit inputs a and b and a 1-bit output y. "
                f"y is 1 when {rel}, else 0." if template == 0 else
                f"Design TopModule, a comparator. Inputs: a and b, {w} bits each. Output: y, 1 bit, set when {rel}.")
    return (f"Implement a module named TopModule with a clock clk, a synchronous active-high reset rst, a "
            f"{w}-bit input d and a {w}-bit output q. On each rising clock edge q takes d; reset clears q to 0."
            if template == 0 else
            f"Design TopModule, a {w}-bit register. Inputs: clk, rst (synchronous, active high) and d, {w} bits. "
            "Output: q, {w} bits. At each rising edge of clk, q becomes 0 if rst is 1, else d.".replace("{w}", str(w)))


def solution(kind: str, w: int, mistake: str | None = None) -> tuple[str, str]:
    """(reasoning, code) for a task; ``mistake`` is None, ``"op"`` or ``"width"`` (a teacher error)."""
    msb = w if mistake == "width" else w - 1
    vec = f"[{msb}:0]"
    wrong = WRONG_OP[kind] if mistake == "op" else None
    reason = f"{w}-bit ports use the range {vec}."
    if kind in BINARY:
        op = wrong or BINARY[kind][0]
        return (f"{reason} y = a {op} b.",
                f"module TopModule(input {vec} a, input {vec} b, output {vec} y);\n  assign y = a {op} b;\nendmodule")
    if kind == "not":
        op = wrong or "~"
        return (f"{reason} y = {op}a.", f"module TopModule(input {vec} a, output {vec} y);\n  assign y = {op}a;\nendmodule")
    if kind == "mux":
        pick = "sel ? a : b" if wrong else "sel ? b : a"
        return (f"{reason} y = {pick}.",
                (f"module TopModule(input {vec} a, input {vec} b, input sel, output {vec} y);\n"
                f"  assign y = {pick};\nendmodule"))
    if kind in ("eq", "lt"):
        op = wrong or ("==" if kind == "eq" else "<")
        return (f"{reason} y = (a {op} b).",
                f"module TopModule(input {vec} a, input {vec} b, output y);\n  assign y = (a {op} b);\nendmodule")
    edge = "posedge clk or posedge rst" if wrong else "posedge clk"
    return (f"{reason} q is a register; {'reset is asynchronous' if wrong else 'reset is synchronous'}.",
            (f"module TopModule(input clk, input rst, input {vec} d, output reg {vec} q);\n"
            f"  always @({edge}) begin\n    if (rst) q <= 0;\n    else q <= d;\n  end\nendmodule"))


def problem(kind: str, w: int, template: int) -> Problem:
    split = "heldout" if held_out(kind, w) else "train"
    return Problem(id=f"{kind}-w{w}-t{template}", spec=spec_text(kind, w, template), golden=solution(kind, w)[1] + "\n",
                   tags=(kind, f"w{w}", split), source="demo")


def curriculum() -> tuple[list[Problem], list[Problem]]:
    """(training problems, held-out problems), two phrasings per (kind, width)."""
    train, heldout = [], []
    for kind in KINDS:
        for w in WIDTHS:
            for t in (0, 1):
                (heldout if held_out(kind, w) else train).append(problem(kind, w, t))
    return train, heldout


CONFUSED = {"sub": 0.6, "lt": 0.6}
"""Kinds the teacher gets wrong more often than right (it writes ``a + b`` for a
difference and ``a > b`` for less-than): a systematic mistake the SFT model inherits,
so even its greedy answer is wrong there until RL corrects it."""


def teacher_records(n: int, error_rate: float, seed: int,
                    confused: dict[str, float] | None = None) -> tuple[list[SFTRecord], list[Problem]]:
    """``n`` distillation records on training combinations. A share ``error_rate`` carry
    a teacher mistake (60% a wrong operator, 40% an off-by-one port width); for the
    kinds in ``confused`` (default :data:`CONFUSED`) the teacher writes the wrong
    operator at that rate instead. Returns the records and the problem each answers."""
    from .sft import SFTRecord  # here: importing this module must not import torch

    confused = CONFUSED if confused is None else confused
    rng = random.Random(seed)
    combos = [(k, w) for k in KINDS for w in WIDTHS if not held_out(k, w)]
    records, problems = [], []
    for _ in range(n):
        kind, w = rng.choice(combos)
        template = rng.randrange(2)
        mistake = None
        if kind in confused:
            mistake = "op" if rng.random() < confused[kind] else None
        elif rng.random() < error_rate:
            mistake = "op" if rng.random() < 0.6 else "width"
        reasoning, code = solution(kind, w, mistake)
        records.append(SFTRecord(spec_text(kind, w, template), reasoning, code))
        problems.append(problem(kind, w, template))
    return records, problems


# --- 3. tokenizer and model ---------------------------------------------------------------

SPECIAL_TOKENS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on ``texts``, as a ``PreTrainedTokenizerFast``
    with special tokens (``<|end|>`` ends a turn and is EOS) and a chat template.

    Digits are always single tokens; otherwise merges may cross spaces (no GPT-2-style
    word splitting), so the templated text of this curriculum compresses to short
    sequences - what keeps the demo fast on a CPU.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), max_token_length=24)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(tokenizer, hidden: int, layers: int, heads: int, intermediate: int, seed: int):
    """A small Llama initialised from scratch (tied embeddings, no dropout)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=512, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


# --- settings -----------------------------------------------------------------------------

@dataclasses.dataclass
class DemoConfig:
    """Sizes of the demo (``quick()`` shrinks them for CI)."""

    seed: int = 0
    """Seed of the teacher data, the model and the RL run."""
    out: str = "runs/demo"
    """Report directory (report.md, report.png, summary.json, sft/, dapo/)."""
    device: str = "auto"
    """auto, cpu or cuda."""
    sft_examples: int = 1000
    """Teacher records for the SFT warm-up."""
    teacher_error: float = 0.3
    """Fraction of teacher answers made wrong on purpose (imperfect data for RL to fix)."""
    vocab_size: int = 1000
    """Size of the tokenizer trained from scratch."""
    hidden: int = 128
    """Hidden size of the tiny Llama model."""
    layers: int = 2
    """Its transformer layers."""
    heads: int = 4
    """Its attention heads."""
    intermediate: int = 256
    """Its MLP width."""
    sft_epochs: float = 4.0
    """SFT passes over the teacher data."""
    sft_batch: int = 16
    """SFT conversations per optimizer step."""
    sft_lr: float = 5e-3
    """SFT learning rate."""
    rl_steps: int = 40
    """DAPO training steps."""
    rl_lr: float = 2e-4
    """DAPO learning rate."""
    samples_per_prompt: int = 8
    """DAPO answers per prompt (one group)."""
    prompts_per_step: int = 16
    """DAPO prompt groups per step."""
    mini_batch_size: int = 8
    """DAPO prompt groups per optimizer step."""
    max_response_length: int = 128
    """Longest response in tokens."""
    overlong_buffer: int = 16
    """Soft overlong penalty window in tokens."""
    eval_samples: int = 8
    """Samples per held-out problem for pass@1."""
    eval_every: int = 10
    """Held-out pass@1 every this many DAPO steps."""
    torch_threads: int = 1
    """CPU threads for torch (0: torch's default). One is as fast for this tiny model and
    much faster on a busy machine, where idle-spinning threads fight the simulators."""
    progress: bool = True
    """Progress bars (summary lines print either way)."""

    @classmethod
    def quick(cls, **kw) -> DemoConfig:
        return cls(**{"sft_examples": 600, "sft_epochs": 3.0, "sft_batch": 16, "rl_steps": 2, "prompts_per_step": 4, "mini_batch_size": 4, "samples_per_prompt": 4,
                      "eval_samples": 2, "eval_every": 2, **kw})


# --- 5. the pipeline ----------------------------------------------------------------------

@dataclasses.dataclass
class WarmStart:
    """What the demo's first four stages make: the curriculum, the teacher data and its
    verdicts, and the from-scratch model after its SFT warm-up."""

    train_problems: list
    heldout: list
    records: list
    teacher: list
    teacher_pass: float
    model: Any
    tokenizer: Any
    sft: Any


def warm_start(settings: DemoConfig, out: Path, say: Callable[[str], None] = lambda _: None) -> WarmStart:
    """Stages 1-4 of the demo: curriculum, imperfect teacher data checked by simulation,
    a tokenizer and tiny Llama from scratch, SFT warm-up. Writes the problems, the teacher
    data and the SFT run under ``out``. ``examples/trl_grpo.py --tiny`` starts from it too."""
    from verilog_env import score_many

    from .sft import SFTConfig, assistant_response, sft_messages, train_sft

    out.mkdir(parents=True, exist_ok=True)
    # 1-2. curriculum and imperfect teacher data, checked by simulation
    train_problems, heldout = curriculum()
    records, answered = teacher_records(settings.sft_examples, settings.teacher_error, settings.seed)
    teacher = score_many([(p, assistant_response(r.reasoning, r.code)) for r, p in zip(records, answered)])
    teacher_pass = sum(s.correct for s in teacher) / len(teacher)
    say(f"curriculum: {len(train_problems)} training problems, {len(heldout)} held-out; "
        f"{len(records)} teacher records, {teacher_pass:.0%} correct by simulation")
    for name, problems in (("train_problems", train_problems), ("heldout_problems", heldout)):
        (out / f"{name}.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))
    with (out / "sft_data.jsonl").open("w") as f:
        for r, p, s in zip(records, answered, teacher):
            f.write(json.dumps({"spec": r.spec, "reasoning": r.reasoning, "code": r.code, "problem_id": p.id,
                                "status": s.status}) + "\n")

    # 3. tokenizer and model, from scratch
    corpus = [json.dumps(sft_messages(r, SYSTEM_PROMPT)) for r in records[:400]]
    corpus += [m["content"] for r in records for m in sft_messages(r, SYSTEM_PROMPT)]
    tokenizer = build_tokenizer(corpus, settings.vocab_size)
    model = tiny_model(tokenizer, settings.hidden, settings.layers, settings.heads, settings.intermediate, settings.seed)
    say(f"model: Llama {settings.layers} layers x {settings.hidden}, {sum(p.numel() for p in model.parameters()):,} "
        f"parameters, vocabulary {len(tokenizer)}")

    # 4. SFT warm-up
    sft = train_sft(SFTConfig(
        output_dir=str(out / "sft"), system_prompt=SYSTEM_PROMPT, max_length=512, epochs=settings.sft_epochs,
        batch_size=settings.sft_batch, grad_accum=1, lr=settings.sft_lr, warmup_ratio=0.05, lr_schedule="cosine",
        max_grad_norm=1.0, seed=settings.seed, device=settings.device, save_every=0, save_total_limit=1,
        progress=settings.progress, tensorboard=False,
    ), model=model, tokenizer=tokenizer, records=records)
    say(f"sft: {sft.steps} steps, loss {sft.first_loss:.3f} -> {sft.last_loss:.3f}")

    return WarmStart(train_problems, heldout, records, teacher, teacher_pass, model, tokenizer, sft)


def run_demo(settings: DemoConfig) -> dict[str, Any]:
    """Run the whole demo; returns (and writes to ``<out>/summary.json``) its numbers."""
    import torch
    import transformers

    from . import common
    from .dapo.trainer import (
        DAPOConfig,
        HFRollouts,
        evaluate,
        prompt_table,
        train_dapo,
    )

    transformers.logging.set_verbosity_error()
    clock = common.Stopwatch()
    out = Path(settings.out)
    for stage in ("sft", "dapo"):  # a rerun into the same folder replaces the demo's own outputs
        shutil.rmtree(out / stage, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
    say = lambda message: print(message, flush=True)

    start = warm_start(settings, out, say)
    train_problems, heldout, model, tokenizer = start.train_problems, start.heldout, start.model, start.tokenizer
    records, teacher, teacher_pass, sft = start.records, start.teacher, start.teacher_pass, start.sft

    # 5. adaptive DAPO, rewarded by simulation; held-out pass@1 before (= SFT) and after
    dapo_config = DAPOConfig(
        output_dir=str(out / "dapo"), system_prompt=SYSTEM_PROMPT,
        samples_per_prompt=settings.samples_per_prompt, prompts_per_step=settings.prompts_per_step,
        mini_batch_size=settings.mini_batch_size, micro_batch_size=settings.mini_batch_size * settings.samples_per_prompt,
        lr=settings.rl_lr, max_grad_norm=0.5, clip_low=0.2, clip_high=0.28, temperature=1.0,
        max_prompt_length=256, max_response_length=settings.max_response_length,
        overlong_buffer=settings.overlong_buffer, overlong_penalty=1.0, generation_batch_size=512,
        dynamic_sampling="adaptive", estimator="beta", keep_surplus=True, sampler_floor=0.1, max_rounds=4,
        steps=settings.rl_steps, eval_every=settings.eval_every, eval_samples=settings.eval_samples,
        eval_temperature=1.0, save_every=max(1, settings.rl_steps // 2), save_total_limit=2, seed=settings.seed,
        device=settings.device, log_rollouts=-1, progress=settings.progress, tensorboard=False,
    )
    device = common.resolve_device(settings.device)
    greedy = {}
    generator = HFRollouts(model, tokenizer, device, True, 512)
    eval_prompts, _ = prompt_table(tokenizer, heldout, SYSTEM_PROMPT, 256)
    greedy["sft"] = evaluate(generator, tokenizer, heldout, eval_prompts, dapo_config, samples=0)
    dapo = train_dapo(dapo_config, model=model, tokenizer=tokenizer, train_problems=train_problems, eval_problems=heldout)
    greedy["rl"] = evaluate(generator, tokenizer, heldout, eval_prompts, dapo_config, samples=0)

    summary = {
        "seed": settings.seed,
        "settings": dataclasses.asdict(settings),
        "device": str(device),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary": len(tokenizer),
        "train_problems": len(train_problems),
        "heldout_problems": len(heldout),
        "heldout_combinations": sorted({p.id.rsplit("-t", 1)[0] for p in heldout}),
        "teacher_records": len(records),
        "teacher_pass_rate": teacher_pass,
        "teacher_statuses": _count(s.status for s in teacher),
        "sft": {"steps": sft.steps, "first_loss": sft.first_loss, "last_loss": sft.last_loss,
                "seconds": sft.seconds},
        "heldout_pass@1": {"sft": dapo.evals[0]["pass@1"], "rl": dapo.evals[-1]["pass@1"],
                           "samples": settings.eval_samples, "temperature": 1.0},
        "heldout_greedy_pass@1": {"sft": greedy["sft"]["pass@1"], "rl": greedy["rl"]["pass@1"]},
        "evals": dapo.evals,
        "rl": {"steps": dapo.steps, "seconds": dapo.seconds},
        "wall_seconds": clock(),
    }
    if device.type == "cuda":
        summary["peak_memory_gib"] = common.peak_memory_gib(device)
    history = dapo.history
    summary["rl"]["tokens_per_s"] = (sum(r["generated_tokens"] for r in history)
                                     / max(1e-9, sum(r["gen_seconds"] for r in history))) if history else 0.0
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_report(out, summary, history)
    say(f"held-out pass@1 (T=1.0, {settings.eval_samples} samples/problem): SFT {summary['heldout_pass@1']['sft']:.1%} "
        f"-> RL {summary['heldout_pass@1']['rl']:.1%}; greedy: {summary['heldout_greedy_pass@1']['sft']:.1%} -> "
        f"{summary['heldout_greedy_pass@1']['rl']:.1%}; {summary['wall_seconds']:.0f} s. Report: {out / 'report.md'}")
    return summary


def _count(items) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return dict(sorted(counts.items()))


# --- 6. report ----------------------------------------------------------------------------

def write_report(out: Path, summary: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """``report.md`` (numbers and the sampler table) and ``report.png`` (curves)."""
    plotted = _plot(out / "report.png", summary, history)
    p1, g1 = summary["heldout_pass@1"], summary["heldout_greedy_pass@1"]
    first, last = (history[0], history[-1]) if history else ({}, {})
    lines = [
        f"# verilog-env demo (seed {summary['seed']})",
        "",
        (f"A {summary['parameters']:,}-parameter Llama with a {summary['vocabulary']}-token BPE vocabulary, both built "
        f"from scratch, is taught {summary['train_problems']} generated spec-to-Verilog problems by SFT on "
        f"{summary['teacher_records']} teacher records ({summary['teacher_pass_rate']:.0%} of them correct: the "
        "teacher makes mistakes, some systematic: it writes `a + b` for most differences and `a > b` for most "
        "less-than comparisons), then trained with adaptive DAPO against real Icarus simulation. "
        f"{summary['heldout_problems']} problems ({len(summary['heldout_combinations'])} task/width combinations) are "
        "held out of both stages."),
        "",
        "## Held-out pass@1",
        "",
        f"| checkpoint | pass@1 (T=1.0, {p1['samples']} samples/problem) | greedy pass@1 |",
        "| --- | --- | --- |",
        f"| after SFT | {p1['sft']:.1%} | {g1['sft']:.1%} |",
        f"| after RL ({summary['rl']['steps']} steps) | {p1['rl']:.1%} | {g1['rl']:.1%} |",
        "",
        ("pass@1 is the share of equivalent answers among those sampled at temperature 1.0 (the RL sampling "
        "temperature; CodeV-R1 validated the same way), averaged over problems; greedy is one answer per problem."),
        "",
        "Evaluations during RL: " + ", ".join(f"step {e['step']}: {e['pass@1']:.1%}" for e in summary["evals"]) + ".",
        "",
        "## RL reward",
        "",
        f"Mean reward of all rollouts generated per step: {first.get('reward_mean', 0):.3f} at step 1, "
        f"{last.get('reward_mean', 0):.3f} at step {last.get('step', 0)}; pass rate "
        f"{first.get('pass_rate', 0):.1%} -> {last.get('pass_rate', 0):.1%}. Verdicts of the last step: "
        + ", ".join(f"{k} {v}" for k, v in sorted(last.get("statuses", {}).items())) + ".",
        "",
        "## Adaptive sampler",
        "",
        "| step | rounds | prompts sampled | groups kept | from surplus | surplus left | estimate | reward | pass rate | s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in history:
        est = "-" if r["estimate"] is None else f"{r['estimate']:.2f}"
        lines.append(f"| {r['step']} | {r['rounds']} | {r['prompts_sampled']} | {r['groups_kept']} | "
                     f"{r['groups_from_surplus']} | {r['surplus_left']} | {est} | {r['reward_mean']:.3f} | "
                     f"{r['pass_rate']:.1%} | {r['seconds']:.1f} |")
    lines += [
        "",
        (f"Wall time {summary['wall_seconds']:.0f} s on {summary['device']} (SFT {summary['sft']['seconds']:.0f} s, "
        f"RL {summary['rl']['seconds']:.0f} s, {summary['rl']['tokens_per_s']:.0f} generated tokens/s)."),
        "",
        ("![curves](report.png)" if plotted else "(no plot: matplotlib is not installed)"),
        "",
        ("Files: `sft/` and `dapo/` hold metrics JSONL, checkpoints and configs; `dapo/rollouts.jsonl` every "
        "rollout with its verdict; `dapo/evals.jsonl` per-problem pass rates; `sft_data.jsonl` the teacher records "
        "with their verdicts; `train_problems.jsonl`/`heldout_problems.jsonl` the suites (loadable with "
        "`verilog_env.load_suite(path)`); `summary.json` these numbers."),
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _plot(path: Path, summary: dict[str, Any], history: list[dict[str, Any]]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    steps = [r["step"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    ax1.plot(steps, [r["reward_mean"] for r in history], label="reward (all rollouts)")
    ax1.plot(steps, [r["pass_rate"] for r in history], label="pass rate (all rollouts)")
    ax1.plot([e["step"] for e in summary["evals"]], [e["pass@1"] for e in summary["evals"]], "o-",
             label="held-out pass@1")
    ax1.set_xlabel("RL step")
    ax1.set_ylim(0, 1.05)
    ax1.set_title("reward and pass rate")
    ax1.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
    ax2.bar(steps, [r["prompts_sampled"] for r in history], color="lightgray", label="prompts sampled")
    ax2.bar(steps, [r["groups_kept"] for r in history], color="tab:green", alpha=0.6, label="groups kept")
    ax2.set_xlabel("RL step")
    ax2.set_ylabel("prompt groups")
    twin = ax2.twinx()
    twin.plot(steps, [r["estimate"] if r["estimate"] is not None else float("nan") for r in history], "k.-",
              label="survival estimate")
    twin.plot(steps, [r["rounds"] for r in history], "r^", label="rounds")
    twin.set_ylabel("estimate / rounds")
    ax2.set_title("adaptive sampler")
    handles = ax2.get_legend_handles_labels()
    twin_handles = twin.get_legend_handles_labels()
    ax2.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], fontsize=8, loc="upper center",
               bbox_to_anchor=(0.5, -0.15), ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line arguments (``verilog-env train demo`` and ``python -m trainers.demo``)."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the teacher data, the model and the RL run")
    parser.add_argument("--out", default="runs/demo", help="report directory (default: runs/demo)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (about a minute; numbers meaningless)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (summary lines still print)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a size of the demo (see trainers.demo.DemoConfig), e.g. --set rl_steps=60")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.demo", description=__doc__.split("\n\n")[0])
    add_demo_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    from .config import ConfigError, config_from_dict, config_to_dict, parse_overrides

    base = DemoConfig.quick() if args.quick else DemoConfig()
    values = {**config_to_dict(base), "seed": args.seed, "out": args.out, "device": args.device,
              "progress": not args.no_progress}
    try:
        settings = config_from_dict(DemoConfig, {**values, **parse_overrides(getattr(args, "overrides", []))},
                                    source="demo settings")
    except ConfigError as error:
        print(f"verilog-env train demo: {error}", file=sys.stderr)
        return 2
    run_demo(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
