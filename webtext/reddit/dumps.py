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
import contextlib
import gzip
import json
import lzma
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import msgspec

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
    """The files to read, and those left unread because their month is after `until` (`Path`s;
    a location with a scheme, like `gs://bucket/RS_2017-12.zst`, stays a string)."""

    selected: list
    skipped: list


def is_remote(path: str | os.PathLike) -> bool:
    """A location with a scheme (`gs://...`): listed and opened by the caller's `listing` / file
    object (the pipelines pass Beam's FileSystems), never by `open()`."""
    return "://" in str(path)


def _dump_file_problem(name: str) -> str | None:
    if not compression_of(name):
        return "not a dump file: expected .zst, .xz, .bz2, .gz, .ndjson, .jsonl or .json"
    if name.startswith("RC_"):
        return "this is a comments dump (RC_); harvest reads submission dumps (RS_)"
    return None


def _in_folder(relative_parts: list[str]) -> bool:
    """A file found in a dump folder (its path below the folder, as parts) is read when it is a
    dump, neither it nor a folder on the way is hidden, and it is not a comments dump."""
    name = relative_parts[-1]
    return bool(compression_of(name)) and not any(part.startswith(".") for part in relative_parts) and not name.startswith("RC_")


def plan_dump_files(paths: Iterable[str | os.PathLike], until: str | None, *, listing=None) -> DumpPlan:
    """Expand folders, check files exist and are dumps, and split off months after `until`.

    `listing`: how to list a location with a scheme (`gs://bucket/pushshift/`): a function that
    gives `[location]` for a file, every file below it (full locations, any depth) for a folder,
    and `[]` when nothing is there. Without it such a location is an error naming it: this
    library reads local files; the build's pipeline passes one that lists through Beam."""
    cap = parse_month(until) if until is not None else None
    found: dict = {}  # resolved -> as given, so a file named twice is read once
    for given in paths:
        if is_remote(given):
            given = str(given)
            if listing is None:
                raise InputError("a remote location: this command reads local files (copy it here); `webtext build` reads it through Beam", path=given)
            entries = sorted(listing(given))
            if entries == [given] and not given.endswith("/"):
                problem = _dump_file_problem(given.rsplit("/", 1)[-1])
                if problem:
                    raise InputError(problem, path=given)
                found.setdefault(given, given)
                continue
            if not entries:
                raise InputError("no such file or folder", path=given)
            base = given.rstrip("/") + "/"
            inside = [e for e in entries if e.startswith(base) and _in_folder(e[len(base):].split("/"))]
            if not inside:
                raise InputError("folder holds no dump files (.zst, .xz, .bz2, .gz, .ndjson, .jsonl, .json)", path=given)
            for f in inside:
                found.setdefault(f, f)
            continue
        p = Path(given)
        if p.is_dir():
            inside = [f for f in sorted(p.rglob("*")) if f.is_file() and _in_folder(list(f.relative_to(p).parts))]
            if not inside:
                raise InputError("folder holds no dump files (.zst, .xz, .bz2, .gz, .ndjson, .jsonl, .json)", path=str(p))
            for f in inside:
                found.setdefault(f.resolve(), f)
        elif p.is_file():
            problem = _dump_file_problem(p.name)
            if problem:
                raise InputError(problem, path=str(p))
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
    keys: type | None = None,
    fh=None,
    size: int | None = None,
) -> Iterator:
    """Decoded submission objects of one dump file, streamed (see `iter_record_batches`): one at
    a time, or with `batches=True` in lists (and `KeyedRun`s, with `keys`) as
    `iter_record_batches` gives them."""
    if keys is not None and not batches:
        raise ConfigError("keys= needs batches=True: a KeyedRun is completed by its reader's caller")
    runs = iter_record_batches(path, on_error=on_error, report=report, fields=fields, keys=keys, fh=fh, size=size)
    return runs if batches else chain.from_iterable(runs)


