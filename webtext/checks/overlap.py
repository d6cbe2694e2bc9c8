"""Train/test overlap: the GPT-2 paper's 8-gram Bloom-filter check (§4), and decontamination.

    build_filter(OUT)            -> OUT/overlap/ngram8/{bloom.bits, params.json}; OUT/manifest.json["overlap"]
    overlap_report(filter, FILE) -> per evaluation file: the share of its n-grams found in the corpus,
                                    and per example its own share (which examples are contaminated)
    decontaminate_documents(docs, EvalNgrams) -> the documents sharing more than `threshold` n-grams
                                    with the evaluation sets dropped, counted as `contaminated`
    decontaminate_corpus(OUT, FILES, DIR) -> the same over a shard set, streamed: a rebuilt shard
                                    set in DIR (or only the listing)
    EvalNgrams(FILES).contaminated(text) -> the per-document test `webtext build --decontaminate`
                                    runs in its clean stage (pipelines/transforms.py `clean_step`)

The filter holds every n-gram of every document of the shards listed in OUT/manifest.json (text
normalised as `webtext.checks.bloom` says). It is built in two streaming passes over the shards, one
Parquet row group per task, `workers` processes (default: every core): the first counts the n-grams
(to size the filter for the target FP rate), the second hashes them in the workers and sets the bits
in the parent. At most 2 tasks per worker are in flight, so memory is the filter plus a few row groups,
whatever the corpus size. It is rebuilt only when the shards (their sha256s in the manifest), n or
the FP target change.

Overlap is counted over n-gram occurrences: an example whose 10 n-grams include 3 found in the
filter has overlap 0.3; a file's share is found / total over all its examples. A found n-gram can
be a false positive at the printed rate (<= 1e-8 by default), never a false negative.

Decontamination compares exactly (no Bloom filter): the evaluation sets' n-grams are few, so their
128-bit hashes are held in memory, and each corpus document's n-grams are looked up among them. A
document is dropped when more than `threshold` of its n-gram occurrences (default 0: any) are in
the evaluation sets. The shard rebuild streams: the corpus is read twice, a row group at a time, and
written one output shard at a time (`decontaminate_corpus`).
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from webtext.checks.bloom import BloomFilter, WordHasher, fp_bound, ngram_hashes, normalise, optimal_size
from webtext.errors import ConfigError, InputError

DEFAULT_NGRAM = 8
DEFAULT_FP_RATE = 1e-8
FORMAT = 1


def filter_dir(corpus: str | os.PathLike, n: int) -> Path:
    return Path(corpus) / "overlap" / f"ngram{n}"


# ---------------------------------------------------------------------------- reading the shards


def shard_tasks(corpus: str | os.PathLike, verify: bool = False) -> tuple[list[tuple[str, int]], list[dict]]:
    """One task per Parquet row group of the shards the manifest lists: ([(path, row group)], shard
    infos). With `verify`, each shard's sha256 must match the manifest (one streaming read each)."""
    import pyarrow.parquet as pq

    from webtext.shards import read_manifest, sha256_file

    corpus = Path(corpus)
    manifest = read_manifest(corpus)
    tasks = []
    for info in manifest.get("shards", []):
        path = corpus / info["file"]
        if not path.is_file():
            raise InputError("shard listed in the manifest is missing", path=str(path))
        if verify and info.get("sha256") and sha256_file(path) != info["sha256"]:
            raise InputError("shard does not match its sha256 in the manifest", path=str(path))
        try:
            groups = pq.ParquetFile(path).metadata.num_row_groups
        except Exception as exc:
            raise InputError(f"not a readable Parquet file: {exc}", path=str(path)) from None
        tasks.extend((str(path), g) for g in range(groups))
    return tasks, manifest.get("shards", [])


def _texts(task: tuple[str, int]) -> list[str]:
    import pyarrow.parquet as pq

    path, group = task
    try:
        return [t or "" for t in pq.ParquetFile(path).read_row_group(group, columns=["text"]).column("text").to_pylist()]
    except Exception as exc:
        raise InputError(f"cannot read row group {group}: {exc}", path=path) from None


_HASHER: WordHasher | None = None


def _hasher() -> WordHasher:
    global _HASHER
    if _HASHER is None:
        _HASHER = WordHasher()
    return _HASHER


def _count_task(args) -> tuple[int, int]:
    task, n = args
    texts = _texts(task)
    return sum(max(len(normalise(t)) - n + 1, 0) for t in texts), len(texts)


