"""WARC archive of every HTTP exchange: a request record and a response record per download.

Files are `OUT/warc/webtext-<UTC time>-<pid>-<random>-<seq>.warc.gz`, one gzip member per record
(so a record can be read from its offset alone), opened fresh by every crawl process (never
appended to after a crash) and rolled to a new file past `max_bytes`. A warcinfo record opens
each file.

What is stored is what the server sent, as Scrapy received it: the status line, the headers and
the body *before* content decoding (a gzip body stays gzip, with its Content-Encoding header).
Twisted has already removed any chunked transfer coding, so `Transfer-Encoding` is dropped and
Content-Length is set to the stored body's length: the record must describe the bytes it holds.
`WARC-Target-URI` is the links-table URL for the first hop and the request URL for later hops
(redirects, retries); `WARC-IP-Address` is the address actually connected to.

Crash safety (see log.py for the other half): while a process writes a file it holds an
exclusive `flock` on it. `sync()` flushes and fsyncs, and reports each file's size: the log
commits those sizes with each Parquet part, *after* the bytes are on disk. `recover()`, run before
a crawl, truncates every unlocked WARC file back to the largest size a committed log part
recorded for it (deleting files no part mentions), which removes the torn record a `kill -9`
can leave and the records of fetches whose log rows were never committed (those URLs are
fetched again). Files that another live process holds locked are left alone, so several
workers can share one output folder.
"""

from __future__ import annotations

import fcntl
import io
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext import __version__
from webtext.progress import log

WARC_DIR = "warc"
_DROP_HEADERS = {"transfer-encoding", "content-length"}


def _headers(scrapy_headers) -> list[tuple[str, str]]:
    out = []
    for name, values in scrapy_headers.items():
        key = name.decode("latin-1")
        if key.lower() in _DROP_HEADERS:
            continue
        for value in values:
            out.append((key, value.decode("latin-1")))
    return out


class RollingWarcWriter:
    """Writes request/response pairs to `out_dir/warc/`, rolling files by size."""

    def __init__(self, out_dir: str | os.PathLike, max_bytes: int = 2**30, operator: str = ""):
        self.out_dir = Path(out_dir)
        self.dir = self.out_dir / WARC_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.operator = operator
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        self._prefix = f"webtext-{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._fh = None
        self._writer: WARCWriter | None = None
        self._relpath = ""
        self.sizes: dict[str, int] = {}  # every file this writer wrote -> its size (relative path)
        self.records = 0
        self.bytes_written = 0

    # -- files ---------------------------------------------------------------------------
    def _open(self) -> None:
        name = f"{self._prefix}-{self._seq:05d}.warc.gz"
        self._seq += 1
        path = self.dir / name
        fh = open(path, "xb")
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fh, self._relpath = fh, f"{WARC_DIR}/{name}"
        self._writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        info = self._writer.create_warcinfo_record(
            name,
            {
                "software": f"webtext/{__version__} (Scrapy, warcio)",
                "format": "WARC File Format 1.1",
                "operator": self.operator or "webtext fetch",
                "robots": "obey",
            },
        )
        self._writer.write_record(info)
        self.sizes[self._relpath] = fh.tell()

    def _roll_if_needed(self) -> None:
        if self._fh is None:
            self._open()
        elif self._fh.tell() >= self.max_bytes:
            self._close_current()
            self._open()

    def _close_current(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.sizes[self._relpath] = self._fh.tell()
            self._fh.close()  # closing releases the flock
            self._fh = self._writer = None

    # -- records -------------------------------------------------------------------------
    def write_exchange(
        self,
        target_uri: str,
        *,
        method: str,
        request_url: str,
        request_headers,
        status: int,
        reason: str,
        response_headers,
        body: bytes,
        ip_address: str | None = None,
    ) -> tuple[str, int]:
        """Write the response then the request record; return (relative path, response offset)."""
        self._roll_if_needed()
        assert self._writer is not None and self._fh is not None
        when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts = urlsplit(request_url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

        resp_headers = _headers(response_headers)
        resp_headers.append(("Content-Length", str(len(body))))
        http = StatusAndHeaders(f"{status} {reason}".strip(), resp_headers, protocol="HTTP/1.1")
        warc_headers = {"WARC-Date": when}
        if ip_address:
            warc_headers["WARC-IP-Address"] = ip_address
        response = self._writer.create_warc_record(
            target_uri, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=warc_headers
        )
        req_headers = [("Host", parts.netloc)] + [h for h in _headers(request_headers) if h[0].lower() != "host"]
        req_http = StatusAndHeaders(f"{method} {path} HTTP/1.1", req_headers, is_http_request=True)
        request = self._writer.create_warc_record(
            target_uri,
            "request",
            payload=io.BytesIO(b""),
            http_headers=req_http,
            warc_headers_dict={
                "WARC-Date": when,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        offset = self._fh.tell()
        self._writer.write_record(response)
        self._writer.write_record(request)
        self.sizes[self._relpath] = self._fh.tell()
        self.records += 2
        self.bytes_written = sum(self.sizes.values())
        return self._relpath, offset

    def sync(self) -> dict[str, int]:
        """Flush and fsync the open file; return the size of every file this writer wrote."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.sizes[self._relpath] = self._fh.tell()
        return dict(self.sizes)

    def close(self) -> dict[str, int]:
        self._close_current()
        return dict(self.sizes)


def recover(out_dir: str | os.PathLike, committed: dict[str, int]) -> dict[str, int]:
    """Cut every unlocked WARC file in out_dir back to its committed size (see module docstring).

    `committed` maps relative WARC paths to the largest size a committed log part recorded.
    Returns {relative path: bytes removed} for the files changed.
    """
    out_dir = Path(out_dir)
    changed: dict[str, int] = {}
    wdir = out_dir / WARC_DIR
    if not wdir.is_dir():
        return changed
    for path in sorted(wdir.glob("*.warc.gz")):
        rel = f"{WARC_DIR}/{path.name}"
        with open(path, "r+b") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live crawl process is writing it
            size = os.fstat(fh.fileno()).st_size
            keep = committed.get(rel, 0)
            if size <= keep:
                continue
            if keep == 0:
                path.unlink()
            else:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
            changed[rel] = size - keep
    if changed:
        log("fetch", f"recovered {len(changed)} WARC file(s): removed {sum(changed.values()):,} uncommitted bytes")
    return changed


def warc_files(out_dir: str | os.PathLike) -> list[Path]:
    """The WARC files of an output folder, sorted by name (= by creation time)."""
    return sorted((Path(out_dir) / WARC_DIR).glob("*.warc.gz"))
