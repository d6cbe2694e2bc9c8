"""Web archives as fetch sources: each link as it was when it was posted (Wayback Machine, Common Crawl).

`FetchOptions(source=...)` (`webtext fetch --source ...`) picks where pages come from:

| source | what it fetches |
|---|---|
| `live` (default) | the web today (Scrapy; settings.py, middlewares.py) |
| `wayback` | the Wayback Machine (or any pywb / CDX-compatible archive at `archive_endpoint`): a CDX query per URL, then the chosen capture's original bytes (`/<timestamp>id_/<url>`, no rewriting) |
| `commoncrawl[:CRAWL,...]` | Common Crawl: the crawls that bracket the submission (from the named crawls, else from the index server's `collinfo.json`); a CDX query per crawl on the index server, or one bulk join of the links against the columnar index (`cc_index_table`, ccindex.py); then an HTTP range request for the WARC record on the data host |
| `archive-then-live` | the Wayback Machine; a URL it never captured is fetched live (robots.txt obeyed for those) |

The capture chosen for each link is the rule of cdx.py (200 closest to the first submission, before
it within the window first). Everything else is the live crawl's machinery, unchanged: the spider
asks for the link's URL and `ArchiveDownloadHandler`, in the place of Scrapy's HTTP handler, answers
with the archived response *for that URL* (its own status, headers and bytes). So an archived 3xx
is followed by Scrapy's redirect middleware to a new request for its target, which the handler
answers from the archive again (through the same redirect limit); decompression, the size cap,
the HTML checks and the fetch log work exactly as online.

Outcomes: a capture with an HTTP 200 HTML page is kept; an archived 404 is `http_404` (and so on);
a URL with no capture is `archive_miss`; a redirect target with no capture is
`archive_redirect_miss`; an archive that fails (errors after retries, a refused Retry-After, a
capture it lists but cannot play back) is `archive_error`. Each row has `source` and
`capture_time`.

WARC: each archived response is written as a `response` record for the original URL (the link's
URL, or the redirect target for later hops) holding the page's own status, headers and bytes,
with `WARC-Date` = the capture time, in the URL's set like a live fetch (warc.py), and extension
fields on that record naming the capture (WARC 1.1 allows other named fields; `warcio check` and
pywb accept them, tests/fetch/test_archive_sources.py checks both): `WebText-Archive-Source`
(`wayback`, `commoncrawl`), `WebText-Capture-URI` (the playback URL, or the WARC file on the data
host with `#bytes=FIRST-LAST`), `WebText-Submitted` (the submission time the capture was chosen
for) and, for Common Crawl, `WebText-Capture-Filename`, `-Offset`, `-Length`. Why not
`WARC-Refers-To-Target-URI` or a `metadata` record: the former belongs to revisit records, and a
separate record would be a second thing to keep in step with the row under kill -9; the fields
travel in the very record the log row points at. No request record: this crawl never sent the
request the archive recorded. Replay (`--replay`) serves these records like any other.

Politeness towards the archives (`HostGate`, one per archive host): requests start at most
`rate` per second and at most `concurrency` at a time. Defaults follow the archives' own guidance:
the Wayback Machine's CDX API allows 60 requests/minute per IP averaged over 5 minutes (Internet
Archive staff, via the `wayback` Python client's maintainers): 0.8 requests/s, one at a time, for
CDX queries and playback together; Common Crawl's index server is one machine: 1 request/s, one at
a time; its data host (CloudFront + S3, "a few thousand requests per second for everyone", asks to
slow down on any 4xx/5xx): 10 range requests/s, 8 at a time - the only host with concurrency.
A 429 or 503 from an archive pauses that host for its `Retry-After` (or an exponential backoff),
then the request is retried (`retries` times); a Retry-After longer than `max_retry_after` is not
waited for (`archive_error`). In `webtext build`, the rate is divided among the fetch buckets, so
the whole build, not each crawler, keeps to it.

Safety: every archive request goes through the same SSRF guard as a live fetch (the reactor's
`GuardedResolver` hands the connector only public addresses, and the peer address of each archive
response is checked again), so an endpoint that resolves to a private address is refused
(`forbidden_address`); tests reach pywb on 127.0.0.1 only with the test-only `allow_loopback`.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urlsplit

from webtext.errors import ConfigError

ARCHIVE_SOURCES = ("wayback", "commoncrawl")
SOURCES = ("live", *ARCHIVE_SOURCES, "archive-then-live")
WAYBACK_ENDPOINT = "https://web.archive.org/web"
CC_INDEX_ENDPOINT = "https://index.commoncrawl.org"
CC_DATA_ENDPOINT = "https://data.commoncrawl.org"

# (requests per second, requests at a time) per archive host; see the module docstring.
WAYBACK_POLICY = (0.8, 1)
CC_INDEX_POLICY = (1.0, 1)
CC_DATA_POLICY = (10.0, 8)

# Headers an archive adds to a played-back response; they are not the page's own.
_ARCHIVE_HEADERS = {"memento-datetime", "content-location", "link", "x-archive-src", "x-archive-guessed-content-type",
                    "x-archive-guessed-charset", "x-archive-playback", "x-app-server", "server-timing", "x-ts", "x-tr",
                    "x-location", "x-page-cache", "x-cache-key", "x-nid", "x-rl", "x-na", "x-archive-screenname"}


class ArchiveMiss(Exception):
    """The archive holds no capture of the URL (`archive_miss`, or `archive_redirect_miss` for a redirect hop)."""

    def __init__(self, message: str, redirect_hop: bool = False):
        super().__init__(message)
        self.redirect_hop = redirect_hop


class ArchiveError(Exception):
    """The archive failed to answer usefully (`archive_error`)."""


# ---------------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Source:
    kind: str  # one of SOURCES
    crawls: tuple[str, ...] = ()  # commoncrawl: the crawls named after the colon

    @property
    def archive(self) -> str | None:
        """The archive queried: 'wayback', 'commoncrawl', or None for a live crawl."""
        if self.kind == "archive-then-live":
            return "wayback"
        return self.kind if self.kind in ARCHIVE_SOURCES else None

    def __str__(self) -> str:
        return self.kind + (":" + ",".join(self.crawls) if self.crawls else "")


def parse_source(text: str | None) -> Source:
    """`live`, `wayback`, `commoncrawl`, `commoncrawl:CC-MAIN-2017-47,CC-MAIN-2017-51`, `archive-then-live`."""
    text = (text or "live").strip()
    kind, _, rest = text.partition(":")
    if kind not in SOURCES:
        raise ConfigError(f"unknown fetch source {text!r}: use one of live, wayback, commoncrawl[:CRAWL,...], archive-then-live")
    crawls = tuple(c.strip() for c in rest.split(",") if c.strip())
    if crawls and kind != "commoncrawl":
        raise ConfigError(f"only commoncrawl takes a list of crawls, not {kind!r}")
    from webtext.fetch.ccindex import crawl_date

    for c in crawls:
        crawl_date(c)  # a ConfigError for a malformed crawl name
    return Source(kind, crawls)


def check_endpoint(url: str | None, what: str) -> None:
    if url is None:
        return
    parts = urlsplit(url.replace("{crawl}", "x"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http(s) URL, not {url!r}")


def wayback_cdx_url(endpoint: str, url: str) -> str:
    """The CDX query for `url`: the Wayback Machine (`https://web.archive.org/web`) answers at
    `/cdx/search/cdx`; any other endpoint is a pywb collection (`http://host/COLL`): `COLL/cdx`."""
    base = endpoint.rstrip("/")
    if (urlsplit(base).hostname or "").endswith("archive.org") and base.endswith("/web"):
        cdx = base[: -len("/web")] + "/cdx/search/cdx"
    else:
        cdx = base + "/cdx"
    return cdx + "?" + urlencode({"url": url, "output": "json"})


def playback_prefix(endpoint: str) -> str:
    return endpoint.rstrip("/") + "/"


def wayback_playback_url(endpoint: str, timestamp: str, url: str) -> str:
    """The capture's original bytes, unrewritten (`id_`)."""
    return f"{playback_prefix(endpoint)}{timestamp}id_/{url}"


