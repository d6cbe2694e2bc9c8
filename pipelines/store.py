"""Where each stage's output lives, how a finished stage is marked, and how its report is made.

Layout of a build's output folder (local or `gs://`):

    OUT/stages/<stage>/data-*.parquet      the rows the stage kept (Parquet, zstd; schemas below)
    OUT/stages/<stage>/drops-*.parquet     one row per drop: stage, reason, key, detail (JSON), n
    OUT/stages/<stage>/_SUCCESS.json       the completion marker: fingerprint + the stage report
    OUT/stages/fetch/part-NNNNN/           the fetch buckets' WARC files and fetch logs
    OUT/stages/harvest/live-records.jsonl.gz   with --live: the API's submission records, harvested from there
    OUT/stages/shards/shard-NNNNN.json     one shard's statistics (rows, bytes, sha256, ...)
    OUT/stages/<stage>/progress/           while the stage runs: the workers' live counts (pipelines/progress.py)
    OUT/stages/<stage>/shuffle/            while the stage runs on the local runner: its groupings' spill files (pipelines/shuffle.py)
    OUT/dead_letter/<stage>-*.jsonl        elements whose processing raised, with the traceback
    OUT/shards/, OUT/manifest.json, OUT/README.md

Intermediate data is Parquet (zstd), one schema per kind of row (`schema(kind)`): `links` (the
harvest's links table, webtext.reddit.links.links_schema), `pages` (two struct columns: `link`, a
links row, and `fetch`, a fetch-log row, webtext.fetch.log.SCHEMA), `documents`
(webtext.shards.document_schema; extract, clean and dedup) and `drops`. Columns a row carries
beyond its schema are kept (types inferred), as in the documents table. Row groups hold at most
`ROW_GROUP_ROWS` rows: a row group is the unit of work of the next stage (read, processed and
written by one worker call), so a worker holds one row group, never a file. File names are
deterministic (derived from the unit of work), so a retried unit overwrites its own output and
nothing is written twice. Each file's key-value metadata carries `webtext.rows` and, for
documents, `webtext.row_bytes` (what the shard sizing needs, read from the footer alone).

Counts come from these outputs (`report_from_outputs`): kept = the data files' rows (harvest:
their `n_submissions`), each drop reason = the sum of `n` over the drop rows, dead letters = the
lines of the dead-letter files; read = kept + drops. The build cross-checks them with Beam's
metrics where the runner has them (`metrics_totals`) and with the previous stage's row count.

A stage is reused on a rerun when its marker exists and its fingerprint (`BuildConfig.fingerprint`,
which covers every earlier stage's settings too) matches; otherwise the stage's folder is cleared
and it runs again (except the fetch buckets' folders, which `fetch_urls` resumes URL by URL). The
marker is written last, after the pipeline has finished and its outputs are renamed into place by
Beam's file sinks, so a killed build never leaves a marker over partial output.

Every path goes through Beam's `FileSystems`, so `gs://` works wherever `apache-beam[gcp]` is
installed; local paths are plain files.
"""

from __future__ import annotations

import datetime as _dt
import json
import traceback

from webtext.report import SAMPLES_PER_REASON, StageReport

MARKER = "_SUCCESS.json"
DATA = "data"
DROPS = "drops"


def fs():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def join(*parts: str) -> str:
    if "://" in parts[0]:
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))
    import os

    return os.path.join(*parts)


def stage_dir(out: str, stage: str) -> str:
    return join(out, "stages", stage)


def shuffle_dir(out: str, stage: str) -> str:
    """Where the local runner's groupings of the stage spill (pipelines/shuffle.py)."""
    return join(stage_dir(out, stage), "shuffle")


def data_prefix(out: str, stage: str) -> str:
    return join(stage_dir(out, stage), DATA)


def drops_prefix(out: str, stage: str) -> str:
    return join(stage_dir(out, stage), DROPS)


def dead_letter_prefix(out: str, stage: str) -> str:
    return join(out, "dead_letter", stage)


def glob(pattern: str) -> list[str]:
    match = fs().match([pattern])[0]
    return sorted(m.path for m in match.metadata_list)


def exists(path: str) -> bool:
    return fs().exists(path)


