"""Kill -9 in the middle of a crawl, rerun, and check exactly-once rows and no lost WARC record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

sys.path.insert(0, str(Path(__file__).parent))
import servers as S  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls  # noqa: E402
from webtext.fetch.crawl import start_crawl  # noqa: E402
from webtext.fetch.log import log_parts  # noqa: E402
from webtext.fetch.replay import read_response  # noqa: E402
from webtext.fetch.warc import warc_files  # noqa: E402

N = 150


def _slow_page(i):
    def route(h):
        time.sleep(0.01)
        S.send(h, 200, S.page(f"page {i}", "x" * 2000))

    return route


def _kill_when(proc, out: Path, min_parts: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(log_parts(out)) < min_parts:
        assert proc.poll() is None, "the crawl ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_kill_9_then_rerun_gives_exactly_once(tmp_path):
    opts = FetchOptions(
        allow_loopback=True, per_domain_concurrency=4, autothrottle=False, download_timeout=5,
        retries=0, commit_rows=7, commit_seconds=0.2, warc_max_bytes=40_000,
    )
    with S.Site("127.0.0.1", {f"/p{i}": _slow_page(i) for i in range(N)}) as site:
        urls = [site.url(f"/p{i}") for i in range(N)]
        for min_parts in (3, 8):  # two kills, at different depths
            proc = start_crawl(urls, tmp_path, opts, stderr=subprocess.DEVNULL)
            _kill_when(proc, tmp_path, min_parts)
        logged_before = pq.read_table(tmp_path / "log").num_rows
        assert 0 < logged_before < N
        rows = fetch_urls(urls, tmp_path, opts)

    # every URL exactly once in the raw Parquet parts (not only after read_fetch_log's dedup)
    raw = pq.read_table(tmp_path / "log").column("url").to_pylist()
    assert sorted(raw) == sorted(urls)
    assert [r["url"] for r in rows] == urls
    assert [(r["url"], r["error"], r.get("status")) for r in rows if r["error"] is not None] == []
    # every record the log references is there, whole, and is this URL's page
    for i, r in enumerate(rows):
        rec = read_response(r["warc_path"], r["warc_offset"])
        assert rec.url == r["url"] and f"page {i}".encode() in rec.body
    # no torn record anywhere: every WARC file reads to its end
    responses = 0
    for path in warc_files(tmp_path):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                record.content_stream().read()
                responses += record.rec_type == "response"
    assert responses >= N
    # a URL fetched before a kill but not committed was fetched again; nothing committed was
    assert len(site.paths()) >= N and len(site.paths()) - site.paths().count("/robots.txt") <= 2 * N