def cc_index_url(endpoint: str, crawl: str, url: str) -> str:
    """The CDX query for `url` in one crawl: `ENDPOINT/{crawl}-index` (Common Crawl's server), or a
    template with `{crawl}` (e.g. a pywb with one collection per crawl: `http://host/{crawl}/cdx`)."""
    base = endpoint.rstrip("/")
    api = base.replace("{crawl}", crawl) if "{crawl}" in base else f"{base}/{crawl}-index"
    return api + "?" + urlencode({"url": url, "output": "json"})


def cc_collinfo_url(endpoint: str) -> str:
    root = endpoint.split("{crawl}")[0].rstrip("/") if "{crawl}" in endpoint else endpoint.rstrip("/")
    return root + "/collinfo.json"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def original_url_from_location(location: str, prefix: str) -> str:
    """A Location an archive rewrote to its playback URL (`PREFIX/<ts>id_/<url>`) back to the original target."""
    if location.startswith(prefix):
        rest = location[len(prefix) :]
        head, sep, target = rest.partition("/")
        if sep and head[:14].isdigit():
            return target
    return location


def archived_headers(headers, prefix: str) -> list[tuple[str, str]]:
    """The page's own headers from a played-back response: the archive's additions removed,
    `X-Archive-Orig-<name>` restored to `<name>` (the Wayback Machine's spelling of original headers)."""
    own, orig = [], []
    for name, values in headers.items():
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        low = key.lower()
        for v in values:
            value = v.decode("latin-1") if isinstance(v, bytes) else v
            if low.startswith("x-archive-orig-"):
                orig.append((key[len("x-archive-orig-") :], value))
            elif low == "location":
                own.append((key, original_url_from_location(value, prefix)))
            elif low not in _ARCHIVE_HEADERS:
                own.append((key, value))
    if orig:  # the archive sent the original headers under their own names: those are the page's
        names = {k.lower() for k, _ in orig}
        own = [(k, v) for k, v in own if k.lower() not in names and k.lower() in ("content-type", "content-encoding", "location")]
        own += [(k, v) for k, v in orig if k.lower() not in ("content-length", "transfer-encoding")]
    return own


