"""Pushshift submission dumps: find the files, then stream their records one at a time.

Formats are chosen by file name:

| suffix                       | how it is read                                                        |
|------------------------------|-----------------------------------------------------------------------|
| `.zst`, `.zstd`              | zstandard, streamed frame by frame with a window of up to 2**31 bytes  |
| `.xz`, `.lzma`               | `lzma`                                                                |
| `.bz2`                       | `bz2`                                                                 |
| `.gz`                        | `gzip`                                                                |
| `.ndjson`, `.jsonl`, `.json` | plain text                                                            |

Inside, a file holds NDJSON (one submission object per line, the Pushshift layout) or, if its first
non-blank character is `[`, one JSON array of objects (decoded incrementally, never whole).

Pushshift's later dumps are compressed with `--long=31` (a 2 GiB window with long-distance
matching); a default zstandard decompressor refuses them ("Frame requires too much memory"), so
the decompressor here is created with `max_window_size=2**31`. Reading holds a chunk of
compressed input, its decompressed output and one partial line - plus, for such a stream, the
decoder's history: up to 2 GiB that back-references may reach, filled as data is decompressed
and flat once full. That is the format's price (`zstd -d --long=31` pays it too); `.xz`, `.bz2`
and zstd files written without `--long` need a few MiB.

Month selection (`select_dump_files`): folders are expanded (recursively, sorted, hidden files and
comment dumps `RC_*` left out); a file whose name carries a month - `RS_2017-12.zst`,
`RS_v2_2005-07.xz`, daily `RS_2018-01-01.zst` - is skipped without being opened when that month is
after `until`. Files without a month in their name are always read; their records are filtered by
`created_utc` like every other record.

Bad input (`iter_records`):
- a malformed JSON line (or invalid UTF-8) is counted in the report as `malformed_json`, a JSON
  value that is not an object as `not_an_object`; reading goes on. Without a report to count in,
  they raise `InputError` instead: nothing is dropped silently.
- a truncated or corrupt compressed stream raises `InputError` naming the file and how far reading
  got (compressed bytes consumed, complete lines read) with `on_error="fail"` (the default). With
  `on_error="skip"` the records read before the damage are kept, the damaged rest of the file is
  counted as one `corrupt_file` drop (its sample says where), and the next file is read.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import lzma
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from webtext.errors import ConfigError, InputError
from webtext.progress import log
from webtext.report import StageReport

# Real dumps are written with `zstd --long=31`: the decompressor must accept a 2 GiB window.
ZSTD_MAX_WINDOW = 2**31
# Compressed bytes read at a time. Small enough that the decompressed output of one chunk stays a
# few MiB even at the high ratios that long-distance matching reaches on JSON.
CHUNK = 64 * 1024

COMPRESSION = {
    ".zst": "zstd",
    ".zstd": "zstd",
    ".xz": "xz",
    ".lzma": "xz",
    ".bz2": "bz2",
    ".gz": "gzip",
    ".ndjson": "plain",
    ".jsonl": "plain",
    ".json": "plain",
}

# RS_2017-12.zst, RS_v2_2005-07.xz, RS_2018-01-01.zst (daily); RC_ are comment dumps.
_MONTH_IN_NAME = re.compile(r"^(R[SC])_(?:v\d+_)?(\d{4})-(\d{2})(?:-\d{2})?(?:\.|$)")
_UNTIL = re.compile(r"^(\d{4})-(\d{2})$")

ON_ERROR = ("fail", "skip")


# ---------------------------------------------------------------------------------------------
# Months and file selection
# ---------------------------------------------------------------------------------------------


def parse_month(value: str) -> tuple[int, int]:
    """`"2017-12"` -> `(2017, 12)`; anything else is a ConfigError."""
    m = _UNTIL.match(str(value).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ConfigError(f"--until must be a month as YYYY-MM (like 2017-12), not {value!r}")
    return int(m.group(1)), int(m.group(2))


def month_end_utc(until: str) -> int:
    """The first instant after the month `until`, as a Unix time: records must be strictly before it.

    `month_end_utc("2017-12")` is 2018-01-01T00:00:00Z = 1514764800.
    """
    import calendar

    year, month = parse_month(until)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


def month_of_file(path: str | os.PathLike) -> tuple[int, int] | None:
    """The month a dump's file name names (`RS_2017-12.zst` -> (2017, 12)), or None."""
    m = _MONTH_IN_NAME.match(Path(path).name)
    return (int(m.group(2)), int(m.group(3))) if m else None


