"""The documents table on disk, the final Parquet shards, and the manifest that describes them.

Documents table (`read_documents` / `write_documents`): the DESIGN.md columns in `DOCUMENT_COLUMNS`
order (each with its description in the Parquet field metadata; times as UTC timestamps), as
Parquet files under `DIR/documents/`. The clean and dedup stages read and write it.
Columns a stage adds beyond the schema are kept (types inferred), after the schema's columns.

Shards (`write_shards` in memory, `stream_shards` from Parquet files in bounded memory, and the
Beam build's `Shards` transform, which calls the same three functions below from its workers):

- Named `webtext-00000-of-00012.parquet` (index and count, five digits each), zstd-compressed,
  row groups of `ROW_GROUP_ROWS` rows, the documents-table schema.
- Order: documents are sorted by the SHA-1 of their URL (then text SHA-1, then text;
  `order_key`): an order that depends on nothing but the documents and that scatters sites and
  dates evenly, so each shard, and any prefix of the shards, is a uniform sample of the corpus.
- Assignment by key range, so no process ever needs the whole corpus: the shard count is
  `shard_count(total, target_bytes)` = ceil(total uncompressed bytes / target) (UTF-8 of `text`,
  `title` and both URLs; `row_bytes`), and a document goes to shard
  `floor(first 64 bits of SHA-1(url) * count / 2**64)` (`shard_index`). Shard i therefore holds
  the i-th slice of the hash space, the shards concatenated in index order are the global order,
  and each shard is sorted and written on its own (`write_shard`). Shards are equal in size up to
  the hash's spread (a few per cent once a shard holds thousands of documents); zstd brings a
  shard to about 40% of its text bytes.
- Atomic and idempotent: each shard is written to a temporary name and renamed; after all are in
  place, shards of an earlier run that are not part of this one (another `-of-` count) are deleted.
  The same documents give byte-identical shards whatever their input order or the number of
  processes that wrote them, so their sha256s repeat.

Manifest (`write_manifest`, written last and atomically: its presence marks a complete build):
`config`, `packages` (name -> version), `stages` (each stage report: read, kept, every drop reason
with its count, samples), `drop_reasons` (stage -> reason -> count), `totals` (documents, text
bytes, characters, words, estimated GPT-2 tokens, first/last Reddit submission date) and `shards`
(file, rows, bytes, sha256). `read_shards(out_dir)` reads the shards the manifest lists and checks
their row counts and hashes.

Estimated tokens are text bytes / `BYTES_PER_TOKEN`: GPT-2's BPE averaged 4.25 UTF-8 bytes per token
over the 110 English articles of the shared extraction set (`tiktoken` with `data/gpt2`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from webtext.errors import InputError
from webtext.report import StageReport, write_json_atomic

SHARD_RE = re.compile(r"^webtext-(\d{5})-of-(\d{5})\.parquet$")
ROW_GROUP_ROWS = 4096
DEFAULT_TARGET_BYTES = 256 * 1024 * 1024
BYTES_PER_TOKEN = 4.25
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
PACKAGES = ("webtext", "pyarrow", "numpy", "datasketch", "ftfy", "duckdb", "matplotlib", "scrapy", "newspaper4k", "dragnet", "tiktoken", "tokenizers", "torch")


# The documents table's columns: name, Arrow type, description. The one source of the Parquet schema
# (each description is stored as the field's `description` metadata) and of the dataset card's
# column table. Times are Arrow timestamps in UTC, milliseconds (Parquet has no seconds unit, so
# every reader sees ms); in memory, between stages, a row holds them as epoch seconds (int), which
# `to_table` accepts (as do datetimes) and `read_documents` gives back.
DOCUMENT_COLUMNS = (
    ("url", "string", "the normalised URL that was posted to Reddit and fetched"),
    ("final_url", "string", "the URL after redirects, where the text was taken from"),
    ("domain", "string", "host of `url`, lower case, without a leading www."),
    ("title", "string", "the page title the extractor found (may be null)"),
    ("text", "string", "the extracted main text, ftfy-repaired; paragraphs separated by blank lines"),
    ("extractor", "string", "which extractor's text was kept: dragnet, newspaper or combined"),
    ("text_sha1", "string", "SHA-1 (hex) of `text` as UTF-8: exact-duplicate key"),
    ("n_chars", "int64", "characters (Unicode code points) in `text`"),
    ("n_words", "int64", "whitespace-separated words in `text`"),
    ("subreddits", "list<string>", "the subreddits of every submission that posted this URL"),
    ("reddit_ids", "list<string>", "ids of every submission that posted this URL"),
    ("first_created_utc", "timestamp[ms, UTC]", "creation time of the earliest submission that posted this URL"),
    ("score", "int64", "highest score (karma) of a submission that posted this URL"),
    ("score_sum", "int64", "sum of the scores of every submission that posted this URL"),
    ("n_submissions", "int64", "how many submissions posted this URL"),
    ("source", "string", "where the page was fetched from: live (the web at build time), wayback or commoncrawl "
     "(a web archive's capture closest to the first submission), replay (an earlier fetch's WARC files)"),
    ("capture_time", "timestamp[ms, UTC]", "when the fetched response was captured: the archive's capture time, "
     "the replayed record's WARC-Date, or the live fetch time"),
    ("language", "string", "ISO 639-1 code of the text's language (`und`: undetermined), set by the clean stage (webtext.langid)"),
    ("language_score", "float64", "share of the text in `language` (CLD2), 0 to 1"),
)


def epoch_to_unit(values: list, unit: str) -> list:
    """Epoch seconds (ints or floats) in memory -> the integer values of a timestamp column of `unit`;
    datetimes and None pass through (pyarrow converts them)."""
    scale = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[unit]
    return [round(v * scale) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in values]


def _times_to_unit(values: list, typ) -> list:
    """`epoch_to_unit` for a column of `typ`, into struct columns too (the Beam `pages` rows carry
    the links row, with its timestamp, as a struct)."""
    import pyarrow as pa

    if pa.types.is_timestamp(typ):
        return epoch_to_unit(values, typ.unit)
    if pa.types.is_struct(typ) and any(pa.types.is_timestamp(f.type) or pa.types.is_struct(f.type) for f in typ):
        out = []
        for v in values:
            if isinstance(v, dict):
                v = dict(v)
                for f in typ:
                    if f.name in v:
                        v[f.name] = _times_to_unit([v[f.name]], f.type)[0]
            out.append(v)
        return out
    return values


def _arrow_type(name: str):
    import pyarrow as pa

    types = {
        "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "list<string>": pa.list_(pa.string()),
        "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
    }
    return types[name]


def document_schema():
    """The documents table's Arrow schema, each field with its `description` metadata."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(name, _arrow_type(typ), metadata={"description": desc}) for name, typ, desc in DOCUMENT_COLUMNS]
    )


