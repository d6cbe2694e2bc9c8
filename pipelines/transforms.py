"""The build's stages as composite Beam transforms, each a thin wrapper over the library.

Every stage is a `beam.PTransform` whose `expand()` wires a few DoFns around `webtext` functions;
the decisions (what to keep, why to drop) are all the library's, so the Beam build and the plain
Python stages cannot disagree. Each transform returns a dict of PCollections:

    "kept"         the rows that go on to the next stage
    "dropped"      one small row per dropped element: {"stage", "reason", "key", "detail"}
    "dead_letter"  elements whose processing raised, with the error (written to OUT/dead_letter/)

and counts into Beam metrics (namespace `webtext.<stage>`): `read`, `kept` and `drop.<reason>` for
every reason, the dead letters as `drop.dead_letter`. The build's counts come from the written
outputs (store.report_from_outputs); the metrics, where a runner has them, are a cross-check.

Runner-neutral by construction, so the same graph runs on the local FnApiRunner, on Dataflow and
on Beam's Dask runner, which translates only Create, ParDo, GroupByKey and Flatten:
- no multi-output ParDo (`with_outputs`): Dask hands every tagged output to every consumer. A
  DoFn yields `(tag, value)` pairs and `split()` selects each tag with a FlatMap;
- no Beam file sources or sinks (`ReadFromText`, `WriteToParquet`): Dask maps `Read` to nothing
  and drops what `finish_bundle` emits. Files are read by a ParDo per unit of work (a row group)
  and written inside `process()` under deterministic names (store.py);
- no side inputs (the Dask runner materialises them with `list(bag)` inside a task);
- every pipeline ends in ONE terminal PCollection that depends on all branches: the Dask runner
  computes only the last transform's graph.

Groupings go through `GroupViaStorage` / `CoGroupViaStorage` / `DistinctViaStorage`
(pipelines/shuffle.py). Given a `shuffle_dir` (the build gives one on the local runner only:
`OUT/stages/<stage>/shuffle/`), the workers spill the pairs to files there and group them
themselves; the launcher sees only each bundle's file reference. The local FnApiRunner would
otherwise hold every GroupByKey's data, and every multi-input Flatten's, in the launching
process, so data that grows with the corpus is never flattened either: `WriteOutputs` and
`GroupViaStorage` take a tuple of PCollections and spill each where it is produced. Without a
`shuffle_dir` (Dask, Dataflow, whose shuffles live in their workers) they are Beam's own
Flatten + GroupByKey / CoGroupByKey / Distinct. No shuffle carries a document's text: extract
and clean are per-unit (no shuffle), dedup shuffles key records and row positions and re-reads the
survivors per unit (`DedupFiles`), the shards stage shuffles only file names (`Shards`, a plain
GroupByKey: one name per input file and shard).

| transform      | library calls                                                                 |
|----------------|-------------------------------------------------------------------------------|
| `Harvest`      | `reddit.dumps.iter_records`, `reddit.links.classify`, GroupViaStorage(url), `link_row`, `qualifies` |
| `Fetch`        | GroupViaStorage(bucket of the domain), `fetch.fetch_urls` per batch (Scrapy in a subprocess) |
| `Extract`      | `fetch.replay.read_response`, `extract.document_from_page`                     |
| `Clean`        | `filters.clean_document`; with `--decontaminate`, `checks.overlap.EvalNgrams.contaminated` |
| `DedupFiles`   | `dedup.exact.url_key`/`text_key`, `dedup.minhash.signature` per unit (`DocKeys`), `Dedup` over these key records (GroupViaStorage, `dedup.clusters`), `WriteSurvivors` per unit |
| `WriteOutputs` | GroupViaStorage((tag, crc32(key) % parts)), `store.write_parquet` per part          |

Near-duplicates, the distributed way (`NearDedup`): a MinHash signature per document; one
`(band key, doc id)` pair per band (`clusters.band_pairs`), grouped by a hash partition of the band
key and, inside each partition, by band key; the members
of buckets of two or more joined with their signatures (a co-grouping on the id) and grouped again
per bucket, where `clusters.bucket_edges` keeps the pairs whose signatures agree on at least the
threshold; the distinct edges then go to ONE key where `clusters.connected_components` (union-find)
runs over the edges only, never over the documents. At WebText scale (8 M documents, a few per cent near-duplicated) that is a few hundred
thousand edges, tens of MB on one worker. A co-grouping brings each key record its component root,
a grouping per root picks the survivor (smallest `clusters.survivor_key`, then URL key) and drops
the rest as `near_duplicate`. Same result as `dedup.dedup_documents` in memory (a test checks it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import zlib

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import store
from pipelines.progress import READ, Tally
from pipelines.shuffle import CoGroupViaStorage, DistinctViaStorage, GroupViaStorage
from webtext.errors import ConfigError

KEPT, DROPPED, DEAD = "kept", "dropped", "dead_letter"


# ----------------------------------------------------------------------------------- plumbing


class Counts:
    """The stage's Beam counters: read, kept, drop.<reason> (created on first use)."""

    def __init__(self, stage: str):
        self.ns = store.counter_namespace(stage)
        self._read = Metrics.counter(self.ns, "read")
        self._kept = Metrics.counter(self.ns, "kept")
        self._drops: dict[str, object] = {}

    def read(self, n: int = 1) -> None:
        self._read.inc(n)

    def kept(self, n: int = 1) -> None:
        self._kept.inc(n)

    def drop(self, reason: str, n: int = 1) -> None:
        c = self._drops.get(reason)
        if c is None:
            c = self._drops[reason] = Metrics.counter(self.ns, f"drop.{reason}")
        c.inc(n)


