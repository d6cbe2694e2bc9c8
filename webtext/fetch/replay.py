"""Reading the archive back: WARC responses for later stages, and replay through the spider.

Two uses:

- Later stages read pages with `read_response(warc_path, offset)` (the location a fetch-log row
  names) or stream them with `iter_warc_responses(paths)`. A `WarcResponse` has the archived
  status and headers, `raw_body` exactly as archived (possibly gzip) and `body` with the content
  coding removed (capped at `max_bytes`, so an archived gzip bomb cannot exhaust memory;
  `truncated` says when the cap cut it). `text()` decodes HTML with charset.py's rules.
- Replay (`FetchOptions(replay=[...])`, `webtext fetch --replay WARC...`): `ReplayDownloadHandler`
  takes the place of Scrapy's http/https handlers, so the very same spider and middlewares
  (redirects, decompression, the size cap, HTML checks, the log) run without a network. It
  serves, for each request URL, the last response archived under that `WARC-Target-URI`
  (redirect hops are archived too, so redirect chains replay). A URL absent from the archive
  fails with `NotInArchive` and is logged as `not_in_archive`. Replay writes no new WARC
  records: log rows point at the records they were served from.
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from warcio.archiveiterator import ArchiveIterator

from webtext.errors import InputError

DEFAULT_MAX_BYTES = 64 * 2**20


@dataclass
class WarcResponse:
    url: str
    status: int
    headers: dict[str, str]  # lowercased names; a repeated header keeps its last value
    body: bytes  # content coding (gzip, deflate, br, zstd) removed
    content_type: str
    warc_path: str
    warc_offset: int
    raw_body: bytes = b""
    header_list: list[tuple[str, str]] = field(default_factory=list)
    ip_address: str | None = None
    truncated: bool = False

    def text(self) -> str:
        from webtext.fetch.charset import decode_html

        return decode_html(self.body, self.content_type)[0]


class NotInArchive(Exception):
    """Replay asked for a URL that no given WARC file holds a response for."""


def _decode_content(raw: bytes, encodings: str, max_bytes: int) -> tuple[bytes, bool]:
    """Undo Content-Encoding (applied in header order, undone in reverse), capped at max_bytes."""
    body, truncated = raw, False
    for coding in reversed([c.strip().lower() for c in encodings.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip", "deflate"):
            wbits = 47 if coding != "deflate" else (15 if body[:1] == b"\x78" else -15)
            d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(body, max_bytes + 1)
            except zlib.error:
                return body, truncated  # not really compressed: keep the bytes as they are
        elif coding == "br":
            try:
                import brotli
            except ImportError:
                return body, truncated
            out = brotli.decompress(body)
        elif coding == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body))
            out = reader.read(max_bytes + 1)
        elif coding == "identity":
            out = body
        else:
            return body, truncated  # unknown coding: leave it
        if len(out) > max_bytes:
            out, truncated = out[:max_bytes], True
        body = out
    return body, truncated


def _response_from_record(record, path: str, offset: int, max_bytes: int) -> WarcResponse:
    http = record.http_headers
    header_list = list(http.headers) if http else []
    headers = {k.lower(): v for k, v in header_list}
    raw = record.raw_stream.read()
    body, truncated = _decode_content(raw, headers.get("content-encoding", ""), max_bytes)
    status = int(http.get_statuscode()) if http else 0
    return WarcResponse(
        url=record.rec_headers.get_header("WARC-Target-URI"),
        status=status,
        headers=headers,
        body=body,
        content_type=headers.get("content-type", ""),
        warc_path=path,
        warc_offset=offset,
        raw_body=raw,
        header_list=header_list,
        ip_address=record.rec_headers.get_header("WARC-IP-Address"),
        truncated=truncated,
    )


def iter_warc_responses(paths, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[WarcResponse]:
    """Every response record of the given WARC files (folders expand to their *.warc.gz), in order."""
    for path in _expand(paths):
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh)
                for record in it:
                    if record.rec_type != "response":
                        continue
                    yield _response_from_record(record, str(path), it.get_record_offset(), max_bytes)
        except OSError as exc:
            raise InputError(f"cannot read WARC file: {exc}", path=str(path)) from None


def read_response(warc_path, offset: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> WarcResponse:
    """The response record at `offset` of `warc_path` (the location a fetch-log row names)."""
    try:
        with open(warc_path, "rb") as fh:
            fh.seek(offset)
            record = next(iter(ArchiveIterator(fh)), None)
            if record is None or record.rec_type != "response":
                raise InputError(f"no response record at offset {offset}", path=str(warc_path))
            return _response_from_record(record, str(warc_path), offset, max_bytes)
    except OSError as exc:
        raise InputError(f"cannot read WARC file: {exc}", path=str(warc_path)) from None


def _expand(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.rglob("*.warc.gz")) + sorted(p.rglob("*.warc")))
        elif p.exists():
            out.append(p)
        else:
            raise InputError("no such WARC file or folder", path=str(p))
    return out


class ArchiveIndex:
    """URL -> (path, offset) of the last response record archived for it, over the given WARCs."""

    def __init__(self, paths):
        from w3lib.url import safe_url_string  # the spelling Scrapy gives request URLs

        self.locations: dict[str, tuple[str, int]] = {}
        for path in _expand(paths):
            try:
                with open(path, "rb") as fh:
                    it = ArchiveIterator(fh)
                    for record in it:
                        if record.rec_type == "response":
                            uri = record.rec_headers.get_header("WARC-Target-URI")
                            loc = (str(path.resolve()), it.get_record_offset())
                            self.locations[uri] = loc
                            self.locations.setdefault(safe_url_string(uri), loc)
            except Exception as exc:  # warcio raises several kinds on a corrupt file
                raise InputError(f"unreadable WARC file: {exc}", path=str(path)) from None

    def get(self, url: str) -> tuple[str, int] | None:
        return self.locations.get(url)

    _cache: dict[tuple[str, ...], "ArchiveIndex"] = {}

    @classmethod
    def cached(cls, paths) -> "ArchiveIndex":
        """One index per set of paths and process: the crawl process builds it before Scrapy starts
        (so a bad WARC fails the run with a clear error), the download handler reuses it."""
        key = tuple(str(p) for p in paths)
        if key not in cls._cache:
            cls._cache[key] = cls(paths)
        return cls._cache[key]


class ReplayDownloadHandler:
    """Scrapy download handler answering http(s) requests from WARC files (see module docstring)."""

    lazy = False

    def __init__(self, crawler):
        self.crawler = crawler
        self.index = ArchiveIndex.cached(crawler.settings.getlist("WEBTEXT_REPLAY"))

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def download_request(self, request):
        from scrapy.http import Headers
        from scrapy.responsetypes import responsetypes

        loc = self.index.get(request.url)
        if loc is None:
            raise NotInArchive(f"{request.url} is not in the replayed WARC files")
        with open(loc[0], "rb") as fh:
            fh.seek(loc[1])
            record = next(iter(ArchiveIterator(fh)))
            http = record.http_headers
            raw = record.raw_stream.read()
        headers = Headers()
        for name, value in http.headers:
            if name.lower() != "content-length":
                headers.appendlist(name, value)
        headers["Content-Length"] = str(len(raw))
        request.meta["webtext_replayed_from"] = loc
        cls = responsetypes.from_args(headers=headers, url=request.url, body=raw)
        ip = record.rec_headers.get_header("WARC-IP-Address")
        return cls(
            url=request.url,
            status=int(http.get_statuscode()),
            headers=headers,
            body=raw,
            request=request,
            ip_address=_ip(ip),
            protocol="HTTP/1.1",
        )

    async def close(self) -> None:
        return None


def _ip(value: str | None):
    import ipaddress

    try:
        return ipaddress.ip_address(value) if value else None
    except ValueError:
        return None