def _tree(path: str) -> list:
    """The metadata of every file below `path` (a folder, or a prefix on an object store), or of
    `path` itself when nothing is below it; [] when nothing is there. A location that cannot be
    listed (no filesystem for its scheme - gs:// without apache-beam[gcp] - or a refused listing)
    is an InputError naming it."""
    from webtext.errors import InputError

    try:
        inside = fs().match([path.rstrip("/") + "/**"])[0].metadata_list
        if inside or path.endswith("/"):
            return sorted(inside, key=lambda m: m.path)
        return fs().match([path])[0].metadata_list
    except (ValueError, OSError) as exc:  # Beam: ValueError (no such scheme), BeamIOError (an IOError)
        raise InputError(f"cannot list it: {' '.join(str(exc).split())[:300]}", path=path) from None


def list_tree(path: str) -> list[str]:
    """`[path]` when it is a file; else every file below it, at any depth; `[]` when nothing is
    there. (`dumps.plan_dump_files`' `listing`.)"""
    return [m.path for m in _tree(path)]


def describe_tree(path: str) -> dict:
    """What identifies the content at `path` (a file, or every file below a folder) for a stage's
    fingerprint, like `webtext.config` does for a local input: files, bytes, latest change."""
    metas = _tree(path)
    return {"files": len(metas), "bytes": sum(m.size_in_bytes for m in metas),
            "updated": max((m.last_updated_in_seconds for m in metas), default=None)}


def size(path: str) -> int:
    """The length of a file in bytes."""
    return fs().match([path])[0].metadata_list[0].size_in_bytes


def read_bytes(path: str) -> bytes:
    with fs().open(path, compression_type="uncompressed") as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Write a small file atomically where the filesystem allows it (local: temp name + rename)."""
    if "://" in path:
        with fs().create(path) as f:  # object stores publish an object only when it is complete
            f.write(data)
        return
    import os

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def delete_tree(path: str) -> None:
    """Remove a folder and everything in it (no error if it is absent)."""
    if "://" in path:
        found = glob(join(path, "**"))
        if found:
            fs().delete(found)
        return
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def open_read(path: str, mode: str = "rb"):
    if "://" in path:
        return fs().open(path, compression_type="uncompressed")
    return open(path, mode)


def open_write(path: str):
    """A binary file to write `path` through: local, a temporary name that `close_write` renames;
    gs://, the object itself (it appears when closed)."""
    if "://" in path:
        return fs().create(path)
    import os

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return open(f"{path}.tmp-{os.getpid()}", "wb")


def close_write(handle, path: str) -> None:
    handle.close()
    if "://" not in path:
        import os

        os.replace(handle.name, path)


# ----------------------------------------------------------------------------------- Parquet

ROW_GROUP_ROWS = 1024  # rows per row group of intermediate files: one unit of work downstream
KINDS = ("links", "pages", "documents", "drops")


def schema(kind: str):
    import pyarrow as pa

    if kind == "links":
        from webtext.reddit.links import links_schema

        return links_schema()
    if kind == "pages":
        from webtext.fetch.log import SCHEMA as FETCH_SCHEMA
        from webtext.reddit.links import links_schema

        return pa.schema([("link", pa.struct(list(links_schema()))), ("fetch", pa.struct(list(FETCH_SCHEMA)))])
    if kind == "documents":
        from webtext.shards import document_schema

        return document_schema()
    if kind == "drops":
        return pa.schema([("stage", pa.string()), ("reason", pa.string()), ("key", pa.string()),
                          ("detail", pa.string()), ("n", pa.int64())])
    raise ValueError(f"unknown kind {kind!r}")


def _table(rows: list[dict], kind: str):
    from webtext.shards import to_table

    if kind == "drops":
        rows = [{**r, "key": None if r.get("key") is None else str(r["key"]),
                 "detail": json.dumps(r.get("detail") or {}, sort_keys=True, default=str), "n": int(r.get("n", 1))}
                for r in rows]
    return to_table(rows, schema(kind))