def drop_row(stage: str, reason: str, key, detail: dict | None = None, n: int = 1) -> dict:
    """One drop: `n` elements dropped for `reason`; `key` names one of them (None: a count only)."""
    return {"stage": stage, "reason": reason, "key": key, "detail": detail or {}, "n": n}


def _select(item, tag: str):
    if item[0] == tag:
        yield item[1]


def split(tagged, label: str, tags) -> dict:
    """A PCollection of `(tag, value)` -> one PCollection per tag (runner-neutral multi-output)."""
    return {tag: tagged | f"{label}.{tag}" >> beam.FlatMap(_select, tag) for tag in tags}


class LibraryStep(beam.DoFn):
    """Apply `fn(element) -> (out, None) | (None, reason) | (None, reason, detail)`; count; route
    drops (with `detail`, a small dict, when given) and failures.

    `read`/`kept` are counted here when the step is where elements enter/leave the stage
    (`counts_read`, `counts_kept`). An exception is a dead letter (counted as `drop.dead_letter`),
    except a ConfigError, which is the user's to fix and fails the build."""

    def __init__(self, stage: str, step: str, fn, key_fn=store.element_key, counts_read=True, counts_kept=True):
        self.stage, self.step, self.fn, self.key_fn = stage, step, fn, key_fn
        self.counts_read, self.counts_kept = counts_read, counts_kept

    def setup(self):
        self.counts = Counts(self.stage)

    def process(self, element):
        if self.counts_read:
            self.counts.read()
        try:
            out, reason, *detail = self.fn(element)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is kept, with its traceback
            self.counts.drop(DEAD)
            yield DEAD, store.dead_letter_row(self.stage, self.step, element, exc)
            return
        if out is None:
            self.counts.drop(reason)
            yield DROPPED, drop_row(self.stage, reason, self.key_fn(element), detail[0] if detail else None)
            return
        if self.counts_kept:
            self.counts.kept()
        yield KEPT, out


def _apply_step(pcoll, label: str, dofn: beam.DoFn):
    res = split(pcoll | label >> beam.ParDo(dofn), label, (KEPT, DROPPED, DEAD))
    return res[KEPT], res[DROPPED], res[DEAD]


# ----------------------------------------------------------------------------------- harvest


class ReadDumpFile(beam.DoFn):
    """One dump file -> its records (`reddit.dumps.iter_records`); bad lines become counted drops.
    With `stage_dir`, the records read are counted for the live display (pipelines/progress.py)."""

    def __init__(self, on_error: str, stage_dir: str | None = None):
        self.on_error = on_error
        self.tally = Tally(stage_dir, READ) if stage_dir else None

    def setup(self):
        self.counts = Counts("harvest")

    def finish_bundle(self):
        if self.tally is not None:
            self.tally.flush()

    def process(self, path: str):
        from webtext.reddit.dumps import iter_records
        from webtext.report import StageReport

        report = StageReport("harvest")  # collects malformed lines / a damaged tail for this file
        tally = self.tally
        with contextlib.ExitStack() as stack:
            remote = {}
            if "://" in path:  # gs://: read through Beam's FileSystems (dumps.iter_records reads local files)
                remote = {"fh": stack.enter_context(store.open_read(path)), "size": store.size(path)}
            for record in iter_records(path, on_error=self.on_error, report=report, **remote):
                if tally is not None:
                    tally.add()
                yield KEPT, record
        for reason, n in report.dropped.items():
            if tally is not None:
                tally.add(n)
            self.counts.read(n)
            self.counts.drop(reason, n)
            examples = report.samples.get(reason, [])[:n]
            for example in examples:
                yield DROPPED, drop_row("harvest", reason, str(example))
            if n > len(examples):  # the rest of this reason's count, without an example each
                yield DROPPED, drop_row("harvest", reason, None, {"file": path}, n - len(examples))


def _classify(opts, record: dict):
    from webtext.reddit.links import classify

    sub, reason = classify(record, opts)
    if sub is None:
        return None, reason
    return (sub.url, (sub.id, sub.url, sub.domain, sub.subreddit, sub.created_utc, sub.score)), None


def _submission_key(record: dict) -> str:
    url = record.get("url")
    return f"{record.get('id', '?')} {url}"[:300] if isinstance(url, str) else str(record.get("id", "?"))


class AggregateLinks(beam.DoFn):
    """All submissions of one URL -> its links row (`link_row`), kept when it `qualifies`."""

    def __init__(self, opts):
        self.opts = opts

    def setup(self):
        self.counts = Counts("harvest")

    def process(self, item):
        from webtext.reddit.links import Submission, link_row, qualifies

        url, subs = item
        subs = [Submission(*s) for s in subs]
        row = link_row(url, subs)
        repeats = len(subs) - row["n_submissions"]  # the same submission id read twice
        if repeats:
            self.counts.drop("duplicate_submission", repeats)
            yield DROPPED, drop_row("harvest", "duplicate_submission", url, {"n": repeats}, repeats)
        if qualifies(row, self.opts):
            self.counts.kept(row["n_submissions"])
            yield KEPT, row
        else:
            self.counts.drop("low_karma", row["n_submissions"])
            yield DROPPED, drop_row("harvest", "low_karma", url, {"ids": row["reddit_ids"]}, row["n_submissions"])


