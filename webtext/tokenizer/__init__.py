"""The bundled byte-level BPE tokenizer (GPT-2's scheme).

* `load(path)`: a GPT-2-format folder (`encoder.json` + `vocab.bpe`) -> `Encoder` with
  `encode(str) -> list[int]` and `decode(list[int]) -> str` (`encoder.py`).
* `bpe.train(shards, out, vocab_size=50257)`: the trainer (`bpe.py`).
* `files.read_tokenizer(path)` / `files.open_tokenizer(path, expected_sha256, made_with)`: the one
  loader every command uses: reads the files (never a cache keyed by path), checks they agree,
  gives the content hash and a `tiktoken.Encoding` (`files.py`).
* `export.hf_fast_tokenizer(path)`: the same tokenizer in transformers; `export.write_all`: every
  format (`export.py`).
* `tokenize.tokenize_corpus(shards, tokenizer, out)`: shards -> train.bin / val.bin (`tokenize.py`).
"""

from webtext.tokenizer.encoder import ENDOFTEXT, GPT2_PATTERN, Encoder, load

__all__ = ["ENDOFTEXT", "GPT2_PATTERN", "Encoder", "load"]
