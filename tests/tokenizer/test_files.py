"""The one tokenizer loader (webtext/tokenizer/files.py): the files on disk, never a cache keyed by path.

Issue 18: tiktoken's own loaders cache file contents under a key made from the path string, so a
tokenizer retrained into the same folder came back stale. These tests retrain into the same relative
path and check that every reader gives the new tokenizer's ids.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from webtext.cli import main as cli_main
from webtext.errors import InputError
from webtext.tokenizer import bpe, export, load
from webtext.tokenizer.files import TokenizerMismatch, open_tokenizer, read_tokenizer

from .conftest import write_shards

TEXT = "The council voted on the budget. Residents asked questions about roads and schools. " * 3


@pytest.fixture(scope="module")
def two_tokenizers(tmp_path_factory, articles):
    """Two different tokenizers (A: 300 ids on the train articles, B: 420 ids on the dev articles)."""
    base = tmp_path_factory.mktemp("two")
    a = bpe.train(write_shards(base / "sa", articles["train"][:30]), base / "A", vocab_size=300, workers=1)
    b = bpe.train(write_shards(base / "sb", articles["dev"][:30]), base / "B", vocab_size=420, workers=1)
    del a, b
    return base / "A", base / "B"


def _put(src, dst):
    """Replace the tokenizer in `dst` with `src`'s files (what a retrain into the same folder does)."""
    dst.mkdir(exist_ok=True)
    for f in src.iterdir():
        shutil.copyfile(f, dst / f.name)


def test_retrained_tokenizer_in_the_same_folder_gives_the_new_ids(two_tokenizers, tmp_path, monkeypatch):
    import tiktoken.load

    from webtext.gpt2.sample import load_tokenizer

    A, B = two_tokenizers
    ids_a, ids_b = load(A).encode(TEXT), load(B).encode(TEXT)
    assert ids_a != ids_b
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))

    _put(A, tmp_path / "tok")
    assert export.tiktoken_encoding("tok").encode(TEXT) == ids_a
    assert load_tokenizer("tok").encode(TEXT) == ids_a
    # tiktoken's own loader, which the sampler used to call, now holds A under the path "tok/..."
    tiktoken.load.data_gym_to_mergeable_bpe_ranks("tok/vocab.bpe", "tok/encoder.json")
    assert any(cache.iterdir())

    _put(B, tmp_path / "tok")  # same folder, same path string
    stale = tiktoken.load.data_gym_to_mergeable_bpe_ranks("tok/vocab.bpe", "tok/encoder.json")
    assert stale == read_tokenizer(A).ranks  # the trap: tiktoken's path-keyed cache hands back A
    for folder in ("tok", str(tmp_path / "tok"), "./tok/"):  # relative and absolute alike
        assert export.tiktoken_encoding(folder).encode(TEXT) == ids_b
        assert load_tokenizer(folder).encode(TEXT) == ids_b
        assert read_tokenizer(folder).sha256 == read_tokenizer(B).sha256


def test_content_hash_is_the_tokenizers_not_the_files(two_tokenizers, gpt2_dir, tmp_path):
    A, B = two_tokenizers
    a = read_tokenizer(A)
    assert a.sha256 != read_tokenizer(B).sha256
    # OpenAI's folder (encoder.json + vocab.bpe) and its re-export in every format: one tokenizer, one hash
    gpt2 = read_tokenizer(gpt2_dir)
    assert read_tokenizer(export.export_gpt2_folder(gpt2_dir, tmp_path / "re")).sha256 == gpt2.sha256
    assert gpt2.eot == 50256 and gpt2.n_vocab == 50257
    # a copy is written from the bytes that were read, so it has the same hash and the same files
    copy = a.copy_to(tmp_path / "copy")
    assert read_tokenizer(copy).sha256 == a.sha256
    assert sorted(p.name for p in copy.iterdir()) == sorted(a.files)
    # ... and replaces an older copy whole (no stale file of another tokenizer left beside it)
    (tmp_path / "copy2").mkdir()
    (tmp_path / "copy2" / "tokenizer.tiktoken").write_text("YQ== 0\n")
    gpt2_only = tmp_path / "gpt2-only"
    gpt2_only.mkdir()
    for n in ("encoder.json", "vocab.bpe"):
        shutil.copyfile(gpt2_dir / n, gpt2_only / n)
    read_tokenizer(gpt2_only).copy_to(tmp_path / "copy2")
    assert sorted(p.name for p in (tmp_path / "copy2").iterdir()) == ["encoder.json", "vocab.bpe"]
    # a tokenizer.tiktoken-only folder has the same hash as the full folder it came from
    only = tmp_path / "only"
    only.mkdir()
    shutil.copyfile(A / "tokenizer.tiktoken", only / "tokenizer.tiktoken")
    eot_from_ranks = read_tokenizer(only)
    assert eot_from_ranks.ranks == a.ranks and eot_from_ranks.eot == a.eot and eot_from_ranks.sha256 == a.sha256
    with pytest.raises(TokenizerMismatch, match="sha256"):
        open_tokenizer(B, a.sha256, "tokens/")


