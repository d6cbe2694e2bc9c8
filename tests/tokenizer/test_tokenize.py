"""Corpus tokenization: train.bin / val.bin / meta.json."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from webtext.cli import main as cli_main
from webtext.errors import ConfigError, InputError
from webtext.tokenizer import ENDOFTEXT, load
from webtext.tokenizer.tokenize import is_val, tokenize_corpus

from .conftest import write_shards


@pytest.fixture(scope="module")
def corpus(articles):
    # real pages, short ones, a null and an empty text, and a page that quotes the separator
    texts = list(articles["train"]) + list(articles["dev"])
    texts += [f"short page {i} ☕" for i in range(200)]
    texts += [None, "", f"A page that mentions {ENDOFTEXT} in its text."]
    return texts


def split_docs(ids: np.ndarray, eot: int) -> list[list[int]]:
    docs, cur = [], []
    for t in ids.tolist():
        if t == eot:
            docs.append(cur)
            cur = []
        else:
            cur.append(t)
    assert cur == [], "the file must end with <|endoftext|>"
    return docs


def test_tokenize_with_gpt2(tmp_path, corpus, gpt2_dir):
    shards = write_shards(tmp_path / "shards", corpus, n_files=3, row_group_size=16)
    out = tmp_path / "tokens"
    assert cli_main(["tokenize", "--shards", str(shards), "--tokenizer", str(gpt2_dir), "--out", str(out), "--val-permille", "100"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    enc = load(gpt2_dir)
    train = np.memmap(out / "train.bin", dtype=np.uint16, mode="r")
    val = np.memmap(out / "val.bin", dtype=np.uint16, mode="r")
    assert meta["eot_token"] == 50256 and meta["vocab_size"] == 50257 and meta["dtype"] == "uint16"
    assert meta["tokens_train"] == len(train) and meta["tokens_val"] == len(val)

    # documents in shard order (file, then row), each followed by <|endoftext|>, split by hash
    ordered = [t for i in range(3) for t in corpus[i::3] if t]
    want_val = [t for t in ordered if int.from_bytes(hashlib.sha1(t.encode()).digest()[:8], "big") % 1000 < 100]
    want_train = [t for t in ordered if t not in want_val]
    assert 0 < len(want_val) < len(ordered)
    assert [enc.decode(d) for d in split_docs(np.asarray(train), 50256)] == want_train
    assert [enc.decode(d) for d in split_docs(np.asarray(val), 50256)] == want_val
    assert split_docs(np.asarray(train), 50256)[0] == enc.encode_ordinary(want_train[0])
    # the separator quoted inside a page is plain text, never the separator id
    assert meta["documents_train"] + meta["documents_val"] == len(ordered)
    # nothing lost silently: the null and the empty text are counted drops
    assert meta["report"]["read"] == len(corpus) and meta["report"]["dropped"] == {"empty text": 2}


def test_tokenize_is_deterministic_and_resumable(tmp_path, corpus, gpt2_dir):
    shards = write_shards(tmp_path / "shards", corpus, n_files=2, row_group_size=9)
    a = tokenize_corpus(shards, gpt2_dir, tmp_path / "a", workers=2)
    b = tokenize_corpus(shards, gpt2_dir, tmp_path / "b", workers=1)
    for name in ("train.bin", "val.bin"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a["inputs"] == b["inputs"]
    # a rerun with the same inputs does nothing; a different split redoes the work
    stamp = (tmp_path / "a" / "train.bin").stat().st_mtime_ns
    again = tokenize_corpus(shards, gpt2_dir, tmp_path / "a", workers=2)
    assert again == a and (tmp_path / "a" / "train.bin").stat().st_mtime_ns == stamp
    redo = tokenize_corpus(shards, gpt2_dir, tmp_path / "a", val_permille=500, workers=2)
    assert redo["documents_val"] > a["documents_val"]
    assert not list((tmp_path / "a").glob(".*tmp*"))


def test_split_rule_is_stable():
    text = "the same page"
    assert is_val(text, 1000) and not is_val(text, 0)
    h = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big") % 1000
    assert is_val(text, h + 1) and not is_val(text, h)


def test_tokenize_errors(tmp_path, corpus, gpt2_dir):
    shards = write_shards(tmp_path / "shards", corpus[:5], n_files=1)
    with pytest.raises(InputError, match="no tokenizer.tiktoken or encoder.json"):
        tokenize_corpus(shards, tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError):
        tokenize_corpus(shards, gpt2_dir, tmp_path / "out", val_permille=1001)
    big = tmp_path / "big"
    big.mkdir()
    (big / "tokenizer.tiktoken").write_text("YQ== 70000\n")
    with pytest.raises(ConfigError, match="uint16"):
        tokenize_corpus(shards, big, tmp_path / "out")


def test_tokenize_with_a_trained_tokenizer(tmp_path, corpus):
    from webtext.tokenizer.bpe import train

    shards = write_shards(tmp_path / "shards", corpus, n_files=2, row_group_size=25)
    tok = tmp_path / "tok"
    train(shards, tok, vocab_size=700, workers=2)
    meta = tokenize_corpus(shards, tok, tmp_path / "tokens", val_permille=0, workers=2, min_val_tokens=0)
    assert meta["eot_token"] == 699 and meta["vocab_size"] == 700 and meta["tokens_val"] == 0
    ids = np.fromfile(tmp_path / "tokens" / "train.bin", dtype=np.uint16)
    enc = load(tok)  # the pure-Python encoder on the GPT-2-format files gives the same ids
    want: list[int] = []
    for t in [t for i in range(2) for t in corpus[i::2] if t]:
        want.extend(enc.encode_ordinary(t))
        want.append(699)
    assert ids.tolist() == want


def test_meta_names_the_tokenizer_by_an_absolute_path(tmp_path, monkeypatch):
    """`webtext tokenize --tokenizer tok` run from another folder: the trainer must still find `tok`."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from webtext.cli import main

    text = "The quick brown fox jumps over the lazy dog. " * 40
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(pa.table({"text": [text, text.upper(), text[::-1]]}), shards / "webtext-00000-of-00001.parquet")
    monkeypatch.chdir(tmp_path)
    assert main(["tokenizer", "train", "--shards", "shards", "--vocab-size", "300", "--out", "tok"]) == 0
    assert main(["tokenize", "--shards", "shards", "--tokenizer", "tok", "--out", "tokens"]) == 0
    meta = json.loads((tmp_path / "tokens" / "meta.json").read_text())
    assert meta["tokenizer"] == str((tmp_path / "tok").resolve())
    from webtext.gpt2.data import read_meta

    assert read_meta(tmp_path / "tokens")["tokenizer"] == str((tmp_path / "tok").resolve())
