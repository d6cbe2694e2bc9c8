"""Archive sources: pages/s through pywb on loopback, and links resolved/s by the columnar-index join.

    .venv/bin/python benchmarks/archive_fetch.py [--pages 500] [--links 1000000] [--skip-fetch] [--skip-join]

1. **Fetch from an archive** (needs `.venv-pywb`, `make pywb-env`): `--pages` HTML pages (~20 KB)
   on 20 hosts are written to a WARC, dated 2017; pywb serves them as a collection on 127.0.0.1.
   `fetch_urls` then runs exactly as in production with the rate limits lifted (a loopback pywb
   has no politeness to respect), so the figure is the crawler's own ceiling:
   - `wayback`: a CDX query and an `id_` playback per page, one request at a time (the Wayback
     policy's concurrency);
   - `commoncrawl` (columnar): one DuckDB join for all pages, then a range request per page on
     Twisted's static server, 8 at a time (the data host's policy).
   Against the real archives the pace is set by their limits, not by this: see docs/fetch.md.
2. **Columnar-index join**: a links table of `--links` URLs against a synthetic index of the same
   number of rows with Common Crawl's schema (hive-partitioned by crawl, sorted by host as Common
   Crawl's is, 70% of the links present in it), through `webtext.fetch.ccindex.lookup_captures`
   (DuckDB join + building the captures), and the SQL join alone. Prints links resolved/s.

Figures, never assertions: they depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fetch"))

from archives import HAVE_PYWB, Pywb, RangeServer, write_captures  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls  # noqa: E402

_RNG = random.Random(1)
WORDS = ["".join(_RNG.choice("etaoinshrdlucmfwypvbgkqjxz") for _ in range(_RNG.randint(2, 9))) for _ in range(5000)]
T_SUBMITTED = 1489104000  # 2017-03-10


def page(i: int) -> bytes:
    words = " ".join(_RNG.choice(WORDS) for _ in range(3000))
    return f"<!doctype html><html><head><title>post {i}</title></head><body><article><p>{words}</p></article></body></html>".encode()


def bench_fetch(n: int, tmp: Path) -> None:
    from webtext.fetch.ccindex import write_index_table

    urls = [f"http://site{i % 20}.example.org/post/{i}" for i in range(n)]
    data = tmp / "data"
    data.mkdir()
    warc = write_captures(data / "CC-MAIN-2017-09.warc.gz", [
        (u, "2017-03-01T10:00:00Z", "200 OK", [("Content-Type", "text/html; charset=utf-8")], page(i))
        for i, u in enumerate(urls)
    ])
    write_index_table([warc], tmp / "cc-index", "CC-MAIN-2017-09")
    pywb = Pywb(tmp / "pywb")
    pywb.add_collection("bench", [warc])
    submitted = dict.fromkeys(urls, T_SUBMITTED)
    common = dict(allow_loopback=True, archive_rate=1e6, archive_data_rate=1e6, download_timeout=30)
    with pywb, RangeServer(data) as ranges:
        runs = [
            ("wayback (pywb CDX + id_ playback, 1 at a time)", FetchOptions(source="wayback", archive_endpoint=pywb.url("bench"), **common)),
            ("commoncrawl (columnar join + range requests, 8 at a time)", FetchOptions(
                source="commoncrawl:CC-MAIN-2017-09", cc_index_table=str(tmp / "cc-index"),
                archive_data_endpoint=ranges.url(), **common)),
        ]
        for name, opts in runs:
            out = tmp / name.split()[0]
            t0 = time.perf_counter()
            rows = fetch_urls(urls, out, opts, submitted)
            dt = time.perf_counter() - t0
            kept = sum(r["error"] is None for r in rows)
            print(f"{name}: {kept:,}/{n:,} pages kept in {dt:.1f} s = {kept / dt:,.1f} pages/s "
                  f"(crawl process start-up included)")


def write_synthetic_index(n: int, folder: Path, links_share: float = 0.7) -> list[str]:
    """A Common Crawl-schema index of `n` captures; returns the links table's `n` URLs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from webtext.fetch.ccindex import index_schema

    rng = random.Random(7)
    hosts = [f"www.site{i}.com" for i in range(n // 20)]
    link_urls = [f"https://{hosts[i % len(hosts)]}/2017/{i}/story-{i}.html" for i in range(n)]
    present = rng.sample(range(n), int(n * links_share))
    index_urls = [link_urls[i] for i in present] + [
        f"https://{hosts[i % len(hosts)]}/other/{i}.html" for i in range(n - len(present))
    ]
    index_urls.sort(key=lambda u: (u.split("/")[2], u))  # Common Crawl's files are sorted by SURT key
    base = 1488326400  # 2017-03-01
    cols = {
        "url_surtkey": [None] * n, "url": index_urls, "url_host_name": [u.split("/")[2] for u in index_urls],
        "url_host_tld": ["com"] * n, "url_host_registered_domain": [u.split("/")[2][4:] for u in index_urls],
        "url_protocol": ["https"] * n, "url_port": [None] * n, "url_path": [u.split("/", 3)[3] for u in index_urls],
        "url_query": [None] * n, "fetch_time": pa.array([(base + i % 86400) * 1_000_000 for i in range(n)],
                                                        pa.timestamp("us", tz="UTC")),
        "fetch_status": [200] * n, "fetch_redirect": [None] * n, "content_digest": ["X" * 32] * n,
        "content_mime_type": ["text/html"] * n, "content_mime_detected": ["text/html"] * n,
        "content_charset": ["UTF-8"] * n, "content_languages": ["eng"] * n, "content_truncated": [None] * n,
        "warc_filename": [f"crawl-data/CC-MAIN-2017-09/segments/1/warc/CC-MAIN-{i % 1000:05d}.warc.gz" for i in range(n)],
        "warc_record_offset": [(i * 7919) % 2**30 for i in range(n)], "warc_record_length": [20000] * n,
        "warc_segment": ["1"] * n,
    }
    table = pa.table(cols, schema=index_schema())
    out = folder / "crawl=CC-MAIN-2017-09" / "subset=warc"
    out.mkdir(parents=True)
    pq.write_table(table, out / "part-00000.parquet", compression="zstd", row_group_size=100_000)
    return link_urls


def bench_join(n: int, tmp: Path) -> None:
    from webtext.fetch.ccindex import lookup_captures

    t0 = time.perf_counter()
    urls = write_synthetic_index(n, tmp / "index")
    print(f"synthetic index: {n:,} rows written in {time.perf_counter() - t0:.1f} s")
    t0, c0 = time.perf_counter(), time.process_time()
    found = lookup_captures(str(tmp / "index"), urls, {}, ["CC-MAIN-2017-09"], redirect_limit=10)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"columnar join: {len(urls):,} links against {n:,} index rows -> {len(found):,} resolved in {dt:.2f} s "
          f"= {len(urls) / dt:,.0f} links/s looked up ({len(found) / dt:,.0f} resolved/s); {cpu:.1f} CPU-s "
          f"= {len(urls) / cpu:,.0f} links per CPU-s")
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.register("links", pa.table({"url": urls}))
    t0 = time.perf_counter()
    hits = con.execute(
        f"SELECT count(*) FROM read_parquet('{tmp / 'index'}/**/*.parquet', hive_partitioning = true) AS i "
        "JOIN links AS l ON i.url = l.url WHERE i.subset = 'warc' AND i.crawl = 'CC-MAIN-2017-09'"
    ).fetchone()[0]
    dt = time.perf_counter() - t0
    print(f"  the SQL join alone (DuckDB, no Python rows): {hits:,} matches in {dt:.2f} s = {len(urls) / dt:,.0f} links/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--links", type=int, default=1_000_000)
    ap.add_argument("--skip-fetch", action="store_true")
    ap.add_argument("--skip-join", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("WEBTEXT_QUIET", "1")
    print(f"machine: {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="webtext-archive-bench-") as tmp:
        tmp = Path(tmp)
        if not args.skip_fetch:
            if HAVE_PYWB:
                (tmp / "fetch").mkdir()
                bench_fetch(args.pages, tmp / "fetch")
            else:
                print("pywb's environment (.venv-pywb) is missing: run `make pywb-env` for the fetch figures")
        if not args.skip_join:
            (tmp / "join").mkdir()
            bench_join(args.links, tmp / "join")


if __name__ == "__main__":
    main()
