"""SFT warm-up with OpenRLHF: ``python -m trainers.openrlhf.train_sft [OpenRLHF flags]``.

Runs ``openrlhf.cli.train_sft`` in this process with :data:`SFT_DEFAULTS` added for every
flag the command line does not give. The data are chat conversations, one JSON object a
line with a ``messages`` list (system prompt first, then the user's spec, then the
assistant's ``<think>…</think><answer>```verilog …```</answer>``), as
``python -m trainers.openrlhf.data sft`` writes them; OpenRLHF applies the model's chat
template and trains on the last (assistant) message only.

Own flag: ``--verilog.dry_run`` prints the OpenRLHF command line and exits. Example::

    python -m trainers.openrlhf.data sft --suite starter --out data/sft.jsonl
    deepspeed --module trainers.openrlhf.train_sft \\
        --model.model_name_or_path Qwen/Qwen2.5-Coder-7B-Instruct \\
        --data.dataset data/sft.jsonl --ckpt.output_dir ckpt/qwen7b-sft

(OpenRLHF's SFT runs under the ``deepspeed`` launcher, one process per GPU.)
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from trainers.openrlhf._launch import Default, run_module, with_defaults

OPENRLHF_MODULE = "openrlhf.cli.train_sft"

SFT_DEFAULTS: tuple[Default, ...] = (
    ("--data.input_key", ("messages",)),
    ("--data.apply_chat_template", ()),
    ("--data.max_len", ("16384",)),  # CodeV-R1: cutoff 16384
    ("--train.max_epochs", ("6",)),  # CodeV-R1: 6 epochs
    ("--train.batch_size", ("64",)),  # CodeV-R1: 8 GPUs x 1 per device x 8 accumulation
    ("--train.micro_batch_size", ("1",)),
    ("--adam.lr", ("1e-5",)),  # CodeV-R1: 1e-5, cosine, 3% warm-up
    ("--lr_scheduler", ("cosine",)),
    ("--lr_warmup_ratio", ("0.03",)),
    ("--ds.zero_stage", ("3",)),
    ("--ds.param_dtype", ("bf16",)),
    ("--ds.packing_samples", ()),
    ("--model.gradient_checkpointing_enable", ()),
    ("--ckpt.save_hf", ()),
)
"""CodeV-R1's SFT settings (their LLaMA-Factory run of Qwen2.5-Coder-7B-Instruct: full
fine-tune, cutoff 16384, lr 1e-5, 6 epochs, cosine with 3% warm-up, bf16, packing, global
batch 64) as OpenRLHF 0.11.2 flags, for one 8-GPU node with ZeRO-3 (fp32 weights,
gradients and Adam moments of 7.6B parameters, ~122 GB, sharded 8 ways). Override any by
giving the flag."""


def parse(argv: Sequence[str]) -> tuple[bool, list[str]]:
    args = list(argv)
    dry_run = "--verilog.dry_run" in args
    args = [a for a in args if a != "--verilog.dry_run"]
    bad = [a for a in args if a.startswith("--verilog.")]
    if bad:
        raise SystemExit(f"train_sft: unknown launcher flag(s) {bad}; the only one is --verilog.dry_run")
    return dry_run, with_defaults(args, SFT_DEFAULTS)


def main(argv: Sequence[str] | None = None) -> None:
    dry_run, openrlhf_argv = parse(sys.argv[1:] if argv is None else argv)
    if dry_run:
        print(f"python -m {OPENRLHF_MODULE} {shlex.join(openrlhf_argv)}")
        return
    run_module(OPENRLHF_MODULE, openrlhf_argv)


if __name__ == "__main__":
    main()
