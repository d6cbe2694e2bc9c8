"""The fetch spider: one request per URL, exactly one fetch-log row per URL, whatever happens.

Every URL becomes a `Request` whose callback (`parse`) and errback (`failed`) both end in
`record()`, which writes the URL's set of WARC records (every hop and attempt, gathered by
ArchiveMiddleware) and adds the URL's row to the `FetchLog`, in that order and in one step, so a
committed log part covers exactly the sets written before it (warc.py). The spider follows no links: it fetches
the list it was given. Redirects, retries, robots.txt, the size cap and the SSRF guard happen in
middlewares (settings.py, middlewares.py); the spider only judges the final outcome:

- a response: `http_<status>` for 4xx/5xx, `redirect_not_followed` for a 3xx that was not
  followed (a Location that is missing or not http(s)), `non_html` for other content types,
  `empty_body` for an empty 2xx body, else kept (`error` null) with its charset.
- a failure: `classify_failure()` maps the exception to an error class. When the failing
  request had been answered (a redirect loop, a gzip body over the cap after decompression), the
  row keeps that response's status; status is null only when the final URL never answered.

URLs the engine dropped without calling back (which should not happen) get a row
`internal_dropped` when the crawl finishes, so nothing is lost silently. When the crawl is
stopped early (Ctrl-C, shutdown), URLs without an outcome get no row and a rerun fetches them.
"""

from __future__ import annotations

import time
from pathlib import Path

import scrapy
from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotSupported,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from twisted.internet import error as txerror
from twisted.internet import task
from twisted.internet.defer import CancelledError
from twisted.internet.defer import TimeoutError as TxTimeoutError

from webtext.fetch.archive import ArchiveError, ArchiveMiss
from webtext.fetch.charset import detect_charset, is_html
from webtext.fetch.log import FetchLog, make_row
from webtext.fetch.middlewares import ForbiddenAddress, ForbiddenScheme, RobotsUnreachable, headers_too_large
from webtext.fetch.replay import NotInArchive
from webtext.fetch.settings import FetchOptions
from webtext.fetch.warc import RollingWarcWriter
from webtext.progress import Progress


# Every error class a fetch-log row can carry (`http_<status>` stands for each 4xx/5xx status);
# docs/fetch.md lists the same names (a test holds them equal).
ERROR_CLASSES = (
    "invalid_url", "forbidden_scheme", "forbidden_address", "robots_disallowed", "robots_unreachable",
    "dns_error", "connection_refused", "connection_lost", "timeout", "too_large", "headers_too_large",
    "too_many_redirects", "redirect_not_followed", "http_<status>", "non_html", "empty_body", "not_in_archive",
    "tls_error", "connect_error", "download_error", "internal_dropped", "ignored",
    "archive_miss", "archive_redirect_miss", "archive_error",  # web archive sources (archive.py)
)