class Harvest(beam.PTransform):
    """Dump files (or already-read records) -> one links row per qualifying URL.

    Accounting as `webtext.reddit.harvest`: `read` counts records, `kept` the submissions that
    end in a written link row, every other record is a drop with the classifier's reason."""

    def __init__(self, files: list[str] | None, opts, on_error: str = "fail", stage_dir: str | None = None,
                 shuffle_dir: str | None = None):
        super().__init__()
        self.files, self.opts, self.on_error, self.stage_dir = files, opts, on_error, stage_dir
        self.shuffle_dir = shuffle_dir

    def expand(self, pbegin_or_records):
        if self.files is not None:
            read = split(
                pbegin_or_records
                | "DumpFiles" >> beam.Create(sorted(self.files))
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadDumps" >> beam.ParDo(ReadDumpFile(self.on_error, self.stage_dir)),
                "ReadDumps", (KEPT, DROPPED),
            )
            records, read_drops = read[KEPT], read[DROPPED]
        else:
            records, read_drops = pbegin_or_records, None
        subs, class_drops, class_dead = _apply_step(
            records, "Classify",
            LibraryStep("harvest", "classify", functools.partial(_classify, self.opts), _submission_key, counts_kept=False),
        )
        agg = split(
            subs | "ByUrl" >> GroupViaStorage(self.shuffle_dir) | "LinkRows" >> beam.ParDo(AggregateLinks(self.opts)),
            "LinkRows", (KEPT, DROPPED),
        )
        drops = (class_drops, agg[DROPPED]) + ((read_drops,) if read_drops is not None else ())
        return {KEPT: agg[KEPT], DROPPED: drops, DEAD: class_dead}  # WriteOutputs takes the drops as they are


# ----------------------------------------------------------------------------------- fetch


def fetch_bucket(domain: str, buckets: int) -> int:
    """A stable bucket per domain (CRC-32, not Python's salted hash): one domain, one crawler."""
    return zlib.crc32(domain.encode("utf-8")) % buckets


class FetchBuckets(beam.DoFn):
    """One bucket of links -> `fetch_urls` in batches -> a page row per fetched HTML page.

    A bucket's crawl writes into its own folder (`OUT/stages/fetch/part-NNNNN/`), so a rerun of an
    unfinished fetch stage resumes there: `fetch_urls` skips URLs already logged. For a `gs://`
    output the crawl writes to a local temporary folder and its files are copied up afterwards
    (no resume then: a rerun fetches the bucket again)."""

    def __init__(self, stage_dir: str, options: dict, batch_size: int):
        self.stage_dir, self.options, self.batch_size = stage_dir, options, batch_size
        self.tally = Tally(stage_dir, READ)  # links through the crawler, batch by batch (live display)

    def setup(self):
        self.counts = Counts("fetch")

    def finish_bundle(self):
        self.tally.flush()

    def process(self, item):
        from webtext.fetch import FetchOptions, fetch_urls

        bucket, links = item
        links = sorted(links, key=lambda r: r["url"])
        self.counts.read(len(links))
        remote = "://" in self.stage_dir
        part = store.join(self.stage_dir, f"part-{bucket:05d}")
        if remote:
            import tempfile

            local = tempfile.mkdtemp(prefix=f"webtext-fetch-{bucket:05d}-")
        else:
            local = part
        opts = FetchOptions.from_dict(self.options)
        for start in range(0, len(links), self.batch_size):
            batch = links[start : start + self.batch_size]
            try:
                submitted = {r["url"]: r["first_created_utc"] for r in batch if r.get("first_created_utc") is not None}
                rows = fetch_urls([r["url"] for r in batch], local, opts, submitted)
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - the crawl process failed: the batch is a dead letter
                self.tally.add(len(batch))
                self.counts.drop(DEAD, len(batch))
                for link in batch:
                    yield DEAD, store.dead_letter_row("fetch", "fetch_urls", link, exc)
                continue
            self.tally.add(len(batch))
            by_url = {r["url"]: r for r in rows}
            for link in batch:
                row = by_url.get(link["url"])
                if row is None:
                    self.counts.drop(DEAD)
                    yield DEAD, store.dead_letter_row(
                        "fetch", "fetch_urls", link, RuntimeError("fetch_urls returned no log row for this URL"))
                    continue
                if row.get("error"):
                    self.counts.drop(row["error"])
                    yield DROPPED, drop_row("fetch", row["error"], link["url"], {
                        "status": row.get("status"), "final_url": row.get("final_url"),
                        "error_detail": (row.get("error_detail") or "")[:200],
                    })
                    continue
                if remote and row.get("warc_path", "").startswith(local):
                    row["warc_path"] = part + row["warc_path"][len(local):]
                self.counts.kept()
                yield KEPT, {"link": link, "fetch": row}
        if remote:
            _upload_tree(local, part)


def _upload_tree(local: str, remote: str) -> None:
    import os
    import shutil

    for root, _, files in os.walk(local):
        for name in sorted(files):
            src = os.path.join(root, name)
            dst = store.join(remote, os.path.relpath(src, local).replace(os.sep, "/"))
            with open(src, "rb") as f_in, store.fs().create(dst) as f_out:
                shutil.copyfileobj(f_in, f_out, 1 << 20)
    shutil.rmtree(local, ignore_errors=True)


