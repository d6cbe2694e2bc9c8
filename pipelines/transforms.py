"""The build's stages as composite Beam transforms, each a thin wrapper over the library.

Every stage is a `beam.PTransform` whose `expand()` wires a few DoFns around `webtext` functions;
the decisions (what to keep, why to drop) are all the library's, so the Beam build and the plain
Python stages cannot disagree. Each transform returns a `StageOutputs`-like dict of PCollections:

    "kept"         the rows that go on to the next stage
    "dropped"      one small row per dropped element: {"stage", "reason", "key", "detail"}
    "dead_letter"  elements whose processing raised, with the error (written to OUT/dead_letter/)

and counts into Beam metrics (namespace `webtext.<stage>`): `read`, `kept` and `drop.<reason>` for
every reason, the dead letters as `drop.dead_letter`. `read == kept + sum(drops)` holds for every
stage, as in the library's `StageReport`; the build checks it before marking a stage finished.

| transform      | library calls                                                                 |
|----------------|-------------------------------------------------------------------------------|
| `Harvest`      | `reddit.dumps.iter_records`, `reddit.links.classify`, GroupByKey(url), `link_row`, `qualifies` |
| `Fetch`        | GroupByKey(bucket of the domain), `fetch.fetch_urls` per batch (Scrapy in a subprocess) |
| `Extract`      | `fetch.replay.read_response`, `extract.document_from_page`                     |
| `Clean`        | `filters.clean_document`                                                      |
| `Dedup`        | `dedup.exact.url_key`/`text_key` + GroupByKey, `dedup.minhash.signature`, `dedup.clusters` |

Near-duplicates, the distributed way (`NearDedup`): a MinHash signature per document; one
`(band key, (doc id, signature))` pair per band (`clusters.band_pairs`); a GroupByKey per band key,
and in each bucket `clusters.bucket_edges` keeps the pairs whose signatures agree on at least the
threshold; the distinct edges then go to ONE key where `clusters.connected_components` (union-find)
runs over the edges only, never over the documents: documents without an edge never leave their
workers. At WebText scale (8 M documents, a few per cent near-duplicated) that is a few hundred
thousand edges, tens of MB on one worker. A CoGroupByKey brings each document its component root,
a GroupByKey per root picks the survivor (`clusters.choose_survivor`) and drops the rest as
`near_duplicate`. Same result as `dedup.dedup_documents` in memory (a test checks it).
"""

from __future__ import annotations

import functools
import json
import zlib

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipelines import store
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


def drop_row(stage: str, reason: str, key: str, detail: dict | None = None) -> dict:
    return {"stage": stage, "reason": reason, "key": key, "detail": detail or {}}


