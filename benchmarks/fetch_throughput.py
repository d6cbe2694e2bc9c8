"""Fetch throughput: 2,000 pages on 50 local hosts, through the whole crawler.

    .venv/bin/python benchmarks/fetch_throughput.py [--pages 2000] [--hosts 50]

50 hosts are 127.0.0.2 ... 127.0.0.51 (all of 127.0.0.0/8 routes to the local machine on Linux,
and Scrapy treats each address as a separate host with its own politeness slot). An asyncio
server in this process answers every host: robots.txt is 404, each page is ~20 KB of HTML.
The crawl runs exactly as in production (`fetch_urls`: a Scrapy child process, robots.txt
checks, the SSRF guard, AutoThrottle, WARC writing with fsync'd log commits), with default
FetchOptions apart from the test-only allow_loopback (`--no-throttle` also turns AutoThrottle
off, to show the crawler's own ceiling rather than the politeness delay's). Prints pages/s and WARC MB/s over the
wall time of `fetch_urls` (child start-up included) and the crawl process's peak RSS.
Figures, never assertions: they depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webtext.fetch import FetchOptions, fetch_urls  # noqa: E402
from webtext.fetch.warc import warc_files  # noqa: E402

_RNG = random.Random(1)
WORDS = ["".join(_RNG.choice("etaoinshrdlucmfwypvbgkqjxz") for _ in range(_RNG.randint(2, 9))) for _ in range(20000)]


PAGES: dict[tuple[int, int], bytes] = {}


def _page(host: int, i: int) -> bytes:
    rng = random.Random(host * 100_000 + i)  # text about as compressible as prose (~2.5x)
    words = " ".join(rng.choice(WORDS) for _ in range(3000))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>host {host} page {i}</title></head>"
        f"<body><article><h1>Page {i}</h1><p>{words}</p></article></body></html>"
    ).encode()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: int) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            if path.startswith("/p"):
                body, status = PAGES[host, int(path[2:])], b"200 OK"
            else:
                body, status = b"not found", b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _serve(hosts: list[str], ready: threading.Event, ports: dict) -> None:
    async def main():
        for n, addr in enumerate(hosts):
            server = await asyncio.start_server(lambda r, w, n=n: _handle(r, w, n), addr, 0)
            ports[addr] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--no-throttle", action="store_true", help="AutoThrottle off: the crawler's own ceiling")
    args = ap.parse_args()

    hosts = [f"127.0.0.{i + 2}" for i in range(args.hosts)]
    for n in range(len(hosts)):  # built before the clock starts: the server should cost little
        for i in range(args.pages // args.hosts):
            PAGES[n, i] = _page(n, i)
    ports: dict[str, int] = {}
    ready = threading.Event()
    threading.Thread(target=_serve, args=(hosts, ready, ports), daemon=True).start()
    ready.wait()
    urls = [f"http://{h}:{ports[h]}/p{i}" for i in range(args.pages // args.hosts) for h in hosts]

    os.environ.setdefault("WEBTEXT_QUIET", "1")
    opts = FetchOptions(allow_loopback=True, autothrottle=not args.no_throttle)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        rows = fetch_urls(urls, out, opts)
        wall = time.perf_counter() - t0
        warc_bytes = sum(p.stat().st_size for p in warc_files(out))
        ok = sum(r["error"] is None for r in rows)
        body_bytes = sum(r["bytes"] or 0 for r in rows)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    print(f"fetch throughput: {len(urls):,} pages on {len(hosts)} hosts (127.0.0.x), {ok:,} kept")
    print(
        f"  options: per_domain_concurrency={opts.per_domain_concurrency} concurrency={opts.concurrency} "
        f"autothrottle={opts.autothrottle} (start delay {opts.autothrottle_start_delay} s) robots={opts.obey_robots}"
    )
    print(f"  wall time      {wall:8.2f} s (crawl process start-up included)")
    print(f"  pages/s        {len(urls) / wall:8.1f}")
    print(f"  WARC MB/s      {warc_bytes / wall / 1e6:8.2f}  ({warc_bytes / 1e6:.1f} MB gzip WARC, {body_bytes / 1e6:.1f} MB bodies)")
    print(f"  peak memory    {peak_kib / 1024:8.1f} MiB (max RSS of the crawl process)")


if __name__ == "__main__":
    main()