def test_tokens_meta_records_the_hash_and_a_retrain_retokenizes(two_tokenizers, tmp_path, articles, monkeypatch):
    A, B = two_tokenizers
    shards = write_shards(tmp_path / "shards", articles["train"][:6], n_files=1)
    monkeypatch.chdir(tmp_path)
    _put(A, tmp_path / "tok")
    assert cli_main(["tokenize", "--shards", "shards", "--tokenizer", "tok", "--out", "tokens", "--workers", "1"]) == 0
    meta = json.loads((tmp_path / "tokens" / "meta.json").read_text())
    assert meta["tokenizer_sha256"] == read_tokenizer(A).sha256 == meta["inputs"]["tokenizer_sha256"]
    ids_a = np.fromfile(tmp_path / "tokens" / "train.bin", dtype=np.uint16).tolist()
    _put(B, tmp_path / "tok")
    # the same command with the retrained tokenizer is not "up to date": it re-encodes with B
    assert cli_main(["tokenize", "--shards", "shards", "--tokenizer", "tok", "--out", "tokens", "--workers", "2"]) == 0
    meta = json.loads((tmp_path / "tokens" / "meta.json").read_text())
    assert meta["tokenizer_sha256"] == read_tokenizer(B).sha256
    ids_b = np.fromfile(tmp_path / "tokens" / "train.bin", dtype=np.uint16).tolist()
    enc_b = load(B)
    assert ids_b != ids_a and ids_b[: len(enc_b.encode(articles["train"][0]))] == enc_b.encode(articles["train"][0])


def _bad_folder(tmp_path, src, name, damage):
    d = tmp_path / f"bad-{name}"
    d.mkdir()
    for f in src.iterdir():
        shutil.copyfile(f, d / f.name)
    damage(d / name)
    return d


@pytest.mark.parametrize(
    "name,damage,what",
    [
        ("encoder.json", lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "JSON"),
        ("encoder.json", lambda p: p.write_bytes(b""), "empty"),
        ("encoder.json", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"), "JSON"),
        ("encoder.json", lambda p: p.write_text("[1, 2, 3]"), "JSON object"),
        ("encoder.json", lambda p: p.write_text('{"a": "1"}'), "JSON object"),
        ("encoder.json", lambda p: p.write_text('{"a\\u0000": 1}'), "alphabet"),
        ("vocab.bpe", lambda p: p.write_text("\n".join(p.read_text().splitlines()[:2]) + "\nbroken-line\n"), "line 3"),
        ("vocab.bpe", lambda p: p.write_bytes(b"#version: 0.2\n\xff\xfe t\n"), "UTF-8"),
        ("vocab.bpe", lambda p: p.write_text("\n".join(reversed(p.read_text().splitlines())) + "\n"), "encoder.json"),
        ("tokenizer.tiktoken", lambda p: p.write_text("not base64 at all\n"), "line 1"),
        ("tokenizer.tiktoken", lambda p: p.write_text(p.read_text().replace(" 5\n", " 7\n", 1)), "encoder.json"),
        ("tokenizer.json", lambda p: p.write_text('{"model": {}}'), "model.vocab"),
    ],
)
def test_a_broken_file_is_named(two_tokenizers, tmp_path, name, damage, what):
    A, _ = two_tokenizers
    d = _bad_folder(tmp_path, A, name, damage)
    with pytest.raises(InputError) as info:
        read_tokenizer(d)
    msg = str(info.value)
    assert msg.startswith(str(d / name)) and what in msg and "\n" not in msg
    # the same line from the CLI, exit 2
    assert cli_main(["tokenize", "--shards", str(tmp_path), "--tokenizer", str(d), "--out", str(tmp_path / "o")]) == 2


def test_a_tokenizer_from_another_tokenizer_in_one_file_is_refused(two_tokenizers, tmp_path):
    """encoder.json of B beside vocab.bpe of A: the two files disagree, named."""
    A, B = two_tokenizers
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copyfile(B / "encoder.json", d / "encoder.json")
    shutil.copyfile(A / "vocab.bpe", d / "vocab.bpe")
    with pytest.raises(InputError, match="vocab.bpe"):
        read_tokenizer(d)
