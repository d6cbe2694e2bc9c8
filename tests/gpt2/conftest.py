"""Fixtures for the gpt2 tests: a small real token folder and the GPT-2 tokenizer files.

The token files are written here, from real text (the article bodies of the shared extraction
benchmark), tokenized with OpenAI's GPT-2 tokenizer built offline from ../shared/data/gpt2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def gpt2_tokenizer_dir(shared) -> Path:
    return shared / "data" / "gpt2"


def write_token_folder(folder: Path, train: np.ndarray, val: np.ndarray, **meta) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train.astype(np.uint16).tofile(folder / "train.bin")
    val.astype(np.uint16).tofile(folder / "val.bin")
    (folder / "meta.json").write_text(json.dumps({"dtype": "uint16", **meta}))
    return folder


@pytest.fixture(scope="session")
def token_dir(tmp_path_factory, shared, gpt2_tokenizer_dir) -> Path:
    from webtext.gpt2.sample import load_tokenizer

    enc = load_tokenizer(gpt2_tokenizer_dir)
    docs = json.loads((shared / "data" / "extraction" / "ground-truth.json").read_text(encoding="utf-8"))
    train, val = [], []
    for i, key in enumerate(sorted(docs)):
        ids = enc.encode_ordinary(docs[key]["articleBody"]) + [enc.eot_token]
        (val if i % 10 == 0 else train).extend(ids)
    folder = tmp_path_factory.mktemp("tokens")
    return write_token_folder(folder, np.array(train), np.array(val), vocab_size=enc.n_vocab,
                              tokenizer=str(gpt2_tokenizer_dir))


@pytest.fixture(scope="session")
def small_vocab_dir(tmp_path_factory, token_dir) -> Path:
    """The same text with ids remapped by frequency into a 2,048-token vocabulary (rarer tokens share
    the last id): real language statistics at a size where a tiny model trains in seconds on a CPU."""
    train = np.fromfile(token_dir / "train.bin", dtype=np.uint16)
    val = np.fromfile(token_dir / "val.bin", dtype=np.uint16)
    counts = np.bincount(train, minlength=65536)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(65536, dtype=np.int64)
    rank[order] = np.arange(65536)
    rank = np.minimum(rank, 2047)
    folder = tmp_path_factory.mktemp("tokens2k")
    return write_token_folder(folder, rank[train], rank[val], vocab_size=2048)


def _train_config(data: Path, out: Path, **kw):
    """A TrainConfig for a gpt2-tiny run on the CPU that takes a second or two."""
    from webtext.gpt2.train import TrainConfig

    base = dict(data=str(data), out=str(out), model="gpt2-tiny", block_size=64, batch_size=8, total_batch_tokens=1024,
                max_steps=10, warmup_steps=2, lr=3e-3, eval_interval=5, eval_iters=2, ckpt_interval=100, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture
def train_config():
    return _train_config


@pytest.fixture
def read_log():
    return _read_log
