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

`revisit` records (identical payload, warc.py) read as the response they stand for: the
original record's body under the revisit's own URL, status and headers. A file that is empty,
unreadable or not a WARC is bad input: an InputError naming it (exit 2), never "no records".
Fields the fetch stage adds to each response (`WebText-URL`, `WebText-Role`, `WebText-Outcome`,
warc.py) come back as `WarcResponse.fetch_url`, `.role` and `.outcome` (None in other WARCs).
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
    fetch_url: str | None = None  # WebText-URL: the logged URL whose set this record is in
    role: str | None = None  # WebText-Role: final | hop | robots (None: not written by webtext fetch)
    outcome: str | None = None  # WebText-Outcome on a final record: kept, or the log's error class
    revisit: bool = False  # a revisit record, read through to its original's body
    date: str | None = None  # WARC-Date: when it was fetched (or captured, for an archive source)

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


def _warcio_error(exc: BaseException) -> str:
    text = str(exc).split(", first line")[0].strip() or type(exc).__name__
    return text[:200]


def _open_record(path, offset: int, fh=None):
    """(record, file) for the record at `offset`; the caller reads it before closing the file."""
    fh = fh if fh is not None else open(path, "rb")
    fh.seek(offset)
    try:
        record = next(iter(ArchiveIterator(fh)), None)
    except Exception as exc:  # warcio raises several kinds on a corrupt file
        raise InputError(f"no readable WARC record at offset {offset}: {_warcio_error(exc)}", path=str(path)) from None
    return record, fh


def _revisit_payload(record, path: str, fh=None) -> bytes:
    """The payload of the record a revisit refers to (warc.py writes where it is: the same file)."""
    from webtext.fetch.warc import F_REF_FILE, F_REF_OFFSET

    ref_id = record.rec_headers.get_header("WARC-Refers-To")
    name, offset = record.rec_headers.get_header(F_REF_FILE), record.rec_headers.get_header(F_REF_OFFSET)
    if name is None or offset is None:
        raise InputError(f"revisit record {ref_id or ''} does not say where its original is", path=str(path))
    if "://" in str(path) and fh is not None:  # a remote file: the original is in the same file
        original_path, own = path, fh
    else:
        original_path, own = Path(path).parent / name, None
    original, ofh = _open_record(original_path, int(offset), own)
    try:
        if original is None or original.rec_type != "response" or (
            ref_id and original.rec_headers.get_header("WARC-Record-ID") != ref_id
        ):
            raise InputError(f"the original of revisit record {ref_id} is not at offset {offset}", path=str(original_path))
        return original.raw_stream.read()
    finally:
        if own is None:
            ofh.close()


def _response_from_record(record, path: str, offset: int, max_bytes: int, fh=None) -> WarcResponse:
    from webtext.fetch.warc import F_OUTCOME, F_ROLE, F_URL

    http = record.http_headers
    header_list = list(http.headers) if http else []
    headers = {k.lower(): v for k, v in header_list}
    revisit = record.rec_type == "revisit"
    if revisit:
        here = fh.tell() if fh is not None else None
        raw = _revisit_payload(record, path, fh)
        if here is not None:
            fh.seek(here)
    else:
        raw = record.raw_stream.read()
    body, truncated = _decode_content(raw, headers.get("content-encoding", ""), max_bytes)
    status = int(http.get_statuscode()) if http else 0
    rec = record.rec_headers
    return WarcResponse(
        url=rec.get_header("WARC-Target-URI"),
        status=status,
        headers=headers,
        body=body,
        content_type=headers.get("content-type", ""),
        warc_path=path,
        warc_offset=offset,
        raw_body=raw,
        header_list=header_list,
        ip_address=rec.get_header("WARC-IP-Address"),
        truncated=truncated,
        fetch_url=rec.get_header(F_URL),
        role=rec.get_header(F_ROLE),
        outcome=rec.get_header(F_OUTCOME),
        revisit=revisit,
        date=rec.get_header("WARC-Date"),
    )


class _Committed:
    """A read-only file that ends at `limit`: the part of a WARC file its crawl's log committed."""

    def __init__(self, fh, limit: int):
        self.fh, self.limit = fh, limit

    def read(self, size: int = -1) -> bytes:
        left = self.limit - self.fh.tell()
        if left <= 0:
            return b""
        return self.fh.read(left if size is None or size < 0 else min(size, left))

    def tell(self) -> int:
        return self.fh.tell()


