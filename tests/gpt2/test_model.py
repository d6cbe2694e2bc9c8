"""The model against transformers' GPT2LMHeadModel, and the paper's architectural details."""

from __future__ import annotations

import math

import pytest
import torch

from webtext.gpt2.convert import from_hf_state_dict, gpt_config_from_hf
from webtext.gpt2.model import CONFIGS, GPT, GPTConfig, config_for


def _hf_model(vocab=1000, n_positions=64, n_embd=64, n_layer=3, n_head=4, scale=0.3):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hc = GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                    bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    hf = GPT2LMHeadModel(hc).eval()
    # Larger random weights than the init (std 0.02) so every nonlinearity (GELU's tanh, softmax,
    # LayerNorm) is exercised far from its linear regime; a wrong detail then shows in the logits.
    with torch.no_grad():
        for name, p in hf.named_parameters():
            p.normal_(0.0, scale) if p.dim() > 1 else p.normal_(1.0 if "ln" in name and "weight" in name else 0.0, 0.1)
    return hf


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def test_logits_equal_transformers_gpt2_in_float32():
    hf = _hf_model()
    cfg = gpt_config_from_hf(hf.config.to_dict())
    assert cfg.padded_vocab_size == 1024 > cfg.vocab_size  # the padding is exercised
    model = GPT(cfg)
    model.load_state_dict(from_hf_state_dict(hf.state_dict(), cfg))
    model.eval()
    x = torch.randint(0, 1000, (3, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, loss = model(x[:, :-1], x[:, 1:])
        ref = hf(x[:, :-1], labels=x[:, :-1])
        theirs = hf(x).logits[:, :-1]
    assert ours.dtype == torch.float32 and ours.shape == (3, 63, 1000)
    assert _rel_err(ours, ref.logits) < 1e-5
    assert _rel_err(ours, theirs) < 1e-5  # and the same with a longer context: causality
    # HF shifts labels internally: its loss over x[:, :-1] predicts x[:, 1:-1]
    ours_loss = torch.nn.functional.cross_entropy(ours[:, :-1].reshape(-1, 1000), x[:, 1:-1].reshape(-1))
    assert abs(ours_loss.item() - ref.loss.item()) / ref.loss.item() < 1e-5
    assert loss is not None and math.isfinite(loss.item())


def test_attention_is_causal():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=100, n_layer=2, n_head=2, n_embd=32)).eval()
    x = torch.randint(0, 100, (1, 32))
    y = x.clone()
    y[0, 20:] = (y[0, 20:] + 1) % 100
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    assert torch.equal(a[0, :20], b[0, :20])
    assert not torch.allclose(a[0, 20:], b[0, 20:])


@pytest.mark.parametrize("name,expected", [("gpt2-124m", 124_439_808), ("gpt2-355m", 354_823_168),
                                           ("gpt2-774m", 774_030_080), ("gpt2-1558m", 1_557_611_200)])
def test_released_sizes_have_gpt2_parameter_counts(name, expected):
    with torch.device("meta"):  # shapes only: no memory, no time
        model = GPT(config_for(name))
    assert model.config.padded_vocab_size == 50304
    assert model.num_params(non_embedding=False) == expected  # the counts of OpenAI's released weights


def test_init_tying_and_padding():
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=64, vocab_size=1000, n_layer=8, n_head=4, n_embd=256)
    model = GPT(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert cfg.padded_vocab_size == 1024
    assert torch.count_nonzero(model.transformer.wte.weight[1000:]) == 0
    resid = torch.cat([torch.cat([b.attn.c_proj.weight.flatten(), b.mlp.c_proj.weight.flatten()]) for b in model.transformer.h])
    other = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.transformer.h])
    assert resid.std().item() == pytest.approx(0.02 / math.sqrt(2 * 8), rel=0.02)
    assert other.std().item() == pytest.approx(0.02, rel=0.02)
    assert model.transformer.wte.weight[:1000].std().item() == pytest.approx(0.02, rel=0.02)
    assert all(torch.count_nonzero(b.attn.c_attn.bias) == 0 for b in model.transformer.h)
    # padded ids are not even in the output: they cannot be sampled
    logits, _ = model(torch.zeros(1, 5, dtype=torch.long))
    assert logits.shape[-1] == 1000


def test_gelu_is_gpt2s_tanh_approximation():
    from webtext.gpt2.model import new_gelu

    x = torch.linspace(-5, 5, 101)
    ref = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))  # GPT-2's gelu
    assert torch.allclose(new_gelu(x), ref, atol=1e-6)


def test_unknown_model_name():
    with pytest.raises(KeyError, match="gpt2-124m"):
        config_for("gpt2-xxl")
    assert set(CONFIGS) >= {"gpt2-124m", "gpt2-355m", "gpt2-774m", "gpt2-1558m", "gpt2-tiny"}
