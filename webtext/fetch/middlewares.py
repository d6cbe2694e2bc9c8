"""The crawler's safety and politeness pieces, each small and with one job (Scrapy style).

SSRF guard, in two layers, both on the address actually connected to:

1. `GuardedResolver` is the reactor's name resolver (Scrapy's TWISTED_DNS_RESOLVER). Twisted's
   connector connects only to the addresses the resolver hands it, and it resolves every
   connection this way, IP literals included (`http://10.0.0.1/`, `http://2130706433/`). The
   guard passes on only public addresses, so a forbidden address is never connected to, and there
   is no window between a check and the connection for DNS rebinding to use: the checked address
   *is* the one connected to. Redirects make new connections and pass the same gate. A host all
   of whose addresses were refused fails with `ForbiddenAddress` (not a DNS error, no retries).
2. `GuardMiddleware` re-checks the peer address of every response (Scrapy records it from the
   socket) and refuses non-http(s) schemes, e.g. a redirect to `file:` or `ftp:`.

Forbidden: loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16 with the cloud
metadata address, fe80::/10), multicast, reserved, unspecified (0.0.0.0, which Linux routes to
the local host), shared address space (100.64.0.0/10) and anything else Python's `ipaddress`
does not call global; IPv4-mapped IPv6 addresses are judged by their IPv4 address. The test-only
`allow_loopback` option allows 127.0.0.0/8 and nothing else.

Politeness: `RobotsMiddleware` obeys robots.txt as RFC 9309 says (an unreachable robots.txt
disallows the host; see the class). `CrawlDelayMiddleware` applies robots.txt's Crawl-delay (which Scrapy's robots
middleware parses but ignores) to the host's download slot: one request at a time, at least that
many seconds apart, and AutoThrottle may not lower it. `BackoffRetryMiddleware` waits before each
retry: the server's `Retry-After` on 429/503 (not retried when longer than `max_retry_after`),
otherwise exponential backoff.

Archive: `ArchiveMiddleware` sits next to the download handler, so it sees each raw response
(every hop of a redirect chain, every retried attempt, robots.txt) before decompression; the
exchanges of a URL are written as one set with its log row (warc.py explains why).
"""

from __future__ import annotations

import ipaddress
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.response import response_status_message
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer, provider

_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
ALLOWED_SCHEMES = ("http", "https")

# host name -> (address, why) for every host the resolver refused an address of, this process.
# One crawl runs per process (crawl.py), so a module-level table is the crawl's table.
REFUSED: dict[str, tuple[str, str]] = {}


class ForbiddenAddress(IgnoreRequest):
    """The host is, or resolves only to, an address the crawler must not connect to."""


class ForbiddenScheme(IgnoreRequest):
    """A URL (or redirect target) whose scheme is not http or https."""


def forbidden_reason(address, allow_loopback: bool = False) -> str | None:
    """Why the crawler must not connect to `address` ('loopback', 'private', ...), or None if public."""
    try:
        ip = ipaddress.ip_address(address.strip("[]") if isinstance(address, str) else address)
    except ValueError:
        return "not_an_address"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            inner = forbidden_reason(ip.sixtofour, allow_loopback)
            if inner:
                return inner
    if allow_loopback and ip.version == 4 and ip in _LOOPBACK_V4:
        return None
    for reason, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link_local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not_global", not ip.is_global),
    ):
        if flag:
            return reason
    return None


# -- layer 1: the resolver ------------------------------------------------------------------


@provider(IResolutionReceiver)
class _FilteringReceiver:
    """Passes on the resolved addresses that are allowed; records the refused ones."""

    def __init__(self, receiver, host: str, allow_loopback: bool):
        self.receiver, self.host, self.allow_loopback = receiver, host, allow_loopback

    def resolutionBegan(self, resolution) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address) -> None:
        reason = forbidden_reason(address.host, self.allow_loopback)
        if reason is None:
            self.receiver.addressResolved(address)
        else:
            REFUSED[self.host] = (address.host, reason)

    def resolutionComplete(self) -> None:
        self.receiver.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's name resolver: the system resolver, minus every forbidden address."""

    def __init__(self, reactor, allow_loopback: bool = False):
        self.reactor = reactor
        self.original = reactor.nameResolver
        self.allow_loopback = allow_loopback

    @classmethod
    def from_crawler(cls, crawler, reactor):
        return cls(reactor, crawler.settings.getbool("WEBTEXT_ALLOW_LOOPBACK"))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(self, resolutionReceiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"):
        receiver = _FilteringReceiver(resolutionReceiver, hostName, self.allow_loopback)
        return self.original.resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)


# -- layer 2: the guard middleware ------------------------------------------------------------