def write_parquet(path: str, rows, kind: str) -> dict:
    """Rows of one kind (any iterable: they are written `ROW_GROUP_ROWS` at a time, never all held)
    as one Parquet file at `path` (local: temp name then rename; gs://: the object appears when
    complete). Returns {"path", "rows", "row_bytes"}."""
    import itertools

    import pyarrow.parquet as pq

    from webtext.errors import InputError
    from webtext.shards import table_row_bytes

    handle = open_write(path)
    writer, n, row_bytes = None, 0, 0
    try:
        rows = iter(rows)
        while True:
            batch = list(itertools.islice(rows, ROW_GROUP_ROWS))
            if not batch and writer is not None:
                break
            table = _table(batch, kind)
            if writer is None:
                writer = pq.ParquetWriter(handle, table.schema, compression="zstd")
            elif not table.schema.equals(writer.schema):  # e.g. an extra column all null so far
                if table.schema.names != writer.schema.names:
                    raise InputError(f"rows with other columns ({table.schema.names}) than the first ({writer.schema.names})", path=path)
                table = table.cast(writer.schema)
            writer.write_table(table)
            n += table.num_rows
            row_bytes += table_row_bytes(table) if kind == "documents" else 0
            if not batch:
                break
        meta = {"webtext.kind": kind, "webtext.rows": str(n)}
        if kind == "documents":
            meta["webtext.row_bytes"] = str(row_bytes)
        writer.add_key_value_metadata(meta)
        writer.close()
    except BaseException:
        handle.close()
        if "://" not in path:
            import os

            os.unlink(handle.name)
        raise
    close_write(handle, path)
    return {"path": path, "rows": n, "row_bytes": row_bytes}


def parquet_file(path: str):
    import pyarrow.parquet as pq

    from webtext.errors import InputError

    try:
        return pq.ParquetFile(path if "://" not in path else open_read(path))
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise InputError(f"not a readable Parquet file: {exc}", path=path) from None


def row_groups(path: str) -> list[tuple[str, int]]:
    """The units of work of one intermediate file: (path, row group index)."""
    return [(path, i) for i in range(parquet_file(path).metadata.num_row_groups)]


def read_row_group(path: str, index: int, columns=None) -> list[dict]:
    from webtext.shards import timestamps_to_epoch

    # times as epoch seconds, as rows carry them in memory (timestamp columns on disk)
    rows = timestamps_to_epoch(parquet_file(path).read_row_group(index, columns=columns)).to_pylist()
    if rows and "detail" in rows[0] and "reason" in rows[0]:  # drops: detail back to a dict
        for r in rows:
            r["detail"] = json.loads(r["detail"]) if r.get("detail") else {}
    return rows


def read_parquet_rows(pattern: str) -> list[dict]:
    """Every row of the files matching `pattern` (tests and small tables only: it holds them all)."""
    rows: list[dict] = []
    for path in glob(pattern):
        for _, i in row_groups(path):
            rows.extend(read_row_group(path, i))
    return rows


def file_meta(path: str) -> dict:
    meta = parquet_file(path).metadata
    kv = {k.decode(): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()}
    return {"rows": meta.num_rows, "row_bytes": int(kv.get("webtext.row_bytes", 0))}


def unit_name(path: str, index: int, n_groups: int) -> str:
    """Output name stem of the unit (path, row group): the input's stem, plus the row group when
    the input has several. Deterministic, so a retried unit overwrites its own files."""
    import os

    stem = os.path.basename(path).rsplit(".", 1)[0]
    stem = stem[len(DATA) + 1:] if stem.startswith(DATA + "-") else stem
    return stem if n_groups == 1 else f"{stem}-{index:04d}"


def data_files(out: str, stage: str) -> list[str]:
    return glob(data_prefix(out, stage) + "-*.parquet")


def drops_files(out: str, stage: str) -> list[str]:
    return glob(drops_prefix(out, stage) + "-*.parquet")


def dead_letter_files(out: str, stage: str) -> list[str]:
    return glob(dead_letter_prefix(out, stage) + "-*.jsonl")


def write_dead_letters(out: str, stage: str, name: str, rows) -> dict:
    """Dead-letter rows as JSON lines (streamed; temp name then rename locally)."""
    path = f"{dead_letter_prefix(out, stage)}-{name}.jsonl"
    handle, n = open_write(path), 0
    for r in rows:
        # a lone surrogate is written as its JSON escape (report.write_json_atomic says why)
        handle.write((json.dumps(r, ensure_ascii=False, default=str) + "\n").encode("utf-8", "backslashreplace"))
        n += 1
    close_write(handle, path)
    return {"path": path, "rows": n}


# ----------------------------------------------------------------------------------- markers


def read_marker(out: str, stage: str) -> dict | None:
    path = join(stage_dir(out, stage), MARKER)
    if not exists(path):
        return None
    try:
        return json.loads(read_bytes(path))
    except ValueError:
        return None


