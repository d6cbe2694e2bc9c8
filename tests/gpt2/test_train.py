"""The trainer on the CPU: it learns, a resumed run equals an uninterrupted one, NaN stops it."""

from __future__ import annotations

import json
import math

import pytest
import torch

from webtext.errors import ConfigError
from webtext.gpt2.checkpoint import load_checkpoint
from webtext.gpt2.train import TrainConfig, TrainingDiverged, configure_optimizer, get_lr, train


def test_tiny_model_lowers_validation_loss(small_vocab_dir, tmp_path, train_config, read_log):
    cfg = train_config(small_vocab_dir, tmp_path / "run", max_steps=40, warmup_steps=4, eval_interval=20, eval_iters=4)
    summary = train(cfg)
    evals = [r for r in read_log(tmp_path / "run") if r["type"] == "eval"]
    assert [e["step"] for e in evals] == [0, 20, 40]
    first, last = evals[0]["val_loss"], evals[-1]["val_loss"]
    assert first == pytest.approx(math.log(2048), abs=0.3)  # an untrained model is close to uniform
    assert last < first - 1.5, (first, last)
    assert evals[-1]["val_ppl"] == pytest.approx(math.exp(last))
    assert summary["step"] == 40 and summary["val_loss"] == last
    ckpt = load_checkpoint(tmp_path / "run" / "ckpt.pt")
    assert ckpt["step"] == 40 and ckpt["data"]["cursor"] > 0
    train_logs = [r for r in read_log(tmp_path / "run") if r["type"] == "train"]
    assert len(train_logs) == 40 and all(r["tokens_per_s"] > 0 for r in train_logs)


def test_resume_continues_the_exact_loss_curve(small_vocab_dir, tmp_path, train_config, read_log):
    # dropout > 0 so the RNG state matters; a small corpus slice so the data wraps into epoch 1
    kw = dict(max_steps=9, eval_interval=3, dropout=0.1, ckpt_interval=100)
    train(train_config(small_vocab_dir, tmp_path / "straight", **kw))
    train(train_config(small_vocab_dir, tmp_path / "resumed", **kw), stop_after=4)
    interrupted = load_checkpoint(tmp_path / "resumed")
    assert interrupted["step"] == 4
    train(train_config(small_vocab_dir, tmp_path / "resumed", **kw), resume=True, stop_after=2)
    train(train_config(small_vocab_dir, tmp_path / "resumed", **kw), resume=True)

    def curve(run):
        return [(r["type"], r["step"], r.get("loss"), r.get("grad_norm"), r.get("val_loss"))
                for r in read_log(tmp_path / run) if r["type"] in ("train", "eval")]

    straight, resumed = curve("straight"), curve("resumed")
    assert len(straight) == 9 + 4
    assert resumed == straight  # bitwise: the same floats, step for step
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "resumed")
    assert a["data"] == b["data"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_nan_loss_stops_with_a_usable_checkpoint(small_vocab_dir, tmp_path, train_config, read_log):
    # lr 1e30: the first update makes weights ~1e30, whose products overflow float32 in the next step
    cfg = train_config(small_vocab_dir, tmp_path / "run", lr=1e30, min_lr=1e30, warmup_steps=0, ckpt_interval=1,
                       grad_clip=0.0, max_steps=5)
    with pytest.raises(TrainingDiverged) as info:
        train(cfg)
    msg = str(info.value)
    assert "diverged at step 1" in msg and str(tmp_path / "run" / "ckpt.pt") in msg and "--resume" in msg
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt["step"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())  # never overwritten by the bad step
    assert read_log(tmp_path / "run")[-1]["type"] == "diverged"


def test_existing_run_needs_resume_and_model_cannot_change(small_vocab_dir, tmp_path, train_config):
    train(train_config(small_vocab_dir, tmp_path / "run", max_steps=1, eval_interval=0))
    with pytest.raises(ConfigError, match="--resume"):
        train(train_config(small_vocab_dir, tmp_path / "run", max_steps=2, eval_interval=0))
    with pytest.raises(ConfigError, match="--model cannot change"):
        train(train_config(small_vocab_dir, tmp_path / "run", model="gpt2-mini"), resume=True, explicit={"model"})
    with pytest.raises(ConfigError, match="multiple"):
        train(train_config(small_vocab_dir, tmp_path / "other", total_batch_tokens=1000))


def test_schedule_and_weight_decay_groups():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, max_steps=110)
    assert get_lr(0, cfg) == pytest.approx(0.1)
    assert get_lr(9, cfg) == pytest.approx(1.0)
    assert get_lr(10, cfg) == pytest.approx(1.0)
    assert get_lr(60, cfg) == pytest.approx(0.55)  # half way down the cosine
    assert get_lr(110, cfg) == pytest.approx(0.1) and get_lr(500, cfg) == pytest.approx(0.1)
    from webtext.gpt2.model import GPT, GPTConfig

    model = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=1, n_head=2, n_embd=8))
    decay, no_decay = configure_optimizer(model, cfg, "cpu").param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    n = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters())  # the tied matrix counted once