def column_descriptions(schema) -> list[tuple[str, str, str]]:
    """(name, Arrow type, description) of every field of a Parquet/Arrow schema, from its metadata."""
    out = []
    for f in schema:
        desc = (f.metadata or {}).get(b"description", b"").decode("utf-8")
        out.append((f.name, str(f.type), desc))
    return out


def timestamps_to_epoch(table):
    """Timestamp columns as int64 epoch seconds (how rows carry times in memory); every reader of a
    table with time columns (documents, links) goes through this."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if _has_time(f.type):
            chunks = [_epoch_array(c) for c in table.column(i).chunks]
            typ = chunks[0].type if chunks else _epoch_type(f.type)
            table = table.set_column(i, pa.field(f.name, typ, metadata=f.metadata), pa.chunked_array(chunks, typ))
    return table


def _has_time(typ) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(typ) or (pa.types.is_struct(typ) and any(_has_time(f.type) for f in typ))


def _epoch_type(typ):
    import pyarrow as pa

    if pa.types.is_timestamp(typ):
        return pa.int64()
    if pa.types.is_struct(typ):
        return pa.struct([pa.field(f.name, _epoch_type(f.type), metadata=f.metadata) for f in typ])
    return typ


def _epoch_array(arr):
    """One array with its timestamps (top level or inside structs) as int64 epoch seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(arr.type):
        return pc.cast(pc.cast(arr, pa.timestamp("s", tz=arr.type.tz), safe=False), pa.int64())
    if pa.types.is_struct(arr.type) and _has_time(arr.type):
        children = [_epoch_array(arr.field(j)) for j in range(arr.type.num_fields)]
        fields = [pa.field(f.name, c.type, metadata=f.metadata) for f, c in zip(arr.type, children)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=arr.is_null())
    return arr


