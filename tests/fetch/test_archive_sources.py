"""Archive sources against a real pywb (Wayback and Common Crawl paths) and real range requests.

One pywb serves, from WARCs written here:
- collection `web`: three captures of one story (2017-01-05, 2017-03-01, 2017-06-01), an archived
  redirect chain (301 -> relative 302 -> 200), an archived 404, a PDF; one URL is never captured;
- collections `CC-MAIN-2017-09`, `-22`, `-47` (one per Common Crawl crawl, dated inside it), whose
  WARC files Twisted's static server serves with Range support, as Common Crawl's data host does.
The Common Crawl path runs twice: pywb's CDX as the index server, then a columnar index (Parquet
with Common Crawl's schema, built from the same WARCs) joined with DuckDB and no index server.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

sys.path.insert(0, str(Path(__file__).parent))
from archives import Pywb, RangeServer, requires_pywb, write_captures  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls  # noqa: E402
from webtext.fetch.warc import warc_files  # noqa: E402

pytestmark = requires_pywb

H = "http://news.example.com"
STORY, OLD, MID, FINAL, GONE, PDF, NEVER = (f"{H}/story", f"{H}/old", f"{H}/mid", f"{H}/final", f"{H}/gone",
                                           f"{H}/doc.pdf", f"{H}/never")
HTML = [("Content-Type", "text/html; charset=utf-8")]


def page(text: str) -> bytes:
    return f"<!doctype html><html><head><title>{text}</title></head><body><p>{text}</p></body></html>".encode()


def ts(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp()


def chain(date: str):
    return [
        (OLD, date + "T10:00:00Z", "301 Moved Permanently", [("Location", MID)] + HTML, b""),
        (MID, date + "T10:00:01Z", "302 Found", [("Location", "/final")] + HTML, b""),
        (FINAL, date + "T10:00:02Z", "200 OK", HTML, page(f"final page of {date}")),
        (GONE, date + "T10:00:00Z", "404 Not Found", HTML, page("not found")),
        (PDF, date + "T10:00:00Z", "200 OK", [("Content-Type", "application/pdf")], b"%PDF-1.4 not html"),
    ]


CRAWLS = {"CC-MAIN-2017-09": "2017-02-28", "CC-MAIN-2017-22": "2017-05-30", "CC-MAIN-2017-47": "2017-11-21"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    warcs = root / "warcs"
    warcs.mkdir()
    web = write_captures(warcs / "web.warc.gz", [
        (STORY, d + "T10:00:00Z", "200 OK", HTML, page(f"story as of {d}")) for d in ("2017-01-05", "2017-03-01", "2017-06-01")
    ] + chain("2017-03-01"))
    data = root / "data"  # what the "data host" serves: the crawls' WARC files
    data.mkdir()
    cc = {}
    for crawl, day in CRAWLS.items():
        caps = [(STORY, day + "T08:00:00Z", "200 OK", HTML, page(f"story in {crawl}"))]
        if crawl == "CC-MAIN-2017-09":
            caps += chain(day)
        cc[crawl] = write_captures(data / f"{crawl}.warc.gz", caps)
    pywb = Pywb(root / "pywb")
    pywb.add_collection("web", [web])
    for crawl, path in cc.items():
        pywb.add_collection(crawl, [path])
    from webtext.fetch.ccindex import write_index_table

    for crawl, path in cc.items():
        write_index_table([path], root / "cc-index", crawl)
    with pywb, RangeServer(data) as ranges:
        yield {"pywb": pywb, "ranges": ranges, "root": root, "cc_index": root / "cc-index"}


def opts(**kw) -> FetchOptions:
    base = dict(allow_loopback=True, archive_rate=200, archive_data_rate=200, download_timeout=10, retries=1,
                retry_backoff=0.1, commit_rows=5, commit_seconds=0.5)
    base.update(kw)
    return FetchOptions(**base)


URLS = [STORY, OLD, GONE, PDF, NEVER]
MARCH_10 = ts("2017-03-10")


@pytest.fixture(scope="module")
def wayback(servers, tmp_path_factory):
    out = tmp_path_factory.mktemp("wayback")
    o = opts(source="wayback", archive_endpoint=servers["pywb"].url("web"))
    rows = fetch_urls(URLS, out, o, submitted={u: MARCH_10 for u in URLS})
    return {"out": out, "rows": {r["url"]: r for r in rows}, "opts": o}


def _when(row):
    return row["capture_time"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _record_at(row):
    from webtext.fetch.replay import read_response

    return read_response(row["warc_path"], row["warc_offset"])


def test_wayback_outcomes(wayback):
    r = wayback["rows"]
    assert {u: r[u]["error"] for u in URLS} == {
        STORY: None, OLD: None, GONE: "http_404", PDF: "non_html", NEVER: "archive_miss",
    }
    assert all(row["source"] == "wayback" for row in r.values())
    assert (r[GONE]["status"], r[PDF]["status"], r[NEVER]["status"]) == (404, 200, None)
    assert r[NEVER]["capture_time"] is None and r[NEVER]["warc_path"] is None


def test_wayback_picks_the_capture_before_the_submission(wayback):
    row = wayback["rows"][STORY]
    assert _when(row) == "2017-03-01T10:00:00"
    assert b"story as of 2017-03-01" in _record_at(row).body


def test_archived_redirect_chain_followed_within_the_archive(wayback):
    row = wayback["rows"][OLD]
    assert row["final_url"] == FINAL and row["redirects"] == 2 and row["status"] == 200
    assert b"final page of 2017-03-01" in _record_at(row).body


@pytest.mark.parametrize("submitted, expected", [
    ("2017-02-20", "2017-03-01"),  # 9 days after beats 46 days before
    ("2017-05-20", "2017-06-01"),  # 12 days after beats 80 days before
    ("2017-12-01", "2017-06-01"),  # nothing within 30 days: the latest older capture
])
def test_capture_chosen_for_each_submission_time(servers, tmp_path, submitted, expected):
    o = opts(source="wayback", archive_endpoint=servers["pywb"].url("web"))
    (row,) = fetch_urls([STORY], tmp_path, o, submitted={STORY: ts(submitted)})
    assert row["error"] is None and _when(row).startswith(expected)
    assert f"story as of {expected}".encode() in _record_at(row).body


def test_warc_records_and_tools_accept_them(wayback, servers):
    files = warc_files(wayback["out"])
    records = []
    for path in files:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                rec.content_stream().read()
                records.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"), rec.rec_headers))
    kinds = [(k, u) for k, u, _ in records if k != "warcinfo"]
    # one response record per archived response (the chain has three hops); no request records:
    # this crawl never sent the requests the archive recorded
    assert sorted(u for k, u in kinds if k in ("response", "revisit")) == sorted([STORY, OLD, MID, FINAL, GONE, PDF])
    assert [k for k, _ in kinds if k not in ("response", "revisit")] == []
    story = next(h for k, u, h in records if k == "response" and u == STORY)
    assert story.get_header("WARC-Date").startswith("2017-03-01T10:00:00")  # WARC-Date = the capture time
    assert story.get_header("WebText-Capture-URI") == f"{servers['pywb'].url('web')}/20170301100000id_/{STORY}"
    assert story.get_header("WebText-Archive-Source") == "wayback"
    assert story.get_header("WebText-Submitted") == "2017-03-10T00:00:00Z"
    assert story.get_header("WebText-URL") == STORY and story.get_header("WebText-Role") == "final"
    # warcio's checker accepts the files ...
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", *map(str, files)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # ... and pywb indexes and replays them: the story at its capture time, as archived
    pywb = servers["pywb"]
    pywb.add_collection("rebuilt", files)
    cdx = urllib.request.urlopen(f"{pywb.url('rebuilt')}/cdx?url={STORY}&output=json", timeout=10).read().decode()
    assert '"timestamp": "20170301100000"' in cdx and '"status": "200"' in cdx
    played = urllib.request.urlopen(f"{pywb.url('rebuilt')}/20170301100000id_/{STORY}", timeout=10)
    assert played.read() == page("story as of 2017-03-01")
    assert played.headers["Memento-Datetime"] == "Wed, 01 Mar 2017 10:00:00 GMT"


def test_replay_of_an_archive_fetch(wayback, tmp_path):
    rows = {r["url"]: r for r in fetch_urls(URLS, tmp_path, FetchOptions(replay=[str(wayback["out"] / "warc")]))}
    for url in URLS:
        live = wayback["rows"][url]
        expected = "not_in_archive" if live["error"] == "archive_miss" else live["error"]
        assert rows[url]["error"] == expected, url
        if live["error"] is None:
            assert rows[url]["final_url"] == live["final_url"]
            assert _record_at(rows[url]).body == _record_at(live).body
            assert rows[url]["source"] == "replay" and _when(rows[url]) == _when(live)


def test_rerun_queries_nothing_already_logged(wayback):
    rows = fetch_urls(URLS, wayback["out"], wayback["opts"], submitted={u: MARCH_10 for u in URLS})
    assert [r["fetched_at"] for r in rows] == [wayback["rows"][u]["fetched_at"] for u in URLS]


# ---------------------------------------------------------------------------------- Common Crawl


def _check_commoncrawl(rows, submitted_label):
    r = {row["url"]: row for row in rows}
    assert {u: r[u]["error"] for u in URLS} == {
        STORY: None, OLD: None, GONE: "http_404", PDF: "non_html", NEVER: "archive_miss",
    }
    assert all(row["source"] == "commoncrawl" for row in rows)
    return r


def test_commoncrawl_index_server_and_range_requests(servers, tmp_path):
    o = opts(source="commoncrawl:" + ",".join(CRAWLS), archive_endpoint=servers["pywb"].url() + "/{crawl}/cdx",
             archive_data_endpoint=servers["ranges"].url())
    r = _check_commoncrawl(fetch_urls(URLS, tmp_path, o, submitted={u: MARCH_10 for u in URLS}), "march")
    # 2017-03-10 is bracketed by CC-MAIN-2017-09 (captured 2017-02-28) and -22: the earlier one, 10 days before
    assert _when(r[STORY]) == "2017-02-28T08:00:00" and b"story in CC-MAIN-2017-09" in _record_at(r[STORY]).body
    assert r[OLD]["final_url"] == FINAL and r[OLD]["redirects"] == 2
    with open(r[STORY]["warc_path"], "rb") as fh:
        fh.seek(r[STORY]["warc_offset"])
        h = next(iter(ArchiveIterator(fh))).rec_headers
    assert h.get_header("WebText-Capture-Filename") == "CC-MAIN-2017-09.warc.gz"
    assert h.get_header("WebText-Capture-URI").startswith(servers["ranges"].url() + "/CC-MAIN-2017-09.warc.gz#bytes=")
    assert h.get_header("WebText-Archive-Source") == "commoncrawl"
    # a June submission is bracketed by -22 and -47: the May capture (before it, within 30 days)
    (row,) = fetch_urls([STORY], tmp_path / "june", o, submitted={STORY: ts("2017-06-10")})
    assert b"story in CC-MAIN-2017-22" in _record_at(row).body


def test_commoncrawl_columnar_index_join(servers, tmp_path):
    from archives import free_port

    # no index server at all: the record locations come from the Parquet index, joined in DuckDB
    o = opts(source="commoncrawl:" + ",".join(CRAWLS), cc_index_table=str(servers["cc_index"]),
             archive_endpoint=f"http://127.0.0.1:{free_port()}/{{crawl}}/cdx", archive_data_endpoint=servers["ranges"].url())
    r = _check_commoncrawl(fetch_urls(URLS, tmp_path, o, submitted={u: MARCH_10 for u in URLS}), "march")
    assert _when(r[STORY]) == "2017-02-28T08:00:00" and b"story in CC-MAIN-2017-09" in _record_at(r[STORY]).body
    assert r[OLD]["final_url"] == FINAL


def test_columnar_index_has_common_crawls_schema(servers):
    import duckdb

    con = duckdb.connect()
    rows = con.execute(
        f"SELECT crawl, url, fetch_status, warc_filename, warc_record_offset, warc_record_length "
        f"FROM read_parquet('{servers['cc_index']}/**/*.parquet', hive_partitioning=true) WHERE url = '{STORY}' ORDER BY crawl"
    ).fetchall()
    assert [r[0] for r in rows] == list(CRAWLS) and all(r[2] == 200 and r[5] > 0 for r in rows)
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{servers['cc_index']}/**/*.parquet', hive_partitioning=true)")
    types = {c[0]: c[1] for c in described.fetchall()}
    assert types["fetch_status"] == "SMALLINT" and types["warc_record_offset"] == "INTEGER"
    assert types["fetch_time"].startswith("TIMESTAMP")
