"""The fetch log: one Parquet row per URL with its final outcome, committed in small atomic parts.

Columns (DESIGN.md's contract first, then diagnostics):

| column | meaning |
|---|---|
| `url` | the URL as given (the links-table key) |
| `final_url` | the URL of the last response after redirects (null when nothing answered) |
| `status` | HTTP status of the last response (null when nothing answered) |
| `content_type` | its Content-Type header |
| `bytes` | body size after content decoding (what a later stage reads) |
| `error` | null for a kept HTML page, else a short error class (`non_html`, `http_404`, `timeout`, `forbidden_address`, ...; docs/fetch.md lists them) |
| `fetched_at` | UTC time the outcome was recorded |
| `warc_path`, `warc_offset` | where the last response's WARC record is (path relative to the output folder on disk; `read_fetch_log` returns it absolute) |
| `error_detail` | the exception or reason text, for humans |
| `charset`, `charset_source` | codec of an HTML body and which rule chose it (charset.py) |
| `ip` | the address actually connected to |
| `attempts`, `redirects` | download attempts for the last hop (1 + retries) and redirects followed |
| `elapsed_s`, `latency_s` | seconds from the first request reaching the downloader to the outcome; download time of the last hop |
| `source` | where the response came from: `live`, `wayback`, `commoncrawl` (archive.py) or `replay` |
| `capture_time` | when the last response was captured: the archive's capture time, the replayed record's `WARC-Date`, or the fetch time of a live response (null when nothing answered) |

Exactly once, even under `kill -9`: rows are buffered and committed as a Parquet part
(`log/part-....parquet`) written to a temporary name, fsynced and renamed. Before a part is
committed the WARC writer is fsynced and the part records, in its Parquet metadata, the size of
every WARC file it may reference (`webtext.warc_sizes`). So a committed row never points past
durable WARC bytes, and on restart `warc.recover()` cuts WARC files back to the committed sizes.
After each part the WARC writer's journal records the commit too (warc.py), so recovery can tell a
crawl that died before committing from a log part that went missing.
A rerun skips every URL that has a row: every row is a final outcome (retries happen inside the
crawl), so a URL is never logged twice. `read_fetch_log` still drops duplicate URLs (keeping the
earliest part) in case two workers were given overlapping batches, and says so on stderr.

Reading checks each part's columns first: a Parquet file in log/ that lacks a contract column or
has it with the wrong type is bad input, named in one line (exit 2), not a row of nulls. Columns
added after a part was written (diagnostics, later contract columns) read back as null.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.errors import InputError
from webtext.fetch.warc import _fsync_dir
from webtext.progress import log

LOG_DIR = "log"
WARC_SIZES_KEY = b"webtext.warc_sizes"

SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("final_url", pa.string()),
        ("status", pa.int32()),
        ("content_type", pa.string()),
        ("bytes", pa.int64()),
        ("error", pa.string()),
        ("fetched_at", pa.timestamp("ms", tz="UTC")),
        ("warc_path", pa.string()),
        ("warc_offset", pa.int64()),
        ("error_detail", pa.string()),
        ("charset", pa.string()),
        ("charset_source", pa.string()),
        ("ip", pa.string()),
        ("attempts", pa.int32()),
        ("redirects", pa.int32()),
        ("elapsed_s", pa.float64()),
        ("latency_s", pa.float64()),
        ("source", pa.string()),
        ("capture_time", pa.timestamp("s", tz="UTC")),
    ]
)
COLUMNS = SCHEMA.names


def make_row(url: str, **values) -> dict:
    """A log row with every column present (missing ones null) and `fetched_at` set to now."""
    row = dict.fromkeys(COLUMNS)
    row["url"] = url
    row["fetched_at"] = datetime.now(timezone.utc)
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown fetch-log columns: {sorted(unknown)}")
    row.update(values)
    return row


class FetchLog:
    """Buffers rows and commits them as atomic Parquet parts after syncing the WARC writer."""

    def __init__(self, out_dir, warc=None, *, commit_rows: int = 200, commit_seconds: float = 5.0):
        self.dir = Path(out_dir) / LOG_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.warc = warc
        self.commit_rows, self.commit_seconds = commit_rows, commit_seconds
        self._rows: list[dict] = []
        self._seen: set[str] = set()
        self._last_commit = time.monotonic()
        crawl_id = getattr(warc, "crawl_id", None) or f"{datetime.now(timezone.utc):%Y%m%d%H%M%S}-{os.getpid()}-{secrets.token_hex(3)}"
        self._prefix = f"part-{crawl_id}"
        self._seq = 0
        self.committed_rows = 0

    def __contains__(self, url: str) -> bool:
        return url in self._seen

    def add(self, row: dict) -> bool:
        """Buffer a row; False (and nothing written) if this URL already has one in this run."""
        if row["url"] in self._seen:
            return False
        self._seen.add(row["url"])
        self._rows.append(row)
        if len(self._rows) >= self.commit_rows:
            self.commit()
        return True

    def tick(self) -> None:
        """Commit if rows have waited `commit_seconds` (called periodically by the spider)."""
        if self._rows and time.monotonic() - self._last_commit >= self.commit_seconds:
            self.commit()

    def commit(self) -> Path | None:
        self._last_commit = time.monotonic()
        if not self._rows:
            return None
        sizes = self.warc.sync() if self.warc is not None else {}  # WARC bytes durable first
        table = pa.Table.from_pylist(self._rows, schema=SCHEMA)
        table = table.replace_schema_metadata({WARC_SIZES_KEY: json.dumps(sizes, sort_keys=True).encode()})
        name = f"{self._prefix}-{self._seq:06d}.parquet"
        self._seq += 1
        final = self.dir / name
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        if self.warc is not None:
            self.warc.committed(self._seq, sizes)  # the journal: parts and sizes now committed
        self.committed_rows += len(self._rows)
        self._rows = []
        return final


def log_parts(out_dir) -> list[Path]:
    return sorted((Path(out_dir) / LOG_DIR).glob("part-*.parquet"))


# The contract columns every part must have, with the Arrow type kind each must be.
REQUIRED = ("url", "final_url", "status", "content_type", "bytes", "error", "fetched_at", "warc_path", "warc_offset")


def _kind(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def _part_schema(path: Path) -> pa.Schema:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"unreadable fetch-log part: {exc}", path=str(path)) from None
    for name in REQUIRED:
        if name not in schema.names:
            raise InputError(f"not a fetch-log part: no {name!r} column (has {', '.join(schema.names)})", path=str(path))
    for name in schema.names:
        if name in COLUMNS:
            have, want = _kind(schema.field(name).type), _kind(SCHEMA.field(name).type)
            if have not in (want, "null"):
                raise InputError(f"not a fetch-log part: column {name!r} is {schema.field(name).type}, expected {want}", path=str(path))
    return schema


def _read_part(path: Path, columns=None) -> pa.Table:
    """One part, checked and with the log's schema (columns the part lacks read as null)."""
    schema = _part_schema(path)
    wanted = list(columns) if columns is not None else COLUMNS
    present = [c for c in wanted if c in schema.names]
    try:
        table = pq.read_table(path, columns=present)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"unreadable fetch-log part: {exc}", path=str(path)) from None
    arrays = []
    for name in wanted:
        typ = SCHEMA.field(name).type
        if name in present:
            arrays.append(table.column(name).cast(typ))
        else:
            arrays.append(pa.nulls(table.num_rows, typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema([SCHEMA.field(n) for n in wanted]))


def committed_warc_sizes(out_dir) -> dict[str, int]:
    """For each WARC file (relative path), the largest size any committed log part recorded."""
    sizes: dict[str, int] = {}
    for part in log_parts(out_dir):
        meta = _part_schema(part).metadata or {}
        for rel, size in json.loads(meta.get(WARC_SIZES_KEY, b"{}")).items():
            sizes[rel] = max(sizes.get(rel, 0), int(size))
    return sizes


def logged_urls(out_dir) -> set[str]:
    """Every URL that already has a row (a final outcome) in out_dir's log."""
    urls: set[str] = set()
    for part in log_parts(out_dir):
        urls.update(_read_part(part, columns=["url"]).column("url").to_pylist())
    return urls


def read_fetch_log(out_dir, *, urls=None) -> list[dict]:
    """The fetch log of out_dir as rows (one per URL), `warc_path` made absolute.

    With `urls`, only rows for those URLs, in the order given (URLs without a row are absent).
    """
    out_dir = Path(out_dir)
    parts = log_parts(out_dir)
    if not parts:
        return []
    rows: dict[str, dict] = {}
    duplicates = 0
    for part in parts:
        for row in _read_part(part).to_pylist():
            if row["url"] in rows:
                duplicates += 1
                continue
            if row["warc_path"] and not os.path.isabs(row["warc_path"]):
                row["warc_path"] = str(out_dir / row["warc_path"])
            rows[row["url"]] = row
    if duplicates:
        log("fetch", f"{out_dir}: {duplicates} duplicate log row(s) ignored (overlapping batches?)")
    if urls is None:
        return list(rows.values())
    return [rows[u] for u in urls if u in rows]