def compression_of(path: str | os.PathLike) -> str | None:
    """'zstd', 'xz', 'bz2', 'gzip' or 'plain' by the file's suffix; None if not a dump file."""
    return COMPRESSION.get(Path(path).suffix.lower())


@dataclass
class DumpPlan:
    """The files to read, and those left unread because their month is after `until`."""

    selected: list[Path]
    skipped: list[Path]


def plan_dump_files(paths: Iterable[str | os.PathLike], until: str | None) -> DumpPlan:
    """Expand folders, check files exist and are dumps, and split off months after `until`."""
    cap = parse_month(until) if until is not None else None
    found: dict[Path, Path] = {}  # resolved -> as given, so a file named twice is read once
    for given in paths:
        p = Path(given)
        if p.is_dir():
            inside = [
                f
                for f in sorted(p.rglob("*"))
                if f.is_file()
                and compression_of(f)
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and not f.name.startswith("RC_")
            ]
            if not inside:
                raise InputError("folder holds no dump files (.zst, .xz, .bz2, .gz, .ndjson, .jsonl, .json)", path=str(p))
            for f in inside:
                found.setdefault(f.resolve(), f)
        elif p.is_file():
            if not compression_of(p):
                raise InputError(
                    "not a dump file: expected .zst, .xz, .bz2, .gz, .ndjson, .jsonl or .json", path=str(p)
                )
            if p.name.startswith("RC_"):
                raise InputError("this is a comments dump (RC_); harvest reads submission dumps (RS_)", path=str(p))
            found.setdefault(p.resolve(), p)
        else:
            raise InputError("no such file or folder", path=str(p))
    selected, skipped = [], []
    for f in sorted(found.values(), key=lambda f: (month_of_file(f) or (0, 0), str(f))):
        month = month_of_file(f)
        (skipped if cap is not None and month is not None and month > cap else selected).append(f)
    return DumpPlan(selected, skipped)


def select_dump_files(paths: Iterable[str | os.PathLike], until: str | None) -> list[Path]:
    """The dump files to read: folders expanded, months after `until` (by file name) left out, unread."""
    return plan_dump_files(paths, until).selected


# ---------------------------------------------------------------------------------------------
# Decompression: byte chunks, with a clear error when the stream is damaged
# ---------------------------------------------------------------------------------------------


class _Damaged(Exception):
    """The compressed stream ended early or holds bad data."""


def _zstd_chunks(raw) -> Iterator[bytes]:
    """Decompressed chunks of a zstd file, frame by frame.

    zstandard's `stream_reader` returns a short read, not an error, when the file is cut inside a
    frame; feeding a `decompressobj` per frame lets us see that the last frame never finished.
    """
    import zstandard

    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    dobj = None
    try:
        while data := raw.read(CHUNK):
            while data:
                if dobj is None:
                    dobj = dctx.decompressobj()
                out = dobj.decompress(data)
                if out:
                    yield out
                if dobj.eof:  # frame complete; what follows belongs to the next frame
                    data, dobj = dobj.unused_data, None
                else:
                    data = b""
    except zstandard.ZstdError as exc:
        raise _Damaged(f"corrupt zstd data ({exc})") from None
    if dobj is not None:
        raise _Damaged("truncated zstd stream: the file ends inside a frame")


def _stdlib_chunks(opener, raw, name: str) -> Iterator[bytes]:
    f = opener(raw)
    try:
        while data := f.read(CHUNK * 4):
            yield data
    except EOFError:
        raise _Damaged(f"truncated {name} stream: the file ends before the end-of-stream marker") from None
    except (lzma.LZMAError, OSError, zlib.error, ValueError) as exc:
        raise _Damaged(f"corrupt {name} data ({exc})") from None


def _plain_chunks(raw) -> Iterator[bytes]:
    while data := raw.read(CHUNK * 4):
        yield data


