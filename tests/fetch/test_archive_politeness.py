"""Archive sources: politeness (rate, Retry-After), the SSRF guard, kill -9 resume, archive-then-live, the CLI.

These use `FakeWayback` (archives.py), a small CDX + playback server that records when each request
arrived and can answer 429 (pywb never does); the capture logic itself is tested against pywb in
test_archive.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import servers as S  # noqa: E402
from archives import FakeWayback  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls  # noqa: E402
from webtext.fetch.crawl import start_crawl  # noqa: E402
from webtext.fetch.log import log_parts  # noqa: E402

T = 1489104000  # 2017-03-10


def pages(n: int, host: str = "http://blog.example.org") -> dict[str, bytes]:
    return {f"{host}/p{i}": S.page(f"post {i}", "words " * 50) for i in range(n)}


def opts(fake: FakeWayback, **kw) -> FetchOptions:
    base = dict(source="wayback", archive_endpoint=fake.url(), allow_loopback=True, archive_rate=500,
                download_timeout=5, retries=2, retry_backoff=0.1, max_retry_after=5, commit_rows=3, commit_seconds=0.2)
    base.update(kw)
    return FetchOptions(**base)


def test_request_rate_per_archive_host(tmp_path):
    site = pages(4)
    with FakeWayback(site) as fake:
        rows = fetch_urls(list(site), tmp_path, opts(fake, archive_rate=4.0), submitted=dict.fromkeys(site, T))
        starts = sorted(t for _, t in fake.hits)
    assert all(r["error"] is None for r in rows)
    assert len(starts) == 8  # a CDX query and a playback per URL, one at a time
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # 4 requests/s: the crawler starts them a quarter second apart; as the server sees them, arrival
    # jitter on a loaded machine can shift one by a few tens of ms, but never lets a burst through
    assert starts[-1] - starts[0] >= 7 * 0.25 - 0.05, gaps
    assert min(gaps) >= 0.25 / 2, gaps


def test_retry_after_on_429_is_honoured(tmp_path):
    site = pages(1)
    with FakeWayback(site) as fake:
        fake.throttle_first, fake.retry_after = 1, 2
        (row,) = fetch_urls(list(site), tmp_path, opts(fake), submitted=dict.fromkeys(site, T))
        times = [t for _, t in fake.hits]
    assert row["error"] is None and row["source"] == "wayback"
    assert len(times) == 3 and times[1] - times[0] >= 2 - 0.05  # waited the 2 s it was told to


def test_retry_after_too_long_is_an_archive_error(tmp_path):
    site = pages(1)
    with FakeWayback(site) as fake:
        fake.throttle_first, fake.retry_after = 5, 3600
        (row,) = fetch_urls(list(site), tmp_path, opts(fake), submitted=dict.fromkeys(site, T))
        assert len(fake.hits) == 1
    assert row["error"] == "archive_error" and "Retry-After" in row["error_detail"]


def test_ssrf_guard_applies_to_archive_requests(tmp_path):
    site = pages(3)
    with FakeWayback(site) as fake:
        rows = fetch_urls(list(site), tmp_path, opts(fake, allow_loopback=False), submitted=dict.fromkeys(site, T))
        assert fake.hits == []  # nothing ever connected to the loopback archive
    assert {r["error"] for r in rows} == {"forbidden_address"}
    # an endpoint that is a private IP literal is refused the same way
    rows = fetch_urls(list(site)[:1], tmp_path / "private", FetchOptions(
        source="wayback", archive_endpoint="http://10.0.0.1:8080/coll", download_timeout=2, retries=0))
    assert rows[0]["error"] == "forbidden_address"


def test_kill_9_then_rerun_queries_nothing_already_logged(tmp_path):
    site = pages(40)
    urls = list(site)
    o = opts(FakeWayback({}), archive_rate=60)  # ~0.7 s per 20 URLs: time to kill it mid-way
    with FakeWayback(site) as fake:
        o.archive_endpoint = fake.url()
        proc = start_crawl(urls, tmp_path, o, dict.fromkeys(urls, T), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(log_parts(tmp_path)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        logged = set(pq.read_table(tmp_path / "log").column("url").to_pylist())
        assert 0 < len(logged) < len(urls)
        before = len(fake.hits)
        rows = fetch_urls(urls, tmp_path, o, submitted=dict.fromkeys(urls, T))
        requeried = [u for u in fake.queried(since=before) if u in logged]
    assert requeried == []
    raw = pq.read_table(tmp_path / "log").column("url").to_pylist()
    assert sorted(raw) == sorted(urls)  # every URL exactly once
    assert all(r["error"] is None and r["source"] == "wayback" for r in rows)


def test_archive_then_live_fetches_only_the_misses_live(tmp_path):
    with S.Site("127.0.0.2", {"/fresh": S.html(S.page("fresh", "only on the live web")),
                              "/robots.txt": S.html(b"User-agent: *\nDisallow: /private\n", "text/plain")}) as live:
        archived = {live.url("/old"): S.page("old", "from the archive")}
        fresh, private = live.url("/fresh"), live.url("/private")
        with FakeWayback(archived) as fake:
            rows = fetch_urls([live.url("/old"), fresh, private], tmp_path, opts(fake, source="archive-then-live"),
                              submitted={live.url("/old"): T, fresh: T, private: T})
        r = {row["url"]: row for row in rows}
        assert (r[live.url("/old")]["error"], r[live.url("/old")]["source"]) == (None, "wayback")
        assert (r[fresh]["error"], r[fresh]["source"]) == (None, "live")
        assert r[private]["error"] == "robots_disallowed"  # the live fallback obeys robots.txt
        assert "/old" not in live.paths() and "/fresh" in live.paths() and "/private" not in live.paths()


def test_cli_reads_submission_times_and_rejects_bad_sources(tmp_path):
    site = pages(2)
    urls = list(site)
    links = tmp_path / "links.parquet"
    pq.write_table(pa.table({"url": urls, "first_created_utc": [T, T]}), links)
    env = {**os.environ, "WEBTEXT_QUIET": "1"}
    with FakeWayback(site) as fake:
        proc = subprocess.run(
            [sys.executable, "-m", "webtext.cli", "fetch", "--links", str(links), "--out", str(tmp_path / "out"),
             "--source", "wayback", "--archive-endpoint", fake.url(), "--archive-rate", "100", "--allow-loopback"],
            capture_output=True, text=True, env=env, timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["kept"] == 2
    for bad in (["--source", "waybak"], ["--source", "commoncrawl:CC-MAIN-17"], ["--source", "wayback", "--archive-endpoint", "ftp://x/"]):
        proc = subprocess.run([sys.executable, "-m", "webtext.cli", "fetch", "--links", str(links), "--out",
                               str(tmp_path / "bad"), *bad], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (bad, proc.stderr)