def to_table(rows: list[dict], schema=None):
    """A pyarrow Table of documents-table rows (or of `schema`'s rows): schema columns first
    (missing values null), then any other keys the rows carry, sorted by name, inferred types."""
    import pyarrow as pa

    schema = schema if schema is not None else document_schema()
    known = set(schema.names)
    extra = sorted({k for r in rows for k in r} - known)
    arrays = []
    for field in schema:
        values = [r.get(field.name) for r in rows]
        values = _times_to_unit(values, field.type)  # epoch seconds in memory -> the column's unit
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
            raise InputError(f"column {field.name!r} does not fit {field.type}: {exc}") from None
    fields = list(schema)
    for name in extra:
        try:
            arr = pa.array([r.get(name) for r in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError(f"extra column {name!r} has mixed types: {exc}") from None
        arrays.append(arr)
        fields.append(pa.field(name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _write_parquet_atomic(table, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- the documents table (between stages) --------------------------------------------------------


def read_documents(path: str | os.PathLike) -> list[dict]:
    """Rows of the documents table under `path` (a folder of Parquet files, its `documents/`
    subfolder, or one file), files in name order."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for f in document_files(path):
        try:
            table = pq.read_table(f)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise InputError(f"not a readable Parquet file: {exc}", path=str(f)) from None
        missing = {"url", "text"} - set(table.column_names)
        if missing:
            raise InputError(f"not a documents table: missing column(s) {sorted(missing)}", path=str(f))
        rows.extend(timestamps_to_epoch(table).to_pylist())
    return rows


def write_documents(rows: list[dict], out_dir: str | os.PathLike, *, rows_per_file: int = 50_000) -> list[Path]:
    """Write rows as `out_dir/documents/part-00000.parquet`, ... (atomic; stale parts removed)."""
    folder = Path(out_dir) / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, start in enumerate(range(0, max(len(rows), 1), rows_per_file)):
        path = folder / f"part-{i:05d}.parquet"
        _write_parquet_atomic(to_table(rows[start : start + rows_per_file]), path)
        paths.append(path)
    for old in folder.glob("part-*.parquet"):
        if old not in paths:
            old.unlink()
    return paths


# --- shards --------------------------------------------------------------------------------------


def order_key(doc: dict) -> tuple:
    """The global shard order: SHA-1 of the URL (hex), then the text's SHA-1, then the text."""
    url = doc.get("url") or ""
    return (hashlib.sha1(url.encode("utf-8")).hexdigest(), doc.get("text_sha1") or "", doc.get("text") or "")


def row_bytes(doc: dict) -> int:
    """What a document weighs for shard sizing: UTF-8 bytes of text, title and both URLs."""
    return sum(len((doc.get(k) or "").encode("utf-8")) for k in SIZE_COLUMNS)


SIZE_COLUMNS = ("text", "title", "url", "final_url")


def shard_count(total_bytes: int, target_bytes: int) -> int:
    """ceil(total / target), at least 1 (an empty corpus is one empty shard: readers find a schema)."""
    if target_bytes <= 0:
        raise ValueError(f"target_bytes must be positive, got {target_bytes}")
    return max(1, -(-int(total_bytes) // int(target_bytes)))


def shard_index(url: str | None, count: int) -> int:
    """The shard of a URL: its slice of the SHA-1 space (monotone in `order_key`'s first field)."""
    h = int.from_bytes(hashlib.sha1((url or "").encode("utf-8")).digest()[:8], "big")
    return (h * count) >> 64


def shard_name(index: int, count: int) -> str:
    return f"webtext-{index:05d}-of-{count:05d}.parquet"


def write_shard(docs: Iterable[dict], path: str | os.PathLike) -> dict:
    """Sort one shard's documents by `order_key` and write them to `path` (temp name, rename);
    returns `{"file", "rows", "bytes", "sha256", "text_bytes", "n_chars", "n_words",
    "first_created_utc", "last_created_utc"}` - all the manifest needs of it - and `card`, the
    dataset card's statistics of this shard (`webtext.card.shard_stats`; not in the manifest)."""
    from webtext.card import shard_stats

    path = Path(path)
    group = sorted(docs, key=order_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_parquet_atomic(to_table(group), path)
    created = [_epoch(d.get("first_created_utc")) for d in group if d.get("first_created_utc") is not None]
    return {
        "file": path.name,
        "rows": len(group),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "text_bytes": sum(len((d.get("text") or "").encode("utf-8")) for d in group),
        "n_chars": sum(len(d.get("text") or "") for d in group),
        "n_words": sum(len((d.get("text") or "").split()) for d in group),
        "first_created_utc": min(created) if created else None,
        "last_created_utc": max(created) if created else None,
        "card": shard_stats(group),
    }


def _epoch(value) -> int:
    """Seconds since 1970 of an int epoch or a datetime (the column may become a timestamp)."""
    return int(value.timestamp()) if hasattr(value, "timestamp") else int(value)


def remove_stale_shards(out_dir: str | os.PathLike, current: Iterable[str]) -> None:
    """Delete shards of an earlier run with another shard count (only files named like shards)."""
    keep = set(current)
    for old in Path(out_dir).iterdir():
        if SHARD_RE.match(old.name) and old.name not in keep:
            old.unlink()


def write_shards(docs: Iterable[dict], out_dir: str | os.PathLike, *, target_bytes: int = DEFAULT_TARGET_BYTES) -> list[dict]:
    """Write documents held in memory as shards in `out_dir`; one info dict per shard (`write_shard`).
    For corpora that do not fit in memory use `stream_shards` (same shards, byte for byte)."""
    docs = list(docs)
    count = shard_count(sum(row_bytes(d) for d in docs), target_bytes)
    groups: list[list[dict]] = [[] for _ in range(count)]
    for doc in docs:
        groups[shard_index(doc.get("url"), count)].append(doc)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    infos = [write_shard(group, out / shard_name(i, count)) for i, group in enumerate(groups)]
    remove_stale_shards(out, [i["file"] for i in infos])
    return infos


# --- shards from Parquet files, in bounded memory ------------------------------------------------


def table_row_bytes(table) -> int:
    """`row_bytes` summed over a pyarrow Table or RecordBatch, computed in Arrow (no Python rows)."""
    import pyarrow.compute as pc

    total = 0
    for name in SIZE_COLUMNS:
        if name in table.schema.names:
            total += pc.sum(pc.binary_length(table.column(name))).as_py() or 0
    return total


def document_files(path: str | os.PathLike) -> list[Path]:
    """The Parquet files of a documents table (a folder, its `documents/` subfolder, or one file)."""
    path = Path(path)
    if path.is_dir() and (path / "documents").is_dir():
        path = path / "documents"
    if path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise InputError("no documents (*.parquet) found", path=str(path))
        return files
    if path.is_file():
        return [path]
    raise InputError("no such file or folder", path=str(path))


def iter_batches(path, *, columns=None, batch_rows: int = 1024, name: str | None = None):
    """RecordBatches of one documents Parquet file (a path or an open file), named on failure."""
    import pyarrow.parquet as pq

    path_name = name or str(path)
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        if {"url", "text"} - set(names):
            raise InputError(f"not a documents table: missing column(s) {sorted({'url', 'text'} - set(names))}", path=path_name)
        cols = None if columns is None else [c for c in columns if c in names]
        yield from pf.iter_batches(batch_size=batch_rows, columns=cols)
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise InputError(f"not a readable Parquet file: {exc}", path=path_name) from None


def partition_batches(batches, count: int, open_spill) -> set[int]:
    """Route each row of `batches` to its shard's spill (`open_spill(i)` -> an Arrow IPC writer,
    opened on first use); returns the shards that received rows. Memory: one batch."""
    import pyarrow as pa

    used: set[int] = set()
    for batch in batches:
        if not batch.num_rows:
            continue
        idx = [shard_index(u, count) for u in batch.column("url").to_pylist()]
        by_shard: dict[int, list[int]] = {}
        for row, i in enumerate(idx):
            by_shard.setdefault(i, []).append(row)
        for i, rows in sorted(by_shard.items()):
            open_spill(i).write_batch(batch.take(pa.array(rows, type=pa.int64())))
            used.add(i)
    return used


def read_spills(paths: Iterable[str | os.PathLike], opener=open) -> list[dict]:
    """The rows of a shard's spill files (Arrow IPC streams), as dicts."""
    import pyarrow as pa

    rows: list[dict] = []
    for path in sorted(str(p) for p in paths):
        with opener(path, "rb") as fh:
            for batch in pa.ipc.open_stream(fh):
                rows.extend(timestamps_to_epoch(pa.Table.from_batches([batch])).to_pylist())
    return rows


def stream_shards(files: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                  target_bytes: int = DEFAULT_TARGET_BYTES, spill_dir: str | os.PathLike | None = None) -> list[dict]:
    """`write_shards` for documents in Parquet files, holding one shard (not the corpus) in memory.

    Pass 1 sums `row_bytes` in Arrow (the shard count); pass 2 routes each batch's rows to one
    spill file per shard (Arrow IPC, in `spill_dir`, default a temporary folder under `out_dir`);
    then each shard is read back, sorted and written. Peak memory: one shard (about
    `target_bytes` of text plus Python's overhead) and one batch."""
    import shutil
    import tempfile

    files = [Path(f) for f in files]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = sum(table_row_bytes(b) for f in files for b in iter_batches(f, columns=list(SIZE_COLUMNS) + ["url"]))
    count = shard_count(total, target_bytes)
    spill = Path(spill_dir) if spill_dir else Path(tempfile.mkdtemp(prefix=".spill-", dir=out))
    try:
        return shards_from_batches(((_batch_schema(f), iter_batches(f)) for f in files), count, out, spill)
    finally:
        if not spill_dir:
            shutil.rmtree(spill, ignore_errors=True)


def shards_from_batches(sources, count: int, out_dir: str | os.PathLike, spill_dir: str | os.PathLike) -> list[dict]:
    """`count` shards in `out_dir` from `sources`, each a (schema, iterable of RecordBatches) pair:
    every source's rows go to one spill file per shard (`partition_batches`, Arrow IPC in
    `spill_dir`), then each shard is read back, sorted and written (`write_shard`). Memory: one
    batch, then one shard. The shards depend only on the rows, not on how they were split."""
    import pyarrow as pa

    out, spill = Path(out_dir), Path(spill_dir)
    spill.mkdir(parents=True, exist_ok=True)
    for n, (schema, batches) in enumerate(sources):
        writers: dict[int, object] = {}
        handles: list = []

        def open_spill(i, n=n, schema=schema, writers=writers, handles=handles):
            if i not in writers:
                handles.append(open(spill / f"{i:05d}-{n:06d}.arrow", "wb"))
                writers[i] = pa.ipc.new_stream(handles[-1], schema)
            return writers[i]

        try:
            partition_batches(batches, count, open_spill)
        finally:
            for w in writers.values():
                w.close()
            for fh in handles:
                fh.close()
    infos = []
    for i in range(count):
        rows = read_spills(spill.glob(f"{i:05d}-*.arrow"))
        infos.append(write_shard(rows, out / shard_name(i, count)))
        del rows
    remove_stale_shards(out, [i["file"] for i in infos])
    return infos


def _batch_schema(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).schema_arrow


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _iso(ts) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_manifest(out_dir: str | os.PathLike, *, config: dict, reports: list[StageReport], shards: list[dict]) -> dict:
    """Write `out_dir/manifest.json` atomically and return it (contents: module docstring).
    `shards`: what `write_shard` returned (its `card` statistics are not part of the manifest)."""
    shards = [{k: v for k, v in s.items() if k != "card"} for s in shards]
    firsts = [s["first_created_utc"] for s in shards if s.get("first_created_utc") is not None]
    lasts = [s["last_created_utc"] for s in shards if s.get("last_created_utc") is not None]
    text_bytes = sum(s.get("text_bytes", 0) for s in shards)
    stages = []
    for r in reports:
        r.check()
        stages.append(r.to_dict())
    manifest = {
        "format": MANIFEST_FORMAT,
        "config": config,
        "packages": package_versions(),
        "stages": stages,
        "drop_reasons": {r["stage"]: r["dropped"] for r in stages},
        "totals": {
            "documents": sum(s["rows"] for s in shards),
            "shards": len(shards),
            "shard_bytes": sum(s["bytes"] for s in shards),
            "text_bytes": text_bytes,
            "chars": sum(s.get("n_chars", 0) for s in shards),
            "words": sum(s.get("n_words", 0) for s in shards),
            "estimated_tokens": round(text_bytes / BYTES_PER_TOKEN),
            "first_created_utc": min(firsts) if firsts else None,
            "last_created_utc": max(lasts) if lasts else None,
            "first_created": _iso(min(firsts) if firsts else None),
            "last_created": _iso(max(lasts) if lasts else None),
        },
        "shards": shards,
    }
    write_json_atomic(Path(out_dir) / MANIFEST, manifest)
    return manifest


def read_manifest(out_dir: str | os.PathLike) -> dict:
    import json

    path = Path(out_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no manifest.json: the shards were not written completely", path=str(path)) from None
    except ValueError as exc:
        raise InputError(f"manifest is not valid JSON: {exc}", path=str(path)) from None


def read_shards(out_dir: str | os.PathLike, *, verify: bool = True):
    """All shards listed in the manifest, concatenated in shard order, as one pyarrow Table.
    With `verify`, each shard's sha256 and row count must match the manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    manifest = read_manifest(out)
    tables = []
    for info in manifest["shards"]:
        path = out / info["file"]
        if not path.is_file():
            raise InputError("shard listed in the manifest is missing", path=str(path))
        if verify and sha256_file(path) != info["sha256"]:
            raise InputError("shard does not match its sha256 in the manifest", path=str(path))
        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise InputError(f"not a readable Parquet file: {exc}", path=str(path)) from None
        if verify and table.num_rows != info["rows"]:
            raise InputError(f"{table.num_rows} rows, the manifest says {info['rows']}", path=str(path))
        tables.append(table)
    if not tables:
        return document_schema().empty_table()
    return pa.concat_tables(tables, promote_options="default")
