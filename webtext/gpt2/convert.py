"""Hugging Face interop: export a checkpoint as a transformers GPT-2 folder, import GPT-2 weights.

Export (`webtext export-hf --checkpoint PATH --out DIR`) writes what `GPT2LMHeadModel.from_pretrained(DIR)`
and `AutoTokenizer.from_pretrained(DIR)` load, offline:

    model.safetensors        weights in GPT-2's layout: Conv1D weights (in, out), i.e. our Linear
                             weights transposed; wte cut back to the real vocabulary (padded ids are
                             never exported); lm_head not stored since it is tied to wte (as HF saves it)
    config.json              GPT2Config: gelu_new (the tanh GELU), eps 1e-5, tied embeddings
    vocab.json, merges.txt   the training tokenizer's encoder.json and vocab.bpe under HF's names
    tokenizer_config.json, special_tokens_map.json   <|endoftext|> as bos/eos/unk, model_max_length
    tokenizer.json           copied too when the tokenizer folder has one

The folder is assembled under a temporary name and renamed into place.

Import (`webtext import-hf --src DIR --out DIR`) reads either a Hugging Face GPT-2 folder (config.json
plus model.safetensors, sharded safetensors or pytorch_model.bin) or OpenAI's original release folder
(hparams.json, encoder.json, vocab.bpe and the TensorFlow checkpoint `model.ckpt.*`, read by the
small TensorFlow-free reader below), and writes `OUT/ckpt.pt` + `OUT/tokenizer/`, usable by
`webtext sample` and by `webtext train --init-from OUT/ckpt.pt`.

The tokenizer comes along when the folder has one (`import_tokenizer`), in this order: vocab.json +
merges.txt (HF's names for encoder.json + vocab.bpe), encoder.json + vocab.bpe (OpenAI's), or a
`tokenizer.json` alone (what transformers 5 saves), from which encoder.json and vocab.bpe are
derived when it is a byte-level BPE like GPT-2's. `import_checkpoint` returns what it did; the CLI
says either which tokenizer it imported or, in one line, that there was none (or why it could not
be used) and that `webtext sample` will need `--tokenizer`.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

from webtext.errors import ConfigError, InputError
from webtext.gpt2.checkpoint import clean_state_dict, load_checkpoint, save_checkpoint
from webtext.gpt2.model import GPTConfig

# GPT-2 stores these as Conv1D, weight shape (in_features, out_features): transposed w.r.t. nn.Linear.
TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
EOT = "<|endoftext|>"


# ---------------------------------------------------------------------------- state dict mapping


def to_hf_state_dict(model_sd: dict, config: GPTConfig) -> dict[str, torch.Tensor]:
    """Our state dict -> GPT2LMHeadModel's (float32, contiguous, real vocabulary only)."""
    out = {}
    for k, v in clean_state_dict(model_sd).items():
        if k == "lm_head.weight":
            continue  # tied to transformer.wte.weight
        v = v.detach().to("cpu", torch.float32)
        if k == "transformer.wte.weight":
            v = v[: config.vocab_size]
        if k.endswith(TRANSPOSED):
            v = v.t()
        out[k] = v.contiguous()
    return out


def from_hf_state_dict(sd: dict, config: GPTConfig) -> dict[str, torch.Tensor]:
    """GPT2LMHeadModel / GPT2Model state dict -> ours (padded vocabulary, Linear layout)."""
    out = {}
    for k, v in sd.items():
        if k.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers in older files, not weights
        if not k.startswith(("transformer.", "lm_head.")):
            k = "transformer." + k  # GPT2Model files (e.g. the hub's original "gpt2") have no prefix
        if k.endswith(TRANSPOSED):
            v = v.t()
        out[k] = v.to(torch.float32).contiguous()
    wte = out.get("transformer.wte.weight")
    if wte is None:
        raise InputError("no transformer.wte.weight in the weights: not a GPT-2 checkpoint")
    if wte.shape[0] != config.vocab_size:
        raise InputError(f"wte has {wte.shape[0]} rows but config says vocab_size {config.vocab_size}")
    lm = out.pop("lm_head.weight", None)
    if lm is not None and not torch.equal(lm[: config.vocab_size], wte):
        raise InputError("lm_head.weight differs from wte: untied output embeddings are not GPT-2's architecture")
    padded = torch.zeros(config.padded_vocab_size, config.n_embd)
    padded[: config.vocab_size] = wte
    out["transformer.wte.weight"] = padded
    out["lm_head.weight"] = padded
    return out