def test_cli_train_and_resume(small_vocab_dir, tmp_path, read_log):
    from webtext.cli import main

    args = ["train", "--data", str(small_vocab_dir), "--out", str(tmp_path / "run"), "--model", "gpt2-tiny",
            "--block-size", "64", "--batch-size", "8", "--total-batch-tokens", "512", "--max-steps", "3",
            "--eval-interval", "2", "--eval-iters", "1", "--device", "cpu"]
    assert main(args + ["--stop-after", "2"]) == 0
    assert main(args) == 2  # exists: needs --resume
    assert main(args + ["--resume"]) == 0
    log = read_log(tmp_path / "run")
    assert [r["step"] for r in log if r["type"] == "train"] == [0, 1, 2]
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])["type"] == "start"


def test_ddp_and_fsdp_two_processes_match_one(small_vocab_dir, tmp_path, read_log):
    """torchrun with 2 CPU processes (gloo): each takes half of every global batch, gradients are
    averaged, so the loss curve equals a single process's with the same global batch. The same with
    FSDP2 sharding, stopped and resumed in between (full state dicts gathered and re-sharded)."""
    import os
    import subprocess
    import sys

    common = ["--data", str(small_vocab_dir), "--model", "gpt2-tiny", "--block-size", "64", "--total-batch-tokens", "1024",
              "--max-steps", "4", "--warmup-steps", "1", "--lr", "3e-3", "--eval-interval", "2", "--eval-iters", "2",
              "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = "import sys; from webtext.cli import main; sys.exit(main(sys.argv[1:]))"
    single = subprocess.run([sys.executable, "-c", code, "train", "--out", str(tmp_path / "one"), "--batch-size", "8", *common],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    script = tmp_path / "run_cli.py"
    script.write_text(code + "\n")

    def torchrun(out, *extra):
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                               str(script), "train", "--out", str(tmp_path / out), "--batch-size", "4", *common, *extra],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]

    torchrun("two")
    torchrun("fsdp", "--fsdp", "--stop-after", "2")
    torchrun("fsdp", "--fsdp", "--resume")
    one = [r for r in read_log(tmp_path / "one") if r["type"] in ("train", "eval")]
    two = [r for r in read_log(tmp_path / "two") if r["type"] in ("train", "eval")]
    start = read_log(tmp_path / "two")[0]
    assert start["world_size"] == 2 and start["grad_accum"] == 2  # and no_sync on the first micro-step
    assert [(r["type"], r["step"]) for r in one] == [(r["type"], r["step"]) for r in two]
    fsdp = [r for r in read_log(tmp_path / "fsdp") if r["type"] in ("train", "eval")]
    assert read_log(tmp_path / "fsdp")[0]["fsdp"] is True
    assert [(r["type"], r["step"]) for r in one] == [(r["type"], r["step"]) for r in fsdp]
    for a, b, c in zip(one, two, fsdp):
        key = "loss" if a["type"] == "train" else "val_loss"
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-5)
        assert c[key] == pytest.approx(a[key], rel=1e-5, abs=1e-5)
