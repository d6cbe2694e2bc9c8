"""Fetch options and the Scrapy settings built from them: every knob of the crawler in one place.

`FetchOptions` is the one object a caller (CLI, Beam worker, test) fills in; `scrapy_settings()`
turns it into the Scrapy settings dict used by the crawl subprocess. Options are plain JSON-able
values because they cross a process boundary (`crawl.py` runs Scrapy in a child process).

What the settings decide, and why:

- Politeness: robots.txt obeyed as RFC 9309 says (`middlewares.RobotsMiddleware`: Protego parser,
  unreachable robots.txt = nothing fetched on that host, Crawl-delay honoured by
  `middlewares.CrawlDelayMiddleware`), `per_domain_concurrency` parallel requests per host,
  AutoThrottle adapting the per-host delay to the server's latency, a descriptive user agent.
- Limits: `download_timeout` (whole download, so a slow drip is cut too), `max_bytes` (applies to
  the bytes on the wire *and* to the decompressed body: a gzip bomb stops at the cap),
  `max_header_count` / `max_header_bytes` (a header bomb stops there, middlewares.py),
  `redirect_limit`, `retries` with exponential backoff that honours `Retry-After`.
- Safety: http and https are the only download handlers (file://, ftp://, s3://, data: are
  removed, so a redirect can never read a local file); the DNS resolver is
  `middlewares.GuardedResolver`, which hands the connector only public addresses; proxies from
  the environment are ignored (a proxy would hide the address actually connected to); cookies off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from webtext import __version__

DEFAULT_USER_AGENT = (
    f"webtext/{__version__} (research corpus rebuild of WebText; obeys robots.txt; "
    "+https://github.com/webtext/webtext)"
)


@dataclass
class FetchOptions:
    """How to fetch. Defaults are polite settings for a real crawl; tests shorten the timeouts."""

    allow_loopback: bool = False  # TEST ONLY: also allow 127.0.0.0/8 (servers the tests start)
    download_timeout: float = 30.0  # seconds for a whole download (connect + headers + body)
    max_bytes: int = 10 * 2**20  # cap on a body, on the wire and after decompression
    per_domain_concurrency: int = 2
    concurrency: int = 64  # total parallel requests
    retries: int = 2  # extra attempts after a timeout, a reset, a 5xx, 408 or 429
    retry_backoff: float = 2.0  # seconds before the first retry; doubles each time
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: the URL fails
    redirect_limit: int = 10
    max_header_count: int = 256  # response header fields; more is a header bomb (headers_too_large)
    max_header_bytes: int = 64 * 2**10  # bytes of a response's header section, likewise
    user_agent: str = DEFAULT_USER_AGENT
    obey_robots: bool = True
    max_crawl_delay: float = 60.0  # a robots.txt Crawl-delay above this is clamped to it
    autothrottle: bool = True
    autothrottle_start_delay: float = 1.0
    download_delay: float = 0.0  # minimum delay between requests to one host
    replay: list[str] | None = None  # WARC files to serve responses from instead of the network
    replay_index: str | None = None  # replay's URL index (SQLite, replay.ArchiveIndex); None: OUT/replay-index.sqlite
    # Web archives (archive.py): "live", "wayback", "commoncrawl[:CRAWL,...]" or "archive-then-live".
    source: str = "live"
    archive_endpoint: str | None = None  # pywb collection / Wayback URL, or the Common Crawl index server
    archive_data_endpoint: str | None = None  # Common Crawl's data host (range requests on its WARC files)
    cc_index_table: str | None = None  # Common Crawl's columnar index (Parquet), joined instead of index queries
    archive_window_days: float = 30.0  # cdx.py: captures before the submission within this window come first
    archive_rate: float | None = None  # requests/s to the index / playback host (None: the archive's guidance)
    archive_data_rate: float | None = None  # requests/s to Common Crawl's data host
    archive_data_concurrency: int | None = None  # requests at a time to the data host
    warc_max_bytes: int = 2**30  # a WARC file is closed and a new one opened past this size
    commit_rows: int = 200  # log rows per committed Parquet part ...
    commit_seconds: float = 5.0  # ... or fewer, when this many seconds have passed
    log_level: str = "WARNING"  # Scrapy's own log level (stderr of the crawl process)
    extra_settings: dict = field(default_factory=dict)  # raw Scrapy settings, applied last

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FetchOptions":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# Priorities of our downloader middlewares. process_request runs in increasing order and
# process_response / process_exception in decreasing order, so the archive (960) sees each raw
# response first, before decompression (590), retries (550) and redirects (600) act on it, and
# the guard (970) sees it even earlier, refusing a forbidden peer before anything is stored.
MW = "webtext.fetch.middlewares"
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    f"{MW}.RobotsMiddleware": 100,
    f"{MW}.CrawlDelayMiddleware": 110,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    f"{MW}.BackoffRetryMiddleware": 550,
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    f"{MW}.ArchiveMiddleware": 960,
    f"{MW}.GuardMiddleware": 970,
}


def scrapy_settings(opts: FetchOptions) -> dict:
    """The Scrapy settings for one crawl with `opts`."""
    replay = bool(opts.replay)
    settings = {
        "BOT_NAME": "webtext",
        "USER_AGENT": opts.user_agent,
        "ROBOTSTXT_OBEY": opts.obey_robots and not replay,  # the archive already obeyed it
        "ROBOTSTXT_PARSER": "scrapy.robotstxt.ProtegoRobotParser",
        "CONCURRENT_REQUESTS": opts.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": opts.per_domain_concurrency,
        "DOWNLOAD_DELAY": opts.download_delay,
        "AUTOTHROTTLE_ENABLED": opts.autothrottle and not replay,
        "AUTOTHROTTLE_START_DELAY": opts.autothrottle_start_delay,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(opts.per_domain_concurrency),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "DOWNLOAD_TIMEOUT": opts.download_timeout,
        "DNS_TIMEOUT": min(opts.download_timeout, 30.0),
        "DOWNLOAD_MAXSIZE": opts.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": opts.redirect_limit,
        "METAREFRESH_ENABLED": False,  # the page a link shows is the page the server sends
        "RETRY_ENABLED": opts.retries > 0,
        "RETRY_TIMES": opts.retries,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "RETRY_GIVE_UP_LOG_LEVEL": "INFO",
        "WEBTEXT_RETRY_BACKOFF": opts.retry_backoff,
        "WEBTEXT_MAX_RETRY_AFTER": opts.max_retry_after,
        "WEBTEXT_MAX_CRAWL_DELAY": opts.max_crawl_delay,
        "WEBTEXT_ALLOW_LOOPBACK": opts.allow_loopback,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy 2.19's RemoteControl extension (on by default) runs an HTTP server in the crawl
        # process that executes Python code sent to it and writes a job file under $HOME.
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": opts.log_level,
        "HTTPERROR_ALLOW_ALL": True,  # the spider sees 4xx/5xx responses and logs their status
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",  # every URL gets its own fetch
        "DOWNLOADER_MIDDLEWARES": dict(DOWNLOADER_MIDDLEWARES),
        "DOWNLOAD_HANDLERS": {"file": None, "ftp": None, "s3": None, "data": None},
        "TWISTED_DNS_RESOLVER": f"{MW}.GuardedResolver",
        # Scrapy 2.19's downloader lets every queued request of a host out at once under the
        # asyncio reactor; this one enforces CONCURRENT_REQUESTS_PER_DOMAIN (see downloader.py).
        "DOWNLOADER": "webtext.fetch.downloader.SlotBoundDownloader",
        "DNSCACHE_ENABLED": False,  # GuardedResolver keeps its own small cache of vetted answers
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "MEMUSAGE_ENABLED": False,
    }
    if replay:
        handler = "webtext.fetch.replay.ReplayDownloadHandler"
        settings["DOWNLOAD_HANDLERS"].update({"http": handler, "https": handler})
        settings["WEBTEXT_REPLAY"] = list(opts.replay or [])
        settings["WEBTEXT_REPLAY_INDEX"] = opts.replay_index
        settings["RETRY_ENABLED"] = False  # an archive answers the same way every time
    if opts.source != "live":
        from webtext.fetch.archive import apply_archive_settings

        apply_archive_settings(opts, settings)
    settings.update(opts.extra_settings)
    return settings