class GuardMiddleware:
    def __init__(self, crawler):
        self.allow_loopback = crawler.settings.getbool("WEBTEXT_ALLOW_LOOPBACK")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        parts = urlsplit(request.url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise ForbiddenScheme(f"scheme {parts.scheme!r} is not fetched: {request.url}")
        host = (parts.hostname or "").strip("[]")
        if _is_ip_literal(host):  # no resolution needed to know: refuse without trying
            reason = forbidden_reason(host, self.allow_loopback)
            if reason:
                raise ForbiddenAddress(f"{host} is a {reason} address")
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, (CannotResolveHostError, DNSLookupError)):
            host = urlsplit(request.url).hostname or ""
            if host in REFUSED:
                address, reason = REFUSED[host]
                raise ForbiddenAddress(f"{host} resolves to {address}, a {reason} address")
        return None

    def process_response(self, request, response):
        if "webtext_replayed_from" in request.meta:
            return response  # served from an archive: nothing was connected to
        if response.ip_address is not None:
            reason = forbidden_reason(str(response.ip_address), self.allow_loopback)
            if reason:
                raise ForbiddenAddress(f"connected to {response.ip_address}, a {reason} address")
        return response


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# -- bounded response headers -----------------------------------------------------------------


class HeadersTooLarge(Exception):
    """A response whose header section passed the count or byte cap (a header bomb)."""


def cap_response_headers(max_count: int, max_bytes: int) -> None:
    """Cap the header section of every HTTP/1.1 response this process reads.

    Twisted's response parser (which Scrapy's HTTP/1.1 handler uses) caps a single line at 16 KiB
    but not the number of lines: a server streaming `X-a: b` lines forever grew a crawl to 1.3 GB
    within the download timeout. Browsers and servers cap the header section (Chrome 256 KiB,
    nginx and Apache 8-64 KiB); so does this, at `max_count` fields and `max_bytes` bytes (1xx
    interim responses included). Past either, the parser raises `HeadersTooLarge`: Twisted drops
    the connection and the request fails with error class `headers_too_large`, not retried.

    Neither Twisted nor Scrapy has a setting for this. Scrapy 2.19's HTTP/1.1 handler swaps the
    class of each response parser Twisted creates for its own `_LenientHTTPClientParser`, looked
    up in its module; that name is pointed at a capped subclass. The crawl runs in its own process
    (crawl.py), the only one patched.
    """
    from scrapy.core.downloader.handlers import http11
    from twisted.web import _newclient

    base = getattr(http11._LenientHTTPClientParser, "_webtext_base", http11._LenientHTTPClientParser)

    class CappedHTTPClientParser(base):
        _webtext_base = base  # no __init__: Scrapy swaps the class of a parser already made

        def lineReceived(self, line):
            if self.state in (_newclient.STATUS, _newclient.HEADER):
                self._header_lines = getattr(self, "_header_lines", 0) + 1
                self._header_bytes = getattr(self, "_header_bytes", 0) + len(line) + 1
                if self._header_lines > max_count + 1:  # + the status line
                    raise HeadersTooLarge(f"more than {max_count} response header fields")
                if self._header_bytes > max_bytes:
                    raise HeadersTooLarge(f"response header section over {max_bytes:,} bytes")
            return super().lineReceived(line)

        def lineLengthExceeded(self, line):
            if self.state in (_newclient.STATUS, _newclient.HEADER):
                raise HeadersTooLarge(f"a response header line over {self.MAX_LENGTH:,} bytes")
            return super().lineLengthExceeded(line)

    http11._LenientHTTPClientParser = CappedHTTPClientParser


def headers_too_large(exc: BaseException) -> bool:
    """Whether a download failure is (or wraps) `HeadersTooLarge`."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, HeadersTooLarge):
            return True
        for reason in getattr(exc, "reasons", None) or ():
            if isinstance(getattr(reason, "value", None), HeadersTooLarge):
                return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


# -- politeness -------------------------------------------------------------------------------


class RobotsUnreachable(IgnoreRequest):
    """The host's robots.txt could not be had (RFC 9309 §2.3.1.4): nothing on the host is fetched."""

    def __init__(self, message: str, error_class: str = "robots_unreachable"):
        super().__init__(message)
        self.error_class = error_class


ROBOTS_MAX_BYTES = 500 * 2**10  # RFC 9309 §2.5: parse at least 500 KiB; the rest is ignored
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five consecutive redirects
# A robots.txt that cannot be connected to because the host itself cannot be: the pages fail the
# same way, so their rows say so (disallowed all the same: the page is not requested).
_HOST_LEVEL = {"dns_error", "connection_refused", "forbidden_address"}


