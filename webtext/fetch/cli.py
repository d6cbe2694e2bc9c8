"""`webtext fetch`: fetch every URL of a links table to WARC files and a fetch log.

    webtext fetch --links build/ --out build/fetch
    webtext fetch --links build/ --out build/replayed --replay build/fetch/warc

Rerunning the same command resumes: URLs already in the log are skipped. Writes
OUT/warc/*.warc.gz, OUT/log/part-*.parquet and OUT/report.json (kept pages, and every other
outcome counted as a drop under its error class). Imports nothing heavy until the command runs.
"""

from __future__ import annotations

import argparse


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="fetch the links table's URLs with Scrapy into WARC files and a fetch log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--links", required=True, help="links table: DIR/links/*.parquet, DIR/*.parquet or one file")
    p.add_argument("--out", required=True, help="output folder (warc/, log/, report.json); reruns resume")
    p.add_argument("--replay", nargs="+", metavar="WARC", help="serve responses from these WARC files/folders, offline")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per download (default 30)")
    p.add_argument("--max-bytes", type=int, default=10 * 2**20, help="body cap, also after decompression (default 10 MiB)")
    p.add_argument("--concurrency", type=int, default=64, help="parallel requests in total (default 64)")
    p.add_argument("--per-domain", type=int, default=2, help="parallel requests per host (default 2)")
    p.add_argument("--retries", type=int, default=2, help="retries after timeouts, resets, 5xx, 429 (default 2)")
    p.add_argument(
        "--allow-loopback",
        action="store_true",
        help="TEST ONLY: allow connecting to 127.0.0.0/8 (local test servers); never use for a real crawl",
    )
    p.set_defaults(func=run_fetch)


def run_fetch(args) -> int:
    from pathlib import Path

    from webtext.fetch.crawl import fetch_urls, read_links_urls
    from webtext.fetch.settings import FetchOptions
    from webtext.progress import log
    from webtext.report import StageReport

    urls = read_links_urls(args.links)
    opts = FetchOptions(
        allow_loopback=args.allow_loopback,
        download_timeout=args.timeout,
        max_bytes=args.max_bytes,
        concurrency=args.concurrency,
        per_domain_concurrency=args.per_domain,
        retries=args.retries,
        replay=[str(p) for p in args.replay] if args.replay else None,
    )
    rows = fetch_urls(urls, args.out, opts)
    report = StageReport("fetch")
    for row in rows:
        if row["error"] is None:
            report.keep()
        else:
            report.drop(row["error"], row["url"])
    duplicates = len(urls) - len(rows)
    if duplicates:
        report.drop("duplicate_url", n=duplicates)
    report.check()
    report.write(Path(args.out) / "report.json")
    top = ", ".join(f"{k} {v:,}" for k, v in report.dropped.most_common(5))
    log("fetch", f"{report.kept:,} HTML pages kept of {report.read:,} URLs" + (f"; {top}" if top else ""))
    return 0
