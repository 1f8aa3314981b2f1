"""The SFT and DAPO trainers, their configs and CLI, and a CI-sized run of the demo.

Everything runs on the CPU with models built from scratch (no downloads); rewards come
from real Icarus simulation. The whole file takes about a minute or two.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("yaml")

from trainers import common
from trainers.config import (
    ConfigError,
    config_from_dict,
    load_config,
    parse_overrides,
    save_config,
)
from trainers.dapo import trainer as dapo_trainer
from trainers.dapo.trainer import (
    DAPOConfig,
    Group,
    Rollout,
    collate_rows,
    cut_response,
    make_sampler,
    policy_update,
    restore_sampler,
    rows_of,
    sampler_state,
    shaped_rewards,
    train_dapo,
)
from trainers.demo import (
    SYSTEM_PROMPT,
    DemoConfig,
    build_tokenizer,
    run_demo,
    teacher_records,
    tiny_model,
)
from trainers.sft import (
    IGNORE,
    SFTConfig,
    SFTRecord,
    assistant_response,
    build_examples,
    collate,
    load_records,
    pack,
    sft_messages,
    tokenize_conversation,
    train_sft,
)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """These models are tiny: one thread is as fast, and far faster on a busy CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def records():
    return teacher_records(120, 0.3, seed=0)[0]


@pytest.fixture(scope="module")
def tokenizer(records):
    return build_tokenizer([m["content"] for r in records for m in sft_messages(r, SYSTEM_PROMPT)], 400)


# --- SFT examples -------------------------------------------------------------------------

def test_assistant_only_labels(tokenizer, records):
    record = records[0]
    messages = sft_messages(record, SYSTEM_PROMPT)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[2]["content"].startswith("<think>") and "```verilog\nmodule TopModule" in messages[2]["content"]
    ex = tokenize_conversation(tokenizer, messages)
    prompt_text = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    boundary = len(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    assert ex.input_ids[:boundary] == tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    labelled = [i for i, label in enumerate(ex.labels) if label != IGNORE]
    assert labelled and min(labelled) == boundary  # every label lies in the assistant turn...
    assert all(label == IGNORE for label in ex.labels[:boundary])  # ...and the prompt is masked
    assert [ex.labels[i] for i in labelled] == ex.input_ids[boundary:]
    # the labelled tokens are exactly the assistant's answer and the end of its turn
    assert tokenizer.decode(ex.input_ids[boundary:]) == messages[2]["content"] + "<|end|>\n"
    assert record.spec not in tokenizer.decode(ex.input_ids[boundary:])


def test_prefix_check_rejects_templates_that_rewrite_history(tokenizer, records):
    class Rewriting:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            text = "".join(m["content"] for m in messages)
            return text.upper() + ("<|assistant|>" if add_generation_prompt else "")  # prompt != prefix of full

        def __call__(self, text, add_special_tokens):
            return tokenizer(text, add_special_tokens=add_special_tokens)

    with pytest.raises(ValueError, match="prefix"):
        tokenize_conversation(Rewriting(), sft_messages(records[0], SYSTEM_PROMPT))


def test_pack_and_collate(tokenizer, records):
    examples, dropped = build_examples(tokenizer, records[:6], SYSTEM_PROMPT, max_length=512)
    assert dropped == 0 and len(examples) == 6
    packed = pack(examples, max_length=2 * max(len(e.input_ids) for e in examples))
    assert len(packed) < len(examples)
    assert sum(len(p.input_ids) for p in packed) == sum(len(e.input_ids) for e in examples)
    first = packed[0]
    assert first.position_ids[0] == 0 and 0 in first.position_ids[1:]  # positions restart per example
    batch = collate(packed, tokenizer.pad_token_id)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "position_ids"}
    pad = batch["attention_mask"] == 0
    assert (batch["labels"][pad] == IGNORE).all()
    _, too_long = build_examples(tokenizer, records[:3], SYSTEM_PROMPT, max_length=10)
    assert too_long == 3