# ---------------------------------------------------------------------------------- politeness


class HostGate:
    """At most `rate` request starts per second and `concurrency` requests at a time, to one host.

    Runs on the crawl's reactor thread (no locks needed). `pause(s)` holds every later start for
    `s` seconds (a Retry-After)."""

    def __init__(self, rate: float, concurrency: int):
        from twisted.internet.defer import DeferredSemaphore

        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.next_start = 0.0
        self.sem = DeferredSemaphore(max(1, int(concurrency)))
        self.requests = 0

    async def acquire(self) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future

        from webtext.fetch.middlewares import _sleep

        await maybe_deferred_to_future(self.sem.acquire())
        while True:  # a pause() may arrive while we sleep: check again
            now = time.monotonic()
            if self.next_start <= now:
                break
            await _sleep(self.next_start - now)
        self.next_start = time.monotonic() + self.interval
        self.requests += 1

    def release(self) -> None:
        self.sem.release()

    def pause(self, seconds: float) -> None:
        self.next_start = max(self.next_start, time.monotonic() + seconds)


def _host_key(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}:{p.port or (443 if p.scheme == 'https' else 80)}"


class ArchiveClient:
    """GETs from archive hosts through Scrapy's own HTTP handler: guarded, gated, retried."""

    BACKPRESSURE = (429, 503)

    def __init__(self, crawler, http_handler, opts, policies: dict[str, tuple[float, int]], default: tuple[float, int]):
        self.crawler, self.http, self.opts = crawler, http_handler, opts
        self.policies, self.default = policies, default
        self.gates: dict[str, HostGate] = {}

    def gate(self, url: str) -> HostGate:
        key = _host_key(url)
        if key not in self.gates:
            self.gates[key] = HostGate(*self.policies.get(key, self.default))
        return self.gates[key]

    async def get(self, url: str, headers: dict | None = None, *, played_back: bool = False):
        """The archive's response to GET `url`; archive trouble raises ArchiveError, a refused
        address ForbiddenAddress. With `played_back`, a 429/503 that carries `Memento-Datetime` is
        an archived page's own status, returned as it is."""
        from scrapy import Request
        from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
        from twisted.internet.error import DNSLookupError

        from webtext.fetch.middlewares import REFUSED, ForbiddenAddress, _sleep, forbidden_reason, parse_retry_after

        opts = self.opts
        gate = self.gate(url)
        hdrs = {"User-Agent": opts.user_agent, **(headers or {})}
        last = "no attempt"
        for attempt in range(opts.retries + 1):
            backoff = min(opts.retry_backoff * 2**attempt, 60.0)
            await gate.acquire()
            try:
                request = Request(url, headers=hdrs, meta={"download_timeout": opts.download_timeout,
                                                            "download_maxsize": opts.max_bytes + 2**16})
                response = await self.http.download_request(request)
            except (CannotResolveHostError, DNSLookupError) as exc:
                host = urlsplit(url).hostname or ""
                if host in REFUSED:
                    address, reason = REFUSED[host]
                    raise ForbiddenAddress(f"archive host {host} resolves to {address}, a {reason} address") from None
                raise ArchiveError(f"archive host {host} does not resolve: {exc}") from None
            except IgnoreRequest:
                raise
            except Exception as exc:  # noqa: BLE001 - timeouts, resets, refused connections: retried
                name = type(exc).__name__
                if "Cancelled" in name or "max size" in str(exc):
                    raise  # the body cap: the spider logs too_large
                last = f"{name}: {exc}"[:300]
                gate.pause(backoff)
                continue
            finally:
                gate.release()
            if response.ip_address is not None:
                reason = forbidden_reason(str(response.ip_address), opts.allow_loopback)
                if reason:
                    raise ForbiddenAddress(f"archive at {response.ip_address}, a {reason} address")
            archived = played_back and b"Memento-Datetime" in response.headers
            if response.status in self.BACKPRESSURE and not archived:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > opts.max_retry_after:
                    raise ArchiveError(f"{url}: {response.status} with Retry-After {wait:.0f} s (over {opts.max_retry_after:.0f} s)")
                gate.pause(backoff if wait is None else wait)
                last = f"HTTP {response.status}"
                continue
            if response.status >= 500 and not archived:
                gate.pause(backoff)
                last = f"HTTP {response.status}"
                continue
            return response
        raise ArchiveError(f"{url}: gave up after {opts.retries + 1} attempt(s): {last}")


