"""WARC archive of every HTTP exchange, written so that each logged URL has exactly one set of records.

Files are `OUT/warc/webtext-<crawl id>-<seq>.warc.gz`, one gzip member per record (so a record
can be read from its offset alone), opened fresh by every crawl process (never appended to after
a crash) and rolled to a new file past `max_bytes`. A warcinfo record opens each file.

**Sets.** The spider does not write a hop when it arrives: the exchanges of one URL (every
redirect hop and retried attempt, each a response record and its request record) are kept with
the request and written together, contiguously, by `write_set()` at the moment the URL's log row
is added (spider.record). A kill -9 therefore never leaves half a chain behind a committed
boundary: the bytes before a committed size (log.py) are exactly the sets of committed rows.
robots.txt fetches are the one exception: they belong to a host, not to a logged URL, and are
written as they arrive, marked `WebText-Role: robots`.

**What a record holds.** What the server sent, as Scrapy received it: the status line, the
headers and the body *before* content decoding (a gzip body stays gzip, with its
Content-Encoding). Twisted has already removed any chunked transfer coding, so
`Transfer-Encoding` is dropped and Content-Length is set to the stored body's length.
`WARC-Target-URI` is the request URL as sent (percent-encoded, IDNA host, no fragment: a valid
URI, never a raw IRI). `WARC-IP-Address` is the address actually connected to. Extension
fields (WARC 1.1 allows other named fields; `warcio check` and pywb ignore them):

| field | on | meaning |
|---|---|---|
| `WebText-URL` | every response of a set | the links-table URL the set belongs to (the log's `url`) |
| `WebText-Role` | every response | `final` (the record the log row points at), `hop` (an earlier hop or attempt), `robots` |
| `WebText-Outcome` | the `final` response | `kept`, or the log row's error class |
| `WebText-Refers-To-Filename`, `-Offset` | revisit records | where the original record is (same folder) |
| `WebText-Archive-Source`, `WebText-Capture-URI`, `WebText-Submitted`, `WebText-Capture-Filename`, `-Offset`, `-Length` | responses fetched from a web archive | which archive capture the record is (archive.py); its `WARC-Date` is the capture time |

**Revisits.** A payload already archived in the same WARC file (same `WARC-Payload-Digest`) is
written as a `revisit` record of the identical-payload-digest profile: the HTTP headers only,
`WARC-Refers-To` / `-Target-URI` / `-Date` naming the original record, plus where it is. The
digest index covers the file being written (at most `dedup_entries` payloads), so memory is
bounded by a file, a revisit can be read with nothing but its own file (also on remote storage),
and a duplicate in another file (another crawl process, or after a roll at 1 GiB) is stored
again. Readers (replay.py) resolve a revisit to the original's body.

**Crash recovery** (`recover()`, run before every crawl). Each crawl process keeps a journal,
`OUT/warc/.journal-<crawl id>.json`, locked while the process lives: the WARC files it created
(each entered *before* the file is created) and, after each log commit, how many log parts it
committed and the committed size of each file. Recovery then decides file by file:

- a file of a live crawl (its journal is locked): untouched;
- a file whose journal says it is this folder's, with bytes past the committed size: those bytes
  were written by a crawl that died before committing them (a torn record, sets of URLs without a
  row): truncated, or the file removed when nothing in it was ever committed. Those URLs are
  fetched again;
- anything else is not recovery's to change, and it stops with an error naming the file: a WARC
  no journal claims and no log part mentions (copied in, or the folder's log/ removed), a file
  whose log part is missing (the journal counts more committed parts or bytes than log/ holds), a
  file shorter than its committed size. Recovery never deletes what this folder's crawls did not
  write, and never cuts bytes a log part committed.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext import __version__
from webtext.errors import InputError
from webtext.progress import log

WARC_DIR = "warc"
LOG_DIR = "log"  # log.py's folder; recovery checks that the parts a journal counts are there
_DROP_HEADERS = {"transfer-encoding", "content-length"}

# Extension fields (module docstring).
F_URL, F_ROLE, F_OUTCOME = "WebText-URL", "WebText-Role", "WebText-Outcome"
F_REF_FILE, F_REF_OFFSET = "WebText-Refers-To-Filename", "WebText-Refers-To-Offset"
ROLE_FINAL, ROLE_HOP, ROLE_ROBOTS = "final", "hop", "robots"


def new_crawl_id() -> str:
    """A name for one crawl process: UTC time, pid, random (sorts by start time)."""
    return f"{datetime.now(timezone.utc):%Y%m%d%H%M%S}-{os.getpid()}-{secrets.token_hex(3)}"


def target_uri(url: str) -> str:
    """A valid URI for WARC-Target-URI: percent-encoded as on the request line, IDNA host, no fragment."""
    from w3lib.url import safe_url_string

    parts = urlsplit(safe_url_string(url))
    return urlunsplit(parts._replace(fragment=""))


def _header_value(value: str) -> str:
    """A WARC field value cannot hold a line break or other control character: percent-encode those."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "".join(f"%{ord(c):02X}" if ord(c) < 32 or ord(c) == 127 else c for c in value)
    return value


