"""Where each stage's output lives, how a finished stage is marked, and how its report is made.

Layout of a build's output folder (local or `gs://`):

    OUT/stages/<stage>/data-*.jsonl.gz     the rows the stage kept (JSON lines, gzip)
    OUT/stages/<stage>/drops-*.jsonl.gz    one line per dropped row: stage, reason, key, detail
    OUT/stages/<stage>/_SUCCESS.json       the completion marker: fingerprint + the stage report
    OUT/stages/fetch/part-NNNNN/           the fetch buckets' WARC files and fetch logs
    OUT/dead_letter/<stage>-*.jsonl        elements whose processing raised, with the traceback
    OUT/shards/, OUT/manifest.json, OUT/README.md

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


def read_jsonl(pattern: str) -> list[dict]:
    """Every row of the (gzip) JSON-lines files matching `pattern`, in file order (driver side)."""
    import gzip
    import io

    rows = []
    for path in glob(pattern):
        data = read_bytes(path)
        if path.endswith(".gz"):
            data = gzip.decompress(data) if data else b""
        for line in io.BytesIO(data):
            if line.strip():
                rows.append(json.loads(line))
    return rows


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


def report_from_metrics(stage: str, result, drop_rows: list[dict]) -> StageReport:
    """A StageReport from the Beam counters of one stage, with examples from its drop rows.

    Counters (see transforms.Counts): `read`, `kept`, `drop.<reason>` (the dead-letter count is the
    reason `dead_letter`). The counts come from Beam's metrics, not from the drop rows, so a runner
    that retried a bundle still reports each element once (committed values)."""
    from apache_beam.metrics.metric import MetricsFilter

    report = StageReport(stage)
    counters = result.metrics().query(MetricsFilter().with_namespace(counter_namespace(stage)))["counters"]
    totals: dict[str, int] = {}
    for c in counters:
        value = c.committed if c.committed is not None else c.attempted
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + int(value or 0)
    report.read = totals.pop("read", 0)
    report.kept = totals.pop("kept", 0)
    for name, n in sorted(totals.items()):
        if name.startswith("drop.") and n:
            report.dropped[name[len("drop."):]] += n
    # Examples: the first few keys (in sorted order, so reruns agree) of each reason.
    by_reason: dict[str, list] = {}
    for row in sorted(drop_rows, key=lambda r: (r["reason"], str(r.get("key")))):
        bucket = by_reason.setdefault(row["reason"], [])
        if len(bucket) < SAMPLES_PER_REASON:
            bucket.append(row["key"] if not row.get("detail") else {"key": row["key"], **row["detail"]})
    report.samples = by_reason
    return report


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