class Fetch(beam.PTransform):
    """Links -> pages ({"link": links row, "fetch": fetch-log row}) for every HTML page fetched.

    Links are grouped by a bucket of their domain (`fetch_bucket`): one bucket is one Scrapy
    process at a time, so per-domain politeness (robots.txt, delays, concurrency) holds across the
    whole build; `buckets` sets the parallelism. Drop reasons are the fetch log's `error` classes
    (`http_404`, `not_in_archive`, `non_html`, `robots_disallowed`, `robots_unreachable`, `timeout`, ...)."""

    def __init__(self, stage_dir: str, options: dict, buckets: int, batch_size: int, shuffle_dir: str | None = None):
        super().__init__()
        self.stage_dir, self.options, self.buckets, self.batch_size = stage_dir, options, buckets, batch_size
        self.shuffle_dir = shuffle_dir

    def expand(self, links):
        buckets = self.buckets
        fetched = (
            links
            | "ByDomainBucket" >> beam.Map(lambda r: (fetch_bucket(r["domain"] or r["url"], buckets), r))
            | "Buckets" >> GroupViaStorage(self.shuffle_dir)
            | "FetchUrls" >> beam.ParDo(FetchBuckets(self.stage_dir, self.options, self.batch_size))
        )
        return split(fetched, "FetchUrls", (KEPT, DROPPED, DEAD))


# ----------------------------------------------------------------------------------- extract


def read_page(warc_path: str, offset: int):
    """The archived response a fetch-log row points at; `gs://` paths are read through Beam's FileSystems."""
    from webtext.fetch import replay

    if "://" not in warc_path:
        return replay.read_response(warc_path, offset)
    with store.fs().open(warc_path, compression_type="uncompressed") as fh:
        return replay.read_response(warc_path, offset, fh=fh)  # the same decoding (and revisits) on a remote stream


def _extract(page: dict):
    from webtext.extract import document_from_page

    fetch, link = page["fetch"], page["link"]
    response = read_page(fetch["warc_path"], int(fetch["warc_offset"]))
    final_url = fetch.get("final_url") or link["url"]
    return document_from_page(link, final_url, response.text(), fetch=fetch)


def extract_step() -> LibraryStep:
    return LibraryStep("extract", "document_from_page", _extract)


class Extract(beam.PTransform):
    """Pages -> documents (`extract.document_from_page`: Dragnet + Newspaper, combined).
    The build runs the same step per unit of work (`UnitStage`), without a shuffle."""

    def expand(self, pages):
        docs, drops, dead = _apply_step(pages, "ExtractDocuments", extract_step())
        return {KEPT: docs, DROPPED: drops, DEAD: dead}


# ----------------------------------------------------------------------------------- clean


_EVAL_NGRAMS: dict[str, object] = {}  # per worker process: key -> webtext.checks.overlap.EvalNgrams


def _eval_ngrams(path: str, key: str):
    """The evaluation n-grams the launcher wrote (`path`), loaded once per worker process (`key`:
    the clean stage's fingerprint, which changes with the evaluation files)."""
    if key not in _EVAL_NGRAMS:
        from webtext.checks.overlap import EvalNgrams

        _EVAL_NGRAMS.clear()
        _EVAL_NGRAMS[key] = EvalNgrams.from_bytes(store.read_bytes(path))
    return _EVAL_NGRAMS[key]


def _clean(opts, doc: dict, decontaminate: tuple | None = None):
    from webtext.filters import clean_document

    out, reason = clean_document(doc, opts)
    if out is not None and decontaminate:  # (path, key, threshold) of the evaluation n-grams
        path, key, threshold = decontaminate
        shared = _eval_ngrams(path, key).contaminated(out.get("text"), threshold)
        if shared:
            return None, "contaminated", {"shared_ngrams": shared}
    return out, reason


def clean_step(opts, decontaminate: tuple | None = None) -> LibraryStep:
    """`filters.clean_document`, then (with `decontaminate` = (n-grams file, key, threshold)) the
    decontamination check (`checks.overlap.EvalNgrams.contaminated`): drop reason `contaminated`."""
    return LibraryStep("clean", "clean_document", functools.partial(_clean, opts, decontaminate=decontaminate))


class Clean(beam.PTransform):
    """Documents -> cleaned documents (`filters.clean_document`: Wikipedia, length, encoding, ...).
    The build runs the same step per unit of work (`UnitStage`), without a shuffle."""

    def __init__(self, opts):
        super().__init__()
        self.opts = opts

    def expand(self, docs):
        kept, drops, dead = _apply_step(docs, "CleanDocuments", clean_step(self.opts))
        return {KEPT: kept, DROPPED: drops, DEAD: dead}


# ----------------------------------------------------------------------------------- dedup
#
# No dedup shuffle carries document text: each document becomes a key record (`doc_keys`: where
# its row is, its URL key, text hash, survivor-rule fields and MinHash signature) in the worker
# that reads its unit of work; the exact and near steps choose survivors from these records; the
# survivors' positions are grouped per unit, and each unit is re-read from the clean stage's
# Parquet and its surviving rows written there (`WriteSurvivors`).