def _header_list(headers) -> list[tuple[str, str]]:
    """Scrapy Headers, a dict or a list of pairs -> [(name, value)] as text, without hop-by-hop framing."""
    if hasattr(headers, "items") and not isinstance(headers, list):
        pairs = []
        for name, values in headers.items():
            for value in values if isinstance(values, (list, tuple)) else [values]:
                pairs.append((name, value))
    else:
        pairs = list(headers or ())
    out = []
    for name, value in pairs:
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name.lower() not in _DROP_HEADERS:
            out.append((name, value))
    return out


def _warc_date(when: datetime | None) -> str:
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Exchange:
    """One HTTP exchange to archive: a response record and (by default) its request record.

    `date` is the WARC-Date (default: when written; an archive source gives the capture time) and
    `warc_headers` adds fields to the response record (e.g. where a capture came from)."""

    url: str  # the request URL; becomes WARC-Target-URI (see target_uri)
    status: int
    response_headers: object  # Scrapy Headers, a dict, or [(name, value)]
    body: bytes
    reason: str = ""
    method: str = "GET"
    request_headers: object = ()
    ip_address: str | None = None
    date: datetime | None = None
    warc_headers: dict = field(default_factory=dict)
    with_request: bool = True
    truncated: str | None = None  # WARC-Truncated value when the body was cut ("length", "time", ...)


class Journal:
    """This crawl process's evidence for recovery (module docstring), locked while the process lives.

    The state (`.journal-<id>.json`) is replaced atomically on each save; the lock is held on a
    separate empty file (`.journal-<id>.lock`), since a rename would swap a locked file for an
    unlocked one."""

    def __init__(self, wdir: Path, crawl_id: str):
        self.path = wdir / f".journal-{crawl_id}.json"
        self.state = {"crawl": crawl_id, "files": {}, "parts": 0}
        self._lock = open(wdir / f".journal-{crawl_id}.lock", "x")
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.save()

    def save(self) -> None:
        _write_json_durably(self.path, self.state)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None


