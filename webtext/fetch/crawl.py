"""Entry points: `fetch_urls` for callers (CLI, Beam workers), and the crawl process it starts.

Scrapy runs on Twisted's reactor, which cannot be restarted inside one process, so each crawl
runs in a child process: `python -m webtext.fetch.crawl JOB.json`. That makes `fetch_urls` safe
to call any number of times from one Python process (a Beam worker fetching batch after batch,
a test module running several crawls) and keeps Scrapy's signal handlers, logging and memory out
of the caller.

The crawl process, in order:

1. `warc.recover()`: drop what crashed crawls of this folder wrote and never committed (a torn
   tail, the record sets of URLs without a row); stop with an error naming the file when the
   folder holds archive data that no crawl here wrote or whose log part is missing;
2. reads the URLs already in the log and skips them (every logged row is a final outcome);
3. logs invalid URLs (no scheme, no host, bad port: `invalid_url`; ftp:, javascript:, mailto:,
   file:, ...: `forbidden_scheme`; an IP literal that is not public: `forbidden_address`)
   without fetching them;
4. crawls the rest with `FetchSpider`, committing log parts as it goes.

A rerun of the same call after any crash ends with exactly one row per URL (log.py explains why).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from webtext.errors import InputError, WebtextError
from webtext.fetch.settings import FetchOptions
from webtext.progress import log


def validate_url(url, allow_loopback: bool = False) -> tuple[str, str] | None:
    """(error class, detail) when `url` must not or cannot be fetched; None when it may be tried."""
    if not isinstance(url, str) or not url.strip():
        return "invalid_url", f"not a URL: {url!r}"
    if url != url.strip() or any(c in url for c in "\r\n\t"):
        return "invalid_url", "URL contains whitespace"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return "invalid_url", str(exc)
    scheme = parts.scheme.lower()
    rest = url[len(parts.scheme) + 1 :] if scheme else url
    if not scheme or "." in scheme or rest[:1].isdigit():  # "example.com/x", "localhost:8080/x"
        return "invalid_url", "no scheme (http:// or https://)"
    if scheme not in ("http", "https"):
        return "forbidden_scheme", f"scheme {scheme!r} is not fetched"
    try:
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        return "invalid_url", f"bad port: {exc}"
    if not host:
        return "invalid_url", "no host"
    from webtext.fetch.middlewares import _is_ip_literal, forbidden_reason

    if _is_ip_literal(host):
        reason = forbidden_reason(host, allow_loopback)
        if reason:
            return "forbidden_address", f"{host} is a {reason} address"
    return None


def _crawl_main(job_path: str) -> int:
    """The crawl process: runs one job file written by `start_crawl`."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out_dir = Path(job["out_dir"])
    opts = FetchOptions.from_dict(job["opts"])

    from webtext.fetch.log import FetchLog, committed_warc_sizes, logged_urls, make_row
    from webtext.fetch.warc import recover

    if opts.replay:
        from webtext.fetch.replay import ArchiveIndex

        # Built once and kept (next to the crawl's output unless the caller shares one between
        # crawls, as the build does); an unreadable archive fails here, before any row is logged.
        opts.replay_index = opts.replay_index or str(out_dir / "replay-index.sqlite")
        ArchiveIndex.cached(list(opts.replay), opts.replay_index)
    recover(out_dir, committed_warc_sizes(out_dir))
    done = logged_urls(out_dir)
    todo, invalid = [], []
    for url in dict.fromkeys(job["urls"]):
        if url in done:
            continue
        bad = validate_url(url, opts.allow_loopback)
        if bad:
            invalid.append(make_row(url, error=bad[0], error_detail=bad[1]))
        else:
            todo.append(url)
    if done:
        log("fetch", f"resuming: {len(done):,} URLs already logged, {len(todo) + len(invalid):,} to go")
    if invalid:
        flog = FetchLog(out_dir)
        for row in invalid:
            flog.add(row)
        flog.commit()
    if not todo:
        return 0

    from scrapy.crawler import CrawlerProcess

    from webtext.fetch.middlewares import cap_response_headers
    from webtext.fetch.settings import scrapy_settings

    cap_response_headers(opts.max_header_count, opts.max_header_bytes)
    from webtext.fetch.spider import FetchSpider

    process = CrawlerProcess(scrapy_settings(opts))
    process.crawl(FetchSpider, urls=todo, out_dir=str(out_dir), opts=opts.to_dict(), submitted=job.get("submitted"))
    process.start()
    return 0