def classify_failure(exc: BaseException) -> str:
    """The fetch-log error class for an exception raised while fetching a URL."""
    msg = str(exc)
    if isinstance(exc, RobotsUnreachable):
        return exc.error_class
    if headers_too_large(exc):
        return "headers_too_large"
    if isinstance(exc, ForbiddenAddress):
        return "forbidden_address"
    if isinstance(exc, (ForbiddenScheme, NotSupported, UnsupportedURLSchemeError)):
        return "forbidden_scheme"
    if isinstance(exc, NotInArchive):
        return "not_in_archive"
    if isinstance(exc, ArchiveMiss):
        return "archive_redirect_miss" if exc.redirect_hop else "archive_miss"
    if isinstance(exc, ArchiveError):
        return "archive_error"
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in msg:
            return "robots_disallowed"
        if "max redirections" in msg:
            return "too_many_redirects"
        if "DOWNLOAD_MAXSIZE" in msg or "max size" in msg:
            return "too_large"
        return "ignored"
    if isinstance(exc, (DownloadTimeoutError, TxTimeoutError, txerror.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, (DownloadCancelledError, CancelledError)):
        # Scrapy cancels a download only when the body passes DOWNLOAD_MAXSIZE (declared or
        # while streaming); timeouts raise DownloadTimeoutError and shutdown logs no row.
        return "too_large"
    if isinstance(exc, (CannotResolveHostError, txerror.DNSLookupError)):
        return "dns_error"
    if isinstance(exc, (DownloadConnectionRefusedError, txerror.ConnectionRefusedError)):
        return "connection_refused"
    if isinstance(exc, (ResponseDataLossError, txerror.ConnectionLost, txerror.ConnectionDone)):
        return "connection_lost"
    if isinstance(exc, DownloadFailedError):
        cause = exc.__cause__ or exc.__context__
        return classify_failure(cause) if cause is not None and cause is not exc else "connection_lost"
    if type(exc).__module__.startswith("OpenSSL") or "SSL" in type(exc).__name__:
        return "tls_error"
    if isinstance(exc, txerror.ConnectError):
        return "connect_error"
    if isinstance(exc, ValueError):
        return "invalid_url"
    return "download_error"


def _capture_time(meta):
    """When the last response was captured: an archive's capture, a replayed record's WARC-Date,
    now for a live response (its records are written with the row), None when nothing answered."""
    from datetime import datetime, timezone

    capture = meta.get("webtext_capture")
    if capture and capture.get("time"):
        return datetime.fromisoformat(capture["time"].replace("Z", "+00:00"))
    return datetime.now(timezone.utc) if meta.get("webtext_set") else None


class FetchSpider(scrapy.Spider):
    name = "webtext_fetch"

    def __init__(self, urls: list[str], out_dir: str, opts: dict, submitted: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.urls = list(urls)
        self.submitted = submitted or {}  # url -> first submission (Unix s): archive sources pick captures by it
        self.out_dir = Path(out_dir).resolve()
        self.opts = FetchOptions.from_dict(opts)
        self.replay = bool(self.opts.replay)
        from webtext.fetch.archive import parse_source

        self.archive = parse_source(self.opts.source).archive  # 'wayback', 'commoncrawl' or None
        # The spider owns the writers; middlewares reach them through crawler.spider.
        self.warc = None if self.replay else RollingWarcWriter(self.out_dir, self.opts.warc_max_bytes)
        self.fetch_log = FetchLog(
            self.out_dir, self.warc, commit_rows=self.opts.commit_rows, commit_seconds=self.opts.commit_seconds
        )
        self.progress = Progress("fetch", unit="urls", total=len(self.urls))
        self._ticker: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Signal receivers are weak references: bound methods of the spider live as long as it.
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.closed_cleanly, signal=signals.spider_closed)
        return spider

    async def start(self):
        for url in self.urls:
            try:
                request = scrapy.Request(
                    url, callback=self.parse, errback=self.failed, dont_filter=True,
                    meta={"webtext_url": url, "webtext_set": []},
                )
            except (ValueError, TypeError) as exc:
                self.record(make_row(url, error="invalid_url", error_detail=str(exc)))
                continue
            yield request

    # -- lifecycle ------------------------------------------------------------------------
    def opened(self, spider):
        self._ticker = task.LoopingCall(self.fetch_log.tick)
        self._ticker.start(0.5, now=False)

    def closed_cleanly(self, spider, reason):
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        if reason == "finished":
            for url in self.urls:
                if url not in self.fetch_log:
                    self.record(make_row(url, error="internal_dropped", error_detail="no callback from Scrapy"))
        self.fetch_log.commit()
        if self.warc is not None:
            self.warc.close()
        self.progress.__exit__(None, None, None)

    # -- outcomes -------------------------------------------------------------------------
    def _common(self, request, meta) -> dict:
        t0 = meta.get("webtext_t0")
        return {
            "attempts": int(meta.get("retry_times", 0)) + 1,
            "redirects": len(meta.get("redirect_urls", ())),
            "elapsed_s": round(time.monotonic() - t0, 4) if t0 else None,
            "latency_s": round(meta["download_latency"], 4) if meta.get("download_latency") is not None else None,
            # where the response came from and when it was captured (archive.py, replay.py)
            "source": (meta.get("webtext_capture") or {}).get("source")
            or (self.archive if meta.get("webtext_via_archive") else "replay" if self.replay else "live"),
            "capture_time": _capture_time(meta),
        }

    def parse(self, response):
        meta = response.meta
        url = meta["webtext_url"]
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1")
        status = response.status
        body = response.body
        error = detail = charset = source = None
        if 300 <= status < 400:
            error = "redirect_not_followed"
            detail = f"Location: {(response.headers.get('Location') or b'').decode('latin-1')!r}"
        elif status >= 400:
            error = f"http_{status}"
            detail = meta.get("webtext_gave_up")
        elif not is_html(ctype, body):
            error = "non_html"
        elif not body.strip():
            error = "empty_body"
        else:
            charset, source = detect_charset(body, ctype)
        self.record(
            make_row(
                url,
                final_url=response.url,
                status=status,
                content_type=ctype or None,
                bytes=len(body),
                error=error,
                error_detail=detail,
                charset=charset,
                charset_source=source,
                ip=str(response.ip_address) if response.ip_address else None,
                **self._common(response.request, meta),
            ),
            meta,
        )

    def failed(self, failure):
        request = failure.request
        exc = failure.value
        meta = request.meta
        url = meta["webtext_url"]
        if isinstance(exc, ArchiveMiss) and not exc.redirect_hop and self.opts.source == "archive-then-live":
            # never captured: fetch it live (a live request: robots.txt, retries; archive.py)
            return [scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True,
                                   meta={"webtext_url": url, "webtext_set": [], "webtext_live": True})]
        response = getattr(exc, "response", None)
        status = response.status if response is not None else None
        chain = meta.get("webtext_set") or []
        if status is None and chain and chain[-1].url == request.url:
            status = chain[-1].status  # the final URL answered; what came after failed (loop, bomb, ...)
        self.record(
            make_row(
                url,
                final_url=request.url,
                status=status,
                error=classify_failure(exc),
                error_detail=f"{type(exc).__name__}: {exc}"[:500],
                **self._common(request, meta),
            ),
            meta,
        )

    def record(self, row: dict, meta: dict | None = None) -> None:
        """Write the URL's set of WARC records, then add its row (see the module docstring)."""
        if row["url"] in self.fetch_log:
            return
        if meta is not None:
            replayed = meta.get("webtext_replayed_from")
            chain = meta.get("webtext_set")
            if replayed is not None:  # served from an archive: point at the record it came from
                path, offset = replayed
                try:
                    path = str(Path(path).relative_to(self.out_dir))
                except ValueError:
                    pass
                row["warc_path"], row["warc_offset"] = path, offset
            elif chain and self.warc is not None:
                locations = self.warc.write_set(chain, fetch_url=row["url"], outcome=row["error"])
                row["warc_path"], row["warc_offset"] = locations[-1]
                chain.clear()  # written once, whatever else calls back
        if self.fetch_log.add(row):
            self.progress.update(1)
