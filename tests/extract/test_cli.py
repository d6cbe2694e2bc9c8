"""The commands end to end: `webtext extract --warc/--html`, `eval-extract`, `extract train-dragnet`."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from webtext.cli import main
from webtext.extract.evaluate import read_ids


def test_extract_warc_sample_writes_documents_and_report(repo, tmp_path, capsys):
    warc = repo / "webtext" / "sample" / "sample.warc.gz"
    assert main(["extract", "--warc", str(warc), "--out", str(tmp_path / "one")]) == 0
    assert main(["extract", "--warc", str(warc), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    assert report["read"] == report["kept"] + sum(report["dropped"].values())
    # the archive's 404 and its PNG are drops with reasons, not documents
    assert report["dropped"].get("http_404") == 1 and report["dropped"].get("not_html") == 1
    one = pq.read_table(tmp_path / "one" / "documents" / "part-00000.parquet").to_pylist()
    two = pq.read_table(tmp_path / "two" / "documents" / "part-00000.parquet").to_pylist()
    assert one == two  # deterministic, whatever the number of workers
    assert len(one) == report["kept"]
    # the 301 in the archive is followed: the old URL becomes a document with the final URL
    from webtext.fetch.replay import iter_warc_responses

    pages = {r.url for r in iter_warc_responses([warc]) if r.status == 200}
    redirected = [r for r in one if r["url"] != r["final_url"]]
    assert redirected and all(r["final_url"] in pages and r["url"] not in pages for r in redirected)
    assert all(r["n_words"] > 50 for r in one)
    assert f"{report['kept']} documents" in capsys.readouterr().out


def test_extract_carries_reddit_fields_from_a_links_table(repo, tmp_path):
    import pyarrow as pa

    url = "https://www.livescience.com/most-detailed-universe-simulation.html"
    links = tmp_path / "links.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"url": url, "domain": "livescience.com", "subreddits": ["space"], "reddit_ids": ["6tg0zn"],
              "first_created_utc": 1502496000, "score": 97, "score_sum": 97, "n_submissions": 1}]
        ),
        links,
    )
    warc = repo / "webtext" / "sample" / "sample.warc.gz"
    assert main(["extract", "--warc", str(warc), "--links", str(links), "--out", str(tmp_path / "o")]) == 0
    rows = {r["url"]: r for r in pq.read_table(tmp_path / "o" / "documents").to_pylist()}
    assert rows[url]["score"] == 97 and rows[url]["reddit_ids"] == ["6tg0zn"]


def test_eval_extract_prints_the_three_extractors(bench, tmp_path, capsys):
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(sorted(read_ids(f"{bench / 'split.json'}:dev"))[:3]) + "\n")
    args = ["eval-extract", "--gold", str(bench / "ground-truth.json"), "--html", str(bench / "html"), "--ids", str(ids)]
    assert main(args + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pages"] == 3
    for name in ("dragnet", "newspaper", "combined"):
        s = result["extractors"][name]
        assert 0.5 < s["f1"] <= 1.0 and s["pages_per_cpu_s"] > 0
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "combined" in table and "pages/s/core" in table


def test_user_errors_are_one_line(bench, tmp_path, capsys):
    assert main(["extract", "--out", str(tmp_path)]) == 2
    assert main(["extract", "--warc", str(tmp_path / "missing.warc.gz"), "--out", str(tmp_path)]) == 2
    assert "missing.warc.gz" in capsys.readouterr().err
    assert main(["extract", "train-dragnet", "--split", "dev", "--data", str(bench)]) == 2
    assert "never train on it" in capsys.readouterr().err
    assert main(["eval-extract", "--gold", str(bench / "ground-truth.json"), "--html", str(bench / "html"),
                 "--ids", str(tmp_path / "nope.txt")]) == 2


@pytest.mark.parametrize("argv", [["extract", "--help"], ["extract", "train-dragnet", "--help"], ["eval-extract", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0


def test_extract_follows_a_replayed_fetch_log(repo, tmp_path):
    """`webtext fetch --replay` then `webtext extract --fetch`: the documents are exactly the pages the
    fetch log kept, read from the records its rows point at, under the rows' final URLs."""
    import pyarrow as pa

    from webtext.fetch import read_fetch_log

    sample = repo / "webtext" / "sample"
    (tmp_path / "links").mkdir()
    urls = [
        "https://www.livescience.com/most-detailed-universe-simulation.html",
        "https://phys.org/news/2019-11-hibernating-astronauts-smaller-spacecraft.html",
        "http://detroitnews.com/story/news/nation/2019/11/19/thousands-teachers-pack-indiana-statehouse-protest/40651467/",
        "https://www.morebikes.co.uk/7412/retired-bike-light-roundup-2016/",  # a 404 in the archive
        "https://never.archived.example/page",
    ]
    pq.write_table(pa.table({"url": urls}), tmp_path / "links" / "links-00000.parquet")
    assert main(["fetch", "--links", str(tmp_path), "--out", str(tmp_path / "fetch"), "--replay", str(sample / "sample.warc.gz")]) == 0
    log = {r["url"]: r for r in read_fetch_log(tmp_path / "fetch")}
    kept = {u for u, r in log.items() if r["error"] is None}
    assert len(log) == len(urls) and len(kept) == 3

    assert main(["extract", "--fetch", str(tmp_path / "fetch"), "--out", str(tmp_path / "ext")]) == 0
    docs = pq.read_table(tmp_path / "ext" / "documents").to_pylist()
    assert {d["url"] for d in docs} == kept
    assert all(d["final_url"] == log[d["url"]]["final_url"] for d in docs)
    assert any(d["final_url"] != d["url"] for d in docs)  # the 301 was followed by the fetch
    report = json.loads((tmp_path / "ext" / "report.json").read_text())
    assert report["read"] == 3 and report["kept"] == 3


def test_extract_fetch_folder_without_a_log_is_a_clear_error(tmp_path, capsys):
    assert main(["extract", "--fetch", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no fetch log" in capsys.readouterr().err