def doc_keys(doc: dict, opts, unit=None, row: int | None = None) -> dict:
    """What dedup needs of one document, without its text: where it is (`unit` = (path, row group,
    row groups in the file) of the clean stage's output, `row` = its index in the row group), its
    id (`exact.url_key`), its text hash, the survivor rule's key (`clusters.survivor_key`), its
    submitted URL (drop rows name it) and, for the near step, its MinHash signature."""
    from webtext.dedup import clusters, exact, minhash

    rec = {"unit": unit, "row": row, "id": exact.url_key(doc), "rank": clusters.survivor_key(doc), "url": doc.get("url")}
    if opts.exact_text:
        rec["text_key"] = exact.text_key(doc)
    if opts.near:
        rec["sig"] = minhash.signature(doc.get("text") or "", opts.num_perm, opts.seed, opts.ngram, opts.hash)
    return rec


def _order_key(rec: dict) -> tuple:
    """The in-memory dedup's visiting order: the survivor rule, then the URL key."""
    return (rec["rank"], rec["id"])


class DocKeys(beam.DoFn):
    """One unit of work (a row group of the clean stage's output) -> one key record per document
    (counted as `read` for the live display when `stage_dir` is given)."""

    def __init__(self, opts, stage_dir: str | None = None):
        self.opts = opts
        self.tally = Tally(stage_dir, READ) if stage_dir else None

    def finish_bundle(self):
        if self.tally is not None:
            self.tally.flush()

    def process(self, unit):
        path, index, n_groups = unit
        docs = store.read_row_group(path, index)
        if self.tally is not None:
            self.tally.add(len(docs))
        for row, doc in enumerate(docs):
            yield doc_keys(doc, self.opts, (path, index, n_groups), row)


class KeepFirstPerKey(beam.DoFn):
    """One group of key records sharing a key -> the survivor; the others are drops with `reason`."""

    def __init__(self, reason: str):
        self.reason = reason

    def setup(self):
        self.counts = Counts("dedup")

    def process(self, item):
        _, recs = item
        recs = sorted(recs, key=_order_key)
        yield KEPT, recs[0]
        for rec in recs[1:]:
            self.counts.drop(self.reason)
            yield DROPPED, drop_row("dedup", self.reason, rec["url"], {"duplicate_of": recs[0]["url"]})


class ExactDedup(beam.PTransform):
    """Key records sharing `field` ("id": exact.url_key, "text_key": exact.text_key): one survivor per key."""

    def __init__(self, field: str, reason: str, shuffle_dir: str | None = None):
        super().__init__()
        self.field, self.reason, self.shuffle_dir = field, reason, shuffle_dir

    def expand(self, recs):
        field = self.field
        res = split(
            recs
            | "Key" >> beam.Map(lambda r: (r[field], r))
            | "Group" >> GroupViaStorage(self.shuffle_dir)
            | "Survivor" >> beam.ParDo(KeepFirstPerKey(self.reason)),
            "Survivor", (KEPT, DROPPED),
        )
        return res[KEPT], res[DROPPED]


BAND_PARTITIONS = 4096  # groups of band keys: a few large groups, not one small group per band key


def _band_pairs(opts, rec: dict):
    """One `(partition, (band key, id))` per band of a document; the partition is a hash of the
    band key, so a band bucket's members all land in one partition."""
    from webtext.dedup import clusters

    bands, rows = opts.lsh()
    return [(zlib.crc32(key) % BAND_PARTITIONS, (key, doc_id))
            for key, doc_id in clusters.band_pairs(rec["id"], rec["sig"], bands, rows)]


def _bucket_members(item):
    """One partition of band pairs -> (member id, band key) for each member of a band bucket of
    two or more. Grouping by partition rather than by band key keeps the shuffle's keys few (on
    the local runner, every distinct key costs the launcher a dict entry and a list)."""
    _, pairs = item
    buckets: dict[bytes, set] = {}
    for key, doc_id in pairs:
        buckets.setdefault(key, set()).add(doc_id)
    out = []
    for key, ids in sorted(buckets.items()):
        if len(ids) > 1:
            out.extend((doc_id, key) for doc_id in sorted(ids))
    return out


def _signed_members(item):
    """A document's signature and its candidate buckets -> (band key, (id, signature)) per bucket."""
    doc_id, grouped = item
    sigs = list(grouped["sig"])
    if sigs:
        for key in grouped["bucket"]:
            yield key, (doc_id, sigs[0])


def _bucket_edges(opts, item):
    from webtext.dedup import clusters

    _, members = item
    members = list(members)
    if len(members) < 2:
        return []
    return clusters.bucket_edges(members, opts.threshold, opts.window)


def _components(item):
    from webtext.dedup import clusters

    _, edges = item
    return sorted(clusters.connected_components(edges).items())


def _without_sig(rec: dict):
    return rec["id"], {k: v for k, v in rec.items() if k != "sig"}


class _JoinRoot(beam.DoFn):
    """doc id -> (record, root?): documents without a near-duplicate are kept right here."""

    def setup(self):
        self.counts = Counts("dedup")

    def process(self, item):
        _, grouped = item
        recs, roots = list(grouped["rec"]), list(grouped["root"])
        for rec in recs:
            if roots:
                yield "clustered", (roots[0], rec)
            else:
                self.counts.kept()
                yield KEPT, rec


class _ClusterSurvivor(beam.DoFn):
    """One near-duplicate component -> its survivor (`clusters.survivor_key`, then the URL key)."""

    def setup(self):
        self.counts = Counts("dedup")

    def process(self, item):
        _, recs = item
        recs = sorted(recs, key=_order_key)
        survivor = recs[0]  # = clusters.choose_survivor over the rows, ties broken by URL key
        self.counts.kept()
        yield KEPT, survivor
        for rec in recs[1:]:
            self.counts.drop("near_duplicate")
            yield DROPPED, drop_row("dedup", "near_duplicate", rec["url"], {"duplicate_of": survivor["url"]})