def _hash_task(args) -> tuple[np.ndarray, np.ndarray]:
    task, n = args
    h = _hasher()
    parts = [ngram_hashes(normalise(t), n, h) for t in _texts(task)]
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _bounded_map(fn, items, workers: int):
    """fn over items, results in order; in a pool of `workers` processes with at most 2 per worker in flight."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
    with ctx.Pool(workers) as pool:
        pending: deque = deque()
        it = iter(items)
        for item in it:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _workers(workers: int | None) -> int:
    return workers if workers and workers > 0 else (os.cpu_count() or 1)


# ---------------------------------------------------------------------------- the filter


@dataclass
class CorpusFilter:
    bloom: BloomFilter
    params: dict

    @property
    def n(self) -> int:
        return self.params["ngram"]


def build_filter(corpus: str | os.PathLike, *, n: int = DEFAULT_NGRAM, fp_rate: float = DEFAULT_FP_RATE,
                 workers: int | None = None, force: bool = False, log=None) -> CorpusFilter:
    """The corpus's n-gram filter: reused from OUT/overlap/ngramN/ when it matches, else built and saved."""
    from webtext.progress import Progress
    from webtext.report import write_json_atomic
    from webtext.shards import MANIFEST, read_manifest

    if n < 1:
        raise ConfigError(f"--ngram must be >= 1, got {n}")
    if not 0 < fp_rate < 1:
        raise ConfigError(f"--fp-rate must be in (0, 1), got {fp_rate}")
    log = log or (lambda msg: None)
    corpus = Path(corpus)
    tasks, shards = shard_tasks(corpus)
    source = [{"file": s["file"], "sha256": s.get("sha256")} for s in shards]
    folder = filter_dir(corpus, n)
    if not force and (folder / "params.json").is_file() and (folder / "bloom.bits").is_file():
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        if params.get("format") == FORMAT and params.get("shards") == source and params.get("target_fp_rate") == fp_rate:
            log(f"reusing {folder} ({params['ngrams']:,} n-grams, {params['bytes']:,} bytes, FP rate <= {params['fp_rate_bound']:.3g})")
            return CorpusFilter(BloomFilter.load(folder / "bloom.bits", params["bits"], params["hashes"]), params)
    w = _workers(workers)
    t0 = time.monotonic()
    total = docs = 0
    with Progress("overlap count", unit="row groups", total=len(tasks)) as p:
        for count, nd in _bounded_map(_count_task, [(t, n) for t in tasks], w):
            total, docs = total + count, docs + nd
            p.update(1)
    t_count = time.monotonic() - t0
    m, k = optimal_size(total, fp_rate)
    bloom = BloomFilter(m, k)
    log(f"{docs:,} documents, {total:,} {n}-grams: filter of {m:,} bits ({m // 8:,} bytes), {k} hashes")
    t1 = time.monotonic()
    with Progress("overlap build", unit="n-grams") as p:
        for h1, h2 in _bounded_map(_hash_task, [(t, n) for t in tasks], w):
            bloom.add(h1, h2)
            p.update(int(h1.shape[0]))
    t_build = time.monotonic() - t1
    folder.mkdir(parents=True, exist_ok=True)
    bloom.save(folder / "bloom.bits")
    params = {
        "format": FORMAT, "ngram": n, "normalisation": "lower-cased alphanumeric words ([^\\W_]+), single spaces",
        "bits": m, "bytes": m // 8, "hashes": k, "ngrams": total, "documents": docs, "target_fp_rate": fp_rate,
        "fp_rate_bound": fp_bound(m, k, total), "fp_rate_from_fill": bloom.fill_fp_rate(), "workers": w,
        "seconds": {"count": round(t_count, 3), "build": round(t_build, 3)},
        "ngrams_per_s": round(total / max(t_build, 1e-9)), "shards": source,
    }
    write_json_atomic(folder / "params.json", params)
    manifest = read_manifest(corpus)  # record the filter in the corpus manifest (atomic rewrite)
    summary = {k2: v for k2, v in params.items() if k2 != "shards"}
    manifest.setdefault("overlap", {})[f"ngram{n}"] = {"path": str(folder.relative_to(corpus)), **summary}
    write_json_atomic(corpus / MANIFEST, manifest)
    log(f"built {folder}: {total:,} n-grams in {t_build:.1f} s ({params['ngrams_per_s']:,} n-grams/s, {w} workers), "
        f"{m // 8:,} bytes, FP rate <= {params['fp_rate_bound']:.3g} (from the fill: {params['fp_rate_from_fill']:.3g})")
    return CorpusFilter(bloom, params)