class RobotsMiddleware:
    """robots.txt as RFC 9309 §2.3.1 says, one verdict per host (scheme + host + port) and crawl.

    - 2xx: the first 500 KiB are parsed (Protego, through Scrapy's parser class); Crawl-delay is
      passed on (`robots_parsed` signal, CrawlDelayMiddleware). A longer file is cut there
      (`StopDownload`, its record marked `WARC-Truncated`), not failed.
    - 4xx (except 429): "unavailable": everything is allowed.
    - 5xx, 429, a timeout, a connection failure, more than 5 redirects, a redirect the guard
      refuses (private, loopback, ... address; not http/https): "unreachable": everything on the
      host is disallowed for this crawl, each URL logged `robots_unreachable` with the cause in
      `error_detail` (a later crawl asks again). When the host itself cannot be connected to
      (no DNS answer, connection refused, a forbidden address), its URLs get that class instead.
    - Redirects of robots.txt are followed up to 5 hops, each a normal request through the SSRF
      guard; retries and Retry-After apply as to any request; every hop is archived.

    Many requests wait for one host's robots.txt at once; each gets its own Deferred, fired with
    the verdict (Scrapy 2.19's middleware shared one Deferred and handed the parser to the first
    waiter only, letting the others through unchecked).
    """

    def __init__(self, crawler):
        if not crawler.settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured
        self.crawler = crawler
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or crawler.settings.get("USER_AGENT")
        self.parser_class = load_object(crawler.settings.get("ROBOTSTXT_PARSER"))
        self.verdicts: dict[str, tuple] = {}  # netloc -> ("parser", rp) | ("allow", why) | ("deny", class, why)
        self.waiting: dict[str, list[Deferred]] = {}

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.bytes_received, signal=signals.bytes_received)
        return mw

    def bytes_received(self, data, request, spider=None):
        if request.meta.get("webtext_robots"):
            got = request.meta.get("webtext_robots_bytes", 0) + len(data)
            request.meta["webtext_robots_bytes"] = got
            if got > ROBOTS_MAX_BYTES:
                raise StopDownload(fail=False)

    async def process_request(self, request):
        if request.meta.get("dont_obey_robotstxt"):
            return None
        netloc = urlparse_cached(request).netloc
        verdict = self.verdicts.get(netloc)
        if verdict is None:
            verdict = await self._verdict(request, netloc)
        if verdict[0] == "deny":
            raise RobotsUnreachable(verdict[2], verdict[1])
        if verdict[0] == "parser" and not verdict[1].allowed(request.url, self.user_agent):
            raise IgnoreRequest("Forbidden by robots.txt")
        return None

    async def _verdict(self, request, netloc: str) -> tuple:
        if netloc in self.waiting:  # another request is fetching it: wait for the verdict
            d: Deferred = Deferred()
            self.waiting[netloc].append(d)
            return await maybe_deferred_to_future(d)
        self.waiting[netloc] = []
        url = urlparse_cached(request)
        state: dict = {"answers": 0}  # responses seen on the way (ArchiveMiddleware counts them)
        robots = Request(
            f"{url.scheme}://{netloc}/robots.txt",
            priority=1000,
            meta={"dont_obey_robotstxt": True, "webtext_robots": state, "redirect_ttl": ROBOTS_MAX_REDIRECTS},
            callback=NO_CALLBACK,
        )
        try:
            response = await self.crawler.engine.download_async(robots)
            verdict = await self._judge(response, request)
        except Exception as exc:  # noqa: BLE001 - every failure is a verdict (RFC 9309 §2.3.1.4)
            from webtext.fetch.spider import classify_failure

            cls = classify_failure(exc)
            if cls in _HOST_LEVEL and not state["answers"]:  # the host itself: nothing ever answered
                verdict = ("deny", cls, f"robots.txt not fetched ({cls}): {exc}"[:500])
            else:
                verdict = ("deny", "robots_unreachable", f"robots.txt unreachable ({cls}): {exc}"[:500])
        self.verdicts[netloc] = verdict
        for d in self.waiting.pop(netloc):
            d.callback(verdict)
        return verdict

    async def _judge(self, response, request) -> tuple:
        status = response.status
        if 200 <= status < 300:
            body = response.body[:ROBOTS_MAX_BYTES]
            rp = build_from_crawler(self.parser_class, self.crawler, body)
            await self.crawler.signals.send_catch_log_async(signal=signals.robots_parsed, robotparser=rp, request=request)
            return ("parser", rp)
        if 400 <= status < 500 and status != 429:
            return ("allow", f"robots.txt answered {status}: unavailable, all allowed")
        # 5xx, 429, a redirect not followed (no Location, or not http/https), 1xx
        return ("deny", "robots_unreachable", f"robots.txt unreachable: {response.url} answered {status}")