class NearDedup(beam.PTransform):
    """MinHash + LSH band buckets + connected components over key records (module docstring).

    The band shuffle carries `(band key, id)` only; the signatures are joined to the members of the
    buckets that have two or more (a CoGroupByKey by id), so a document's 512-byte signature
    crosses a shuffle once, plus once per candidate bucket, instead of once per band."""

    def __init__(self, opts, shuffle_dir: str | None = None):
        super().__init__()
        self.opts, self.shuffle_dir = opts, shuffle_dir

    def expand(self, recs):
        opts, shuffle = self.opts, self.shuffle_dir
        members = (
            recs
            | "BandKeys" >> beam.FlatMap(functools.partial(_band_pairs, opts))
            | "ByBandPartition" >> GroupViaStorage(shuffle)
            | "Candidates" >> beam.FlatMap(_bucket_members)
        )
        sigs = recs | "Signatures" >> beam.Map(lambda r: (r["id"], r["sig"]))
        edges = (
            {"sig": sigs, "bucket": members}
            | "JoinSignatures" >> CoGroupViaStorage(shuffle)
            | "SignedMembers" >> beam.FlatMap(_signed_members)
            | "ByCandidateBucket" >> GroupViaStorage(shuffle)
            | "BucketEdges" >> beam.FlatMap(functools.partial(_bucket_edges, opts))
            | "DistinctEdges" >> DistinctViaStorage(shuffle)
        )
        roots = (
            edges
            | "OneKey" >> beam.Map(lambda e: (None, e))
            | "AllEdges" >> GroupViaStorage(shuffle)
            | "UnionFind" >> beam.FlatMap(_components)
        )
        keyed = recs | "ById" >> beam.Map(_without_sig)
        joined = split(
            {"rec": keyed, "root": roots} | "JoinRoots" >> CoGroupViaStorage(shuffle) | "SplitClustered" >> beam.ParDo(_JoinRoot()),
            "SplitClustered", ("clustered", KEPT),
        )
        clustered = split(
            joined["clustered"] | "ByComponent" >> GroupViaStorage(shuffle) | "ClusterSurvivor" >> beam.ParDo(_ClusterSurvivor()),
            "ClusterSurvivor", (KEPT, DROPPED),
        )
        return (joined[KEPT], clustered[KEPT]), clustered[DROPPED]  # not flattened: see Dedup


class _CountIn(beam.DoFn):
    def __init__(self, stage: str):
        self.stage = stage

    def setup(self):
        self.counts = Counts(self.stage)

    def process(self, x):
        self.counts.read()
        yield x


class _CountKept(_CountIn):
    def process(self, x):
        self.counts.kept()
        yield x


class Dedup(beam.PTransform):
    """Key records (`doc_keys`) -> the survivors' records and the drops: exact URL, exact text,
    then near-duplicates; the same steps and survivors as `dedup_documents`.

    The survivors and the drops come as tuples of PCollections, not flattened: on the local
    runner a Flatten is held in the launcher; their consumers group them (`GroupViaStorage`,
    `WriteOutputs`), which takes a tuple as it is."""

    def __init__(self, opts, shuffle_dir: str | None = None):
        super().__init__()
        self.opts, self.shuffle_dir = opts, shuffle_dir

    def expand(self, recs):
        opts, shuffle = self.opts, self.shuffle_dir
        recs = recs | "CountIn" >> beam.ParDo(_CountIn("dedup"))
        drops = []
        if opts.exact_url:
            recs, d = recs | "ExactUrl" >> ExactDedup("id", "duplicate_url", shuffle)
            drops.append(d)
        if opts.exact_text:
            recs, d = recs | "ExactText" >> ExactDedup("text_key", "duplicate_text", shuffle)
            drops.append(d)
        if opts.near:
            kept, d = recs | "Near" >> NearDedup(opts, shuffle)  # counts its survivors as kept
            drops.append(d)
        else:
            kept = (recs | "CountKept" >> beam.ParDo(_CountKept("dedup")),)
        out = {KEPT: kept}  # dedup has no per-element failure path: no dead letters
        if drops:
            out[DROPPED] = tuple(drops)
        return out


class WriteSurvivors(beam.DoFn):
    """(unit of work, its survivors' row indexes) -> the unit re-read from the clean stage's
    Parquet and its surviving rows written as `data-<unit>.parquet`. Memory: one row group."""

    def __init__(self, out: str):
        self.out = out
        self.tally = Tally(store.stage_dir(out, "dedup"))  # survivors written (live display)

    def finish_bundle(self):
        self.tally.flush()

    def process(self, item):
        (path, index, n_groups), rows = item
        keep = set(rows)
        docs = [d for i, d in enumerate(store.read_row_group(path, index)) if i in keep]
        self.tally.add(len(docs))
        yield from write_unit(self.out, "dedup", store.unit_name(path, index, n_groups), {KEPT: docs}, "documents")


