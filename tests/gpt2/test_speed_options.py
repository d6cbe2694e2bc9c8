"""The trainer's speed switches (issue 17) keep the loss: each on and off, on a tiny model on the CPU.

Their speed is measured by benchmarks/train_throughput.py on a GPU; here only that they compute the
same thing: attention kernels, the chunked linear + cross-entropy, torch.compile modes, a larger
micro-batch for the same tokens per step, data prefetching. FP8 changes numerics by design and
needs an FP8 GPU: its loss-curve check is the benchmark's `--mode loss`.
"""

from __future__ import annotations

import pytest
import torch

from webtext.errors import ConfigError
from webtext.gpt2.data import TokenData
from webtext.gpt2.model import GPT, GPTConfig
from webtext.gpt2.train import TrainConfig, apply_speed_options, train


def _model(vocab=1000, **kw):
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=32, vocab_size=vocab, n_layer=2, n_head=2, n_embd=32, **kw))


def _loss_and_grads(model, fwd, x, y, autocast=False):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        _, loss = fwd(x, y)
    (loss / 4).backward()  # as with gradient accumulation
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_same(a, b, rtol):
    (la, ga), (lb, gb) = a, b
    assert lb.item() == pytest.approx(la.item(), rel=rtol, abs=rtol)
    for name in ga:
        scale = ga[name].abs().max().item() + 1e-12
        assert (ga[name] - gb[name]).abs().max().item() / scale < rtol * 10, name


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 1000, (4, 32), generator=g)
    y = torch.randint(0, 1000, (4, 32), generator=g)
    y[0, :7] = -1  # ignored targets, as the loss allows
    return x, y


@pytest.mark.parametrize("backend", ["flash", "math"])
def test_attention_backend_keeps_the_loss(batch, backend):
    model = _model(dropout=0.0)
    base = _loss_and_grads(model, model, *batch)
    model.set_attention_backend(backend, "cpu")
    assert all(b.attn.sdpa_backend is not None for b in model.transformer.h)
    _assert_same(base, _loss_and_grads(model, model, *batch), 1e-5)


def test_attention_backend_needs_a_device_that_has_it():
    model = _model()
    for name in ("cudnn", "efficient"):
        with pytest.raises(ConfigError, match="CUDA"):
            apply_speed_options(model, TrainConfig(attention=name), torch.device("cpu"), use_compile=False)
    with pytest.raises(ConfigError, match="choose one of"):
        apply_speed_options(model, TrainConfig(attention="fast"), torch.device("cpu"), use_compile=False)


@pytest.mark.parametrize("chunk", [128, 50, 7])
def test_chunked_linear_cross_entropy_keeps_loss_and_gradients(batch, chunk):
    model = _model()  # vocabulary 1000, padded to 1024: the padded columns must stay out of the softmax
    base = _loss_and_grads(model, model, *batch)
    model.loss_chunk_rows = chunk
    logits, loss = model(*batch)
    assert logits is None  # never materialised
    _assert_same(base, _loss_and_grads(model, model, *batch), 1e-6)
    # the padded rows of the tied matrix get no gradient, as on the plain path
    grads = _loss_and_grads(model, model, *batch)[1]
    assert grads["transformer.wte.weight"][1000:].abs().max().item() == 0.0
    # under bf16 autocast the products are bf16 on both paths: equal within bf16 rounding
    model.loss_chunk_rows = 0
    base16 = _loss_and_grads(model, model, *batch, autocast=True)
    model.loss_chunk_rows = chunk
    l16, g16 = _loss_and_grads(model, model, *batch, autocast=True)
    assert l16.item() == pytest.approx(base16[0].item(), abs=1e-4)
    for name, g in base16[1].items():
        assert (g - g16[name]).abs().max().item() <= 0.01 * (g.abs().max().item() + 1e-12), name


def _curve(run_dir, read_log):
    return [(r["type"], r["step"], r.get("loss", r.get("val_loss"))) for r in read_log(run_dir) if r["type"] in ("train", "eval")]


def _same_curves(a, b, tol):
    assert [(t, s) for t, s, _ in a] == [(t, s) for t, s, _ in b]
    for (_, _, la), (_, _, lb) in zip(a, b):
        assert lb == pytest.approx(la, rel=tol, abs=tol)


def test_training_with_each_switch_gives_the_same_loss_curve(small_vocab_dir, tmp_path, train_config, read_log):
    """Four steps each: the plain trainer; the chunked loss; the math attention kernel; prefetching; a
    micro-batch of 16 instead of 2 x 8 for the same 1,024 tokens per step."""
    kw = dict(max_steps=4, eval_interval=2, eval_iters=2, total_batch_tokens=1024, batch_size=8, block_size=64)
    train(train_config(small_vocab_dir, tmp_path / "base", **kw))
    base = _curve(tmp_path / "base", read_log)
    variants = {
        "chunked-loss": dict(loss_chunk=100),
        "math-attention": dict(attention="math"),
        "prefetch": dict(prefetch=True),
        "micro-16": dict(batch_size=16),
    }
    for name, extra in variants.items():
        train(train_config(small_vocab_dir, tmp_path / name, **{**kw, **extra}))
        curve = _curve(tmp_path / name, read_log)
        if name == "micro-16":  # validation batches are micro-batches too: compare the training losses
            curve, base_train = [c for c in curve if c[0] == "train"], [c for c in base if c[0] == "train"]
            _same_curves(base_train, curve, 1e-5)
        else:
            _same_curves(base, curve, 1e-5)
    assert read_log(tmp_path / "micro-16")[0]["grad_accum"] == 1 and read_log(tmp_path / "base")[0]["grad_accum"] == 2