# ---------------------------------------------------------------------------------- the handler


def _response_for(request, status: int, headers: list[tuple[str, str]], body: bytes):
    from scrapy.http import Headers
    from scrapy.responsetypes import responsetypes

    h = Headers()
    for name, value in headers:
        if name.lower() not in ("content-length", "transfer-encoding"):
            h.appendlist(name, value)
    h["Content-Length"] = str(len(body))
    cls = responsetypes.from_args(headers=h, url=request.url, body=body)
    return cls(url=request.url, status=status, headers=h, body=body, request=request, ip_address=None, protocol="HTTP/1.1")


class ArchiveDownloadHandler:
    """Scrapy download handler for http/https when the source is an archive (module docstring).

    Requests marked `webtext_via_archive` (by `ArchiveRoutingMiddleware`) are answered from the
    archive; any other request (robots.txt and the live fallback of `archive-then-live`) goes to
    Scrapy's HTTP handler, as in a live crawl."""

    lazy = False

    def __init__(self, crawler):
        from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

        from webtext.fetch.settings import FetchOptions

        self.crawler = crawler
        self.opts = FetchOptions.from_dict(crawler.settings.getdict("WEBTEXT_FETCH_OPTIONS"))
        self.source = parse_source(self.opts.source)
        self.http = HTTP11DownloadHandler(crawler)
        opts = self.opts
        if self.source.archive == "wayback":
            self.endpoint = opts.archive_endpoint or WAYBACK_ENDPOINT
            policy = (opts.archive_rate or WAYBACK_POLICY[0], WAYBACK_POLICY[1])
            self.client = ArchiveClient(crawler, self.http, opts, {}, policy)
        else:
            self.endpoint = opts.archive_endpoint or CC_INDEX_ENDPOINT
            self.data = (opts.archive_data_endpoint or CC_DATA_ENDPOINT).rstrip("/")
            data_policy = (opts.archive_data_rate or CC_DATA_POLICY[0], opts.archive_data_concurrency or CC_DATA_POLICY[1])
            index_policy = (opts.archive_rate or CC_INDEX_POLICY[0], CC_INDEX_POLICY[1])
            self.client = ArchiveClient(crawler, self.http, opts, {_host_key(self.data): data_policy}, index_policy)
            self._crawls: list[str] | None = list(self.source.crawls) or None
            self._table: dict | None = None  # columnar index lookups, made on first use

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def close(self) -> None:
        await self.http.close()

    async def download_request(self, request):
        if not request.meta.get("webtext_via_archive"):
            return await self.http.download_request(request)
        submitted = request.meta.get("webtext_submitted")
        submitted = float(submitted) if submitted is not None else time.time()
        hop = bool(request.meta.get("redirect_urls"))
        if self.source.archive == "wayback":
            return await self._wayback(request, submitted, hop)
        return await self._commoncrawl(request, submitted, hop)

    def _miss(self, request, hop: bool, where: str):
        what = "redirect target" if hop else "URL"
        return ArchiveMiss(f"{where} holds no capture of the {what} {request.url}", redirect_hop=hop)

    def _capture_meta(self, request, source: str, capture_time: float, via: str, submitted: float, extra=()) -> None:
        fields = {"WebText-Archive-Source": source, "WebText-Capture-URI": via, "WebText-Submitted": _iso(submitted),
                  **dict(extra)}
        request.meta["webtext_capture"] = {"source": source, "time": _iso(capture_time), "via": via, "fields": fields}

    # -- Wayback Machine / pywb ------------------------------------------------------------
    async def _wayback(self, request, submitted: float, hop: bool):
        from webtext.fetch.cdx import parse_cdx, rank_captures

        cdx_url = wayback_cdx_url(self.endpoint, request.url)
        answer = await self.client.get(cdx_url)
        if answer.status == 404 and not answer.body.strip().startswith((b"[", b"{")):
            raise ArchiveError(f"no CDX API at {cdx_url.split('?')[0]} (HTTP 404): check the archive endpoint")
        if answer.status != 200:
            raise ArchiveError(f"CDX query answered HTTP {answer.status}: {cdx_url}")
        try:
            ranked = [c for c in rank_captures(parse_cdx(answer.body), submitted, self.opts.archive_window_days, request.url)
                      if c.status is not None]
        except ValueError as exc:
            raise ArchiveError(f"{cdx_url}: {exc}") from None
        if not ranked:
            raise self._miss(request, hop, self.endpoint)
        cap = ranked[0]
        url = wayback_playback_url(self.endpoint, cap.timestamp, cap.url)
        resp = await self.client.get(url, played_back=True)
        memento = resp.headers.get("Memento-Datetime")
        if memento is None:
            raise ArchiveError(f"the archive lists {cap} but does not play it back (HTTP {resp.status}): {url}")
        try:
            capture_time = parsedate_to_datetime(memento.decode("latin-1")).timestamp()
        except (TypeError, ValueError):
            capture_time = cap.time
        self._capture_meta(request, "wayback", capture_time, url, submitted)
        headers = archived_headers(resp.headers, playback_prefix(self.endpoint))
        return _response_for(request, resp.status, headers, resp.body)

    # -- Common Crawl -----------------------------------------------------------------------
    async def _crawl_list(self) -> list[str]:
        if self._crawls is None:
            import json

            url = cc_collinfo_url(self.endpoint)
            resp = await self.client.get(url)
            try:
                self._crawls = [c["id"] for c in json.loads(resp.body) if str(c.get("id", "")).startswith("CC-MAIN-")]
            except (ValueError, TypeError, KeyError):
                raise ArchiveError(f"cannot read the list of crawls at {url} (HTTP {resp.status}); name them: commoncrawl:CRAWL,...") from None
        return self._crawls

    def _columnar(self):
        if self._table is None:
            from webtext.fetch.ccindex import lookup_captures

            spider = self.crawler.spider
            self._table = lookup_captures(
                self.opts.cc_index_table, spider.urls, getattr(spider, "submitted", {}) or {},
                self._crawls or [], self.opts.redirect_limit,
            )
        return self._table

    async def _commoncrawl(self, request, submitted: float, hop: bool):
        from webtext.fetch.ccindex import bracketing_crawls
        from webtext.fetch.cdx import parse_cdx, rank_captures

        crawls = bracketing_crawls(await self._crawl_list() if not self.opts.cc_index_table else (self._crawls or []),
                                   submitted)
        captures = []
        if self.opts.cc_index_table:
            captures = [c for crawl, c in self._columnar().get(request.url, []) if crawl in crawls or not crawls]
        else:
            for crawl in crawls:
                url = cc_index_url(self.endpoint, crawl, request.url)
                answer = await self.client.get(url)
                if answer.status == 404:  # Common Crawl's server: {"message": "No Captures found ..."}
                    continue
                if answer.status != 200:
                    raise ArchiveError(f"index query answered HTTP {answer.status}: {url}")
                captures += parse_cdx(answer.body)
        ranked = [c for c in rank_captures(captures, submitted, self.opts.archive_window_days, request.url)
                  if c.status is not None and c.filename and c.offset is not None and c.length]
        if not ranked:
            raise self._miss(request, hop, "Common Crawl (" + (", ".join(crawls) or "no crawl") + ")")
        cap = ranked[0]
        return await self._range_record(request, cap, submitted)

    async def _range_record(self, request, cap, submitted: float):
        from warcio.archiveiterator import ArchiveIterator

        url = f"{self.data}/{cap.filename.lstrip('/')}"
        first, last = cap.offset, cap.offset + cap.length - 1
        resp = await self.client.get(url, {"Range": f"bytes={first}-{last}"})
        if resp.status == 206:
            blob = resp.body
        elif resp.status == 200 and len(resp.body) > last:  # a server that ignores Range: cut it here
            blob = resp.body[first : last + 1]
        else:
            raise ArchiveError(f"range request for {cap} answered HTTP {resp.status}: {url}")
        try:
            record = next(iter(ArchiveIterator(io.BytesIO(blob))))
            if record.rec_type != "response" or record.http_headers is None:
                raise ValueError(f"a {record.rec_type} record, not a response")
            status = int(record.http_headers.get_statuscode())
            headers = list(record.http_headers.headers)
            body = record.raw_stream.read()  # the payload as archived (any Content-Encoding kept)
            warc_date = record.rec_headers.get_header("WARC-Date")
        except Exception as exc:  # noqa: BLE001 - warcio raises several kinds on bad bytes
            raise ArchiveError(f"bytes {first}-{last} of {url} are not a WARC response record: {exc}") from None
        try:
            capture_time = datetime.fromisoformat(warc_date.replace("Z", "+00:00")).timestamp()
        except (AttributeError, ValueError):
            capture_time = cap.time
        via = f"{url}#bytes={first}-{last}"
        self._capture_meta(request, "commoncrawl", capture_time, via, submitted, extra=[
            ("WebText-Capture-Filename", cap.filename), ("WebText-Capture-Offset", str(cap.offset)),
            ("WebText-Capture-Length", str(cap.length)),
        ])
        return _response_for(request, status, headers, body)