def iter_record_batches(
    path: str | os.PathLike,
    *,
    on_error: str = "fail",
    report: StageReport | None = None,
    fields: type | None = None,
    keys: type | None = None,
    fh=None,
    size: int | None = None,
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

    `keys` (with `fields`): a smaller `msgspec.Struct` (`links.RecordKeys`). A plain run of lines
    then comes as a `KeyedRun` instead of a list: every line decoded into `keys` only, the full
    `fields` decoded by `KeyedRun.complete` for the lines the caller still needs - the records
    that pass the filters `keys` can decide. Any other run comes as a list, as without `keys`.

    `fh` (with `size`, its length in bytes): read the file from this binary file object instead of
    opening `path` (which then only names it, in messages and drop examples, and gives its
    compression by its suffix): how the pipelines read a `gs://` dump through Beam's FileSystems.
    The caller closes it.
    """
    if keys is not None and fields is None:
        raise ConfigError("keys= needs fields=: the struct a KeyedRun completes its lines into")
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    path = Path(path) if fh is None else path
    if fh is None:
        try:
            raw = open(path, "rb")
        except OSError as exc:
            _unreadable(path, f"cannot open: {exc.strerror}", on_error, report)
            return
    else:
        if size is None:
            raise ConfigError("fh= needs size=: the file's length in bytes")
        raw = contextlib.nullcontext(fh)
    with raw as raw:
        where = _Where(raw, os.fstat(raw.fileno()).st_size if fh is None else size)
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
                yield from _typed_runs(_prepend(first, chunks), fields, where, path, report, keys)
                return
            for run in _line_runs(_prepend(first, chunks)):
                batch = []
                for line in run:
                    where.items += 1
                    if not line.strip(" \t\r\n" if isinstance(line, str) else b" \t\r\n"):  # JSON's whitespace
                        continue
                    value = _loads(line, where.items, path, report)
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


def _loads(line: str | bytes, number: int, path: Path, report: StageReport | None) -> dict | None:
    """One line through `json.loads`: the object, or None after counting why it is not one."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _bad(report, "malformed_json", path, number, "line")
        return None
    if isinstance(value, dict):
        return value
    _bad(report, "not_an_object", path, number, "line")
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


def _plain_breaks(data: bytes):
    """Where the newlines of `data` are (a numpy array of offsets) if every line starts with `{`
    and ends with `}` (or `}` and a CR), else None; a run of k lines has k - 1 of them.
    Vectorised: one pass of numpy over the bytes, then a look at each newline's neighbours
    (`bytes.count` is a byte-at-a-time loop, several times slower)."""
    import numpy as np

    a = np.frombuffer(data, np.uint8)
    n = len(a)
    if n < 2 or a[0] != _OPEN or not (a[-1] == _CLOSE or (a[-1] == _CR and a[-2] == _CLOSE)):
        return None
    nl = np.flatnonzero(a == _NL)
    if len(nl):
        before = a[nl - 1]  # nl >= 1: the data starts with `{`; nl + 1 < n: it ends with `}` or CR
        if not (a[nl + 1] == _OPEN).all():
            return None
        closed = before == _CLOSE
        if not closed.all() and not (closed | ((before == _CR) & (a[nl - 2] == _CLOSE))).all():
            return None
    return nl


_OPEN, _CLOSE, _CR, _NL = b"{}\r\n"


def _typed_runs(
    chunks: Iterator[bytes], fields: type, where: _Where, path: Path, report: StageReport | None, keys: type | None = None
):
    """NDJSON decoded into `fields` structs, one list per run of lines (or, with `keys`, one
    `KeyedRun` per plain run).

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

    `keys`: a smaller struct (`links.RecordKeys`, the fields the first filters read). A plain run
    that decodes into it is handed out as a `KeyedRun`: `keys` for every line, and the lines
    themselves, decoded into `fields` only for the records the caller asks for (see `KeyedRun`).
    """
    decoder = msgspec.json.Decoder(fields)
    decode, decode_lines = decoder.decode, decoder.decode_lines
    decode_keys = msgspec.json.Decoder(keys).decode_lines if keys is not None else None
    for data in _line_blocks(chunks):
        start = where.items
        utf8 = _utf8(data)
        breaks = _plain_breaks(data) if utf8 else None
        n = 0 if breaks is None else len(breaks) + 1
        records = None
        if n and decode_keys is not None:
            run = _keyed_run(data, breaks, decode_keys, decode, decode_lines, start, path, report)
            if run is not None:
                where.items = start + n
                yield run
                continue
        if n:
            try:
                records = decode_lines(data)
            except _REFUSED:
                pass
            else:
                if len(records) != n:
                    records = None
        if records is None:  # some line is not a plain record: this run line by line
            records = []
            data = bytes(data)
            for i, line in enumerate(data.split(b"\n"), start + 1):
                if line:
                    record = _read_line(line, i, decode, utf8, path, report)
                    if record is not None:
                        records.append(record)
        where.items = start + (n or data.count(b"\n") + 1)
        if records:
            yield records


# What a msgspec decoder raises for a line it does not read: DecodeError (not JSON),
# ValidationError (types), UnicodeDecodeError (bad UTF-8), RecursionError (deep nesting).
_REFUSED = (msgspec.MsgspecError, ValueError, RecursionError)


def _read_line(line: bytes, number: int, decode, utf8: bool, path: Path, report: StageReport | None):
    """One line the way the line-by-line path reads it: the typed record, or (typed decoder
    refused) what `json.loads` makes of it - a dict, or None after a counted drop - or None for
    a blank line. `utf8`: the line is known to be valid UTF-8."""
    try:
        record = decode(line)
    except _REFUSED:
        pass
    else:
        if utf8 or _utf8(line):  # (bad UTF-8 in a field the struct skips: malformed, below)
            return record
    # As the text path reads it: UTF-8 (a bad byte makes the line malformed), blank skipped.
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        _bad(report, "malformed_json", path, number, "line")
        return None
    if not text.strip(" \t\r\n"):
        return None
    return _loads(text, number, path, report)


class KeyedRun:
    """A plain run of lines, read in two stages: `keys` holds every line decoded into the small
    `keys` struct (one C call for the run); `complete(indices)` decodes the chosen lines into the
    full `fields` struct, exactly as the line-by-line path reads them (a typed record, or a dict
    from `json.loads`, or a counted drop). Most of a dump is dropped on the keys alone (date cap,
    karma bar), so the other fields are decoded for the few records left.

    Exactness: what the caller decides on `keys` for a line is what it would decide on the full
    record, as long as a line the small decoder reads is also read by the full one or by
    `json.loads` (they agree on the key fields' values). The one place `json.loads` is stricter
    than msgspec - an integer of more than `sys.get_int_max_str_digits()` digits, which it refuses
    - is checked when the run is made (`_keyed_run`).
    """

    __slots__ = ("keys", "_data", "_bounds", "_decode", "_decode_lines", "_first", "_path", "_report")

    def __init__(self, keys: list, data, breaks, decode, decode_lines, first: int, path: Path, report):
        self.keys = keys
        self._data = data
        self._bounds = breaks  # newline offsets (numpy); made a list on the first `complete`
        self._decode, self._decode_lines = decode, decode_lines
        self._first, self._path, self._report = first, path, report  # line number of keys[0]

    def __len__(self) -> int:
        return len(self.keys)

    def _lines(self, indices) -> list:
        bounds = self._bounds
        if type(bounds) is not list:  # [-1, newline, ..., newline, len(data)]: line i is (b[i], b[i+1])
            bounds = self._bounds = [-1, *bounds.tolist(), len(self._data)]
        data = self._data
        return [data[bounds[i] + 1 : bounds[i + 1]] for i in indices]

    def complete(self, indices) -> list:
        """The records of lines `indices` (ascending) as the line-by-line path reads them: typed
        `fields` records, dicts where the typed decoder refuses a line, nothing for a line that is
        no object (counted in the report as that path counts it)."""
        lines = self._lines(indices)
        if not lines:
            return []
        try:
            records = self._decode_lines(b"\n".join(lines))  # each line is plain: one object per line
        except _REFUSED:
            pass
        else:
            if len(records) == len(lines):
                return records
        records = []
        for i, line in zip(indices, lines):
            record = _read_line(bytes(line), self._first + i, self._decode, True, self._path, self._report)
            if record is not None:
                records.append(record)
        return records


def _keyed_run(data, breaks, decode_keys, decode, decode_lines, start: int, path: Path, report) -> KeyedRun | None:
    """A plain run as a `KeyedRun`, or None when it must be read as before: the keys decoder
    refuses it, or a line long enough to hold an integer `json.loads` refuses (more than
    `sys.get_int_max_str_digits()` digits) is not read by the full decoder either - there the
    line-by-line path's `json.loads` decides, so the run goes that way."""
    try:
        keys = decode_keys(data)
    except _REFUSED:
        return None
    if len(keys) != len(breaks) + 1:
        return None
    run = KeyedRun(keys, data, breaks, decode, decode_lines, start + 1, path, report)
    digits = sys.get_int_max_str_digits()
    if digits and len(data) > digits:
        import numpy as np

        lengths = np.diff(breaks, prepend=-1, append=len(data)) - 1
        for line in run._lines(np.flatnonzero(lengths > digits).tolist()):
            try:
                decode(line)
            except _REFUSED:
                return None
    return run


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
    where = f"{os.path.basename(str(path))}:{number}"
    if report is None:
        what = "malformed JSON" if reason == "malformed_json" else "a JSON value that is not an object"
        raise InputError(f"{what}", path=str(path), position=f"{unit} {number:,}")
    report.drop(reason, example=where)