def _write_json_durably(path: Path, state: dict) -> None:
    """Write `state` to `path` atomically and durably (temporary name, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RollingWarcWriter:
    """Writes sets of exchanges to `out_dir/warc/`, rolling files by size; see the module docstring."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        max_bytes: int = 2**30,
        operator: str = "",
        *,
        crawl_id: str | None = None,
        dedup_entries: int = 100_000,
    ):
        self.out_dir = Path(out_dir)
        self.dir = self.out_dir / WARC_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.operator = operator
        self.crawl_id = crawl_id or new_crawl_id()
        self._prefix = f"webtext-{self.crawl_id}"
        self._seq = 0
        self._fh = None
        self._writer: WARCWriter | None = None
        self._relpath = ""
        self._journal: Journal | None = None
        self.sizes: dict[str, int] = {}  # every file this writer wrote -> its size (relative path)
        self.records = 0
        self.revisits = 0
        self.bytes_written = 0
        # payload digest -> (record id, target URI, WARC-Date, relative path, offset) of the original
        self._digests: OrderedDict[str, tuple[str, str, str, str, int]] = OrderedDict()
        self._dedup_entries = dedup_entries

    # -- files ---------------------------------------------------------------------------
    def _open(self) -> None:
        name = f"{self._prefix}-{self._seq:05d}.warc.gz"
        self._seq += 1
        rel = f"{WARC_DIR}/{name}"
        if self._journal is None:
            self._journal = Journal(self.dir, self.crawl_id)
        self._journal.state["files"][rel] = 0  # claimed before it exists: recovery knows it is ours
        self._journal.save()
        fh = open(self.dir / name, "xb")
        self._fh, self._relpath = fh, rel
        self._digests.clear()  # revisits refer within their own file
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
            self._fh.close()
            self._fh = self._writer = None

    # -- records -------------------------------------------------------------------------
    def write_set(self, exchanges: list[Exchange], *, fetch_url: str | None = None, outcome: str | None = None,
                  role: str | None = None) -> list[tuple[str, int]]:
        """Write the exchanges of one URL contiguously; return (relative path, offset) of each response.

        With `fetch_url`, the records are marked as that URL's set: the last response is `final`
        and carries `outcome`, the others are `hop`s. With `role` (e.g. "robots") every response
        gets that role. Without either, no extension fields are added."""
        if not exchanges:
            return []
        self._roll_if_needed()
        assert self._writer is not None and self._fh is not None
        locations = []
        for i, ex in enumerate(exchanges):
            extra = dict(ex.warc_headers)
            if role is not None:
                extra[F_ROLE] = role
            elif fetch_url is not None:
                extra[F_URL] = _header_value(fetch_url)
                extra[F_ROLE] = ROLE_FINAL if i == len(exchanges) - 1 else ROLE_HOP
                if i == len(exchanges) - 1:
                    extra[F_OUTCOME] = outcome or "kept"
            locations.append(self._write_exchange(ex, extra))
        self.sizes[self._relpath] = self._fh.tell()
        self.bytes_written = sum(self.sizes.values())
        return locations

    def _write_exchange(self, ex: Exchange, extra: dict) -> tuple[str, int]:
        uri = target_uri(ex.url)
        when = _warc_date(ex.date)
        parts = urlsplit(uri)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        resp_headers = _header_list(ex.response_headers)
        resp_headers.append(("Content-Length", str(len(ex.body))))
        http = StatusAndHeaders(f"{ex.status} {ex.reason}".strip(), resp_headers, protocol="HTTP/1.1")
        warc_headers = {"WARC-Date": when, **extra}
        if ex.ip_address:
            warc_headers["WARC-IP-Address"] = ex.ip_address
        if ex.truncated:
            warc_headers["WARC-Truncated"] = ex.truncated
        digest = "sha1:" + base64.b32encode(hashlib.sha1(ex.body).digest()).decode()
        original = self._digests.get(digest) if ex.body else None
        if original is not None:
            orig_id, orig_uri, orig_date, orig_rel, orig_offset = original
            warc_headers.update({
                "WARC-Refers-To": orig_id,
                F_REF_FILE: orig_rel.rsplit("/", 1)[-1],
                F_REF_OFFSET: str(orig_offset),
            })
            response = self._writer.create_revisit_record(
                uri, digest, orig_uri, orig_date, http_headers=http, warc_headers_dict=warc_headers
            )
            self.revisits += 1
        else:
            warc_headers["WARC-Payload-Digest"] = digest
            response = self._writer.create_warc_record(
                uri, "response", payload=io.BytesIO(ex.body), length=len(ex.body), http_headers=http,
                warc_headers_dict=warc_headers,
            )
        offset = self._fh.tell()
        self._writer.write_record(response)
        self.records += 1
        if original is None and ex.body:
            self._digests[digest] = (response.rec_headers.get_header("WARC-Record-ID"), uri, when, self._relpath, offset)
            if len(self._digests) > self._dedup_entries:
                self._digests.popitem(last=False)
        if ex.with_request:
            req_headers = [("Host", parts.netloc)] + [h for h in _header_list(ex.request_headers) if h[0].lower() != "host"]
            req_http = StatusAndHeaders(f"{ex.method} {path} HTTP/1.1", req_headers, is_http_request=True)
            request = self._writer.create_warc_record(
                uri,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=req_http,
                warc_headers_dict={
                    "WARC-Date": when,
                    "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
                },
            )
            self._writer.write_record(request)
            self.records += 1
        return self._relpath, offset

    def write_exchange(self, target_uri_: str, *, method: str, request_url: str, request_headers, status: int,
                       reason: str, response_headers, body: bytes, ip_address: str | None = None) -> tuple[str, int]:
        """One exchange, unmarked (kept for callers of the earlier API); returns its response's location."""
        ex = Exchange(request_url or target_uri_, status, response_headers, body, reason=reason, method=method,
                      request_headers=request_headers, ip_address=ip_address)
        return self.write_set([ex])[0]

    # -- commits ---------------------------------------------------------------------------
    def sync(self) -> dict[str, int]:
        """Flush and fsync the open file; return the size of every file this writer wrote."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.sizes[self._relpath] = self._fh.tell()
        return dict(self.sizes)

    def committed(self, parts: int, sizes: dict[str, int]) -> None:
        """Record in the journal that `parts` log parts are committed, covering `sizes` (log.py calls this)."""
        if self._journal is None:
            return
        self._journal.state["parts"] = parts
        self._journal.state["files"].update({rel: size for rel, size in sizes.items() if rel in self._journal.state["files"]})
        self._journal.save()

    def close(self) -> dict[str, int]:
        self._close_current()
        if self._journal is not None:
            self._journal.close()
        return dict(self.sizes)


# -- recovery ---------------------------------------------------------------------------------


def _refuse(path, message: str) -> InputError:
    return InputError(
        message + "; `webtext fetch` never deletes or cuts archive data it did not write: move the file "
        "out of the folder (or restore the missing log part), or fetch into a new --out folder",
        path=str(path),
    )


def recover(out_dir: str | os.PathLike, committed: dict[str, int] | None = None) -> dict[str, int]:
    """Drop what crashed crawls of out_dir wrote and never committed (see the module docstring).

    `committed` maps relative WARC paths to the largest size a committed log part recorded
    (default: read from out_dir's log). Returns {relative path: bytes removed} for the files
    changed. Raises InputError naming the file when the folder holds archive data recovery must
    not touch.
    """
    out_dir = Path(out_dir)
    wdir = out_dir / WARC_DIR
    if not wdir.is_dir():
        return {}
    if committed is None:
        from webtext.fetch.log import committed_warc_sizes

        committed = committed_warc_sizes(out_dir)
    handles, journals, live = [], {}, []
    try:
        for jpath in sorted(wdir.glob(".journal-*.json")):
            crawl = jpath.name[len(".journal-") : -len(".json")]
            fh = open(wdir / f".journal-{crawl}.lock", "a")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live crawl process: its files are its own business
                live.append(f"{WARC_DIR}/webtext-{crawl}-")
                fh.close()
                continue
            handles.append(fh)
            try:
                journals[jpath] = json.loads(jpath.read_text(encoding="utf-8"))
            except ValueError:
                raise _refuse(jpath, "unreadable crawl journal") from None
        return _recover_files(out_dir, committed, journals, tuple(live))
    finally:
        for fh in handles:
            fh.close()


def _recover_files(out_dir: Path, committed: dict[str, int], journals: dict, live: tuple) -> dict[str, int]:
    owner: dict[str, dict] = {}
    for jpath, state in journals.items():
        crawl = state.get("crawl", "")
        for seq in range(int(state.get("parts", 0))):
            part = out_dir / LOG_DIR / f"part-{crawl}-{seq:06d}.parquet"
            if not part.exists():
                raise _refuse(part, f"this fetch-log part is missing, but crawl journal {jpath.name} counts it as committed")
        for rel in state.get("files", {}):
            owner[rel] = state
    for rel in committed:
        if not rel.startswith(live or ("\0",)) and not (out_dir / rel).exists():
            raise _refuse(out_dir / rel, "the fetch log references this WARC file but it is missing")
    changed: dict[str, int] = {}
    dirty: list[dict] = []
    wdir = out_dir / WARC_DIR
    for path in sorted(set(wdir.glob("*.warc.gz")) | set(wdir.glob("*.warc"))):
        rel = f"{WARC_DIR}/{path.name}"
        if live and rel.startswith(live):
            continue
        size = path.stat().st_size
        state = owner.get(rel)
        c = committed.get(rel)
        if state is None:
            if c is None:
                raise _refuse(path, "no fetch-log part of this folder mentions this WARC file and no crawl journal "
                                    "claims it (copied in from elsewhere, or the folder's log/ was removed)")
            if size > c:
                raise _refuse(path, f"the WARC file is {size - c:,} bytes longer than the fetch log committed and no "
                                    "crawl journal claims it (a log part lost?)")
        else:
            journal_size = int(state["files"].get(rel, 0))
            if journal_size > (c or 0):
                raise _refuse(path, f"the crawl journal says {journal_size:,} bytes of this WARC file were committed, "
                                    f"the fetch-log parts account for {c or 0:,}: a log part is missing")
            c = c or 0
            if size > c:
                if c == 0:
                    path.unlink()
                    del state["files"][rel]
                else:
                    with open(path, "r+b") as fh:
                        fh.truncate(c)
                        fh.flush()
                        os.fsync(fh.fileno())
                dirty.append(state)
                changed[rel] = size - c
        if c is not None and size < c:
            raise _refuse(path, f"the WARC file is {size:,} bytes but the fetch log committed {c:,}: it was cut or replaced")
    for state in journals.values():  # entries for files created-then-killed before they existed
        for rel, size in list(state.get("files", {}).items()):
            if not (out_dir / rel).exists():
                if int(size) > 0:
                    raise _refuse(out_dir / rel, "this WARC file is missing, but its crawl journal counts committed bytes in it")
                del state["files"][rel]
                dirty.append(state)
    for jpath, state in journals.items():
        if any(state is d for d in dirty):
            _write_json_durably(jpath, state)
    if changed:
        log("fetch", f"recovered {len(changed)} WARC file(s): removed {sum(changed.values()):,} uncommitted bytes "
                     "(written by a crawl that died before logging them; those URLs are fetched again)")
    return changed


def warc_files(out_dir: str | os.PathLike) -> list[Path]:
    """The WARC files of an output folder, sorted by name (= by creation time)."""
    return sorted((Path(out_dir) / WARC_DIR).glob("*.warc.gz"))
