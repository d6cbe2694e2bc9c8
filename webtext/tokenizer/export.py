"""Writing a trained tokenizer in every format the ecosystem reads, and loading it back offline.

One trained tokenizer (`token_bytes`: id -> bytes for ids 0 .. n-1, `merges`: (left id, right id)
making id 256 + k, and `<|endoftext|>` at id n) is written as:

* `encoder.json` + `vocab.bpe`: OpenAI's GPT-2 format. Tokens are spelled with GPT-2's
  byte-to-unicode characters (`Ġ` for a space); `vocab.bpe` is `#version: 0.2` and one
  `left right` line per merge, in rank order, ending with a newline.
* `tokenizer.json` (+ `tokenizer_config.json`, `special_tokens_map.json`): Hugging Face
  `tokenizers` ByteLevel BPE, exactly as GPT-2's own: ByteLevel pre-tokenizer with GPT-2's regex
  and no prefix space, ByteLevel decoder, `<|endoftext|>` as a special added token, no
  `ignore_merges` (so the merges alone decide, as in GPT-2). `transformers.GPT2TokenizerFast` and
  `AutoTokenizer` load the folder with local paths.
* `tokenizer.tiktoken`: tiktoken's ranks format, one `base64(token bytes) rank` line per
  mergeable token. The rank is the id; that tiktoken's rank-by-token rule and GPT-2's
  rank-by-pair rule agree needs ranks ordered as merges, which the trainer guarantees.

Loading a folder back (as a `tiktoken.Encoding`, with its content hash) is `files.py`'s job;
`tiktoken_encoding` is re-exported here for callers of the old name.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from webtext.errors import InputError
from webtext.tokenizer.encoder import ENDOFTEXT, bytes_to_unicode, token_to_bytes
from webtext.tokenizer.files import TIKTOKEN_FILE, tiktoken_encoding  # noqa: F401  (re-exported)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def _spell(data: bytes) -> str:
    b2u = bytes_to_unicode()
    return "".join(b2u[b] for b in data)


def gpt2_files(token_bytes: list[bytes], merges: list[tuple[int, int]]) -> tuple[dict[str, int], str]:
    """(encoder dict, vocab.bpe text) in GPT-2's format."""
    encoder = {_spell(tb): i for i, tb in enumerate(token_bytes)}
    if len(encoder) != len(token_bytes):
        raise ValueError("two ids have the same bytes; a BPE vocabulary needs unique tokens")
    encoder[ENDOFTEXT] = len(token_bytes)
    lines = ["#version: 0.2"] + [f"{_spell(token_bytes[a])} {_spell(token_bytes[b])}" for a, b in merges]
    return encoder, "\n".join(lines) + "\n"


def hf_tokenizer(encoder: dict[str, int], merge_pairs: list[tuple[str, str]]):
    """A Hugging Face `tokenizers.Tokenizer` equal to GPT-2's configuration."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {k: v for k, v in encoder.items() if k != ENDOFTEXT}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=list(merge_pairs), dropout=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(ENDOFTEXT, special=True, normalized=False)])
    if tok.token_to_id(ENDOFTEXT) != encoder[ENDOFTEXT]:
        raise ValueError(f"{ENDOFTEXT} got id {tok.token_to_id(ENDOFTEXT)} in tokenizer.json, expected {encoder[ENDOFTEXT]}")
    return tok


def tiktoken_ranks_text(token_bytes: list[bytes]) -> str:
    return "".join(f"{base64.b64encode(tb).decode('ascii')} {i}\n" for i, tb in enumerate(token_bytes))


def write_all(out: str | Path, token_bytes: list[bytes], merges: list[tuple[int, int]]) -> Path:
    """Write every format into `out` (each file written to a temporary name, then renamed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoder, vocab_bpe = gpt2_files(token_bytes, merges)
    _atomic_write_text(out / "encoder.json", json.dumps(encoder, ensure_ascii=False))
    _atomic_write_text(out / "vocab.bpe", vocab_bpe)
    _atomic_write_text(out / TIKTOKEN_FILE, tiktoken_ranks_text(token_bytes))
    pairs = [(_spell(token_bytes[a]), _spell(token_bytes[b])) for a, b in merges]
    tok = hf_tokenizer(encoder, pairs)
    tmp = out / f".tokenizer.json.tmp-{os.getpid()}"
    tok.save(str(tmp))
    os.replace(tmp, out / "tokenizer.json")
    special = {"bos_token": ENDOFTEXT, "eos_token": ENDOFTEXT, "unk_token": ENDOFTEXT}
    _atomic_write_text(out / "special_tokens_map.json", json.dumps(special, indent=2) + "\n")
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_prefix_space": False,
        "model_max_length": 1024,
        **special,
    }
    _atomic_write_text(out / "tokenizer_config.json", json.dumps(config, indent=2) + "\n")
    return out


def export_gpt2_folder(src: str | Path, out: str | Path) -> Path:
    """Re-export an existing `encoder.json` + `vocab.bpe` folder (e.g. OpenAI's) in every format."""
    from webtext.tokenizer.encoder import load

    enc = load(src)
    tb = enc.token_bytes()
    ids = sorted(tb.values())
    if ids != list(range(len(ids))):
        raise InputError("token ids are not 0..n-1", path=str(src))
    token_bytes = [b for b, _ in sorted(tb.items(), key=lambda kv: kv[1])]
    index = {b: i for i, b in enumerate(token_bytes)}
    merges = [(index[token_to_bytes(a)], index[token_to_bytes(b)]) for a, b in enc.merges]
    return write_all(out, token_bytes, merges)


def hf_fast_tokenizer(folder: str | Path, source: str = "tokenizer.json"):
    """`transformers.GPT2TokenizerFast` from local files: the folder's `tokenizer.json`, or with
    `source="gpt2"` its `encoder.json` + `vocab.bpe` (transformers 5 names these arguments
    `vocab`/`merges`, 4.x `vocab_file`/`merges_file`; a wrong name is silently ignored there)."""
    import inspect

    from transformers import GPT2TokenizerFast

    folder = Path(folder)
    special = dict(bos_token=ENDOFTEXT, eos_token=ENDOFTEXT, unk_token=ENDOFTEXT, add_prefix_space=False)
    if source == "tokenizer.json":
        return GPT2TokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), **special)
    if source != "gpt2":
        raise ValueError(f"source must be 'tokenizer.json' or 'gpt2', got {source!r}")
    params = inspect.signature(GPT2TokenizerFast.__init__).parameters
    names = ("vocab", "merges") if "vocab" in params else ("vocab_file", "merges_file")
    files = {names[0]: str(folder / "encoder.json"), names[1]: str(folder / "vocab.bpe")}
    return GPT2TokenizerFast(**files, **special)