class DedupFiles(beam.PTransform):
    """The dedup stage over the clean stage's files: key records per unit of work, `Dedup` on them,
    the survivors written per unit (`WriteSurvivors`) and the drops in `parts` files. Only key
    records, ids and row positions are shuffled, never a document's text. One terminal
    PCollection: the files written."""

    def __init__(self, files: list[str], out: str, opts, parts: int, shuffle_dir: str | None = None):
        super().__init__()
        self.files, self.out, self.opts, self.parts = sorted(files), out, opts, parts
        self.shuffle_dir = shuffle_dir

    def expand(self, pipeline):
        recs = units(pipeline, self.files, "Input") | "DocKeys" >> beam.ParDo(DocKeys(self.opts, store.stage_dir(self.out, "dedup")))
        res = recs | "Dedup" >> Dedup(self.opts, self.shuffle_dir)
        positions = tuple(kept | f"SurvivorRows{i}" >> beam.Map(lambda r: (r["unit"], r["row"]))
                          for i, kept in enumerate(res[KEPT]))
        written = [
            positions
            | "SurvivorsByUnit" >> GroupViaStorage(self.shuffle_dir)
            | "WriteSurvivors" >> beam.ParDo(WriteSurvivors(self.out))
        ]
        if DROPPED in res:
            written.append({DROPPED: res[DROPPED]}
                           | "WriteDrops" >> WriteOutputs(self.out, "dedup", "documents", self.parts, self.shuffle_dir))
        return tuple(written) | "Written" >> beam.Flatten()


# ----------------------------------------------------------------------------------- I/O


def _units_of(path: str):
    groups = store.row_groups(path)
    for _, index in groups:
        yield path, index, len(groups)


def units(pipeline, files: list[str], label: str):
    """The units of work of a stage's input files: one `(path, row group, row groups in file)` each."""
    return (
        pipeline
        | f"{label}Files" >> beam.Create(sorted(files))
        | f"{label}SpreadFiles" >> beam.Reshuffle()
        | f"{label}Units" >> beam.FlatMap(_units_of)
        | f"{label}SpreadUnits" >> beam.Reshuffle()
    )


def read_rows(pipeline, files: list[str], label: str):
    """The rows of a stage's Parquet output, read by the workers one row group at a time."""
    return units(pipeline, files, label) | f"{label}Rows" >> beam.FlatMap(lambda u: store.read_row_group(u[0], u[1]))


def _row_key(row) -> str:
    if isinstance(row, dict):
        for k in ("url", "key"):
            if row.get(k) is not None:
                return str(row[k])
        if isinstance(row.get("link"), dict):
            return str(row["link"].get("url"))
    return store.element_key(row)


class _PartKey(beam.DoFn):
    """(tag, part) key of each output row; counts the elements decided, as the report will from
    the files (kept rows - the harvest's: their submissions -, each drop row's `n`, dead letters)."""

    def __init__(self, stage: str, stage_dir: str, tag: str, parts: int):
        self.stage, self.tag, self.parts = stage, tag, parts
        self.tally = Tally(stage_dir)

    def finish_bundle(self):
        self.tally.flush()

    def process(self, row):
        if self.tag == DROPPED:
            self.tally.add(int(row.get("n", 1)))
        elif self.tag == KEPT and self.stage == "harvest":
            self.tally.add(int(row.get("n_submissions", 1)))
        else:
            self.tally.add()
        yield (self.tag, zlib.crc32(_row_key(row).encode("utf-8")) % self.parts), row


def write_unit(out: str, stage: str, name: str, outputs: dict, kind: str):
    """One unit's kept rows, drop rows and dead letters (lists, or iterables that are streamed) as
    files named after the unit; yields what was written ({"path", "rows", ...}). Deterministic
    names: a retried unit overwrites its own."""
    for tag, rows in sorted(outputs.items()):
        if isinstance(rows, list) and not rows:
            continue
        if tag == DEAD:
            yield store.write_dead_letters(out, stage, name, rows)
        else:
            prefix = store.data_prefix(out, stage) if tag == KEPT else store.drops_prefix(out, stage)
            yield store.write_parquet(f"{prefix}-{name}.parquet", rows, kind if tag == KEPT else "drops")


class _WritePart(beam.DoFn):
    def __init__(self, out: str, stage: str, kind: str, parts: int):
        self.out, self.stage, self.kind, self.parts = out, stage, kind, parts

    def process(self, item):
        (tag, part), rows = item  # rows: the runner's iterable, streamed into the file
        yield from write_unit(self.out, self.stage, f"{part:05d}-of-{self.parts:05d}", {tag: rows}, self.kind)


class WriteOutputs(beam.PTransform):
    """A stage's {kept, dropped, dead_letter} PCollections (each one PCollection or a tuple of
    them) -> its files, `parts` of each, written by the workers (grouped on (tag, crc32(key) %
    parts) by `GroupViaStorage`: through `shuffle_dir` on the local runner). One terminal
    PCollection: the files written."""

    def __init__(self, out: str, stage: str, kind: str, parts: int, shuffle_dir: str | None = None):
        super().__init__()
        self.out, self.stage, self.kind, self.parts = out, stage, kind, max(1, parts)
        self.shuffle_dir = shuffle_dir

    def expand(self, outputs: dict):
        sdir = store.stage_dir(self.out, self.stage)
        keyed = []
        for tag, pcolls in sorted(outputs.items()):
            pcolls = pcolls if isinstance(pcolls, tuple) else (pcolls,)
            for i, pc in enumerate(pcolls):
                label = f"PartKey.{tag}" + (f".{i}" if i else "")
                keyed.append(pc | label >> beam.ParDo(_PartKey(self.stage, sdir, tag, self.parts)))
        return (
            tuple(keyed)
            | "ByPart" >> GroupViaStorage(self.shuffle_dir)
            | "WriteParts" >> beam.ParDo(_WritePart(self.out, self.stage, self.kind, self.parts))
        )