def _chunks(path: Path, raw) -> Iterator[bytes]:
    kind = compression_of(path)
    if kind == "zstd":
        return _zstd_chunks(raw)
    if kind == "xz":
        return _stdlib_chunks(lambda r: lzma.LZMAFile(r, "rb"), raw, "xz")
    if kind == "bz2":
        return _stdlib_chunks(lambda r: bz2.BZ2File(r, "rb"), raw, "bz2")
    if kind == "gzip":
        return _stdlib_chunks(lambda r: gzip.GzipFile(fileobj=r, mode="rb"), raw, "gzip")
    if kind == "plain":
        return _plain_chunks(raw)
    raise InputError("not a dump file", path=str(path))


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass
class _Where:
    """How far reading got, for error messages."""

    raw: object
    size: int
    items: int = 0
    unit: str = "lines"

    def describe(self) -> str:
        try:
            pos = self.raw.tell()
        except (OSError, ValueError):
            pos = -1
        return f"after {pos:,} of {self.size:,} compressed bytes, {self.items:,} complete {self.unit}"


def _line_runs(chunks: Iterator[bytes]) -> Iterator[list]:
    """The decompressed stream as runs of complete lines (about one per chunk), without newlines.

    Each run is decoded from UTF-8 in one go and split as text (`json.loads` on a str skips the
    per-line encoding sniffing it does for bytes); a run holding invalid UTF-8 is handed out as
    bytes lines instead, so only the bad line fails to parse.
    """
    for block in _line_blocks(chunks):
        try:
            yield str(block, "utf-8").split("\n")
        except UnicodeDecodeError:
            yield bytes(block).split(b"\n")


def _line_blocks(chunks: Iterator[bytes]) -> Iterator[bytes | memoryview]:
    """The decompressed stream as blocks of complete lines: the bytes of one or more lines, without
    the newline after the last. Most blocks are a view into a decompressed chunk (no copy): the
    lines between its first and last newline; a line that straddles two chunks is a block of its
    own. A UTF-8 byte order mark at the start is dropped; a last line without a newline is still a
    line (a cut one fails to parse, counted)."""
    pending = b""
    first = True
    for chunk in chunks:
        if first and chunk.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
            chunk = chunk[3:]
        first = False
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending += chunk
            continue
        start = 0
        if pending:  # the line begun in an earlier chunk ends at this chunk's first newline
            start = chunk.find(b"\n") + 1
            yield pending + chunk[: start - 1]
        if start <= cut:
            yield memoryview(chunk)[start:cut]
        pending = chunk[cut + 1 :]
    if pending:
        yield pending


def _array_items(first: bytes, chunks: Iterator[bytes], where: _Where, path: Path) -> Iterator[object]:
    """Elements of one top-level JSON array, decoded incrementally: memory is one element, not the file."""
    decoder = json.JSONDecoder()
    text_of = codecs.getincrementaldecoder("utf-8-sig")("strict")
    buf = text_of.decode(first)
    pos = buf.index("[") + 1
    eof = False

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        try:
            chunk = next(chunks)
        except StopIteration:
            eof = True
            buf = buf[pos:] + text_of.decode(b"", final=True)
            pos = 0
            return True
        buf = buf[pos:] + text_of.decode(chunk)
        pos = 0
        return True

    expect_value = True
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n":
            pos += 1
        if pos >= len(buf):
            if not more():
                raise _Damaged("JSON array not closed: the file ends inside it")
            continue
        ch = buf[pos]
        if ch == "]" and (expect_value is False or where.items == 0):
            return
        if ch == "," and not expect_value:
            pos += 1
            expect_value = True
            continue
        if not expect_value:
            raise _Damaged(f"bad JSON array: expected ',' or ']' after element {where.items:,}")
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError:
            # Maybe the element is only cut by the chunk boundary: read more and try again.
            if more():
                continue
            raise _Damaged(f"bad JSON in array element {where.items + 1:,}") from None
        if end == len(buf) and not eof:  # a number at the chunk end may continue in the next chunk
            if more():
                continue
        pos = end
        where.items += 1
        expect_value = False
        yield value


def iter_records(
    path: str | os.PathLike,
    *,
    on_error: str = "fail",
    report: StageReport | None = None,
    fields: type | None = None,
    batches: bool = False,
) -> Iterator:
    """Decoded submission objects of one dump file, streamed (see `iter_record_batches`): one at
    a time, or with `batches=True` in lists as `iter_record_batches` gives them."""
    runs = iter_record_batches(path, on_error=on_error, report=report, fields=fields)
    return runs if batches else chain.from_iterable(runs)


