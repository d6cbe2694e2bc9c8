"""Shards, manifest and card: read back with pyarrow and DuckDB, deterministic, atomic, audited."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
import json
import random

import duckdb
import pyarrow
import pyarrow.parquet as pq
import pytest

from webtext.card import write_card
from webtext.errors import InputError
from webtext.report import StageReport
from webtext.shards import (
    SHARD_RE,
    document_files,
    read_documents,
    read_shards,
    row_bytes,
    shard_count,
    shard_index,
    stream_shards,
    write_documents,
    write_manifest,
    write_shards,
)


@pytest.fixture
def corpus(gold, make_doc):
    return [
        make_doc(f"http://site{i % 5}.example/a{i}", text, created=1_120_000_000 + 86_400 * i, score=i)
        for i, (_, text) in enumerate(gold[:40])
    ]


def _reports():
    clean = StageReport("clean")
    clean.keep(40)
    clean.drop("wikipedia", "https://en.wikipedia.org/wiki/X", n=3)
    clean.drop("too_short", "http://s.example/", n=2)
    dedup = StageReport("dedup")
    dedup.keep(40)
    dedup.drop("near_duplicate", {"url": "http://n.example/", "duplicate_of": "http://o.example/"})
    return [clean, dedup]


def test_shards_read_back_with_pyarrow_and_duckdb(tmp_path, corpus):
    target = sum(len(d["text"].encode()) for d in corpus) // 4
    infos = write_shards(corpus, tmp_path, target_bytes=target)
    n = len(infos)
    assert n >= 4
    assert [i["file"] for i in infos] == [f"webtext-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
    assert sum(i["rows"] for i in infos) == len(corpus)
    for info in infos:
        path = tmp_path / info["file"]
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        meta = pq.ParquetFile(path).metadata
        assert meta.num_rows == info["rows"]
        assert meta.row_group(0).column(0).compression == "ZSTD"
        # key-range assignment: each shard holds its slice of the SHA-1(url) space, sorted
        urls = pq.read_table(path, columns=["url"]).column("url").to_pylist()
        assert {shard_index(u, n) for u in urls} <= {int(info["file"][8:13])}
        assert urls == sorted(urls, key=lambda u: hashlib.sha1(u.encode()).hexdigest())
    assert n == shard_count(sum(row_bytes(d) for d in corpus), target)
    write_manifest(tmp_path, config={"target_bytes": target}, reports=_reports(), shards=infos)

    table = read_shards(tmp_path)
    assert table.num_rows == len(corpus)
    assert sorted(table.column("url").to_pylist()) == sorted(d["url"] for d in corpus)
    by_url = {r["url"]: r for r in table.to_pylist()}
    for d in corpus:  # every column survives the round trip (times come back as UTC datetimes)
        want = {**d, **{k: datetime.fromtimestamp(d[k], tz=timezone.utc) for k in ("first_created_utc", "capture_time")}}
        assert {k: by_url[d["url"]][k] for k in d} == want

    con = duckdb.connect()
    glob = str(tmp_path / "webtext-*-of-*.parquet")
    rows, texts, first, subs = con.execute(
        "SELECT count(*), sum(length(text)), min(first_created_utc), max(len(subreddits)) FROM read_parquet(?)", [glob]
    ).fetchone()
    assert rows == len(corpus)
    assert texts == sum(len(d["text"]) for d in corpus)
    assert first.timestamp() == min(d["first_created_utc"] for d in corpus) and subs == 1
    assert con.execute("SELECT count(DISTINCT url) FROM read_parquet(?)", [glob]).fetchone()[0] == len(corpus)


def test_order_and_bytes_do_not_depend_on_input_order(tmp_path, corpus):
    a = write_shards(corpus, tmp_path / "a", target_bytes=50_000)
    b = write_shards(random.Random(1).sample(corpus, len(corpus)), tmp_path / "b", target_bytes=50_000)
    assert a == b  # same files, rows, sizes and sha256s
    urls = read_documents(tmp_path / "a" / a[0]["file"])
    keys = [hashlib.sha1(d["url"].encode()).hexdigest() for d in urls]
    assert keys == sorted(keys)


def test_streamed_shards_equal_in_memory_shards(tmp_path, corpus):
    """`stream_shards` (Parquet files in, one shard in memory) writes the very bytes `write_shards` does."""
    write_documents(random.Random(3).sample(corpus, len(corpus)), tmp_path / "docs", rows_per_file=7)
    a = write_shards(corpus, tmp_path / "a", target_bytes=50_000)
    b = stream_shards(document_files(tmp_path / "docs"), tmp_path / "b", target_bytes=50_000)
    assert len(a) >= 3 and a == b
    assert not [p for p in (tmp_path / "b").iterdir() if not SHARD_RE.match(p.name)]  # spill removed


def test_rerun_replaces_stale_shards_and_leaves_no_temp_files(tmp_path, corpus):
    write_shards(corpus, tmp_path, target_bytes=20_000)
    infos = write_shards(corpus, tmp_path, target_bytes=10**9)
    assert [i["file"] for i in infos] == ["webtext-00000-of-00001.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webtext-00000-of-00001.parquet"]
    assert all(SHARD_RE.match(p.name) for p in tmp_path.iterdir())


def test_manifest_counts_every_drop_and_shard(tmp_path, corpus):
    infos = write_shards(corpus, tmp_path, target_bytes=100_000)
    manifest = write_manifest(tmp_path, config={"k": "v"}, reports=_reports(), shards=infos)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert on_disk["config"] == {"k": "v"}
    assert on_disk["drop_reasons"] == {"clean": {"too_short": 2, "wikipedia": 3}, "dedup": {"near_duplicate": 1}}
    assert [s["stage"] for s in on_disk["stages"]] == ["clean", "dedup"]
    assert on_disk["stages"][0]["samples"]["wikipedia"] == ["https://en.wikipedia.org/wiki/X"]
    assert on_disk["packages"]["pyarrow"] == pyarrow.__version__
    assert on_disk["packages"]["datasketch"] and on_disk["packages"]["python"]
    t = on_disk["totals"]
    assert t["documents"] == len(corpus) and t["shards"] == len(infos)
    assert t["text_bytes"] == sum(len(d["text"].encode()) for d in corpus)
    assert t["first_created"] == "2005-06-28T23:06:40Z"
    assert [(s["file"], s["rows"], s["sha256"]) for s in on_disk["shards"]] == [(i["file"], i["rows"], i["sha256"]) for i in infos]
    bad = StageReport("x", read=5, kept=1)
    with pytest.raises(AssertionError):
        write_manifest(tmp_path, config={}, reports=[bad], shards=infos)


def test_tampered_or_missing_shard_is_reported_by_name(tmp_path, corpus):
    infos = write_shards(corpus, tmp_path, target_bytes=100_000)
    write_manifest(tmp_path, config={}, reports=[], shards=infos)
    victim = tmp_path / infos[1]["file"]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(InputError, match=infos[1]["file"]):
        read_shards(tmp_path)
    victim.unlink()
    with pytest.raises(InputError, match="missing"):
        read_shards(tmp_path)
    with pytest.raises(InputError, match="manifest"):
        read_shards(tmp_path / "nowhere")


def test_card(tmp_path, corpus):
    infos = write_shards(corpus, tmp_path, target_bytes=100_000)
    manifest = write_manifest(tmp_path, config={"threshold": 0.5}, reports=_reports(), shards=infos)
    card = write_card(tmp_path, manifest).read_text()
    assert f"| documents | {len(corpus)} |" in card
    assert f"| text (UTF-8 bytes) | {manifest['totals']['text_bytes']:,} |" in card
    assert f"{manifest['totals']['estimated_tokens']:,}" in card
    assert "2005-06-28T23:06:40Z" in card and "| site0.example | 8 | 20.0% |" in card
    assert "| clean | wikipedia | 3 |" in card and "| dedup | near_duplicate | 1 |" in card
    for info in infos:
        assert info["sha256"] in card
    for name in ("lengths", "domains", "drops"):
        png = tmp_path / "card" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"card/{name}.png" in card
    # A rebuild writes the same card and plots.
    before = {p.name: p.read_bytes() for p in (tmp_path / "card").iterdir()}
    write_card(tmp_path, manifest)
    assert {p.name: p.read_bytes() for p in (tmp_path / "card").iterdir()} == before


def test_documents_table_roundtrip_and_errors(tmp_path, corpus):
    write_documents(corpus, tmp_path, rows_per_file=15)
    assert sorted(p.name for p in (tmp_path / "documents").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert read_documents(tmp_path) == corpus
    (tmp_path / "documents" / "part-00003.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="part-00003.parquet"):
        read_documents(tmp_path)
    with pytest.raises(InputError, match="no such"):
        read_documents(tmp_path / "absent")


def _duckdb_card_figures(files: list[str]) -> dict:
    """The card's figures as SQL over the shards (what the card computed in the launcher before the
    shard workers wrote them): the reference for the statistics taken per shard."""
    con = duckdb.connect()
    con.read_parquet(files).create_view("docs")
    q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    return {
        "documents": q("SELECT count(*) FROM docs")[0][0],
        "domains": [tuple(r) for r in q(
            "SELECT coalesce(domain, '(none)') AS d, count(*) AS n, sum(octet_length(encode(coalesce(text, '')))) AS b "
            "FROM docs GROUP BY d ORDER BY n DESC, d LIMIT 20")],
        "n_domains": q("SELECT count(DISTINCT domain) FROM docs")[0][0],
        "languages": [(lang, n, round(s, 9) if s is not None else None) for lang, n, s in q(
            "SELECT coalesce(language, '(not identified)') AS l, count(*) AS n, avg(language_score) FROM docs "
            "GROUP BY l ORDER BY n DESC, l")],
        "chars": q("SELECT quantile_disc(length(coalesce(text, '')), [0.0, 0.1, 0.5, 0.9, 0.99, 1.0]) FROM docs")[0][0],
        "sources": [tuple(r) for r in q(
            "SELECT coalesce(source, '(unknown)') AS s, count(*) FROM docs GROUP BY s ORDER BY count(*) DESC, s")],
        "ages": {s: (n, within, before, med) for s, n, within, before, med in q(
            "SELECT coalesce(source, '(unknown)'), count(*), count(*) FILTER (abs(a) <= 30), count(*) FILTER (a <= 0), "
            "median(a) FROM (SELECT source, (epoch(capture_time) - epoch(first_created_utc)) / 86400.0 AS a FROM docs "
            "WHERE capture_time IS NOT NULL AND first_created_utc IS NOT NULL) GROUP BY 1")},
        "words": sorted(q("SELECT n_words, count(*) FROM docs GROUP BY n_words")),
    }


def test_card_statistics_from_the_shard_writers_equal_sql_over_the_shards(tmp_path, gold, make_doc):
    """The card is made from the statistics each shard's writer takes (`card.shard_stats`, merged):
    the same figures as SQL over the shards, and the same card as one made by reading them."""
    from webtext.card import merge_stats

    rng = random.Random(5)
    docs = []
    for i, (_, text) in enumerate(gold[:60]):
        created = 1_120_000_000 + 86_400 * i
        docs.append(make_doc(
            f"http://site{i % 7}.example/a{i}", text[: rng.randrange(200, len(text) + 1)], created=created, score=i,
            domain=None if i % 13 == 0 else f"site{i % 7}.example",
            language=rng.choice(["en", "en", "de", None]), language_score=rng.choice([0.9, 0.75, None]),
            source=rng.choice(["live", "wayback", None]),
            capture_time=None if i % 11 == 0 else created + rng.randrange(-40, 400) * 86_400 + rng.randrange(86_400)))
    infos = write_shards(docs, tmp_path, target_bytes=60_000)
    assert len(infos) >= 3
    stats = merge_stats([i["card"] for i in infos])
    ref = _duckdb_card_figures([str(tmp_path / i["file"]) for i in infos])
    assert stats["documents"] == ref["documents"] == len(docs)
    assert [tuple(d) for d in stats["domains"]] == ref["domains"]
    assert stats["n_domains"] == ref["n_domains"]
    assert [(lang, n, round(s, 9) if s is not None else None) for lang, n, s in stats["languages"]] == ref["languages"]
    assert list(stats["char_quantiles"].values()) == ref["chars"]
    assert [tuple(s) for s in stats["sources"]] == ref["sources"]
    assert sorted((w, n) for w, n in stats["words"]) == ref["words"]  # words as n_words counts them
    from webtext.card import _age_median_days

    for source, a in stats["capture_ages"].items():
        n, within, before, median = ref["ages"][source]
        assert (a["n"], a["within_30_days"], a["before_posting"]) == (n, within, before)
        assert abs(_age_median_days(a["hours"]) - median) <= 1 / 24  # the histogram's one-hour resolution
    manifest = write_manifest(tmp_path, config={}, reports=_reports(), shards=infos)
    assert all("card" not in s for s in manifest["shards"])  # the card's statistics are not manifest data
    from_stats = write_card(tmp_path, manifest, [i["card"] for i in infos]).read_text()
    plots = {p.name: p.read_bytes() for p in (tmp_path / "card").iterdir()}
    assert write_card(tmp_path, manifest).read_text() == from_stats  # re-read from the shards: the same card
    assert {p.name: p.read_bytes() for p in (tmp_path / "card").iterdir()} == plots
    assert "| (none) | " in from_stats and "| (not identified) | " in from_stats
