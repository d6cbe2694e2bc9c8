"""Fetch stage: a polite, safe Scrapy crawler that archives to WARC, logs one row per URL, resumes and replays.

Public API (the Beam pipeline and the CLI call these; nothing heavy is imported until used):

    FetchOptions                                   # settings.py
    fetch_urls(urls, out_dir, opts, submitted=None) -> list[dict]  # crawl.py: Scrapy in a child process
    read_fetch_log(out_dir) -> list[dict]          # log.py
    replay.iter_warc_responses(paths), replay.read_response(warc_path, offset)

Layout: settings.py (options -> Scrapy settings), middlewares.py (SSRF guard, Crawl-delay,
Retry-After backoff, WARC archiving), spider.py (outcome of each URL), warc.py (rolling WARC
writer, crash recovery), log.py (atomic Parquet log parts), replay.py (reading WARCs, replay
download handler), charset.py (HTML check, charset rules), crawl.py (entry points), cli.py;
web archives as sources: archive.py (Wayback / Common Crawl download handler, politeness),
cdx.py (CDX answers, the capture rule), ccindex.py (Common Crawl crawls, the columnar index).
"""

from webtext.fetch.settings import FetchOptions


def fetch_urls(urls, out_dir, opts=None, submitted=None):
    from webtext.fetch.crawl import fetch_urls as _fetch_urls

    return _fetch_urls(urls, out_dir, opts, submitted)


def read_fetch_log(out_dir, *, urls=None):
    from webtext.fetch.log import read_fetch_log as _read

    return _read(out_dir, urls=urls)


fetch_urls.__doc__ = "Fetch `urls` into out_dir (WARC + log), skipping logged URLs; see crawl.fetch_urls."
read_fetch_log.__doc__ = "The fetch log of out_dir, one row per URL; see log.read_fetch_log."

__all__ = ["FetchOptions", "fetch_urls", "read_fetch_log"]