def overlap_report(flt: CorpusFilter, path: str | os.PathLike, *, fmt: str = "auto", field: str = "text",
                   top: int = 10) -> dict:
    """The share of `path`'s n-grams found in the corpus filter, overall and per example."""
    from webtext.checks.evalsets import read_examples

    examples = read_examples(path, fmt, field)
    hasher = WordHasher()
    t0 = time.monotonic()
    hashes = [ngram_hashes(normalise(text), flt.n, hasher) for text in examples]
    counts = np.array([h[0].shape[0] for h in hashes], dtype=np.int64)
    total = int(counts.sum())
    if total:  # one lookup for the whole file, then the hits summed per example
        t1 = time.monotonic()
        hit = flt.bloom.contains(np.concatenate([h[0] for h in hashes]), np.concatenate([h[1] for h in hashes]))
        lookup_s = time.monotonic() - t1
        cum = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
        ends = np.cumsum(counts)
        hits = cum[ends] - cum[ends - counts]
    else:
        hits, lookup_s = np.zeros(len(examples), dtype=np.int64), 0.0
    seconds = time.monotonic() - t0
    found = int(hits.sum())
    per_example = [{"index": i, "ngrams": int(c), "found": int(h), "overlap": float(h / c) if c else 0.0}
                   for i, (c, h) in enumerate(zip(counts, hits))]
    ranked = sorted((e for e in per_example if e["found"]), key=lambda e: (-e["overlap"], e["index"]))
    return {
        "file": str(path), "examples": len(examples), "ngram": flt.n, "ngrams": total, "found": found,
        "share": found / total if total else 0.0,
        "examples_with_overlap": sum(1 for e in per_example if e["found"]),
        "query_ngrams_per_s": round(total / max(seconds, 1e-9)),  # normalising and hashing included
        "lookup_ngrams_per_s": round(total / max(lookup_s, 1e-9)),  # the filter's bit lookups alone
        "fp_rate_bound": flt.params["fp_rate_bound"],
        "most_overlapping": [{**e, "text": examples[e["index"]][:200]} for e in ranked[:top]],
        "per_example": per_example,
    }


# ---------------------------------------------------------------------------- decontamination


class EvalNgrams:
    """The exact set of the evaluation files' n-grams: their (h1, h2) 128-bit hash pairs, sorted and
    unique, in two numpy arrays (16 bytes per n-gram: WikiText-103's test set, 245k tokens, gives
    fewer than 245k 8-grams: under 4 MB). `to_bytes`/`from_bytes`: the build's launcher computes it
    once and its workers load it."""

    def __init__(self, files: list[str], n: int, fmt: str = "auto", field: str = "text"):
        from webtext.checks.evalsets import read_examples

        hasher = WordHasher()
        h1s, h2s = [], []
        for f in files:
            for text in read_examples(f, fmt, field):
                a, b = ngram_hashes(normalise(text), n, hasher)
                h1s.append(a)
                h2s.append(b)
        self.n = n
        self.files = [str(f) for f in files]
        self._set(np.concatenate(h1s) if h1s else np.zeros(0, np.uint64),
                  np.concatenate(h2s) if h2s else np.zeros(0, np.uint64))

    def _set(self, h1: np.ndarray, h2: np.ndarray) -> None:
        order = np.lexsort((h2, h1))
        h1, h2 = h1[order], h2[order]
        if h1.shape[0]:
            first = np.concatenate([[True], (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])])
            h1, h2 = h1[first], h2[first]
        self.h1, self.h2 = np.ascontiguousarray(h1), np.ascontiguousarray(h2)

    def __len__(self) -> int:
        return int(self.h1.shape[0])

    def to_bytes(self) -> bytes:
        import io

        buf = io.BytesIO()
        np.savez(buf, h1=self.h1, h2=self.h2, n=np.array([self.n]),
                 files=np.array([json.dumps(self.files)]))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "EvalNgrams":
        import io

        with np.load(io.BytesIO(data)) as z:
            self = cls.__new__(cls)
            self.n = int(z["n"][0])
            self.files = json.loads(str(z["files"][0]))
            self.h1, self.h2 = z["h1"], z["h2"]  # already sorted and unique
        return self

    def shared(self, text: str, hasher: WordHasher) -> tuple[int, int]:
        """(n-gram occurrences of `text` found in the evaluation sets, n-gram occurrences of `text`)."""
        h1, h2 = ngram_hashes(normalise(text), self.n, hasher)
        total, size = int(h1.shape[0]), int(self.h1.shape[0])
        if not total or not size:
            return 0, total
        at = np.searchsorted(self.h1, h1)  # the first evaluation n-gram with this h1, if any
        at_c = np.minimum(at, size - 1)
        same_h1 = self.h1[at_c] == h1
        if not same_h1.any():
            return 0, total
        hit = same_h1 & (self.h2[at_c] == h2)
        for j in np.nonzero(same_h1 & ~hit)[0].tolist():  # several evaluation n-grams share this h1 (rare)
            k = int(at[j]) + 1
            while k < size and self.h1[k] == h1[j]:
                if self.h2[k] == h2[j]:
                    hit[j] = True
                    break
                k += 1
        return int(hit.sum()), total

    def contaminated(self, text: str, threshold: int = 0) -> int:
        """The n-gram occurrences `text` shares with the evaluation sets when more than `threshold`
        (the document is contaminated), else 0. For the build's clean stage, whose workers hold
        other things: the word-hash cache here is cleared at 250k words (~50 MB), not 2M."""
        global _SMALL_HASHER
        if _SMALL_HASHER is None:
            _SMALL_HASHER = WordHasher(max_words=250_000)
        shared, _ = self.shared(text or "", _SMALL_HASHER)
        return shared if shared > threshold else 0


