"""Sampling: the filters do what their definitions say; a seed fixes the text; the CLI finds the tokenizer."""

from __future__ import annotations


import pytest
import torch

from webtext.gpt2.sample import filter_logits, generate, load_tokenizer, sample_text


def test_tokenizer_is_gpt2s_built_offline(gpt2_tokenizer_dir):
    enc = load_tokenizer(gpt2_tokenizer_dir)
    assert enc.encode("hello world") == [31373, 995]
    assert enc.eot_token == 50256 and enc.n_vocab == 50257
    assert enc.decode(enc.encode("Ünïcode 🙂  spaces\n")) == "Ünïcode 🙂  spaces\n"


def test_top_k_and_top_p():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    logits = probs.log()
    kept = lambda out: torch.isfinite(out[0]).nonzero().flatten().tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == [1, 3]
    assert kept(filter_logits(logits, top_p=0.8)) == [1, 3]  # 0.5 + 0.3 reaches 0.8
    assert kept(filter_logits(logits, top_p=0.81)) == [1, 2, 3]
    assert kept(filter_logits(logits, top_p=0.1)) == [1]  # the most probable token always stays
    assert kept(filter_logits(logits, top_k=3, top_p=0.6)) == [1, 3]
    assert kept(filter_logits(logits)) == [0, 1, 2, 3]
    # kept logits are unchanged: renormalising them gives the original conditional probabilities
    p = torch.softmax(filter_logits(logits, top_k=2), -1)[0]
    assert p[1].item() == pytest.approx(0.5 / 0.8) and p[3].item() == pytest.approx(0.3 / 0.8)


def test_generate_seeded_greedy_and_empirical_distribution():
    from webtext.gpt2.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=10, n_layer=1, n_head=1, n_embd=8))
    x = torch.zeros(1, 1, dtype=torch.long)
    g = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    a = generate(model, x, 20, top_k=5, generator=g(1))
    assert torch.equal(a, generate(model, x, 20, top_k=5, generator=g(1)))
    assert not torch.equal(a, generate(model, x, 20, top_k=5, generator=g(2)))
    assert a.shape == (1, 21)  # longer than block_size: the context is cropped
    greedy = generate(model, x, 1, temperature=0)
    assert greedy[0, 1].item() == model(x)[0][0, -1].argmax().item()
    # top-k=1 sampling is greedy whatever the seed
    assert torch.equal(generate(model, x, 5, top_k=1, generator=g(3)), generate(model, x, 5, temperature=0))
    # 4000 one-token draws follow the model's distribution
    probs = torch.softmax(model(x)[0][0, -1], -1)
    draws = generate(model, x.repeat(4000, 1), 1, generator=g(4))[:, 1]
    freq = torch.bincount(draws, minlength=10).float() / 4000
    assert (freq - probs).abs().max().item() < 0.03


def test_sample_uses_the_checkpoints_tokenizer(token_dir, tmp_path, capsys):
    from webtext.cli import main
    from webtext.gpt2.train import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(data=str(token_dir), out=str(run), model="gpt2-tiny", block_size=32, batch_size=4,
                      total_batch_tokens=128, max_steps=1, eval_interval=0, device="cpu"))
    assert (run / "tokenizer" / "vocab.bpe").exists()  # copied from meta.json's tokenizer
    texts = sample_text(str(run), "The city council", max_new_tokens=12, top_k=40, top_p=0.9, seed=7, num_samples=2)
    assert len(texts) == 2 and texts == sample_text(str(run), "The city council", max_new_tokens=12, top_k=40,
                                                     top_p=0.9, seed=7, num_samples=2)
    assert main(["sample", "--checkpoint", str(run / "ckpt.pt"), "--prompt", "Hello", "--max-new-tokens", "5",
                 "--temperature", "0.8", "--seed", "3"]) == 0
    assert capsys.readouterr().out.startswith("Hello")
    assert main(["sample", "--checkpoint", str(run), "--prompt", "x", "--tokenizer", str(tmp_path)]) == 2
    assert "encoder.json" in capsys.readouterr().err
