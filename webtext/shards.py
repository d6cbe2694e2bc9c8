"""The documents table on disk, the final Parquet shards, and the manifest that describes them.

Documents table (`read_documents` / `write_documents`): the DESIGN.md columns in `DOCUMENT_COLUMNS`
order (each with its description in the Parquet field metadata; times as UTC timestamps), as
Parquet files under `DIR/documents/`. The clean and dedup stages read and write it.
Columns a stage adds beyond the schema are kept (types inferred), after the schema's columns.

Shards (`write_shards`):

- Named `webtext-00000-of-00012.parquet` (index and count, five digits each), zstd-compressed,
  row groups of `ROW_GROUP_ROWS` rows, the documents-table schema.
- Order: documents are sorted by the SHA-1 of their URL (then text SHA-1): an order that depends on
  nothing but the documents and that scatters sites and dates evenly, so each shard, and any prefix
  of the shards, is a uniform sample of the corpus.
- Size: a new shard starts when the next document would take the current one past `target_bytes`
  of *uncompressed* text (UTF-8 of `text`, `title` and both URLs); zstd typically brings a shard to
  about 40% of that. A single document larger than the target gets a shard to itself.
- Atomic and idempotent: each shard is written to a temporary name and renamed; after all are in
  place, shards of an earlier run that are not part of this one (another `-of-` count) are deleted.
  The same documents give byte-identical shards, so their sha256s repeat.

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
)


def _arrow_type(name: str):
    import pyarrow as pa

    types = {
        "string": pa.string(), "int64": pa.int64(), "list<string>": pa.list_(pa.string()),
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


def _epoch_seconds(table):
    """Timestamp columns as int64 epoch seconds (how rows carry times in memory)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            seconds = pc.cast(table.column(i), pa.timestamp("s", tz=f.type.tz), safe=False)
            table = table.set_column(i, pa.field(f.name, pa.int64(), metadata=f.metadata), pc.cast(seconds, pa.int64()))
    return table


def to_table(rows: list[dict]):
    """A pyarrow Table of documents-table rows: schema columns first (missing values null), then
    any other keys the rows carry, sorted by name, with inferred types."""
    import pyarrow as pa

    schema = document_schema()
    known = set(schema.names)
    extra = sorted({k for r in rows for k in r} - known)
    arrays = []
    for field in schema:
        values = [r.get(field.name) for r in rows]
        if pa.types.is_timestamp(field.type):  # epoch seconds in memory -> the column's unit
            scale = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[field.type.unit]
            values = [v * scale if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
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


def _sha256(path: Path) -> str:
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

    path = Path(path)
    if path.is_dir() and (path / "documents").is_dir():
        path = path / "documents"
    if path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise InputError("no documents (*.parquet) found", path=str(path))
    elif path.is_file():
        files = [path]
    else:
        raise InputError("no such file or folder", path=str(path))
    rows: list[dict] = []
    for f in files:
        try:
            table = pq.read_table(f)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise InputError(f"not a readable Parquet file: {exc}", path=str(f)) from None
        missing = {"url", "text"} - set(table.column_names)
        if missing:
            raise InputError(f"not a documents table: missing column(s) {sorted(missing)}", path=str(f))
        rows.extend(_epoch_seconds(table).to_pylist())
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


def _order_key(doc: dict) -> tuple:
    url = doc.get("url") or ""
    return (hashlib.sha1(url.encode("utf-8")).hexdigest(), doc.get("text_sha1") or "", doc.get("text") or "")


def _row_bytes(doc: dict) -> int:
    return sum(len((doc.get(k) or "").encode("utf-8")) for k in ("text", "title", "url", "final_url"))


def shard_name(index: int, count: int) -> str:
    return f"webtext-{index:05d}-of-{count:05d}.parquet"


def write_shards(docs: Iterable[dict], out_dir: str | os.PathLike, *, target_bytes: int = DEFAULT_TARGET_BYTES) -> list[dict]:
    """Write the documents as shards in `out_dir`; returns one info dict per shard:
    `{"file", "rows", "bytes", "sha256", "text_bytes", "n_chars", "n_words", "first_created_utc",
    "last_created_utc"}`."""
    if target_bytes <= 0:
        raise ValueError(f"target_bytes must be positive, got {target_bytes}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(docs, key=_order_key)
    groups: list[list[dict]] = []
    size = 0
    for doc in ordered:
        b = _row_bytes(doc)
        if not groups or (size + b > target_bytes and groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(doc)
        size += b
    if not groups:
        groups = [[]]  # an empty corpus is still one (empty) shard, so readers find a schema
    infos = []
    for i, group in enumerate(groups):
        path = out / shard_name(i, len(groups))
        _write_parquet_atomic(to_table(group), path)
        created = [d["first_created_utc"] for d in group if d.get("first_created_utc") is not None]
        infos.append(
            {
                "file": path.name,
                "rows": len(group),
                "bytes": path.stat().st_size,
                "sha256": _sha256(path),
                "text_bytes": sum(len((d.get("text") or "").encode("utf-8")) for d in group),
                "n_chars": sum(len(d.get("text") or "") for d in group),
                "n_words": sum(len((d.get("text") or "").split()) for d in group),
                "first_created_utc": min(created) if created else None,
                "last_created_utc": max(created) if created else None,
            }
        )
    current = {info["file"] for info in infos}
    for old in out.iterdir():
        if SHARD_RE.match(old.name) and old.name not in current:
            old.unlink()  # a shard of an earlier run with another shard count
    return infos


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
    """Write `out_dir/manifest.json` atomically and return it (contents: module docstring)."""
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
        if verify and _sha256(path) != info["sha256"]:
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