def iter_record_batches(
    path: str | os.PathLike,
    *,
    on_error: str = "fail",
    report: StageReport | None = None,
    fields: type | None = None,
) -> Iterator[list]:
    """Decoded submission objects of one dump file, streamed as lists (one per decompressed chunk,
    a thousand records or so), in file order.

    Malformed lines are counted in `report` (`malformed_json`, `not_an_object`) and skipped; a
    damaged compressed stream raises `InputError` or, with `on_error="skip"`, is counted as one
    `corrupt_file` drop. A file that is empty (0 bytes, or nothing but whitespace once
    decompressed) or cannot be opened raises `InputError` or, with `on_error="skip"`, is counted
    as one `unreadable_file` drop: never a silent success. Blank lines are not records and are not
    counted; a blank line holds only JSON's whitespace (space, tab, CR, LF), and any other line is
    a record or a counted drop.

    `fields`: a `msgspec.Struct` type naming the fields wanted (`links.RecordFields`). NDJSON lines
    are then decoded straight into it (typed, only those fields, no dict; see `_typed_runs`), a
    whole run of lines in one call when the run is plain. A line the typed decoder refuses (a field
    of an unexpected type, not an object, not JSON) is decoded again with `json.loads` and handed
    out as a dict, or counted as malformed exactly as without `fields`: the typed path changes the
    speed, never which records come out. JSON-array files always give dicts.
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    path = Path(path)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        _unreadable(path, f"cannot open: {exc.strerror}", on_error, report)
        return
    with raw:
        where = _Where(raw, os.fstat(raw.fileno()).st_size)
        if where.size == 0:
            _unreadable(path, "empty file (0 bytes): not a dump", on_error, report)
            return
        chunks = _chunks(path, raw)
        try:
            # Peek at the first non-blank byte: `[` means one JSON array, anything else NDJSON.
            first = b""
            for chunk in chunks:
                first += chunk
                if first.lstrip(b"\xef\xbb\xbf \t\r\n"):
                    break
            if not first.lstrip(b"\xef\xbb\xbf \t\r\n"):
                _unreadable(path, "holds no records: nothing but whitespace once decompressed", on_error, report)
                return
            if first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
                where.unit = "array elements"
                batch: list = []
                for value in _array_items(first, chunks, where, path):
                    if isinstance(value, dict):
                        batch.append(value)
                        if len(batch) >= 1024:
                            yield batch
                            batch = []
                    else:
                        _bad(report, "not_an_object", path, where.items, "array element")
                if batch:
                    yield batch
                return
            if fields is not None:
                yield from _typed_runs(_prepend(first, chunks), fields, where, path, report)
                return
            for run in _line_runs(_prepend(first, chunks)):
                batch = []
                for line in run:
                    where.items += 1
                    if not line.strip(" \t\r\n" if isinstance(line, str) else b" \t\r\n"):  # JSON's whitespace
                        continue
                    value = _loads(line, where, path, report)
                    if value is not None:
                        batch.append(value)
                if batch:
                    yield batch
        except _Damaged as exc:
            position = where.describe()
            if on_error == "fail":
                raise InputError(
                    f"{exc}; rerun with --on-error skip to count it and go on", path=str(path), position=position
                ) from None
            if report is not None:
                report.drop("corrupt_file", example=f"{path} ({position}): {exc}")
            log("harvest", f"skipping the rest of {path} ({position}): {exc}")


def _loads(line: str | bytes, where: _Where, path: Path, report: StageReport | None) -> dict | None:
    """One line through `json.loads`: the object, or None after counting why it is not one."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _bad(report, "malformed_json", path, where.items, "line")
        return None
    if isinstance(value, dict):
        return value
    _bad(report, "not_an_object", path, where.items, "line")
    return None


