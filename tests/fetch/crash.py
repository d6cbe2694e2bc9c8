"""A repeatable crash scenario: a fetch of many URLs on several hosts (some redirecting through
slow hops, some slow, some retried, some identical, some 404) killed with SIGKILL at random
moments and rerun until done. Used by tests/fetch/test_crash.py (small) and
benchmarks/fetch_crash.py (larger, with the real `webtext extract` on both readers).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import servers as S  # noqa: E402
from invariants import check_fetch_folder  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls, read_fetch_log  # noqa: E402
from webtext.fetch.crawl import start_crawl  # noqa: E402
from webtext.fetch.log import log_parts  # noqa: E402

TEXT = "Ordinary article text about the city council and its budget for the coming year. " * 8


def _slow(body: bytes, seconds: float):
    def route(h):
        time.sleep(seconds)
        S.send(h, 200, body)

    return route


def _slow_redirect(location: str, seconds: float):
    def route(h):
        time.sleep(seconds)
        S.send(h, 302, b"", "text/html", [("Location", location)])

    return route


class _FailOnce:
    def __init__(self, body: bytes):
        self.body, self.calls = body, 0

    def __call__(self, h):
        self.calls += 1
        if self.calls == 1:
            S.send(h, 503, b"busy", "text/plain")
        else:
            S.send(h, 200, self.body)


def routes_for(host_index: int, n: int, rng: random.Random) -> dict:
    """n URL paths of one host and their routes; kinds cycle so every host has each kind."""
    routes, paths = {}, []
    same = S.page("shared", TEXT)  # identical payload on several URLs: revisits
    for i in range(n):
        kind = i % 8
        body = S.page(f"h{host_index} page {i}", TEXT + f" Number {i}.")
        p = f"/u{i}"
        if kind in (0, 1, 2):
            routes[p] = S.html(body)
        elif kind == 3:  # a chain of slow hops
            hops = 1 + i % 3
            for k in range(hops):
                nxt = f"/u{i}/hop{k + 1}" if k + 1 < hops else f"/u{i}/final"
                routes[p if k == 0 else f"/u{i}/hop{k}"] = _slow_redirect(nxt, rng.uniform(0.05, 0.3))
            routes[f"/u{i}/final"] = S.html(body)
        elif kind == 4:
            routes[p] = _slow(body, rng.uniform(0.2, 0.8))
        elif kind == 5:
            routes[p] = S.html(same)
        elif kind == 6:
            routes[p] = _FailOnce(body)
        else:
            routes[p] = S.status(404) if i % 16 == 7 else S.redirect(f"/u{i - 1}")
        paths.append(p)
    return routes, paths


OPTS = dict(allow_loopback=True, download_timeout=5, retries=1, retry_backoff=0.1, autothrottle=False,
            per_domain_concurrency=4, commit_rows=7, commit_seconds=0.2, warc_max_bytes=200_000)


def run(out: Path, n_urls: int, kills: int, seed: int, hosts: int = 4, log=print) -> dict:
    """Kill the crawl `kills` times at random moments, rerun until done; check the folder."""
    rng = random.Random(seed)
    opts = FetchOptions(**OPTS)
    with ExitStack() as stack:
        urls = []
        for h in range(hosts):
            routes, paths = routes_for(h, n_urls // hosts, rng)
            site = stack.enter_context(S.Site(f"127.0.0.{60 + h}", routes))
            urls += [site.url(p) for p in paths]
        rng.shuffle(urls)
        tried = landed = 0
        logged_after: list[int] = []
        t_start = time.monotonic()
        while tried < kills:
            parts = len(log_parts(out))
            proc = start_crawl(urls, out, opts, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            t0 = time.monotonic()
            # Every 4th kill point is a random moment from the process start (start-up, recovery,
            # the first fetches); the others come a random 0-0.5 s after the crawl committed a random
            # 1-4 more log parts, so they land mid-crawl however loaded the machine is.
            early = tried % 4 == 3
            if not early:
                want = parts + rng.randint(1, 4)
                while len(log_parts(out)) < want and proc.poll() is None and time.monotonic() - t0 < 60:
                    time.sleep(0.005)
            delay = rng.uniform(0.0, 1.5) if early else rng.uniform(0.0, 0.5)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.002)
            tried += 1
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                landed += 1
            proc.wait()
            Path(proc.job_path).unlink(missing_ok=True)
            logged_after.append(len(read_fetch_log(out)))
            log(f"kill point {tried}: {time.monotonic() - t0:.2f} s after start "
                f"({'from start' if early else f'{delay:.2f} s after a log commit'}), "
                f"{'killed' if proc.returncode == -9 else 'already done'}; {logged_after[-1]} URLs logged")
        reruns = 0
        while True:
            reruns += 1
            rows = fetch_urls(urls, out, opts)
            if len(rows) == len(urls):
                break
        wall = time.monotonic() - t_start
    figures = check_fetch_folder(out, urls)
    figures.update(kill_points=tried, kills_landed=landed, logged_after_each_kill=logged_after, final_runs=reruns,
                   wall_s=round(wall, 1))
    return figures
