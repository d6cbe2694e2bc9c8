"""train and sample refuse a tokenizer other than the one the token files were made with (issue 18),
with relative and absolute paths alike; a broken tokenizer file is named (issue 11)."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.cli import main

SAMPLE = ["--prompt", "The council", "--max-new-tokens", "8", "--seed", "5", "--top-k", "20"]


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory, shared):
    """Tokenizer A and tokenizer B (different corpora and sizes) and shards to tokenize."""
    from webtext.tokenizer.bpe import train

    base = tmp_path_factory.mktemp("toks")
    docs = json.loads((shared / "data" / "extraction" / "ground-truth.json").read_text(encoding="utf-8"))
    texts = [docs[k]["articleBody"] for k in sorted(docs)]
    for name, part in (("shards", texts[:40]), ("shards-b", texts[40:80])):
        (base / name).mkdir()
        pq.write_table(pa.table({"text": part}), base / name / "webtext-00000-of-00001.parquet")
    train(base / "shards", base / "A", vocab_size=320, workers=1)
    train(base / "shards-b", base / "B", vocab_size=400, workers=1)
    return base


def _replace(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_tokens_made_with_a_refuse_b(tokenizers, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tokenizers / "shards", "shards")
    _replace(tokenizers / "A", tmp_path / "tok")
    assert main(["tokenize", "--shards", "shards", "--tokenizer", "tok", "--out", "tokens", "--workers", "1", "--val-permille", "200"]) == 0
    train = ["train", "--data", "tokens", "--model", "gpt2-tiny", "--block-size", "32", "--batch-size", "4",
             "--total-batch-tokens", "128", "--max-steps", "1", "--eval-interval", "0", "--device", "cpu"]
    assert main(train + ["--out", "run"]) == 0
    ckpt = __import__("torch").load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    meta = json.loads((tmp_path / "tokens" / "meta.json").read_text())
    assert ckpt["tokenizer_sha256"] == meta["tokenizer_sha256"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", "run", *SAMPLE]) == 0
    text_a = capsys.readouterr().out

    _replace(tokenizers / "B", tmp_path / "tok")  # retrained into the same folder: same path string
    # train: meta.json's tokenizer folder now holds B
    assert main(train + ["--out", "run2"]) == 2
    err = _one_line_error(capsys)
    assert "tok" in err and "sha256" in err and "tokens" in err
    assert main(train + ["--out", "run3", "--tokenizer", str(tmp_path / "tok")]) == 2
    _one_line_error(capsys)
    # ... and accepts A again, given by any path (here the copy kept beside the first run)
    assert main(train + ["--out", "run4", "--tokenizer", "run/tokenizer"]) == 0
    # sample: the copy beside the checkpoint is A's, whatever became of tok/; B is refused
    capsys.readouterr()
    for run in ("run", str(tmp_path / "run"), "./run/ckpt.pt"):
        assert main(["sample", "--checkpoint", run, *SAMPLE]) == 0
        assert capsys.readouterr().out == text_a
    for tok in ("tok", str(tmp_path / "tok")):
        assert main(["sample", "--checkpoint", "run", "--tokenizer", tok, *SAMPLE]) == 2
        err = _one_line_error(capsys)
        assert str(tmp_path / "tok") in err and "sha256" in err
    assert main(["sample", "--checkpoint", "run", "--tokenizer", str(tokenizers / "A"), *SAMPLE]) == 0
    assert capsys.readouterr().out == text_a
    # resume: the run's own copy replaced by B is refused too
    _replace(tokenizers / "B", tmp_path / "run" / "tokenizer")
    assert main(train + ["--out", "run", "--max-steps", "2", "--resume"]) == 2
    _one_line_error(capsys)


DAMAGES = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "binary": lambda p: p.write_bytes(bytes(range(256)) * 4),
    "not an object": lambda p: p.write_text("[]"),
}


def test_sample_names_the_broken_tokenizer_file(tokenizers, tmp_path, monkeypatch, capsys):
    """Issue 11: `sample` with a broken encoder.json names that file (not the folder), one line, exit 2;
    the same for a broken vocab.bpe, in the copy beside the checkpoint and in a --tokenizer folder."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tokenizers / "shards", "shards")
    assert main(["tokenize", "--shards", "shards", "--tokenizer", str(tokenizers / "A"), "--out", "tokens", "--val-permille", "200",
                 "--workers", "1"]) == 0
    assert main(["train", "--data", "tokens", "--out", "run", "--model", "gpt2-tiny", "--block-size", "32",
                 "--batch-size", "4", "--total-batch-tokens", "128", "--max-steps", "1", "--eval-interval", "0",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    for name in ("encoder.json", "vocab.bpe"):
        for what, damage in DAMAGES.items():
            if name == "vocab.bpe" and what == "not an object":
                continue
            for folder, args in ((tmp_path / "run" / "tokenizer", []), (tmp_path / "other", ["--tokenizer", "other"])):
                _replace(tokenizers / "A", folder)
                damage(folder / name)
                assert main(["sample", "--checkpoint", "run", *args, *SAMPLE]) == 2, (name, what)
                err = _one_line_error(capsys)
                assert str(folder / name) in err, (name, what, err)