def test_load_records_column_mapping(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"question": "Spec.", "thought": "why", "verilog": "module m; endmodule"}) + "\n")
    [record] = load_records(path, spec_key="question", reasoning_key="thought", code_key="verilog")
    assert record == SFTRecord("Spec.", "why", "module m; endmodule")
    assert assistant_response("why", "module m; endmodule") in sft_messages(record, None)[-1]["content"]
    with pytest.raises(ConfigError, match="missing text key"):
        load_records(path)
    with pytest.raises(ConfigError, match="not found"):
        load_records(tmp_path / "nope.jsonl")


# --- SFT training -------------------------------------------------------------------------

def _sft_config(out: Path, **kw) -> SFTConfig:
    base = {"output_dir": str(out), "system_prompt": SYSTEM_PROMPT, "max_length": 512, "batch_size": 8, "grad_accum": 2,
                "lr": 1e-2, "warmup_ratio": 0.1, "save_every": 0, "progress": False, "tensorboard": False, "device": "cpu"}
    return SFTConfig(**{**base, **kw})


def test_tiny_sft_reduces_loss(tmp_path, tokenizer, records):
    model = tiny_model(tokenizer, hidden=64, layers=1, heads=2, intermediate=128, seed=0)
    result = train_sft(_sft_config(tmp_path, max_steps=25), model=model, tokenizer=tokenizer, records=records)
    assert result.steps == 25
    assert result.last_loss < 0.5 * result.first_loss
    rows = common.read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 26))
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "epoch"} <= set(rows[0])
    assert (tmp_path / "final" / "config.json").exists() and (tmp_path / "checkpoint-25" / "trainer_state.pt").exists()