def _utf8(data: bytes | memoryview) -> bool:
    """Is `data` valid UTF-8? (msgspec checks the strings it builds, not those it skips.) For a
    view, the whole buffer being ASCII is enough."""
    if (data.obj if type(data) is memoryview else data).isascii():
        return True
    try:
        str(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _plain_lines(data: bytes) -> int:
    """The number of lines in `data` if every one starts with `{` and ends with `}` (or `}` and a
    CR), else 0. Vectorised: one pass of numpy over the bytes, then a look at each newline's
    neighbours (`bytes.count` is a byte-at-a-time loop, several times slower)."""
    import numpy as np

    a = np.frombuffer(data, np.uint8)
    n = len(a)
    if n < 2 or a[0] != _OPEN or not (a[-1] == _CLOSE or (a[-1] == _CR and a[-2] == _CLOSE)):
        return 0
    nl = np.flatnonzero(a == _NL)
    if len(nl):
        before = a[nl - 1]  # nl >= 1: the data starts with `{`; nl + 1 < n: it ends with `}` or CR
        if not (a[nl + 1] == _OPEN).all():
            return 0
        closed = before == _CLOSE
        if not closed.all() and not (closed | ((before == _CR) & (a[nl - 2] == _CLOSE))).all():
            return 0
    return len(nl) + 1


_OPEN, _CLOSE, _CR, _NL = b"{}\r\n"


def _typed_runs(chunks: Iterator[bytes], fields: type, where: _Where, path: Path, report: StageReport | None):
    """NDJSON decoded into `fields` structs, one list per run of lines.

    A plain run - every line one object from its first byte to its last (`{` ... `}`, or `}` CR in
    a CRLF file; no blank lines), valid UTF-8 - is decoded in one call (`Decoder.decode_lines`, no
    Python work per line). That call alone is laxer than reading line by line: it would also
    accept one object spread over two lines, or two objects on one line. Neither can pass unseen:
    in a run where
    every line starts with `{` and ends with `}`, an object cannot continue past a line's end
    (after a closing `}` inside an object JSON allows only `,`, `}` or `]`, never the next line's
    `{`, and a string cannot hold a raw newline), so each line holds at least one object, and
    `decode_lines` returning exactly one object per line means each line is exactly one object.
    Any other run, or one the decoder refuses, is read line by line: a line the typed decoder
    refuses goes through `_loads` (as the dict path reads it: a dict, or a counted drop).
    """
    import msgspec

    decoder = msgspec.json.Decoder(fields)
    decode, decode_lines = decoder.decode, decoder.decode_lines
    # DecodeError (not JSON), ValidationError (types), UnicodeDecodeError (bad UTF-8), deep nesting
    refused = (msgspec.MsgspecError, ValueError, RecursionError)
    for data in _line_blocks(chunks):
        start = where.items
        utf8 = _utf8(data)
        n = _plain_lines(data) if utf8 else 0
        records = None
        if n:
            try:
                records = decode_lines(data)
            except refused:
                pass
            else:
                if len(records) != n:
                    records = None
        if records is None:  # some line is not a plain record: this run line by line
            records = []
            data = bytes(data)
            for i, line in enumerate(data.split(b"\n"), start + 1):
                if not line:
                    continue
                try:
                    record = decode(line)
                except refused:
                    pass
                else:
                    if utf8 or _utf8(line):  # (bad UTF-8 in a field the struct skips: malformed, below)
                        records.append(record)
                        continue
                # As the text path reads it: UTF-8 (a bad byte makes the line malformed), blank skipped.
                where.items = i
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    _bad(report, "malformed_json", path, i, "line")
                    continue
                if text.strip(" \t\r\n"):
                    record = _loads(text, where, path, report)
                    if record is not None:
                        records.append(record)
        where.items = start + (n or data.count(b"\n") + 1)
        if records:
            yield records


def _unreadable(path: Path, why: str, on_error: str, report: StageReport | None) -> None:
    """An empty or unopenable dump file: an error naming it, or (skip) one counted drop."""
    if on_error == "fail":
        raise InputError(f"{why}; rerun with --on-error skip to count it and go on", path=str(path))
    if report is not None:
        report.drop("unreadable_file", example=f"{path}: {why}")
    log("harvest", f"skipping {path}: {why}")


def _prepend(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from chunks


def _bad(report: StageReport | None, reason: str, path: Path, number: int, unit: str) -> None:
    where = f"{path.name}:{number}"
    if report is None:
        what = "malformed JSON" if reason == "malformed_json" else "a JSON value that is not an object"
        raise InputError(f"{what}", path=str(path), position=f"{unit} {number:,}")
    report.drop(reason, example=where)