class UnitStage(beam.DoFn):
    """A per-row stage (extract, clean) over one unit of work: read one row group of the previous
    stage's output, apply the stage's LibraryStep to each row, write the unit's own output files.
    No shuffle: the documents never leave the worker that reads them."""

    def __init__(self, out: str, stage: str, step: LibraryStep, kind: str = "documents"):
        self.out, self.stage, self.step, self.kind = out, stage, step, kind
        self.tally = Tally(store.stage_dir(out, stage))

    def setup(self):
        self.step.setup()

    def finish_bundle(self):
        self.tally.flush()

    def process(self, unit):
        path, index, n_groups = unit
        outputs: dict[str, list] = {KEPT: [], DROPPED: [], DEAD: []}
        rows = store.read_row_group(path, index)
        for row in rows:
            for tag, value in self.step.process(row):
                outputs[tag].append(value)
        yield from write_unit(self.out, self.stage, store.unit_name(path, index, n_groups), outputs, self.kind)
        self.tally.add(len(rows))  # decided and written


# ----------------------------------------------------------------------------------- shards


class PartitionFile(beam.DoFn):
    """One documents file -> a spill file per shard it has rows for (Arrow IPC,
    `SPILL/NNNNN/<file>.arrow`), by `webtext.shards.shard_index`; yields (shard, spill path).
    Memory: one batch. A retried file rewrites the same spill names."""

    def __init__(self, spill_dir: str, count: int):
        self.spill_dir, self.count = spill_dir, count

    def process(self, path: str):
        import os

        import pyarrow as pa

        from webtext import shards

        stem = os.path.basename(path).rsplit(".", 1)[0]
        schema = store.parquet_file(path).schema_arrow
        writers, handles, finals = {}, {}, {}

        def open_spill(i):
            if i not in writers:
                finals[i] = store.join(self.spill_dir, f"{i:05d}", f"{stem}.arrow")
                handles[i] = store.open_write(finals[i])
                writers[i] = pa.ipc.new_stream(handles[i], schema)
            return writers[i]

        try:
            used = shards.partition_batches(shards.iter_batches(store.open_read(path), name=path), self.count, open_spill)
        finally:
            for i, w in writers.items():
                w.close()
                store.close_write(handles[i], finals[i])
        for i in sorted(used):
            yield i, finals[i]


class WriteShard(beam.DoFn):
    """(shard index, its spill files) -> the shard, sorted and written (`webtext.shards.write_shard`),
    and its statistics as `STAGE_DIR/shard-NNNNN.json`: the manifest's (rows, bytes, sha256, ...)
    and the dataset card's (`card`: `webtext.card.shard_stats`), so the launcher reads no text.
    Memory: one shard."""

    def __init__(self, stage_dir: str, shards_dir: str, count: int):
        self.stage_dir, self.shards_dir, self.count = stage_dir, shards_dir, count
        self.tally = Tally(stage_dir)  # documents written into shards (live display)

    def finish_bundle(self):
        self.tally.flush()

    def process(self, item):
        import os
        import shutil
        import tempfile

        from webtext import shards

        index, paths = item
        rows = shards.read_spills(sorted({p for p in paths if p}), opener=store.open_read)
        name = shards.shard_name(index, self.count)
        if "://" in self.shards_dir:
            tmp = tempfile.mkdtemp(prefix="webtext-shard-")
            try:
                info = shards.write_shard(rows, os.path.join(tmp, name))
                with open(os.path.join(tmp, name), "rb") as fh:
                    store.write_bytes(store.join(self.shards_dir, name), fh.read())
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            info = shards.write_shard(rows, os.path.join(self.shards_dir, name))
        del rows
        info = {"index": index, **info}
        store.write_bytes(store.join(self.stage_dir, f"shard-{index:05d}.json"), (json.dumps(info) + "\n").encode())
        self.tally.add(info["rows"])
        yield {k: v for k, v in info.items() if k != "card"}  # the card's statistics stay in the file


class Shards(beam.PTransform):
    """Documents files -> `count` shards, written by the workers; only file names are shuffled.

    Each input file is partitioned by shard (`PartitionFile`), the spill paths are grouped by shard
    index (together with one empty entry per index, so every shard exists even if empty), and each
    shard is sorted and written by one worker (`WriteShard`). The output is the shards' statistics."""

    def __init__(self, files: list[str], count: int, stage_dir: str, shards_dir: str):
        super().__init__()
        self.files, self.count, self.stage_dir, self.shards_dir = sorted(files), count, stage_dir, shards_dir

    def expand(self, pipeline):
        branches = [pipeline | "EveryShard" >> beam.Create([(i, "") for i in range(self.count)])]
        if self.files:
            branches.append(
                pipeline
                | "DocumentFiles" >> beam.Create(self.files)
                | "SpreadFiles" >> beam.Reshuffle()
                | "Partition" >> beam.ParDo(PartitionFile(store.join(self.stage_dir, "spill"), self.count))
            )
        return (
            tuple(branches)
            | "AllSpills" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(WriteShard(self.stage_dir, self.shards_dir, self.count))
        )