def test_sft_resume_continues_at_saved_step(tmp_path, tokenizer, records):
    model = tiny_model(tokenizer, hidden=32, layers=1, heads=2, intermediate=64, seed=0)
    train_sft(_sft_config(tmp_path, max_steps=4, save_every=2), model=model, tokenizer=tokenizer, records=records)
    assert common.latest_checkpoint(tmp_path).name == "checkpoint-4"
    with pytest.raises(ConfigError, match="already holds checkpoints"):  # a fresh run would mix with the old one
        train_sft(_sft_config(tmp_path, max_steps=6), model=model, tokenizer=tokenizer, records=records)
    result = train_sft(_sft_config(tmp_path, max_steps=6, resume=True), records=records)
    assert result.steps == 6
    assert [r["step"] for r in common.read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert common.load_state(tmp_path / "checkpoint-6")["step"] == 6


# --- configs and CLI ----------------------------------------------------------------------

def test_config_yaml_round_trip_and_errors(tmp_path):
    config = DAPOConfig(model="m", output_dir=str(tmp_path / "run"), steps=7, lr=3e-6, eval_suite="starter",
                        train_suite_options={"path": str(tmp_path / "x.parquet")})  # absolute: saved as they are
    path = save_config(config, tmp_path / "c.yaml")
    assert load_config(DAPOConfig, path) == config
    assert load_config(DAPOConfig, path, ["lr=1e-5", "steps=3"]) == DAPOConfig(
        **{**config.__dict__, "lr": 1e-5, "steps": 3})
    sft = SFTConfig(model="m", data=str(tmp_path / "d.jsonl"), output_dir=str(tmp_path / "sft"), epochs=2)
    assert load_config(SFTConfig, save_config(sft, tmp_path / "s.yaml")) == sft

    (tmp_path / "bad.yaml").write_text("model: m\nlearning_rate: 1e-6\n")
    with pytest.raises(ConfigError, match="unknown key.*'learning_rate'.*valid keys") as info:
        load_config(DAPOConfig, tmp_path / "bad.yaml")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(DAPOConfig, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="key 'steps': expected int"):
        config_from_dict(DAPOConfig, {"steps": "many"})
    with pytest.raises(ConfigError, match="estimator"):
        config_from_dict(DAPOConfig, {"estimator": "magic"})
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(DAPOConfig, tmp_path / "broken.yaml")
    assert parse_overrides(["lr=1e-6", "keep_surplus=false", "eval_suite=null"]) == {
        "lr": 1e-6, "keep_surplus": False, "eval_suite": None}


def _cli():
    from trainers.cli import register

    parser = argparse.ArgumentParser(prog="verilog-env")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_config_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("steps: 3\nbogus: 1\n")
    for command, config in (("sft", "missing.yaml"), ("dapo", str(tmp_path / "bad.yaml"))):
        args = _cli().parse_args(["train", command, "--config", str(tmp_path / config) if command == "sft" else config])
        assert args.func(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("verilog-env train: ") and "\n" not in err
        assert ("not found" in err) if command == "sft" else ("unknown key(s) 'bogus'" in err)
    args = _cli().parse_args(["train", "demo", "--quick", "--set", "nonsense=1", "--out", str(tmp_path / "d")])
    assert args.func(args) == 2
    assert "unknown key(s) 'nonsense'" in capsys.readouterr().err


def test_example_configs_load():
    root = Path(__file__).resolve().parents[1] / "examples" / "configs"
    assert load_config(SFTConfig, root / "sft_codev_r1.yaml").lr == 1e-5
    codev = load_config(DAPOConfig, root / "dapo_codev_r1.yaml")
    assert (codev.samples_per_prompt, codev.prompts_per_step, codev.mini_batch_size) == (16, 128, 64)
    assert (codev.lr, codev.kl_coef, codev.max_grad_norm, codev.clip_low, codev.clip_high) == (1e-6, 0.0, 0.5, 0.2, 0.28)
    assert (codev.overlong_buffer, codev.overlong_penalty, codev.max_response_length) == (1024, 1.0, 16384)
    assert load_config(DAPOConfig, root / "dapo_tiny.yaml").estimator == "beta"
    assert (DAPOConfig().samples_per_prompt, DAPOConfig().prompts_per_step, DAPOConfig().lr) == (16, 128, 1e-6)


# --- DAPO pieces --------------------------------------------------------------------------

def test_cut_response_and_shaping():
    assert cut_response([5, 6, 2, 7], stops=[2]) == ([5, 6, 2], False)
    assert cut_response([5, 6, 7], stops=[2]) == ([5, 6, 7], True)
    config = DAPOConfig(max_response_length=100, overlong_buffer=20, overlong_penalty=1.0)
    np.testing.assert_allclose(shaped_rewards(np.array([1.0, 1.0, 0.0]), np.array([50, 90, 100]), config),
                               [1.0, 0.5, -1.0])
    off = DAPOConfig(max_response_length=100, overlong_buffer=0)
    np.testing.assert_allclose(shaped_rewards(np.array([1.0]), np.array([100]), off), [1.0])


def _group(pid: str, prompt: list[int], answers: list[list[int]], rewards: list[float]) -> Group:
    return Group(pid, prompt, [Rollout(a, "", r, r, "equivalent" if r else "mismatch", False)
                               for a, r in zip(answers, rewards)])


def test_update_rows_align_and_first_minibatch_is_on_policy(tokenizer):
    model = tiny_model(tokenizer, hidden=32, layers=1, heads=2, intermediate=64, seed=0)
    groups = [_group("a", [3, 4, 5], [[6, 7, 8], [9, 10]], [1.0, 0.0]),
              _group("b", [3, 4], [[11], [12, 13, 14, 15]], [0.0, 1.0])]
    config = DAPOConfig(samples_per_prompt=2, mini_batch_size=2, micro_batch_size=3, lr=1e-3, device="cpu")
    rows = [r for rs in rows_of(groups, config) for r in rs]
    batch = collate_rows(rows, pad_id=0)
    # the response mask covers exactly the targets ids[1:] that are response tokens
    for i, row in enumerate(rows):
        targets = batch["input_ids"][i, 1:][batch["mask"][i] > 0].tolist()
        assert targets == row.ids[row.response_start:]
    # unbiased group std (issue 15 item 12; the population std gave +-1): rewards (1, 0) -> +-1/sqrt(2)
    np.testing.assert_allclose(batch["advantages"].numpy(), np.array([1, -1, -1, 1]) / np.sqrt(2), atol=1e-4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    before = [p.detach().clone() for p in model.parameters()]
    stats = policy_update(model, optimizer, scheduler, groups, config, torch.device("cpu"), pad_id=0)
    assert stats["optimizer_steps"] == 1 and stats["trained_tokens"] == 10
    assert stats["clip_fraction"] == 0.0 and abs(stats["approx_kl"]) < 1e-5  # ratio 1: old log-probs match
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    two = DAPOConfig(samples_per_prompt=2, mini_batch_size=1, micro_batch_size=8, device="cpu")
    assert policy_update(model, optimizer, scheduler, groups, two, torch.device("cpu"), pad_id=0)["optimizer_steps"] == 2


def test_sequence_logprobs_skips_the_prompts_logits(tokenizer):
    """``first=k``: the LM head runs on positions k.. only (``logits_to_keep``), the values
    from k on are those of the full pass and the skipped entries are 0."""
    model = tiny_model(tokenizer, hidden=32, layers=1, heads=2, intermediate=64, seed=0).eval()
    ids = torch.tensor([[3, 4, 5, 6, 7, 8, 9], [3, 4, 5, 10, 11, 0, 0]])
    mask = (ids != 0).long()
    heads = []
    model.lm_head.register_forward_hook(lambda module, args, out: heads.append(out.shape[1]))
    full = common.sequence_logprobs(model, ids, mask)
    part = common.sequence_logprobs(model, ids, mask, first=3)
    assert heads == [7, 4] and part.shape == full.shape == (2, 6)
    torch.testing.assert_close(part[:, 3:], full[:, 3:])
    assert torch.equal(part[:, :3], torch.zeros(2, 3))


def test_first_minibatch_takes_its_old_logprobs_from_its_own_loss_pass(tokenizer):
    """No separate old-log-prob pass for the first mini-batch (it precedes every update); the
    update equals the one made with old log-probs from a separate eval-mode pass."""
    groups = [_group("a", [3, 4, 5], [[6, 7, 8], [9, 10]], [1.0, 0.0]),
              _group("b", [3, 4], [[11], [12, 13, 14, 15]], [0.0, 1.0])]
    config = DAPOConfig(samples_per_prompt=2, mini_batch_size=2, micro_batch_size=8, lr=1e-2, device="cpu")

    def updated(precomputed: bool, config: DAPOConfig):
        model = tiny_model(tokenizer, hidden=32, layers=1, heads=2, intermediate=64, seed=0)
        calls = []
        model.register_forward_hook(lambda module, args, out: calls.append(module.training))
        copies = [Group(g.problem_id, g.prompt_ids, [Rollout(r.response_ids, "", r.reward, r.score, r.status, False)
                                                      for r in g.rollouts]) for g in groups]
        if precomputed:  # the old way: every row's old log-probs from a no-grad eval-mode pass
            dapo_trainer.remember_behaviour(model, copies, config, torch.device("cpu"), 0)
            calls.clear()
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        stats = policy_update(model, optimizer, scheduler, copies, config, torch.device("cpu"), pad_id=0)
        return model, calls, stats

    new, calls, stats = updated(False, config)
    old, old_calls, _ = updated(True, config)
    assert calls == old_calls == [True]  # one forward: the loss pass itself
    assert stats["clip_fraction"] == 0.0 and stats["approx_kl"] == 0.0
    for a, b in zip(new.parameters(), old.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    two = DAPOConfig(samples_per_prompt=2, mini_batch_size=1, micro_batch_size=8, ppo_epochs=2, lr=1e-2, device="cpu")
    _, calls, stats = updated(False, two)
    # the second mini-batch's old log-probs before any update (eval), then 2 epochs x 2 loss passes
    assert calls == [False, True, True, True, True] and stats["optimizer_steps"] == 4


def test_sampler_state_round_trip():
    config = DAPOConfig(prompts_per_step=2, samples_per_prompt=2)
    sampler = make_sampler(config)
    groups = [_group(f"p{i}", [1], [[2], [3]], [1.0, 0.0]) for i in range(5)]
    sampler.next_batch(lambda n: groups[:n], keep=lambda g: True)
    state = sampler_state(sampler)
    again = make_sampler(config)
    restore_sampler(again, json.loads(json.dumps(state)))
    assert sampler_state(again) == json.loads(json.dumps(state))
    assert again.estimator.estimate() == sampler.estimator.estimate()


# --- the demo, CI-sized, and DAPO resume --------------------------------------------------

@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(DemoConfig.quick(out=str(out), progress=False, device="cpu"))
    return out, summary


def test_quick_demo_trains_with_simulation_rewards(quick_demo):
    out, summary = quick_demo
    for name in ("report.md", "report.png", "summary.json", "train_problems.jsonl", "heldout_problems.jsonl",
                 "sft/metrics.jsonl", "sft/final/config.json", "dapo/metrics.jsonl", "dapo/rollouts.jsonl",
                 "dapo/evals.jsonl"):
        assert (out / name).exists(), name
    assert summary["rl"]["steps"] == 2 and summary["sft"]["last_loss"] < summary["sft"]["first_loss"]
    assert 0.0 <= summary["heldout_pass@1"]["sft"] <= 1.0 and 0.0 <= summary["heldout_pass@1"]["rl"] <= 1.0
    # the teacher data really is imperfect, as judged by the simulator
    assert summary["teacher_statuses"]["equivalent"] > 0 and summary["teacher_statuses"].get("mismatch", 0) > 0

    rows = common.read_jsonl(out / "dapo" / "metrics.jsonl")
    expected = {"step", "reward_mean", "pass_rate", "groups_kept", "groups_from_surplus", "rounds", "prompts_sampled",
                "estimate", "loss", "clip_fraction", "approx_kl", "grad_norm", "response_length_mean",
                "tokens_per_s", "gen_seconds", "score_seconds", "update_seconds", "seconds", "statuses"}
    assert [r["step"] for r in rows] == [1, 2] and all(expected <= set(r) for r in rows)
    assert rows[0]["rounds"] >= 1 and rows[0]["prompts_sampled"] >= rows[0]["groups_kept"]
    assert all(r["rounds"] >= 1 or r["groups_from_surplus"] > 0 for r in rows)  # a step may be served by the surplus

    # rewards come from real simulation: verdicts with simulator timings, right and wrong answers
    rollouts = common.read_jsonl(out / "dapo" / "rollouts.jsonl")
    statuses = {r["status"] for r in rollouts} | {s for e in summary["evals"] for s in e["statuses"]}
    assert "equivalent" in statuses and statuses & {"mismatch", "compile_error", "format_error", "no_code"}
    checked = [r for r in rollouts if r["timings"]]
    assert checked and all("total" in r["timings"] for r in checked)
    simulated = [r for r in checked if r["status"] == "equivalent"]  # an equivalent verdict means Icarus ran
    assert simulated and all(r["timings"]["simulate"] > 0 and r["timings"]["compile"] > 0 for r in simulated)
    assert all(r["timings"] is None for r in rollouts if r["status"] in ("format_error", "no_code"))
    for r in rollouts:  # checker reward, then overlong shaping can only lower it
        assert r["score"] == (1.0 if r["status"] == "equivalent" else 0.0) and r["reward"] <= r["score"]
    report = (out / "report.md").read_text()
    assert "Held-out pass@1" in report and "Adaptive sampler" in report


def test_dapo_resume_continues_at_saved_step(quick_demo):
    out, _ = quick_demo
    dapo = out / "dapo"
    assert common.latest_checkpoint(dapo).name == "checkpoint-2"
    saved = common.load_state(dapo / "checkpoint-2")
    assert saved["step"] == 2 and saved["sampler"]["step"] == 2
    config = load_config(DAPOConfig, dapo / "config.yaml", [
        "steps=3", "resume=true", f"train_suite={out / 'train_problems.jsonl'}",
        f"eval_suite={out / 'heldout_problems.jsonl'}", "eval_every=0", "eval_before_training=false"])
    result = train_dapo(config)
    assert result.steps == 3
    assert [r["step"] for r in common.read_jsonl(dapo / "metrics.jsonl")] == [1, 2, 3]
    state = common.load_state(dapo / "checkpoint-3")
    assert state["step"] == 3 and state["sampler"]["step"] == 3