def share_rates(opts: dict, n: int) -> dict:
    """Divide the archive hosts' request rates (FetchOptions fields, in place) among `n` crawlers
    that run at once (the build's fetch buckets), so that together they keep to the archive's limit."""
    source = parse_source(opts.get("source"))
    if source.archive is None or n <= 1:
        return opts
    index = WAYBACK_POLICY[0] if source.archive == "wayback" else CC_INDEX_POLICY[0]
    opts["archive_rate"] = (opts.get("archive_rate") or index) / n
    if source.archive == "commoncrawl":
        opts["archive_data_rate"] = (opts.get("archive_data_rate") or CC_DATA_POLICY[0]) / n
    return opts


def capture_exchange(exchange, capture: dict):
    """The WARC exchange of an archived response (middlewares.ArchiveMiddleware): dated at the
    capture, the capture named in extension fields, no request record, no IP (not connected to)."""
    from dataclasses import replace

    when = datetime.fromisoformat(capture["time"].replace("Z", "+00:00"))
    return replace(exchange, date=when, warc_headers=dict(capture["fields"]), with_request=False, ip_address=None)


# ---------------------------------------------------------------------------------- routing


class ArchiveRoutingMiddleware:
    """Marks the spider's requests (and their redirects) as archive requests; see the handler.

    Archive requests skip robots.txt (the archive's crawler obeyed it when it captured the page)
    and Scrapy's retries (the archive client retries the archive itself; an archived 503 is the
    page's own status and would come back the same). `archive-then-live` fallbacks (meta
    `webtext_live`) are live requests, with robots.txt and retries."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        meta = request.meta
        meta.pop("webtext_capture", None)  # a new hop: forget the previous hop's capture
        if "webtext_url" not in meta or meta.get("webtext_live"):
            return None
        meta["webtext_via_archive"] = True
        meta["dont_obey_robotstxt"] = True
        meta["dont_retry"] = True
        if "webtext_submitted" not in meta:
            submitted = getattr(self.crawler.spider, "submitted", None) or {}
            meta["webtext_submitted"] = submitted.get(meta["webtext_url"])
        return None


def apply_archive_settings(opts, settings: dict) -> None:
    """Turn the live crawl's Scrapy settings (settings.scrapy_settings) into an archive crawl's."""
    source = parse_source(opts.source)
    check_endpoint(opts.archive_endpoint, "the archive endpoint")
    check_endpoint(opts.archive_data_endpoint, "the archive data endpoint")
    handler = "webtext.fetch.archive.ArchiveDownloadHandler"
    settings["DOWNLOAD_HANDLERS"].update({"http": handler, "https": handler})
    settings["DOWNLOADER_MIDDLEWARES"]["webtext.fetch.archive.ArchiveRoutingMiddleware"] = 50  # before robots.txt
    settings["WEBTEXT_FETCH_OPTIONS"] = opts.to_dict()
    # robots.txt only for the live fallback (archive requests carry dont_obey_robotstxt)
    live_too = source.kind == "archive-then-live"
    settings["ROBOTSTXT_OBEY"] = opts.obey_robots and live_too
    settings["AUTOTHROTTLE_ENABLED"] = opts.autothrottle and live_too