def start_crawl(urls: list[str], out_dir, opts: FetchOptions | None = None, submitted: dict | None = None,
                **popen_kwargs) -> subprocess.Popen:
    """Start the crawl process for `urls` (the caller waits on it); used by `fetch_urls` and tests.
    `submitted` maps URLs to their first submission time (Unix s), which archive sources use."""
    opts = opts or FetchOptions()
    out_dir = Path(out_dir).resolve()
    jobs = out_dir / ".jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    job = jobs / f"job-{os.getpid()}-{secrets.token_hex(4)}.json"
    tmp = job.with_suffix(".tmp")
    job_data = {"out_dir": str(out_dir), "opts": opts.to_dict(), "urls": list(urls), "submitted": submitted or {}}
    tmp.write_text(json.dumps(job_data), encoding="utf-8")
    os.replace(tmp, job)
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    proc = subprocess.Popen([sys.executable, "-m", "webtext.fetch.crawl", str(job)], env=env, **popen_kwargs)
    proc.job_path = job  # type: ignore[attr-defined]
    return proc


def fetch_urls(urls: list[str], out_dir, opts: FetchOptions | None = None, submitted: dict | None = None) -> list[dict]:
    """Fetch `urls` into out_dir (WARC + log), skipping URLs already logged; return their log rows.

    Runs Scrapy in a child process, so it can be called repeatedly from one process (one batch
    per call in a Beam worker). Rows come back in the order of `urls` (duplicates once), with
    `warc_path` absolute. Raises WebtextError if the crawl process fails; rerunning resumes.
    """
    opts = opts or FetchOptions()
    urls = list(dict.fromkeys(urls))
    if opts.source != "live":
        from webtext.fetch.settings import scrapy_settings

        scrapy_settings(opts)  # a bad source, crawl name or endpoint is a ConfigError here, before any crawl
    if opts.replay:
        from webtext.fetch.replay import check_warc_files

        check_warc_files(opts.replay)  # a missing, empty or non-WARC file: input error before any crawl starts
    proc = start_crawl(urls, out_dir, opts, submitted)
    error_file = Path(proc.job_path).with_suffix(".error")
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.wait()
        raise
    finally:
        if proc.returncode is not None:
            Path(proc.job_path).unlink(missing_ok=True)
    if error_file.exists():  # the crawl process found bad input (recovery, archive): its one line
        message = error_file.read_text(encoding="utf-8").strip()
        error_file.unlink(missing_ok=True)
        raise WebtextError(message)
    if rc != 0:
        raise WebtextError(f"the fetch crawl process exited with status {rc} (see its stderr); rerun to resume")
    from webtext.fetch.log import read_fetch_log

    rows = read_fetch_log(out_dir, urls=urls)
    if len(rows) != len(urls):
        missing = sorted(set(urls) - {r["url"] for r in rows})
        raise WebtextError(f"{len(missing)} URL(s) have no fetch-log row after the crawl, e.g. {missing[0]}")
    return rows


def read_links_submitted(links: str | os.PathLike) -> dict[str, int]:
    """url -> first submission time (Unix s) from the links table's `first_created_utc`, when it has one
    (archive sources choose captures by it; without it they take the latest capture)."""
    import pyarrow.parquet as pq

    path = Path(links)
    files = [path] if path.is_file() else (sorted((path / "links").glob("*.parquet")) or sorted(path.glob("*.parquet")))
    out: dict[str, int] = {}
    for f in files:
        if "first_created_utc" in pq.read_schema(f).names:
            t = pq.read_table(f, columns=["url", "first_created_utc"])
            for url, ts in zip(t.column("url").to_pylist(), t.column("first_created_utc").to_pylist()):
                if isinstance(url, str) and ts is not None:
                    out[url] = int(ts)
    return out


def read_links_urls(links: str | os.PathLike) -> list[str]:
    """The `url` column of a links table: DIR/links/*.parquet, DIR/*.parquet, or one file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(links)
    if path.is_dir():
        files = sorted((path / "links").glob("*.parquet")) if (path / "links").is_dir() else []
        files = files or sorted(path.glob("*.parquet"))
    elif path.is_file():
        files = [path]
    else:
        raise InputError("no such links folder or file", path=str(path))
    if not files:
        raise InputError("no links Parquet files (expected links/*.parquet)", path=str(path))
    urls: list[str] = []
    for f in files:
        try:
            schema = pq.read_schema(f)
            if "url" not in schema.names:
                raise InputError("links table has no 'url' column", path=str(f))
            url_type = schema.field("url").type
            if pa.types.is_dictionary(url_type):
                url_type = url_type.value_type
            if not (pa.types.is_string(url_type) or pa.types.is_large_string(url_type) or pa.types.is_null(url_type)):
                raise InputError(f"links table's 'url' column is {url_type}, expected strings", path=str(f))
            urls.extend(u for u in pq.read_table(f, columns=["url"]).column("url").to_pylist())
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"unreadable Parquet file: {exc}", path=str(f)) from None
    return [u if u is not None else "" for u in urls]


if __name__ == "__main__":
    try:
        sys.exit(_crawl_main(sys.argv[1]))
    except WebtextError as exc:  # bad input found in the crawl process: one line, status 2
        try:  # fetch_urls raises it in the caller, as one line
            Path(sys.argv[1]).with_suffix(".error").write_text(str(exc), encoding="utf-8")
        except OSError:
            print(f"webtext fetch: error: {exc}", file=sys.stderr)
        sys.exit(2)
