"""`webtext fetch`: fetch every URL of a links table to WARC files and a fetch log.

    webtext fetch --links build/ --out build/fetch
    webtext fetch --links build/ --out build/replayed --replay build/fetch/warc
    webtext fetch --links build/ --out build/wayback --source wayback
    webtext fetch --links build/ --out build/cc --source commoncrawl:CC-MAIN-2017-47,CC-MAIN-2017-51

Rerunning the same command resumes: URLs already in the log are skipped; what a killed run
archived but never logged is dropped first, and nothing else in OUT is ever deleted (a WARC
this folder's crawls did not write, or one whose log part is missing, stops the run with an
error naming it). robots.txt is obeyed as RFC 9309 says: a host whose robots.txt cannot be had
(5xx, timeout, refused redirect, ...) is not crawled (`robots_unreachable`). Writes
OUT/warc/*.warc.gz, OUT/log/part-*.parquet and OUT/report.json (kept pages, and every other
outcome counted as a drop under its error class). Imports nothing heavy until the command runs.

Sources (--source): live (default) crawls the web as it is today; wayback fetches, for each link,
the Wayback Machine capture closest to the link's first submission (the links table's
first_created_utc), before it within --archive-window-days first; commoncrawl[:CRAWL,...] does
the same from the Common Crawl crawls that bracket the submission (range requests on its WARC
files; --cc-index-table joins the columnar index instead of one index query per URL);
archive-then-live fetches live what the Wayback Machine never captured. docs/fetch.md compares them.
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
    arc = p.add_argument_group("web archives")
    arc.add_argument("--source", default="live", metavar="SOURCE",
                     help="live (default), wayback, commoncrawl[:CRAWL,...] or archive-then-live")
    arc.add_argument("--archive-endpoint", metavar="URL",
                     help="Wayback: a pywb collection URL (http://host/COLL) or https://web.archive.org/web (default); "
                          "Common Crawl: the index server (default https://index.commoncrawl.org; '{crawl}' in the URL is replaced)")
    arc.add_argument("--archive-data-endpoint", metavar="URL",
                     help="Common Crawl's data host for range requests (default https://data.commoncrawl.org)")
    arc.add_argument("--cc-index-table", metavar="PARQUET",
                     help="Common Crawl's columnar index (folder, glob or s3:// path): one DuckDB join instead of index queries")
    arc.add_argument("--archive-window-days", type=float, default=30.0,
                     help="captures up to this many days before the submission come first (default 30)")
    arc.add_argument("--archive-rate", type=float, default=None, metavar="REQ/S",
                     help="requests per second to the archive's index/playback host (default: the archive's guidance)")
    arc.add_argument("--archive-data-rate", type=float, default=None, metavar="REQ/S",
                     help="requests per second to Common Crawl's data host (default 10)")
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

    from webtext.fetch.crawl import fetch_urls, read_links_urls, read_links_submitted
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
        source=args.source,
        archive_endpoint=args.archive_endpoint,
        archive_data_endpoint=args.archive_data_endpoint,
        cc_index_table=args.cc_index_table,
        archive_window_days=args.archive_window_days,
        archive_rate=args.archive_rate,
        archive_data_rate=args.archive_data_rate,
    )
    if opts.replay and opts.source != "live":
        from webtext.errors import ConfigError

        raise ConfigError("--replay serves an archive of this project's own; it cannot be combined with --source")
    submitted = read_links_submitted(args.links) if opts.source != "live" else None
    rows = fetch_urls(urls, args.out, opts, submitted)
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
