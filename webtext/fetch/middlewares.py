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

Politeness: `SharedRobotsTxtMiddleware` obeys robots.txt (fixing a Scrapy 2.19 race, see the
class). `CrawlDelayMiddleware` applies robots.txt's Crawl-delay (which Scrapy's robots
middleware parses but ignores) to the host's download slot: one request at a time, at least that
many seconds apart, and AutoThrottle may not lower it. `BackoffRetryMiddleware` waits before each
retry: the server's `Retry-After` on 429/503 (not retried when longer than `max_retry_after`),
otherwise exponential backoff.

Archive: `ArchiveMiddleware` sits next to the download handler, so it sees each raw response
(every hop of a redirect chain, every retried attempt, robots.txt) before decompression and
writes it to the WARC files; the request's meta then carries the record's location for the log.
"""

from __future__ import annotations

import ipaddress
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
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


# -- politeness -------------------------------------------------------------------------------


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, fixed for many requests waiting on one robots.txt.

    Requests that arrive while a host's robots.txt is being fetched all wait on one Deferred;
    in Scrapy 2.19 only the first waiter receives the parser, the others receive None and would
    be let through unchecked (found by tests/fetch: a disallowed page was fetched). The parser is
    stored on the middleware before the Deferred fires, so waiters read it from there.
    """

    async def robot_parser(self, request):
        rp = await super().robot_parser(request)
        if rp is None:
            stored = self._parsers.get(urlparse_cached(request).netloc)
            if stored is not None and not isinstance(stored, Deferred):
                return stored
        return rp


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
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False):
            retry = self._retry(request, exception)
            if retry is not None:
                await _sleep(self._backoff(retry))
                return retry
        return None


# -- archive ----------------------------------------------------------------------------------


class ArchiveMiddleware:
    """Writes every raw response (and its request) to the WARC files; notes where in request.meta."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        request.meta.pop("webtext_warc", None)  # a new hop: forget the previous hop's record
        request.meta.pop("webtext_replayed_from", None)
        request.meta.setdefault("webtext_t0", time.monotonic())
        return None

    def process_response(self, request, response):
        spider = self.crawler.spider
        replayed = request.meta.get("webtext_replayed_from")
        if replayed is not None:
            request.meta["webtext_warc"] = replayed
            return response
        writer = getattr(spider, "warc", None)
        if writer is None:
            return response
        first_hop = "webtext_url" in request.meta and not request.meta.get("redirect_urls")
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        request.meta["webtext_warc"] = writer.write_exchange(
            request.meta["webtext_url"] if first_hop else request.url,
            method=request.method,
            request_url=request.url,
            request_headers=request.headers,
            status=response.status,
            reason=reason,
            response_headers=response.headers,
            body=response.body,
            ip_address=str(response.ip_address) if response.ip_address else None,
        )
        return response