def committed_limits(wdir: Path) -> dict[str, int]:
    """{file name: committed bytes} for the WARC files a `webtext fetch` crawl wrote into `wdir`
    (an OUT/warc folder with crawl journals); empty for any other folder.

    Readers stop there: what lies past it was written by a crawl that died (or is still running)
    before its log committed it, and the next run's recovery removes it (warc.py). So a folder a
    killed crawl left behind reads the same before and after its rerun."""
    journals = sorted(wdir.glob(".journal-*.json"))
    if not journals:
        return {}
    import json

    sizes: dict[str, int] = {}
    if (wdir.parent / "log").is_dir():
        from webtext.fetch.log import committed_warc_sizes

        sizes = {rel.rsplit("/", 1)[-1]: n for rel, n in committed_warc_sizes(wdir.parent).items()}
    limits: dict[str, int] = {}
    for jpath in journals:
        try:
            files = json.loads(jpath.read_text(encoding="utf-8")).get("files", {})
        except (OSError, ValueError):
            continue
        for rel, n in files.items():
            name = rel.rsplit("/", 1)[-1]
            limits[name] = max(int(n), sizes.get(name, 0))
    return limits


def _records(path: Path, limit: int | None = None):
    """(record, iterator) for every record of a WARC file (up to `limit` bytes: committed_limits);
    a bad file is an InputError naming it.

    Take a record's offset with `iterator.get_record_offset()` *after* reading what you need of
    it: warcio finds the offset by reading the record to its end."""
    try:
        if path.stat().st_size == 0:
            raise InputError("empty file (0 bytes): not a WARC file", path=str(path))
        with open(path, "rb") as raw:
            fh = raw if limit is None else _Committed(raw, limit)
            it = ArchiveIterator(fh)
            try:
                for record in it:
                    if record.format != "warc":  # warcio reads anything as an ARC record, even noise
                        raise InputError("not a WARC file (no WARC/1.x record header)", path=str(path))
                    yield record, it
            except InputError:
                raise
            except Exception as exc:  # warcio raises several kinds on a corrupt or non-WARC file
                raise InputError(f"not a readable WARC file: {_warcio_error(exc)}", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read WARC file: {exc}", path=str(path)) from None


def _committed_files(paths):
    """(path, limit) for each WARC file `paths` name; limit None where there is no crawl journal."""
    cache: dict[Path, dict[str, int]] = {}
    for path in _expand(paths):
        folder = path.parent.resolve()
        if folder not in cache:
            cache[folder] = committed_limits(folder)
        yield path, cache[folder].get(path.name)


def iter_warc_responses(paths, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[WarcResponse]:
    """Every response (and revisit) record of the given WARC files (folders expand to their
    *.warc.gz and *.warc), in order, up to what a fetch log committed (committed_limits).
    Empty, unreadable or non-WARC files raise InputError."""
    for path, limit in _committed_files(paths):
        for record, it in _records(path, limit):
            if record.rec_type == "response" or (record.rec_type == "revisit" and record.http_headers is not None):
                response = _response_from_record(record, str(path), -1, max_bytes)
                response.warc_offset = it.get_record_offset()  # after the body was read (see _records)
                yield response


def read_response(warc_path, offset: int, *, max_bytes: int = DEFAULT_MAX_BYTES, fh=None) -> WarcResponse:
    """The response (or revisit) record at `offset` of `warc_path` (the location a fetch-log row
    names). `fh`: an open, seekable file of it (e.g. a remote file opened by the caller)."""
    try:
        record, f = _open_record(warc_path, offset, fh)
        try:
            if record is None or record.rec_type not in ("response", "revisit"):
                raise InputError(f"no response record at offset {offset}", path=str(warc_path))
            return _response_from_record(record, str(warc_path), offset, max_bytes, fh)
        finally:
            if fh is None:
                f.close()
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


def check_warc_files(paths) -> list[Path]:
    """The WARC files `paths` name, each checked to open with a WARC record (InputError otherwise).
    Cheap: reads one record per file. A folder without any WARC file is an error too."""
    files = _expand(paths)
    for p in paths if not isinstance(paths, (str, os.PathLike)) else [paths]:
        if Path(p).is_dir() and not any(f.is_relative_to(Path(p)) for f in files):
            raise InputError("no *.warc.gz or *.warc files in this folder", path=str(p))
    for path in files:
        for _record, _it in _records(path):
            break
    return files


class ArchiveIndex:
    """URL -> (path, offset) of the last response record archived for it, over the given WARCs.

    Kept in SQLite. A build's fetch stage runs one crawl process per batch of URLs; if each read
    every WARC to find its few URLs, replay would cost (batches x archive), quadratic in the
    corpus. With `db` (a file path) the index is built once, under a lock, by the first process
    that needs it, and every later one looks its URLs up without reading the archive. It is
    rebuilt only when the WARC files change: their paths, sizes, mtimes and committed lengths are
    stored with it. Without `db` it lives in this process's memory."""

    def __init__(self, paths, db: str | os.PathLike | None = None):
        import sqlite3

        check_warc_files(paths)  # one record per file: a bad or missing archive is an InputError here
        files = [(str(p.resolve()), limit) for p, limit in _committed_files(paths)]
        if db is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            _fill_index(self._db, files)
            return
        db = Path(db)
        stamp = _files_stamp(files)
        self._db = _open_index(db, stamp)
        if self._db is None:
            import fcntl

            db.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{db}.lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait, then read its file
                self._db = _open_index(db, stamp)
                if self._db is None:
                    for stale in db.parent.glob(f"{db.name}.tmp-*"):  # a builder killed mid-way (we hold the lock)
                        stale.unlink(missing_ok=True)
                    tmp = db.with_name(f"{db.name}.tmp-{os.getpid()}")
                    con = sqlite3.connect(tmp)
                    try:
                        _fill_index(con, files)
                        con.execute("INSERT INTO meta VALUES ('files', ?)", (stamp,))
                        con.commit()
                    except BaseException:
                        con.close()
                        tmp.unlink(missing_ok=True)  # a bad WARC half-way: no half index left behind
                        raise
                    con.close()
                    os.replace(tmp, db)
                    self._db = _open_index(db, stamp)

    def get(self, url: str) -> tuple[str, int] | None:
        row = self._db.execute(
            "SELECT f.path, u.offset FROM urls u JOIN files f ON f.id = u.file WHERE u.url = ?", (url,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    _cache: dict[tuple, "ArchiveIndex"] = {}

    @classmethod
    def cached(cls, paths, db: str | os.PathLike | None = None) -> "ArchiveIndex":
        """One index per set of paths and process: the crawl process opens it before Scrapy starts
        (so a bad WARC fails the run with a clear error), the download handler reuses it."""
        key = (tuple(str(p) for p in paths), str(db) if db else None)
        if key not in cls._cache:
            cls._cache[key] = cls(paths, db)
        return cls._cache[key]


def _files_stamp(files) -> str:
    """What the index was built from: each WARC's path, committed length, size and mtime."""
    import json

    out = []
    for path, limit in files:
        st = os.stat(path)
        out.append([path, limit, st.st_size, st.st_mtime_ns])
    return json.dumps(out)


def _open_index(db: Path, stamp: str):
    """A read-only connection to the index at `db` if it was built from exactly these files."""
    import sqlite3

    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        row = con.execute("SELECT value FROM meta WHERE key = 'files'").fetchone()
    except sqlite3.DatabaseError:
        return None  # not an index of ours (or cut short): rebuilt under the lock
    if row is None or row[0] != stamp:
        con.close()
        return None
    return con


def _fill_index(con, files) -> None:
    """Every response/revisit record of `files`, in order: the last one per URL wins, and
    Scrapy's spelling of the URL (safe_url_string) points at the first record it names, unless
    a record was archived under that spelling itself (the same rules as a dict filled in order)."""
    from w3lib.url import safe_url_string  # the spelling Scrapy gives request URLs

    con.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT);"
        "CREATE TABLE urls (url TEXT PRIMARY KEY, file INTEGER, offset INTEGER) WITHOUT ROWID;"
    )
    for file_id, (path, limit) in enumerate(files):
        con.execute("INSERT INTO files VALUES (?, ?)", (file_id, path))
        batch: list[tuple[str, str, int]] = []
        for record, it in _records(Path(path), limit):
            if record.rec_type in ("response", "revisit") and record.http_headers is not None:
                uri = record.rec_headers.get_header("WARC-Target-URI")
                batch.append((uri, safe_url_string(uri), it.get_record_offset()))
                if len(batch) >= 5_000:
                    _insert(con, file_id, batch)
        _insert(con, file_id, batch)
    con.commit()


def _insert(con, file_id: int, batch: list) -> None:
    for uri, alias, offset in batch:
        con.execute("INSERT OR REPLACE INTO urls VALUES (?, ?, ?)", (uri, file_id, offset))
        con.execute("INSERT OR IGNORE INTO urls VALUES (?, ?, ?)", (alias, file_id, offset))
    batch.clear()


class ReplayDownloadHandler:
    """Scrapy download handler answering http(s) requests from WARC files (see module docstring)."""

    lazy = False

    def __init__(self, crawler):
        self.crawler = crawler
        self.index = ArchiveIndex.cached(crawler.settings.getlist("WEBTEXT_REPLAY"), crawler.settings.get("WEBTEXT_REPLAY_INDEX"))

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def download_request(self, request):
        from scrapy.http import Headers
        from scrapy.responsetypes import responsetypes

        loc = self.index.get(request.url)
        if loc is None:
            raise NotInArchive(f"{request.url} is not in the replayed WARC files")
        archived = read_response(loc[0], loc[1], max_bytes=0)
        raw = archived.raw_body
        headers = Headers()
        for name, value in archived.header_list:
            if name.lower() != "content-length":
                headers.appendlist(name, value)
        headers["Content-Length"] = str(len(raw))
        request.meta["webtext_replayed_from"] = loc
        request.meta["webtext_capture"] = {"source": "replay", "time": archived.date}
        cls = responsetypes.from_args(headers=headers, url=request.url, body=raw)
        ip = archived.ip_address
        return cls(
            url=request.url,
            status=archived.status,
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
