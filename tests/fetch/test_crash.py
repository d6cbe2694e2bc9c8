"""kill -9 at any moment, rerun until done: one row per URL, one set of WARC records per URL,
`warcio check` clean, and `extract --warc` reading exactly the pages `extract --fetch` reads.

`test_kill_9_mid_redirect_chain` kills a crawl of slow redirect chains at several depths (after
the 2nd, 5th, ... hop the server answered), which is where a first hop used to be archived
without its row. `test_random_kill_points` is the repeatable crash test (crash.py); the larger
run with the real extractors is `benchmarks/fetch_crash.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import crash  # noqa: E402
import servers as S  # noqa: E402
from invariants import check_fetch_folder  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls, read_fetch_log  # noqa: E402
from webtext.fetch.crawl import start_crawl  # noqa: E402

CHAINS = 12
HOPS = 3


def _hop(i: int, k: int):
    def route(h):
        time.sleep(0.25)
        nxt = f"/c{i}/{k + 1}" if k + 1 < HOPS else f"/c{i}/page"
        S.send(h, 302, b"", "text/html", [("Location", nxt)])

    return route


def test_kill_9_mid_redirect_chain(tmp_path):
    routes = {f"/c{i}/{k}": _hop(i, k) for i in range(CHAINS) for k in range(HOPS)}
    routes.update({f"/c{i}/page": S.html(S.page(f"chain {i}", "text " * 50)) for i in range(CHAINS)})
    opts = FetchOptions(allow_loopback=True, download_timeout=5, retries=0, autothrottle=False,
                        per_domain_concurrency=4, commit_rows=2, commit_seconds=0.1)
    mid_chain = 0
    with S.Site("127.0.0.50", routes) as site:
        urls = [site.url(f"/c{i}/0") for i in range(CHAINS)]
        for extra_hits in (2, 5, 9, 14):  # kill after this many more hops were answered
            start = len([p for p in site.paths() if p != "/robots.txt"])
            proc = start_crawl(urls, tmp_path, opts, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while len([p for p in site.paths() if p != "/robots.txt"]) < start + extra_hits:
                assert proc.poll() is None and time.monotonic() < deadline, "the crawl ended before the kill"
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            Path(proc.job_path).unlink(missing_ok=True)
            logged = {r["url"] for r in read_fetch_log(tmp_path)}
            hit_first = {site.url(p) for p in site.paths() if p.endswith("/0")}
            mid_chain += len(hit_first - logged)  # chains started (first hop answered) but not logged
        assert mid_chain > 0  # the kills did land in the middle of chains
        rows = fetch_urls(urls, tmp_path, opts)
    assert [r["error"] for r in rows] == [None] * CHAINS and all(r["redirects"] == HOPS for r in rows)
    figures = check_fetch_folder(tmp_path, urls)
    assert figures["sets"] == CHAINS and figures["pages_warc"] == figures["pages_fetch"] == CHAINS


def test_random_kill_points(tmp_path):
    figures = crash.run(tmp_path, n_urls=120, kills=5, seed=11, log=lambda *_: None)
    print("crash test:", figures)
    assert figures["kill_points"] == 5 and figures["kills_landed"] >= 4, figures
    assert sum(0 < n < 120 for n in figures["logged_after_each_kill"]) >= 3, figures  # killed mid-crawl
    assert figures["urls"] == 120 and figures["revisits"] > 0
    assert figures["pages_warc"] == figures["pages_fetch"] == figures["kept"]
