"""Hugging Face interop: export loads in transformers with the same logits; imports give the same model."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from webtext.errors import InputError
from webtext.gpt2.checkpoint import model_from_checkpoint
from webtext.gpt2.convert import export_hf, import_checkpoint, read_tf_checkpoint
from webtext.gpt2.train import train


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, token_dir):
    """A gpt2-tiny checkpoint on GPT-2's real vocabulary, trained 3 steps; its tokenizer kept beside it."""
    from webtext.gpt2.train import TrainConfig

    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(data=str(token_dir), out=str(out), model="gpt2-tiny", block_size=64, batch_size=4,
                      total_batch_tokens=256, max_steps=3, warmup_steps=1, lr=1e-2, eval_interval=0, device="cpu"))
    return out


def test_export_then_transformers_gives_the_same_logits(trained_run, tmp_path):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    out = export_hf(trained_run / "ckpt.pt", tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "merges.txt", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]
    hf = GPT2LMHeadModel.from_pretrained(out).eval()
    assert hf.config.vocab_size == 50257 and hf.config.eos_token_id == 50256
    assert hf.transformer.wte.weight.shape == (50257, 64)  # padded rows not exported
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()  # tied on load
    model, _ = model_from_checkpoint(trained_run / "ckpt.pt")
    x = torch.randint(0, 50257, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, _ = model(x)
        theirs = hf(x).logits
    assert _rel_err(ours, theirs) < 1e-5
    tok = AutoTokenizer.from_pretrained(out)
    assert tok("hello world")["input_ids"] == [31373, 995]
    assert tok.eos_token == "<|endoftext|>"


def test_import_hf_folder_roundtrip(tmp_path, gpt2_tokenizer_dir):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_positions=32, n_embd=32, n_layer=2, n_head=2)).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(tmp_path / "src")
    (tmp_path / "src" / "vocab.json").write_bytes((gpt2_tokenizer_dir / "encoder.json").read_bytes())
    (tmp_path / "src" / "merges.txt").write_bytes((gpt2_tokenizer_dir / "vocab.bpe").read_bytes())
    ckpt = import_checkpoint(tmp_path / "src", tmp_path / "imported")
    model, meta = model_from_checkpoint(ckpt)
    assert meta["step"] == 0 and (tmp_path / "imported" / "tokenizer" / "encoder.json").exists()
    x = torch.randint(0, 50257, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert _rel_err(model(x)[0], hf(x).logits) < 1e-5
    # and back out again: export of the import equals the original
    export_hf(ckpt, tmp_path / "again")
    again = GPT2LMHeadModel.from_pretrained(tmp_path / "again").eval()
    with torch.no_grad():
        assert _rel_err(again(x).logits, hf(x).logits) < 1e-5


def test_import_rejects_what_is_not_gpt2(tmp_path):
    with pytest.raises(InputError, match="neither"):
        import_checkpoint(tmp_path, tmp_path / "out")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_positions": 8, "vocab_size": 10,
                                                      "n_layer": 1, "n_head": 1, "n_embd": 4}))
    with pytest.raises(InputError, match="no model.safetensors"):
        import_checkpoint(tmp_path, tmp_path / "out")


# ---- OpenAI's TensorFlow release format -------------------------------------------------------
# A writer for TensorFlow's tensor-bundle format (a LevelDB table of BundleEntryProto + raw data),
# following the published layout, so the reader is checked against the format rather than itself:
# restart points, shared key prefixes and a multi-block index are all exercised.


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num, wire, payload):
    key = _varint((num << 3) | wire)
    return key + (_varint(payload) if wire == 0 else _varint(len(payload)) + payload)


def _block(entries, restart_every=2):
    buf, restarts, prev = bytearray(), [], b""
    for i, (k, v) in enumerate(entries):
        shared = 0
        if i % restart_every == 0:
            restarts.append(len(buf))
        else:
            while shared < min(len(k), len(prev)) and k[shared] == prev[shared]:
                shared += 1
        buf += _varint(shared) + _varint(len(k) - shared) + _varint(len(v)) + k[shared:] + v
        prev = k
    buf += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(buf)


