"""The clean -> dedup -> shard commands end to end, as a user runs them."""

from __future__ import annotations

import argparse
import json

import duckdb
import pytest

from webtext.clean import cli as clean_cli
from webtext.dedup import cli as dedup_cli
from webtext import shard_cli
from webtext.errors import WebtextError
from webtext.shards import read_shards, write_documents


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="webtext")
    sub = parser.add_subparsers(dest="command")
    for module in (clean_cli, dedup_cli, shard_cli):  # each stage's commands, in its own module
        module.add_commands(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_clean_dedup_shard(tmp_path, gold, make_doc):
    (_, t1), (_, t2), (_, t3) = gold[:3]
    docs = [
        make_doc("http://a.example/1", t1, created=100),
        make_doc("http://b.example/2", "CafÃ© " * 10 + t2, created=200),
        make_doc("http://c.example/3", t3, created=300),
        make_doc("http://w.example/", t1, final_url="https://en.m.wikipedia.org/wiki/A"),
        make_doc("http://short.example/", "Too short."),
        make_doc("http://dup.example/1", t1, final_url="http://A.example:80/1#top", created=500),
        make_doc("http://near.example/3", t3[: int(len(t3) * 0.9)], created=400),
    ]
    write_documents(docs, tmp_path / "extract")
    assert run("clean", "--docs", str(tmp_path / "extract"), "--out", str(tmp_path / "clean")) == 0
    assert run("dedup", "--docs", str(tmp_path / "clean"), "--out", str(tmp_path / "dedup")) == 0
    reports = [str(tmp_path / s / "report.json") for s in ("clean", "dedup")]
    assert run("shard", "--docs", str(tmp_path / "dedup"), "--out", str(tmp_path / "out"), "--target-mb", "0.005", "--reports", *reports) == 0

    clean = json.loads((tmp_path / "clean/report.json").read_text())
    dedup = json.loads((tmp_path / "dedup/report.json").read_text())
    assert (clean["read"], clean["kept"], clean["dropped"]) == (7, 5, {"too_short": 1, "wikipedia": 1})
    assert (dedup["read"], dedup["kept"], dedup["dropped"]) == (5, 3, {"duplicate_url": 1, "near_duplicate": 1})
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert [s["stage"] for s in manifest["stages"]] == ["clean", "dedup", "shard"]
    assert manifest["drop_reasons"]["dedup"] == {"duplicate_url": 1, "near_duplicate": 1}
    assert manifest["totals"]["documents"] == 3 and len(manifest["shards"]) == 3

    table = read_shards(tmp_path / "out")
    assert sorted(table.column("url").to_pylist()) == ["http://a.example/1", "http://b.example/2", "http://c.example/3"]
    repaired = [t for t in table.column("text").to_pylist() if t.startswith("Café")]
    assert len(repaired) == 1
    n = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(tmp_path / "out/webtext-*.parquet")]).fetchone()[0]
    assert n == 3
    assert (tmp_path / "out/README.md").is_file() and (tmp_path / "out/card/lengths.png").is_file()


def test_bad_input_is_a_clear_error(tmp_path):
    (tmp_path / "in/documents").mkdir(parents=True)
    (tmp_path / "in/documents/part-00000.parquet").write_text("garbage")
    with pytest.raises(WebtextError, match="part-00000.parquet"):
        run("clean", "--docs", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    with pytest.raises(WebtextError, match="threshold"):
        run("dedup", "--docs", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--threshold", "2")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(WebtextError, match="r.json"):
        run("shard", "--docs", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--reports", str(tmp_path / "r.json"))