class LibraryStep(beam.DoFn):
    """Apply `fn(element) -> (out, None) | (None, reason)`; count; route drops and failures.

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
            out, reason = self.fn(element)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is kept, with its traceback
            self.counts.drop(DEAD)
            yield TaggedOutput(DEAD, store.dead_letter_row(self.stage, self.step, element, exc))
            return
        if out is None:
            self.counts.drop(reason)
            yield TaggedOutput(DROPPED, drop_row(self.stage, reason, self.key_fn(element)))
            return
        if self.counts_kept:
            self.counts.kept()
        yield out


def _apply_step(pcoll, label: str, dofn: beam.DoFn):
    res = pcoll | label >> beam.ParDo(dofn).with_outputs(DROPPED, DEAD, main=KEPT)
    return res[KEPT], res[DROPPED], res[DEAD]


def _flatten(label: str, pcolls: list):
    return tuple(pcolls) | label >> beam.Flatten()


# ----------------------------------------------------------------------------------- harvest


class ReadDumpFile(beam.DoFn):
    """One dump file -> its records (`reddit.dumps.iter_records`); bad lines become counted drops."""

    def __init__(self, on_error: str):
        self.on_error = on_error

    def setup(self):
        self.counts = Counts("harvest")

    def process(self, path: str):
        from webtext.reddit.dumps import iter_records
        from webtext.report import StageReport

        report = StageReport("harvest")  # collects malformed lines / a damaged tail for this file
        for record in iter_records(path, on_error=self.on_error, report=report):
            yield record
        for reason, n in report.dropped.items():
            self.counts.read(n)
            self.counts.drop(reason, n)
            for example in report.samples.get(reason, []):
                yield TaggedOutput(DROPPED, drop_row("harvest", reason, str(example)))


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
            yield TaggedOutput(DROPPED, drop_row("harvest", "duplicate_submission", url, {"n": repeats}))
        if qualifies(row, self.opts):
            self.counts.kept(row["n_submissions"])
            yield row
        else:
            self.counts.drop("low_karma", row["n_submissions"])
            yield TaggedOutput(DROPPED, drop_row("harvest", "low_karma", url, {"ids": row["reddit_ids"]}))


class Harvest(beam.PTransform):
    """Dump files (or already-read records) -> one links row per qualifying URL.

    Accounting as `webtext.reddit.harvest`: `read` counts records, `kept` the submissions that
    end in a written link row, every other record is a drop with the classifier's reason."""

    def __init__(self, files: list[str] | None, opts, on_error: str = "fail"):
        super().__init__()
        self.files, self.opts, self.on_error = files, opts, on_error

    def expand(self, pbegin_or_records):
        if self.files is not None:
            read = (
                pbegin_or_records
                | "DumpFiles" >> beam.Create(sorted(self.files))
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadDumps" >> beam.ParDo(ReadDumpFile(self.on_error)).with_outputs(DROPPED, main=KEPT)
            )
            records, read_drops = read[KEPT], read[DROPPED]
        else:
            records, read_drops = pbegin_or_records, None
        subs, class_drops, class_dead = _apply_step(
            records, "Classify",
            LibraryStep("harvest", "classify", functools.partial(_classify, self.opts), _submission_key, counts_kept=False),
        )
        agg = (
            subs
            | "ByUrl" >> beam.GroupByKey()
            | "LinkRows" >> beam.ParDo(AggregateLinks(self.opts)).with_outputs(DROPPED, main=KEPT)
        )
        drops = [class_drops, agg[DROPPED]] + ([read_drops] if read_drops is not None else [])
        return {KEPT: agg[KEPT], DROPPED: _flatten("HarvestDrops", drops), DEAD: class_dead}


# ----------------------------------------------------------------------------------- fetch


def fetch_bucket(domain: str, buckets: int) -> int:
    """A stable bucket per domain (CRC-32, not Python's salted hash): one domain, one crawler."""
    return zlib.crc32(domain.encode("utf-8")) % buckets


