"""Captures from a CDX index, and the rule that picks the one a link is fetched from.

A CDX server (the Wayback Machine's `/cdx/search/cdx`, pywb's `/COLL/cdx`, Common Crawl's
`index.commoncrawl.org/CC-MAIN-YYYY-WW-index`, all pywb or compatible) lists the captures of a URL.
`parse_cdx(body)` reads both JSON shapes they answer `output=json` with: one JSON object per line
(pywb, Common Crawl) or one JSON array of rows whose first row names the fields (the Wayback
Machine). Each line becomes a `Capture`.

Which capture (`choose_capture`), for a link first submitted at time T, with a window W (default 30 days):

1. only captures with a usable status compete first: 200 (the page) and 3xx (the URL redirected
   then; the archived redirect is followed, within the archive, to a capture of its target);
2. among them, by tier, and within a tier the capture closest to T:
   - A: captured at or before T, at most W before: the page as it was when the link was posted;
   - B: captured after T, at most W after: archives often captured a link only after it was
     shared (the Wayback Machine crawls links posted on Reddit), so the first capture soon after
     is the next best witness;
   - C: captured more than W before T (the page existed before; an older capture is preferred over
     a newer one because pages drift away from what was posted: edits, paywalls, parked domains);
   - D: captured more than W after T;
3. when no 200/3xx capture exists, the capture with any other status (an archived 404, 410, 5xx)
   is chosen by the same tiers: the link is logged with that status (`http_404`, ...), as a live
   fetch would log it;
4. no capture at all: `None` (the fetch stage logs `archive_miss`).

Captures of the exact URL spelling are preferred over the others the index returns for the same
key (CDX servers match on a canonical form: http/https and `www.` variants share a key), so an
archived `http -> https` redirect is not chosen again when its target is looked up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

DEFAULT_WINDOW_DAYS = 30.0


@dataclass(frozen=True)
class Capture:
    timestamp: str  # 14 digits, UTC: YYYYMMDDhhmmss
    url: str  # the URL as captured
    status: int | None  # None for "-" (revisit records and other non-HTTP lines)
    mime: str = ""
    digest: str = ""
    filename: str | None = None  # Common Crawl (and pywb): where the WARC record is
    offset: int | None = None
    length: int | None = None

    @property
    def time(self) -> float:
        return timestamp_to_epoch(self.timestamp)

    def __str__(self) -> str:
        return f"{self.timestamp} {self.status} {self.url}"


def timestamp_to_epoch(ts: str) -> float:
    """A CDX timestamp (4 to 14 digits; missing digits are the earliest value) as Unix seconds."""
    ts = (ts + "00000101000000"[len(ts) :]) if len(ts) < 14 else ts[:14]
    return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()


def epoch_to_timestamp(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y%m%d%H%M%S")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _capture(d: dict) -> Capture | None:
    ts = str(d.get("timestamp") or "")
    url = d.get("url") or d.get("original")
    if not ts.isdigit() or not url:
        return None
    return Capture(
        timestamp=ts,
        url=str(url),
        status=_int(d.get("status", d.get("statuscode"))),
        mime=str(d.get("mime") or d.get("mimetype") or ""),
        digest=str(d.get("digest") or ""),
        filename=d.get("filename"),
        offset=_int(d.get("offset")),
        length=_int(d.get("length")),
    )


def parse_cdx(body: bytes | str) -> list[Capture]:
    """The captures in a CDX server's `output=json` answer (either shape; bad lines skipped)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):  # the Wayback Machine: [["urlkey","timestamp",...], [row], ...]
        try:
            rows = json.loads(text)
        except ValueError:
            raise ValueError("CDX answer is not valid JSON") from None
        if not rows or not isinstance(rows[0], list):
            return []
        names = [str(n) for n in rows[0]]
        caps = (_capture(dict(zip(names, row))) for row in rows[1:] if isinstance(row, list))
        return [c for c in caps if c is not None]
    out = []
    for line in text.splitlines():  # pywb / Common Crawl: one JSON object per line
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            cap = _capture(json.loads(line))
        except ValueError:
            continue
        if cap is not None:
            out.append(cap)
    return out


def _tier(capture_time: float, submitted: float, window_s: float) -> tuple[int, float]:
    delta = capture_time - submitted
    if -window_s <= delta <= 0:
        return 0, -delta
    if 0 < delta <= window_s:
        return 1, delta
    if delta < 0:
        return 2, -delta
    return 3, delta


def rank_captures(
    captures: list[Capture], submitted: float, window_days: float = DEFAULT_WINDOW_DAYS, url: str | None = None
) -> list[Capture]:
    """`captures` in the order the rule prefers them (module docstring); the first is chosen."""
    window_s = window_days * 86400.0
    if url is not None:
        exact = [c for c in captures if c.url == url]
        if exact:
            captures = exact

    def key(c: Capture):
        usable = c.status is not None and (c.status == 200 or 300 <= c.status < 400)
        has_status = c.status is not None
        tier, distance = _tier(c.time, submitted, window_s)
        return (not usable, not has_status, tier, distance, c.timestamp, c.url)

    return sorted(captures, key=key)


def choose_capture(
    captures: list[Capture], submitted: float, window_days: float = DEFAULT_WINDOW_DAYS, url: str | None = None
) -> Capture | None:
    """The capture to fetch `url` from for a link first submitted at `submitted` (Unix seconds)."""
    ranked = rank_captures(captures, submitted, window_days, url)
    if not ranked or ranked[0].status is None:
        return None
    return ranked[0]