_SMALL_HASHER: WordHasher | None = None


_EVAL: EvalNgrams | None = None


def _shared_task(texts: list[str]) -> list[tuple[int, int]]:
    h = _hasher()
    return [_EVAL.shared(t or "", h) for t in texts]


def decontaminate_documents(docs: list[dict], index: EvalNgrams, *, threshold: int = 0, workers: int | None = 1):
    """(kept documents, StageReport "decontaminate" with drop reason `contaminated`, listing of the
    dropped: url, shared n-grams, n-grams). A document is dropped when it shares more than
    `threshold` n-gram occurrences with the evaluation sets."""
    from webtext.report import StageReport

    global _EVAL
    _EVAL = index  # the workers (forked) see it
    batch = 512
    chunks = [[d.get("text") or "" for d in docs[i : i + batch]] for i in range(0, len(docs), batch)]
    counts = [c for part in _bounded_map(_shared_task, chunks, _workers(workers)) for c in part]
    report = StageReport("decontaminate")
    kept, listing = [], []
    for doc, (shared, total) in zip(docs, counts):
        if shared > threshold:
            report.drop("contaminated", example=doc.get("url"))
            listing.append({"url": doc.get("url"), "shared_ngrams": shared, "ngrams": total})
        else:
            report.keep()
            kept.append(doc)
    report.check()
    return kept, report, listing


def _row_group_task(args) -> tuple[list[int], list[dict], int, int]:
    """One row group of a shard: (row numbers of its contaminated documents, their listing rows,
    the kept documents' `row_bytes` summed, its rows)."""
    import pyarrow.parquet as pq

    from webtext.shards import SIZE_COLUMNS, table_row_bytes

    (path, group), threshold = args
    try:
        pf = pq.ParquetFile(path)
        columns = [c for c in dict.fromkeys(("url", "text", *SIZE_COLUMNS)) if c in pf.schema_arrow.names]
        table = pf.read_row_group(group, columns=columns)
    except Exception as exc:
        raise InputError(f"cannot read row group {group}: {exc}", path=path) from None
    h = _hasher()
    dropped, listing, rows = [], [], table.num_rows
    urls = table.column("url").to_pylist()
    for i, text in enumerate(table.column("text").to_pylist()):
        shared, total = _EVAL.shared(text or "", h)
        if shared > threshold:
            dropped.append(i)
            listing.append({"url": urls[i], "shared_ngrams": shared, "ngrams": total})
    if dropped:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[dropped] = False
        table = table.filter(keep)
    return dropped, listing, table_row_bytes(table), rows