def _json_safe(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if hasattr(v, "isoformat"):
            v = v.isoformat()
        out[k] = v
    return out


class FetchBuckets(beam.DoFn):
    """One bucket of links -> `fetch_urls` in batches -> a page row per fetched HTML page.

    A bucket's crawl writes into its own folder (`OUT/stages/fetch/part-NNNNN/`), so a rerun of an
    unfinished fetch stage resumes there: `fetch_urls` skips URLs already logged. For a `gs://`
    output the crawl writes to a local temporary folder and its files are copied up afterwards
    (no resume then: a rerun fetches the bucket again)."""

    def __init__(self, stage_dir: str, options: dict, batch_size: int):
        self.stage_dir, self.options, self.batch_size = stage_dir, options, batch_size

    def setup(self):
        self.counts = Counts("fetch")

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
                rows = fetch_urls([r["url"] for r in batch], local, opts)
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - the crawl process failed: the batch is a dead letter
                self.counts.drop(DEAD, len(batch))
                for link in batch:
                    yield TaggedOutput(DEAD, store.dead_letter_row("fetch", "fetch_urls", link, exc))
                continue
            by_url = {r["url"]: r for r in rows}
            for link in batch:
                row = by_url.get(link["url"])
                if row is None:
                    self.counts.drop(DEAD)
                    yield TaggedOutput(DEAD, store.dead_letter_row(
                        "fetch", "fetch_urls", link, RuntimeError("fetch_urls returned no log row for this URL")))
                    continue
                row = _json_safe(row)
                if row.get("error"):
                    self.counts.drop(row["error"])
                    yield TaggedOutput(DROPPED, drop_row("fetch", row["error"], link["url"], {
                        "status": row.get("status"), "final_url": row.get("final_url"),
                        "error_detail": (row.get("error_detail") or "")[:200],
                    }))
                    continue
                if remote and row.get("warc_path", "").startswith(local):
                    row["warc_path"] = part + row["warc_path"][len(local):]
                self.counts.kept()
                yield {"link": link, "fetch": row}
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

    def __init__(self, stage_dir: str, options: dict, buckets: int, batch_size: int):
        super().__init__()
        self.stage_dir, self.options, self.buckets, self.batch_size = stage_dir, options, buckets, batch_size

    def expand(self, links):
        buckets = self.buckets
        res = (
            links
            | "ByDomainBucket" >> beam.Map(lambda r: (fetch_bucket(r["domain"] or r["url"], buckets), r))
            | "Buckets" >> beam.GroupByKey()
            | "FetchUrls" >> beam.ParDo(FetchBuckets(self.stage_dir, self.options, self.batch_size)).with_outputs(
                DROPPED, DEAD, main=KEPT)
        )
        return {KEPT: res[KEPT], DROPPED: res[DROPPED], DEAD: res[DEAD]}


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
    return document_from_page(link, final_url, response.text())


class Extract(beam.PTransform):
    """Pages -> documents (`extract.document_from_page`: Dragnet + Newspaper, combined)."""

    def expand(self, pages):
        docs, drops, dead = _apply_step(pages, "ExtractDocuments", LibraryStep("extract", "document_from_page", _extract))
        return {KEPT: docs, DROPPED: drops, DEAD: dead}


# ----------------------------------------------------------------------------------- clean


def _clean(opts, doc: dict):
    from webtext.filters import clean_document

    return clean_document(doc, opts)


class Clean(beam.PTransform):
    """Documents -> cleaned documents (`filters.clean_document`: Wikipedia, length, encoding, ...)."""

    def __init__(self, opts):
        super().__init__()
        self.opts = opts

    def expand(self, docs):
        kept, drops, dead = _apply_step(docs, "CleanDocuments", LibraryStep("clean", "clean_document", functools.partial(_clean, self.opts)))
        return {KEPT: kept, DROPPED: drops, DEAD: dead}


# ----------------------------------------------------------------------------------- dedup


def _order_key(doc: dict) -> tuple:
    """The in-memory dedup's visiting order: the survivor rule, then the URL key."""
    from webtext.dedup import clusters, exact

    return (clusters.survivor_key(doc), exact.url_key(doc))


class KeepFirstPerKey(beam.DoFn):
    """One group of documents sharing a key -> the survivor; the others are drops with `reason`."""

    def __init__(self, reason: str):
        self.reason = reason

    def setup(self):
        self.counts = Counts("dedup")

    def process(self, item):
        _, docs = item
        docs = sorted(docs, key=_order_key)
        yield docs[0]
        for doc in docs[1:]:
            self.counts.drop(self.reason)
            yield TaggedOutput(DROPPED, drop_row("dedup", self.reason, doc.get("url"), {"duplicate_of": docs[0].get("url")}))


class ExactDedup(beam.PTransform):
    """Documents sharing `key_fn` (exact.url_key or exact.text_key): one survivor per key."""

    def __init__(self, key_fn, reason: str):
        super().__init__()
        self.key_fn, self.reason = key_fn, reason

    def expand(self, docs):
        key_fn = self.key_fn
        res = (
            docs
            | "Key" >> beam.Map(lambda d: (key_fn(d), d))
            | "Group" >> beam.GroupByKey()
            | "Survivor" >> beam.ParDo(KeepFirstPerKey(self.reason)).with_outputs(DROPPED, main=KEPT)
        )
        return res[KEPT], res[DROPPED]


class _Signatures(beam.DoFn):
    def __init__(self, opts):
        self.opts = opts

    def process(self, keyed):
        from webtext.dedup import clusters, minhash

        doc_id, doc = keyed
        o = self.opts
        bands, rows = o.lsh()
        sig = minhash.signature(doc.get("text") or "", o.num_perm, o.seed, o.ngram, o.hash)
        for key, _ in clusters.band_pairs(doc_id, sig, bands, rows):
            yield key, (doc_id, sig)


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


class _JoinRoot(beam.DoFn):
    """doc id -> (doc, root?): documents without a near-duplicate are kept right here."""

    def setup(self):
        self.counts = Counts("dedup")

    def process(self, item):
        _, grouped = item
        docs, roots = list(grouped["doc"]), list(grouped["root"])
        for doc in docs:
            if roots:
                yield TaggedOutput("clustered", (roots[0], doc))
            else:
                self.counts.kept()
                yield doc


class _ClusterSurvivor(beam.DoFn):
    def setup(self):
        self.counts = Counts("dedup")

    def process(self, item):
        from webtext.dedup import clusters

        _, docs = item
        docs = sorted(docs, key=_order_key)
        survivor = clusters.choose_survivor(docs)
        self.counts.kept()
        yield survivor
        for doc in docs:
            if doc is not survivor:
                self.counts.drop("near_duplicate")
                yield TaggedOutput(DROPPED, drop_row("dedup", "near_duplicate", doc.get("url"), {"duplicate_of": survivor.get("url")}))


class NearDedup(beam.PTransform):
    """MinHash + LSH band buckets + connected components (see the module docstring)."""

    def __init__(self, opts):
        super().__init__()
        self.opts = opts

    def expand(self, docs):
        from webtext.dedup import exact

        opts = self.opts
        keyed = docs | "ById" >> beam.Map(lambda d: (exact.url_key(d), d))
        edges = (
            keyed
            | "BandKeys" >> beam.ParDo(_Signatures(opts))
            | "ByBand" >> beam.GroupByKey()
            | "BucketEdges" >> beam.FlatMap(functools.partial(_bucket_edges, opts))
            | "DistinctEdges" >> beam.Distinct()
        )
        roots = (
            edges
            | "OneKey" >> beam.Map(lambda e: (None, e))
            | "AllEdges" >> beam.GroupByKey()
            | "UnionFind" >> beam.FlatMap(_components)
        )
        joined = (
            {"doc": keyed, "root": roots}
            | "JoinRoots" >> beam.CoGroupByKey()
            | "SplitClustered" >> beam.ParDo(_JoinRoot()).with_outputs("clustered", main=KEPT)
        )
        clustered = (
            joined["clustered"]
            | "ByComponent" >> beam.GroupByKey()
            | "ClusterSurvivor" >> beam.ParDo(_ClusterSurvivor()).with_outputs(DROPPED, main=KEPT)
        )
        kept = (joined[KEPT], clustered[KEPT]) | "Survivors" >> beam.Flatten()
        return kept, clustered[DROPPED]


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
    """Exact URL, exact text, then near-duplicates; the same steps and survivors as `dedup_documents`."""

    def __init__(self, opts):
        super().__init__()
        self.opts = opts

    def expand(self, docs):
        from webtext.dedup import exact

        opts = self.opts
        docs = docs | "CountIn" >> beam.ParDo(_CountIn("dedup"))
        drops = []
        if opts.exact_url:
            docs, d = docs | "ExactUrl" >> ExactDedup(exact.url_key, "duplicate_url")
            drops.append(d)
        if opts.exact_text:
            docs, d = docs | "ExactText" >> ExactDedup(exact.text_key, "duplicate_text")
            drops.append(d)
        if opts.near:
            docs, d = docs | "Near" >> NearDedup(opts)  # counts its survivors as kept
            drops.append(d)
        else:
            docs = docs | "CountKept" >> beam.ParDo(_CountKept("dedup"))
        empty = docs.pipeline | "NoDeadLetters" >> beam.Create([])
        return {KEPT: docs, DROPPED: _flatten("DedupDrops", drops) if drops else empty, DEAD: empty}


# ----------------------------------------------------------------------------------- I/O


def write_jsonl(pcoll, prefix: str, label: str):
    """Rows as gzip JSON lines under `prefix-SSSSS-of-NNNNN.jsonl.gz` (Beam's sink: temp files, then rename)."""
    return (
        pcoll
        | f"{label}ToJson" >> beam.Map(lambda r: json.dumps(r, ensure_ascii=False, sort_keys=True, default=str))
        | f"{label}Write" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl.gz")
    )


def read_jsonl(pipeline, prefix: str, label: str):
    return (
        pipeline
        | f"{label}Read" >> beam.io.ReadFromText(prefix + "-*.jsonl.gz")
        | f"{label}Parse" >> beam.Map(json.loads)
    )
