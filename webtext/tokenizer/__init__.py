"""The bundled byte-level BPE tokenizer (GPT-2's scheme).

* `load(path)`: a GPT-2-format folder (`encoder.json` + `vocab.bpe`) -> `Encoder` with
  `encode(str) -> list[int]` and `decode(list[int]) -> str` (`encoder.py`).
* `bpe.train(shards, out, vocab_size=50257)`: the trainer (`bpe.py`).
* `export.tiktoken_encoding(path)`, `export.hf_fast_tokenizer(path)`: the same tokenizer in
  tiktoken and transformers, from local files only (`export.py`).
* `tokenize.tokenize_corpus(shards, tokenizer, out)`: shards -> train.bin / val.bin (`tokenize.py`).
"""

from webtext.tokenizer.encoder import ENDOFTEXT, GPT2_PATTERN, Encoder, load

__all__ = ["ENDOFTEXT", "GPT2_PATTERN", "Encoder", "load"]