def _write_tf_checkpoint(prefix, tensors: dict[str, np.ndarray]):
    data = bytearray()
    entries = [(b"", _field(1, 0, 1))]  # BundleHeaderProto: num_shards=1
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype=np.float32)
        shape = b"".join(_field(2, 2, _field(1, 0, d)) for d in arr.shape)
        proto = _field(1, 0, 1) + _field(2, 2, shape) + _field(4, 0, len(data)) + _field(5, 0, arr.nbytes)
        if len(data) == 0:
            proto = _field(1, 0, 1) + _field(2, 2, shape) + _field(5, 0, arr.nbytes)  # offset 0 omitted, as protobuf does
        entries.append((name.encode(), proto))
        data += arr.tobytes()
    table, index = bytearray(), []
    for start in range(0, len(entries), 5):  # several data blocks
        chunk = entries[start : start + 5]
        blk = _block(chunk)
        index.append((chunk[-1][0], _varint(len(table)) + _varint(len(blk))))
        table += blk + b"\x00" + b"\x00\x00\x00\x00"
    idx = _block(index)
    idx_handle = _varint(len(table)) + _varint(len(idx))
    table += idx + b"\x00" + b"\x00\x00\x00\x00"
    meta = _block([])
    meta_handle = _varint(len(table)) + _varint(len(meta))
    table += meta + b"\x00" + b"\x00\x00\x00\x00"
    footer = meta_handle + idx_handle
    footer += b"\x00" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    (prefix.parent / (prefix.name + ".index")).write_bytes(bytes(table) + footer)
    (prefix.parent / (prefix.name + ".data-00000-of-00001")).write_bytes(bytes(data))


def test_import_openai_release_folder(tmp_path, gpt2_tokenizer_dir):
    """OpenAI's layout: hparams.json, encoder.json, vocab.bpe, model.ckpt.* with model/h0/attn/c_attn/w (1, in, out)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    L, d, V, P = 2, 32, 50257, 16
    hf = GPT2LMHeadModel(GPT2Config(n_positions=P, n_embd=d, n_layer=L, n_head=2)).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    sd = hf.state_dict()
    tf = {"model/wte": sd["transformer.wte.weight"], "model/wpe": sd["transformer.wpe.weight"],
          "model/ln_f/g": sd["transformer.ln_f.weight"], "model/ln_f/b": sd["transformer.ln_f.bias"]}
    for i in range(L):
        for part in ("attn/c_attn", "attn/c_proj", "mlp/c_fc", "mlp/c_proj"):
            hk = f"transformer.h.{i}.{part.replace('/', '.')}"
            tf[f"model/h{i}/{part}/w"] = sd[hk + ".weight"][None]  # TF conv1d: (1, in, out)
            tf[f"model/h{i}/{part}/b"] = sd[hk + ".bias"]
        for ln in ("ln_1", "ln_2"):
            tf[f"model/h{i}/{ln}/g"] = sd[f"transformer.h.{i}.{ln}.weight"]
            tf[f"model/h{i}/{ln}/b"] = sd[f"transformer.h.{i}.{ln}.bias"]
    src = tmp_path / "124M"
    src.mkdir()
    _write_tf_checkpoint(src / "model.ckpt", {k: v.numpy() for k, v in tf.items()})
    back = read_tf_checkpoint(src / "model.ckpt")
    assert sorted(back) == sorted(tf) and np.array_equal(back["model/h1/mlp/c_fc/w"], tf["model/h1/mlp/c_fc/w"].numpy())
    (src / "hparams.json").write_text(json.dumps({"n_vocab": V, "n_ctx": P, "n_embd": d, "n_head": 2, "n_layer": L}))
    for name in ("encoder.json", "vocab.bpe"):
        (src / name).write_bytes((gpt2_tokenizer_dir / name).read_bytes())
    model, _ = model_from_checkpoint(import_checkpoint(src, tmp_path / "imported"))
    x = torch.randint(0, V, (2, P), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert _rel_err(model(x)[0], hf(x).logits) < 1e-5


def test_cli_export_and_import(trained_run, tmp_path, capsys):
    from webtext.cli import main

    assert main(["export-hf", "--checkpoint", str(trained_run), "--out", str(tmp_path / "hf")]) == 0
    assert main(["import-hf", "--src", str(tmp_path / "hf"), "--out", str(tmp_path / "back")]) == 0
    a, _ = model_from_checkpoint(trained_run / "ckpt.pt")
    b, _ = model_from_checkpoint(tmp_path / "back" / "ckpt.pt")
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    assert main(["export-hf", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