def gpt_config_from_hf(hf: dict) -> GPTConfig:
    """Our config from a GPT2Config dict; refuses variants this model does not implement."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ConfigError(f"model_type {hf.get('model_type')!r} is not gpt2")
    act = hf.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ConfigError(f"activation_function {act!r}: only GPT-2's tanh GELU (gelu_new) is supported")
    n_inner = hf.get("n_inner")
    if n_inner not in (None, 4 * hf["n_embd"]):
        raise ConfigError(f"n_inner {n_inner}: only 4 * n_embd is supported")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if hf.get(flag):
            raise ConfigError(f"{flag}=true is not supported")
    if hf.get("scale_attn_weights") is False:
        raise ConfigError("scale_attn_weights=false is not supported")
    if hf.get("tie_word_embeddings") is False:
        raise ConfigError("tie_word_embeddings=false is not supported: GPT-2 ties them")
    return GPTConfig(
        block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"], n_head=hf["n_head"],
        n_embd=hf["n_embd"], layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-5), dropout=0.0,
    )


def hf_config(config: GPTConfig, eot_id: int | None):
    from transformers import GPT2Config

    eot = eot_id if eot_id is not None and eot_id < config.vocab_size else None
    return GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd, n_layer=config.n_layer,
        n_head=config.n_head, n_inner=None, activation_function="gelu_new", layer_norm_epsilon=config.layer_norm_epsilon,
        resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
        bos_token_id=eot, eos_token_id=eot, tie_word_embeddings=True, architectures=["GPT2LMHeadModel"],
    )


# ---------------------------------------------------------------------------- export


def _eot_id(tokenizer_dir: Path | None) -> int | None:
    if tokenizer_dir and (tokenizer_dir / "encoder.json").exists():
        return json.loads((tokenizer_dir / "encoder.json").read_text(encoding="utf-8")).get(EOT)
    return None


def export_hf(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, tokenizer: str | os.PathLike | None = None) -> Path:
    """Write a transformers GPT-2 folder for `checkpoint`; returns the folder."""
    from safetensors.torch import save_file

    ckpt = load_checkpoint(checkpoint)
    config = GPTConfig(**ckpt["model_config"])
    tok_dir = None
    for cand in ([tokenizer] if tokenizer else [Path(ckpt["path"]).parent / "tokenizer", ckpt.get("tokenizer")]):
        if cand and (Path(cand) / "encoder.json").exists() and (Path(cand) / "vocab.bpe").exists():
            tok_dir = Path(cand)
            break
    if tokenizer and tok_dir is None:
        raise InputError("tokenizer folder needs encoder.json and vocab.bpe", path=str(tokenizer))

    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(to_hf_state_dict(ckpt["model"], config), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    eot = _eot_id(tok_dir)
    hf_config(config, eot).save_pretrained(tmp)
    if tok_dir is not None:
        shutil.copyfile(tok_dir / "encoder.json", tmp / "vocab.json")
        shutil.copyfile(tok_dir / "vocab.bpe", tmp / "merges.txt")
        if (tok_dir / "tokenizer.json").exists():
            shutil.copyfile(tok_dir / "tokenizer.json", tmp / "tokenizer.json")
        special = {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT} if eot is not None else {}
        (tmp / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
        (tmp / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "GPT2Tokenizer", "model_max_length": config.block_size, "add_prefix_space": False,
             **special}, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------------------- import


def _load_hf_weights(src: Path) -> dict:
    from safetensors.torch import load_file

    if (src / "model.safetensors").exists():
        return load_file(str(src / "model.safetensors"))
    index = src / "model.safetensors.index.json"
    if index.exists():
        sd = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            sd.update(load_file(str(src / shard)))
        return sd
    if (src / "pytorch_model.bin").exists():
        return torch.load(src / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise InputError("no model.safetensors, model.safetensors.index.json or pytorch_model.bin", path=str(src))


def import_tokenizer(src: Path, dest: Path) -> tuple[Path | None, str]:
    """Copy or derive `src`'s tokenizer into `dest` as encoder.json + vocab.bpe (+ tokenizer.json when
    there is one). Returns (dest, what was imported) or (None, why there is no tokenizer)."""
    pairs = [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
    found = next(((v, m) for v, m in pairs if (src / v).is_file() and (src / m).is_file()), None)
    has_json = (src / "tokenizer.json").is_file()
    if found is None and not has_json:
        return None, "the folder has no tokenizer (tokenizer.json, vocab.json + merges.txt, or encoder.json + vocab.bpe)"
    if found is None:
        try:
            encoder, merges = _bpe_from_tokenizer_json(src / "tokenizer.json")
        except InputError as exc:
            return None, f"its tokenizer.json was not imported: {exc}"
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if found is not None:
        shutil.copyfile(src / found[0], tmp / "encoder.json")
        shutil.copyfile(src / found[1], tmp / "vocab.bpe")
        what = f"{found[0]} + {found[1]}"
    else:
        (tmp / "encoder.json").write_text(json.dumps(encoder, ensure_ascii=False), encoding="utf-8")
        (tmp / "vocab.bpe").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
        what = "tokenizer.json (encoder.json and vocab.bpe derived from it)"
    if has_json:
        shutil.copyfile(src / "tokenizer.json", tmp / "tokenizer.json")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest, what


def _bpe_from_tokenizer_json(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's encoder (token -> id, added tokens included) and merges from a Hugging Face tokenizer.json,
    which must be a byte-level BPE (GPT-2's scheme) for the files to mean the same thing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable JSON file: {exc}", path=str(path)) from None
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise InputError(f"model type {model.get('type')!r} is not BPE", path=str(path))
    pre = json.dumps(data.get("pre_tokenizer") or {})
    if "ByteLevel" not in pre:
        raise InputError("not a byte-level BPE (no ByteLevel pre-tokenizer): GPT-2's files cannot express it", path=str(path))
    encoder = dict(model.get("vocab") or {})
    for added in data.get("added_tokens") or []:
        encoder.setdefault(added["content"], added["id"])
    merges = []
    for m in model.get("merges") or []:
        pair = m.split(" ") if isinstance(m, str) else m
        if len(pair) != 2:
            raise InputError(f"unexpected merge entry {m!r}", path=str(path))
        merges.append((pair[0], pair[1]))
    if not encoder:
        raise InputError("empty vocabulary", path=str(path))
    return encoder, merges


def import_checkpoint(src: str | os.PathLike, out_dir: str | os.PathLike, *, report: list | None = None) -> Path:
    """Convert a Hugging Face or OpenAI GPT-2 folder into OUT/ckpt.pt (+ OUT/tokenizer/); returns the ckpt path.
    `report`, when given, receives one line about the tokenizer (imported from what, or why not)."""
    src, out = Path(src), Path(out_dir)
    if not src.is_dir():
        raise InputError("not a folder", path=str(src))
    if (src / "config.json").exists():
        config = gpt_config_from_hf(json.loads((src / "config.json").read_text(encoding="utf-8")))
        sd = from_hf_state_dict(_load_hf_weights(src), config)
        source = "huggingface"
    elif (src / "hparams.json").exists():
        hp = json.loads((src / "hparams.json").read_text(encoding="utf-8"))
        config = GPTConfig(block_size=hp["n_ctx"], vocab_size=hp["n_vocab"], n_layer=hp["n_layer"], n_head=hp["n_head"],
                           n_embd=hp["n_embd"])
        sd = from_hf_state_dict(openai_tf_state_dict(src, config.n_layer), config)
        source = "openai"
    else:
        raise InputError("neither a Hugging Face folder (config.json) nor OpenAI's release (hparams.json)", path=str(src))
    # validate before writing anything: the weights must fit the architecture exactly
    from webtext.gpt2.model import GPT

    model = GPT(config)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise InputError(f"weights do not match GPT-2 ({len(missing)} missing, e.g. {missing[:3]}; "
                         f"{len(unexpected)} unexpected, e.g. {unexpected[:3]})", path=str(src))
    out.mkdir(parents=True, exist_ok=True)
    tok_dir, tokenizer_note = import_tokenizer(src, out / "tokenizer")
    if report is not None:
        report.append(f"tokenizer imported from {tokenizer_note}" if tok_dir else
                      f"no tokenizer imported: {tokenizer_note}; `webtext sample` needs --tokenizer DIR")
    return save_checkpoint(
        {"model_config": config.to_dict(), "model": model.state_dict(), "step": 0, "source": f"{source}:{src}",
         "tokenizer": str(tok_dir.resolve()) if tok_dir else None},
        out / "ckpt.pt",
    )


# ---------------------------------------------------------------------------- OpenAI's TensorFlow checkpoint
#
# OpenAI released GPT-2 as a TensorFlow 1 checkpoint: `model.ckpt.index` (a LevelDB-format table mapping
# each variable name to a BundleEntryProto: dtype, shape, shard, offset, size) and
# `model.ckpt.data-00000-of-00001` (the raw little-endian tensors). Reading it needs no TensorFlow: the
# table is a sequence of prefix-compressed key/value blocks located through an index block and a
# 48-byte footer, and the protos are a handful of varint fields.

_TF_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 14: np.uint16, 19: np.float16}
_TABLE_MAGIC = 0xDB4775248B80FB57


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, val


def _table_block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    block = data[offset : offset + size]
    if data[offset + size] != 0:  # the 5-byte trailer starts with the compression type
        raise ValueError("compressed table blocks are not supported")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + vlen]))
        pos += vlen
    return entries


def read_tf_checkpoint(prefix: str | os.PathLike) -> dict[str, np.ndarray]:
    """All tensors of a TensorFlow 1 checkpoint `prefix` (reads prefix.index and prefix.data-*)."""
    prefix = str(prefix)
    index_path = Path(prefix + ".index")
    data = index_path.read_bytes()
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise InputError("not a TensorFlow checkpoint index (bad table magic)", path=str(index_path))
    footer = data[-48:]
    _, p = _varint(footer, 0)  # metaindex handle (unused)
    _, p = _varint(footer, p)
    idx_off, p = _varint(footer, p)
    idx_size, p = _varint(footer, p)
    entries = []
    for _, handle in _table_block(data, idx_off, idx_size):
        off, q = _varint(handle, 0)
        size, _ = _varint(handle, q)
        entries.extend(_table_block(data, off, size))
    shards: dict[int, bytes] = {}
    tensors = {}
    for key, value in entries:
        if key == b"":
            continue  # BundleHeaderProto
        dtype, shape, shard, offset, size = 1, [], 0, 0, 0
        for field, _, val in _proto_fields(value):
            if field == 1:
                dtype = val
            elif field == 2:
                for f2, _, dim in _proto_fields(val):
                    if f2 == 2:
                        shape.append(next((v for f3, _, v in _proto_fields(dim) if f3 == 1), 0))
            elif field == 3:
                shard = val
            elif field == 4:
                offset = val
            elif field == 5:
                size = val
        if dtype not in _TF_DTYPES:
            raise InputError(f"tensor {key.decode()} has unsupported dtype {dtype}", path=str(index_path))
        if shard not in shards:
            matches = sorted(Path(prefix).parent.glob(Path(prefix).name + f".data-{shard:05d}-of-*"))
            if not matches:
                raise InputError(f"data shard {shard} missing", path=prefix + ".data-*")
            shards[shard] = matches[0].read_bytes()
        arr = np.frombuffer(shards[shard], dtype=_TF_DTYPES[dtype], count=size // np.dtype(_TF_DTYPES[dtype]).itemsize,
                            offset=offset)
        tensors[key.decode()] = arr.reshape(shape).copy()
    return tensors


def openai_tf_state_dict(src: Path, n_layer: int) -> dict[str, torch.Tensor]:
    """OpenAI's variable names (model/h0/attn/c_attn/w, ...) -> Hugging Face GPT-2 names and layout."""
    ckpt = src / "model.ckpt"
    if not Path(str(ckpt) + ".index").exists():
        found = sorted(src.glob("*.index"))
        if not found:
            raise InputError("no model.ckpt.index (OpenAI's TensorFlow checkpoint)", path=str(src))
        ckpt = Path(str(found[0])[: -len(".index")])
    tf = read_tf_checkpoint(ckpt)
    sd = {}
    for name, arr in tf.items():
        parts = name.split("/")
        if parts[0] != "model":
            continue
        parts = parts[1:]
        if parts[0].startswith("h") and parts[0][1:].isdigit():
            parts = ["h", parts[0][1:]] + parts[1:]
        leaf = parts[-1]
        parts[-1] = {"g": "weight", "b": "bias", "w": "weight"}.get(leaf, leaf)
        t = torch.from_numpy(arr)
        if leaf == "w":  # conv1d weights are stored (1, in, out): drop the leading 1 -> HF Conv1D (in, out)
            t = t.reshape(t.shape[-2], t.shape[-1])
        key = "transformer." + ".".join(parts) + ("" if leaf in ("g", "b", "w") else ".weight")
        sd[key] = t
    return sd
