"""Every corpus, however small, gets a usable validation split (issue 15, point 1)."""

from __future__ import annotations

import numpy as np
import pytest

from webtext.tokenizer.tokenize import MIN_VAL_TOKENS, split_key, tokenize_corpus

from .conftest import write_shards


def _docs(ids: np.ndarray, eot: int) -> int:
    return int((ids == eot).sum())


@pytest.mark.parametrize("n_docs", [2, 3, 9, 40])
def test_small_corpus_gets_a_val_split_of_the_minimum(tmp_path, articles, gpt2_dir, n_docs):
    texts = articles["train"][:n_docs]
    shards = write_shards(tmp_path / "shards", texts)
    meta = tokenize_corpus(shards, gpt2_dir, tmp_path / "tokens", workers=2)  # defaults: 5 per mille, 1,025 tokens
    val = np.fromfile(tmp_path / "tokens" / "val.bin", dtype=np.uint16)
    train = np.fromfile(tmp_path / "tokens" / "train.bin", dtype=np.uint16)
    assert meta["documents_val"] >= 1 and meta["documents_train"] >= 1
    assert meta["documents_val"] + meta["documents_train"] == n_docs
    assert _docs(val, 50256) == meta["documents_val"] and _docs(train, 50256) == meta["documents_train"]
    total = len(val) + len(train)
    if total - len(val) > 0 and meta["documents_train"] > 1:
        assert len(val) >= MIN_VAL_TOKENS or meta["documents_train"] == 1
    # the documents moved are the train documents first in key order (key % 1000, key):
    by_order = sorted(texts, key=lambda t: (split_key(t) % 1000, split_key(t)))
    n_val = meta["documents_val"]
    assert meta["documents_moved_to_val"] == n_val  # at 5 per mille none of these few were picked by the rule
    want_val = set(by_order[:n_val])
    from webtext.gpt2.sample import load_tokenizer

    enc = load_tokenizer(gpt2_dir)
    got = {enc.decode(d) for d in np.split(val, np.where(val == 50256)[0] + 1) if len(d) for d in [d[:-1].tolist()]}
    assert got == want_val
    # and only as many as needed: without the last one moved, val would be under the minimum
    last = enc.encode_ordinary(by_order[n_val - 1])
    assert len(val) - len(last) - 1 < MIN_VAL_TOKENS


def test_split_does_not_depend_on_layout_or_workers(tmp_path, articles, gpt2_dir):
    texts = articles["train"][:12]
    a = tokenize_corpus(write_shards(tmp_path / "a", texts, n_files=1, row_group_size=100), gpt2_dir, tmp_path / "ta", workers=1)
    b = tokenize_corpus(write_shards(tmp_path / "b", texts[::-1], n_files=3, row_group_size=2), gpt2_dir, tmp_path / "tb", workers=2)
    assert a["documents_val"] == b["documents_val"] and a["tokens_val"] == b["tokens_val"]
    assert a["documents_moved_to_val"] == b["documents_moved_to_val"] >= 1


def test_minimum_off_and_one_document_corpus(tmp_path, articles, gpt2_dir):
    texts = articles["train"][:5]
    meta = tokenize_corpus(write_shards(tmp_path / "s", texts), gpt2_dir, tmp_path / "off", min_val_tokens=0)
    assert meta["documents_moved_to_val"] == 0 and meta["tokens_val"] == sum(1 for t in texts if split_key(t) % 1000 < 5)
    one = tokenize_corpus(write_shards(tmp_path / "one", texts[:1], n_files=1), gpt2_dir, tmp_path / "t1")
    assert one["documents_train"] == 1 and one["documents_val"] == 0  # train keeps its one document (a warning says so)


def test_a_corpus_large_enough_needs_no_move(tmp_path, articles, gpt2_dir):
    texts = articles["train"] + articles["dev"]
    meta = tokenize_corpus(write_shards(tmp_path / "s", texts), gpt2_dir, tmp_path / "t", val_permille=200)
    assert meta["documents_moved_to_val"] == 0 and meta["tokens_val"] >= MIN_VAL_TOKENS