class CrawlDelayMiddleware:
    """Applies robots.txt Crawl-delay to the host's download slot (see module docstring)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or crawler.settings.get("USER_AGENT")
        self.max_delay = crawler.settings.getfloat("WEBTEXT_MAX_CRAWL_DELAY", 60.0)
        self.delays: dict[str, float] = {}  # host name -> crawl delay in seconds

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        # Scrapy keeps weak references to signal receivers; the middleware itself lives as long
        # as the crawler's middleware manager, so its bound method stays alive.
        crawler.signals.connect(mw.robots_parsed, signal=signals.robots_parsed)
        return mw

    def robots_parsed(self, robotparser, request):
        delay = robotparser.crawl_delay(self.user_agent)
        host = urlsplit(request.url).hostname or ""
        if delay:
            self.delays[host] = max(self.delays.get(host, 0.0), min(float(delay), self.max_delay))

    def process_request(self, request):
        delay = self.delays.get(urlsplit(request.url).hostname or "")
        if delay:
            downloader = self.crawler.engine.downloader
            _key, slot = downloader._get_slot(request)
            slot.delay = max(slot.delay, delay)
            slot.concurrency = 1
            slot.jitter = 0.0  # a random factor could go below the asked delay
            request.meta["autothrottle_dont_adjust_delay"] = True
        return None


def parse_retry_after(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def _sleep(seconds: float) -> None:
    if seconds <= 0:
        return
    from twisted.internet import reactor, task

    await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry rules plus a wait before each retry (Retry-After, else exponential backoff)."""

    MAX_BACKOFF = 60.0

    @classmethod
    def from_crawler(cls, crawler):
        mw = super().from_crawler(crawler)
        mw.backoff = crawler.settings.getfloat("WEBTEXT_RETRY_BACKOFF", 2.0)
        mw.max_retry_after = crawler.settings.getfloat("WEBTEXT_MAX_RETRY_AFTER", 120.0)
        return mw

    def _backoff(self, retry: "object") -> float:
        n = retry.meta.get("retry_times", 1)
        return min(self.backoff * 2 ** (n - 1), self.MAX_BACKOFF)

    async def process_response(self, request, response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        wait = None
        if response.status in (429, 503):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.max_retry_after:
                request.meta["webtext_gave_up"] = f"Retry-After {wait:.0f} s exceeds {self.max_retry_after:.0f} s"
                return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await _sleep(self._backoff(retry) if wait is None else wait)
        return retry

    async def process_exception(self, request, exception):
        if headers_too_large(exception):
            return None  # a header bomb answers the same way every time
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False):
            retry = self._retry(request, exception)
            if retry is not None:
                await _sleep(self._backoff(retry))
                return retry
        return None


# -- archive ----------------------------------------------------------------------------------


class ArchiveMiddleware:
    """Keeps every raw response (with its request) for the archive, before anything acts on it.

    The exchanges of one URL - every redirect hop and retried attempt - gather in the request's
    meta (`webtext_set`, one list shared by the requests of the chain, since Scrapy copies meta
    shallowly) and are written as one set when the URL's log row is recorded (spider.record,
    warc.py). A response from a forbidden peer never gets here (the guard runs first). robots.txt
    responses, which belong to a host rather than to a logged URL, are written at once."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        request.meta.pop("webtext_replayed_from", None)
        request.meta.setdefault("webtext_t0", time.monotonic())
        return None

    def process_response(self, request, response):
        robots = request.meta.get("webtext_robots")
        if isinstance(robots, dict):  # shared by the hops of one robots.txt fetch (RobotsMiddleware)
            robots["answers"] = robots.get("answers", 0) + 1
        chain = request.meta.get("webtext_set")
        writer = getattr(self.crawler.spider, "warc", None)
        if chain is None and (writer is None or request.meta.get("webtext_replayed_from") is not None):
            return response
        from webtext.fetch.warc import ROLE_ROBOTS, Exchange

        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        exchange = Exchange(
            request.url,
            response.status,
            response.headers,
            response.body,
            reason=reason,
            method=request.method,
            request_headers=request.headers,
            ip_address=str(response.ip_address) if response.ip_address else None,
            truncated="length" if "download_stopped" in (response.flags or ()) else None,
        )
        capture = request.meta.get("webtext_capture")
        if capture is not None and capture.get("fields"):  # served by a web archive (archive.py)
            from webtext.fetch.archive import capture_exchange

            exchange = capture_exchange(exchange, capture)
        if chain is not None:
            chain.append(exchange)
        else:
            writer.write_set([exchange], role=ROLE_ROBOTS)
        return response