def write_marker(out: str, stage: str, fingerprint: str, report: StageReport, seconds: float, extra: dict) -> dict:
    marker = {
        "stage": stage,
        "fingerprint": fingerprint,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "report": report.to_dict(),
        **extra,
    }
    write_bytes(join(stage_dir(out, stage), MARKER), (json.dumps(marker, indent=2, default=str) + "\n").encode())
    return marker


# ----------------------------------------------------------------------------------- reports


def counter_namespace(stage: str) -> str:
    return f"webtext.{stage}"


def report_from_outputs(out: str, stage: str) -> StageReport:
    """The stage's report from what it wrote (module docstring), never from the runner's metrics:
    it holds on every runner, Dask's (no metrics) included. Memory: one drops file's key columns."""
    import heapq

    import pyarrow.compute as pc

    report = StageReport(stage)
    for path in data_files(out, stage):
        if stage == "harvest":  # the harvest counts submissions, as the library's
            table = parquet_file(path).read(columns=["n_submissions"])
            report.kept += int(pc.sum(table.column(0)).as_py() or 0)
        else:
            report.kept += file_meta(path)["rows"]
    smallest: dict[str, list] = {}  # reason -> the first keys in sorted order (reruns agree)
    for path in drops_files(out, stage):
        table = parquet_file(path).read(columns=["reason", "key", "detail", "n"])
        for row in table.group_by("reason").aggregate([("n", "sum")]).to_pylist():
            report.dropped[row["reason"]] += int(row["n_sum"])
        for reason in set(table.column("reason").to_pylist()):
            part = table.filter(pc.and_(pc.equal(table["reason"], reason), pc.is_valid(table["key"])))
            part = part.sort_by("key").slice(0, SAMPLES_PER_REASON).to_pylist()
            best = smallest.setdefault(reason, [])
            best.extend((r["key"], r["detail"]) for r in part)
            smallest[reason] = heapq.nsmallest(SAMPLES_PER_REASON, best)
    dead = 0
    for path in dead_letter_files(out, stage):
        dead += sum(1 for line in read_bytes(path).splitlines() if line.strip())
    if dead:
        report.dropped["dead_letter"] += dead
    report.read = report.kept + sum(report.dropped.values())
    for reason, best in sorted(smallest.items()):
        samples = []
        for key, detail in best:
            detail = json.loads(detail) if detail else {}
            samples.append(key if not detail else {"key": key, **detail})
        report.samples[reason] = samples
    return report


def metrics_totals(stage: str, result) -> dict[str, int] | None:
    """The stage's Beam counters (`read`, `kept`, `drop.<reason>`), or None where the runner has
    no metrics (Dask: "collecting metrics will come later")."""
    try:
        from apache_beam.metrics.metric import MetricsFilter

        counters = result.metrics().query(MetricsFilter().with_namespace(counter_namespace(stage)))["counters"]
    except (NotImplementedError, AttributeError):
        return None
    totals: dict[str, int] = {}
    for c in counters:
        value = c.committed if c.committed is not None else c.attempted
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + int(value or 0)
    return {k: v for k, v in totals.items() if v}


def cross_check(report: StageReport, metrics: dict[str, int] | None) -> list[str]:
    """Where the metrics disagree with the counts taken from the outputs: one line per difference."""
    if metrics is None:
        return []
    ours = {"read": report.read, "kept": report.kept, **{f"drop.{k}": v for k, v in report.dropped.items()}}
    return [f"{k}: outputs {ours.get(k, 0):,}, metrics {metrics.get(k, 0):,}"
            for k in sorted(set(ours) | set(metrics)) if ours.get(k, 0) != metrics.get(k, 0)]


def dead_letter_row(stage: str, step: str, element, exc: BaseException) -> dict:
    """What the dead-letter file keeps of a failed element: enough to find it and see why."""
    return {
        "stage": stage,
        "step": step,
        "key": element_key(element),
        "error": f"{type(exc).__name__}: {exc}"[:2000],
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:],
        "element": _preview(element),
    }


def element_key(element) -> str:
    """A readable identity of a row: its URL, a Reddit id, or the row itself, shortened."""
    if isinstance(element, tuple) and len(element) == 2:
        element = element[1] if isinstance(element[1], dict) else element[0]
    if isinstance(element, dict):
        for k in ("url", "id", "path"):
            if element.get(k):
                return str(element[k])
        if isinstance(element.get("link"), dict):
            return str(element["link"].get("url"))
    return str(element)[:300]


def _preview(element) -> str:
    try:
        text = json.dumps(element, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(element)
    return text if len(text) <= 4000 else text[:4000] + "..."