def test_prefetching_gives_the_same_batches_and_position(small_vocab_dir):
    plain = TokenData(small_vocab_dir, 8, 64, seed=3)
    ahead = TokenData(small_vocab_dir, 8, 64, seed=3, prefetch=True)
    steps = 2 * plain.n_windows // 8 + 3  # across two epoch boundaries
    for i in range(steps):
        (xa, ya), (xb, yb) = plain.next_batch(), ahead.next_batch()
        assert torch.equal(xa, xb) and torch.equal(ya, yb), i
        assert plain.state_dict() == ahead.state_dict(), i  # the batch returned, not the one prefetched
        if i == 5:  # a resume point: back to an earlier position drops the prefetched batch
            state = plain.state_dict()
            for _ in range(3):
                plain.next_batch()
            plain.load_state_dict(state)
    assert ahead.epoch >= 2


@pytest.mark.parametrize("switches", [dict(), dict(loss_chunk=50, attention="math")])
def test_the_switches_compile_as_one_graph_with_the_same_loss(batch, switches):
    """torch.compile captures the model, the pinned attention kernel and the chunked loss as one graph
    (fullgraph: no graph break that would cost speed on the GPU), with the same loss and gradients.
    The capture is checked with the aot_eager backend (the same graphs, without Inductor's C++ build,
    which takes minutes on two cores); the compile modes themselves (CUDA graphs, autotuning) only
    act on a GPU, where benchmarks/train_throughput.py --mode loss checks their loss curves."""
    model = _model()
    base = _loss_and_grads(model, model, *batch)
    apply_speed_options(model, TrainConfig(**switches), torch.device("cpu"), use_compile=False)
    torch._dynamo.reset()
    fwd = torch.compile(model, backend="aot_eager", fullgraph=True)
    _assert_same(base, _loss_and_grads(model, fwd, *batch), 1e-5)


def test_compile_mode_is_checked():
    model = _model()
    fwd = apply_speed_options(model, TrainConfig(compile_mode="reduce-overhead"), torch.device("cpu"), use_compile=True)
    assert fwd is not model and fwd._orig_mod is model  # compiled lazily: nothing is built until the first call
    with pytest.raises(ConfigError, match="compile"):
        apply_speed_options(model, TrainConfig(compile_mode="fastest"), torch.device("cpu"), use_compile=True)
    with pytest.raises(ConfigError, match="--no-compile"):
        apply_speed_options(model, TrainConfig(compile_mode="max-autotune"), torch.device("cpu"), use_compile=False)


def test_fp8_keeps_the_parameters_and_the_loss_close(small_vocab_dir, tmp_path, train_config, read_log):
    """torchao float8 training in the blocks' Linear layers (torch's reference FP8 matmul on the CPU):
    the same parameters (names, float32 master weights: checkpoints load without it), a loss curve
    close to the plain one (FP8 rounds the matmul inputs: not equal by design; on the GPU the
    benchmark's 200-step loss check decides), and a run resumes with it switched off."""
    pytest.importorskip("torchao.float8")
    model = _model(vocab=1000)
    names = {n: p.dtype for n, p in model.named_parameters()}
    apply_speed_options(model, TrainConfig(fp8=True), torch.device("cpu"), use_compile=False)
    assert type(model.transformer.h[0].mlp.c_fc).__name__ == "Float8Linear"
    assert type(model.lm_head).__name__ == "Linear"  # the tied matrix stays as it is
    assert {n: p.dtype for n, p in model.named_parameters()} == names
    kw = dict(max_steps=4, eval_interval=2, eval_iters=2, block_size=64, dtype="bfloat16", ckpt_interval=2)
    train(train_config(small_vocab_dir, tmp_path / "bf16", **kw))
    train(train_config(small_vocab_dir, tmp_path / "fp8", fp8=True, **kw), stop_after=2)
    train(train_config(small_vocab_dir, tmp_path / "fp8", fp8=False, **kw), resume=True)  # fp8 off on resume
    a, b = _curve(tmp_path / "bf16", read_log), _curve(tmp_path / "fp8", read_log)
    assert [(t, s) for t, s, _ in a] == [(t, s) for t, s, _ in b]
    assert abs(a[0][2] - b[0][2]) < 1e-3  # the eval before any update: same weights, FP8 products
    for (_, _, la), (_, _, lb) in zip(a, b):
        assert abs(la - lb) < 0.05 * la


def test_fp8_without_torchao_is_one_clear_line(small_vocab_dir, tmp_path, capsys, monkeypatch):
    import sys

    from webtext.cli import main

    monkeypatch.setitem(sys.modules, "torchao", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "torchao.float8", None)
    assert main(["train", "--data", str(small_vocab_dir), "--out", str(tmp_path / "r"), "--model", "gpt2-tiny",
                 "--device", "cpu", "--fp8", "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--fp8 needs torchao" in err and len(err.splitlines()) == 1