def decontaminate_corpus(corpus: str | os.PathLike, eval_files: list[str], out: str | os.PathLike | None, *,
                         n: int = DEFAULT_NGRAM, threshold: int = 0, fmt: str = "auto", field: str = "text",
                         workers: int | None = None) -> dict:
    """Drop (with `out`: rebuild the shard set in `out`) or only list (out=None) the corpus documents
    that share more than `threshold` n-grams with `eval_files`. Returns a summary; the listing goes to
    `out/contaminated.jsonl` or `corpus/overlap/contaminated-ngramN.jsonl`.

    Streamed, in bounded memory (the corpus is never held): pass 1 tests every document, one Parquet
    row group per task in `workers` processes, and keeps only the row numbers of the contaminated
    ones; with `out`, pass 2 reads each row group again, leaves those rows out and routes the others
    to one spill file per new shard (Arrow IPC, `webtext.shards.partition_batches`), then each new
    shard is sorted and written on its own (`write_shard`). Peak memory: the evaluation n-grams, a
    few row groups and one output shard. The shards are the ones `write_shards` gives for the kept
    documents in memory, byte for byte (a test checks it)."""
    import shutil
    import tempfile

    import pyarrow.parquet as pq

    from webtext.card import write_card
    from webtext.progress import Progress
    from webtext.report import StageReport
    from webtext.shards import DEFAULT_TARGET_BYTES, read_manifest, shard_count, shards_from_batches, write_manifest

    if not eval_files:
        raise ConfigError("--decontaminate needs at least one --eval FILE")
    if threshold < 0:
        raise ConfigError(f"--threshold must be >= 0, got {threshold}")
    corpus = Path(corpus)
    if out and Path(out).resolve() == corpus.resolve():
        raise ConfigError("--out must be another folder than --corpus (the original shards are kept)")
    manifest = read_manifest(corpus)
    index = EvalNgrams(eval_files, n, fmt, field)
    tasks, _ = shard_tasks(corpus, verify=True)
    global _EVAL
    _EVAL = index  # the workers (forked) see it
    report = StageReport("decontaminate")
    dropped: list[list[int]] = []
    kept_bytes = 0
    listing_path = (Path(out) / "contaminated.jsonl") if out else corpus / "overlap" / f"contaminated-ngram{n}.jsonl"
    listing_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = listing_path.with_name(f".{listing_path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as listing, \
            Progress("decontaminate", unit="row groups", total=len(tasks)) as progress:
        for rows, found, nbytes, nrows in _bounded_map(_row_group_task, [(t, threshold) for t in tasks], _workers(workers)):
            for r in found:
                report.drop("contaminated", example=r["url"])
                listing.write(json.dumps(r, ensure_ascii=False) + "\n")
            report.keep(nrows - len(rows))
            dropped.append(rows)
            kept_bytes += nbytes
            progress.update(1)
    os.replace(tmp, listing_path)
    report.check()
    summary = {"documents": report.read, "kept": report.kept, "contaminated": report.dropped.get("contaminated", 0),
               "eval_ngrams": len(index), "threshold": threshold, "ngram": n, "listing": str(listing_path)}
    if not out:
        return summary
    out = Path(out)
    config = manifest.get("config") or {}
    target = config.get("target_bytes") or config.get("shard_target_bytes") or DEFAULT_TARGET_BYTES
    count = shard_count(kept_bytes, target)
    out.mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix=".spill-", dir=out))
    by_file: dict[str, list] = {}  # shard file -> [(row group, contaminated row numbers)]
    for (path, group), rows in zip(tasks, dropped):
        by_file.setdefault(path, []).append((group, rows))

    def kept_batches(path: str, groups: list):
        pf = pq.ParquetFile(path)
        for group, rows in groups:
            table = pf.read_row_group(group)
            if rows:
                keep = np.ones(table.num_rows, dtype=bool)
                keep[rows] = False
                table = table.filter(keep)
            yield from table.to_batches(max_chunksize=1024)

    try:
        infos = shards_from_batches(((pq.ParquetFile(path).schema_arrow, kept_batches(path, groups))
                                     for path, groups in by_file.items()), count, out, spill)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    reports = [StageReport.from_dict(s) for s in manifest.get("stages", [])]
    config = {**config, "decontaminate": {"from": str(corpus), "eval": [str(f) for f in eval_files], "ngram": n,
                                          "threshold": threshold}}
    new = write_manifest(out, config=config, reports=reports + [report], shards=infos)
    write_card(out, new, [i["card"] for i in infos])  # the statistics taken as each shard was written
    summary["out"] = str(out)
    return summary
