"""Deduplication: exact (URL, text hash), then MinHash near-duplicates, one survivor per cluster.

The steps, in order, each a counted drop reason in the stage report:

1. `duplicate_url`: documents whose normalised final URL (`exact.url_key`) was already kept.
2. `duplicate_text`: documents whose normalised text hash (`exact.text_key`) was already kept.
3. `near_duplicate`: MinHash signatures (`minhash`) over word 5-gram shingles, LSH band keys, an edge
   between two documents of one bucket when their signatures agree on at least `threshold` of the
   positions, connected components, and every member but the survivor dropped (`clusters`).

Documents are visited in survivor order (`clusters.survivor_key`: earliest Reddit submission, then
highest score, then URL), so in every step the document kept is the one the survivor rule picks,
whatever the input order. Near-duplicate clusters are transitive (A~B and B~C drop both B and C
when A survives), which is what connected components mean: a chain of reposts is one story.

Defaults, and why:

- `num_perm=128`: the Jaccard estimate's standard error is `sqrt(J(1-J)/num_perm)`, 0.044 at
  J=0.5, small enough for the verification step to cut close to the threshold; 256 would halve the
  variance for twice the permutation cost and twice the signature size (512 bytes/doc at 128).
- `threshold=0.5` (estimated Jaccard of the word 5-gram shingle sets): the value OpenWebText2 (the
  Pile's WebText rebuild) deduplicated with. Two texts sharing half their distinct 5-grams are one
  text for a language model. On the labelled set (`benchmarks/dedup_eval.py`, built from the shared
  pages) different articles of one site, even wrapped in the same boilerplate, stay below 0.25,
  while real variants of one article (another site's boilerplate around a short article, shuffled
  short paragraphs) go down to 0.3-0.4: at 0.7 recall falls from 0.96 to 0.83 with no gain in
  precision (the benchmark prints the sweep).
- bands x rows: `minhash.lsh_params(threshold, num_perm, fp_weight=0.2, fn_weight=0.8)`, which for
  the defaults gives 30 bands of 4 rows (120 of the 128 values). Its S-curve `1-(1-s**4)**30`
  crosses 0.5 at s=0.39 and gives s=0.3 -> 0.22, 0.4 -> 0.54, 0.5 -> 0.86, 0.6 -> 0.98,
  0.7 -> 1.00. Recall is weighted 4:1 because a pair that shares no band is lost for good, while a
  candidate below the threshold costs one signature comparison and is then discarded by the
  verification step. (The unweighted optimum, 25 x 5, finds a pair at exactly 0.5 with
  probability 0.55 instead of 0.86.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import importlib

from webtext.report import StageReport

HASHES = ("poly", "sha1")  # the shingle hashes of `minhash.HASHES`


def __getattr__(name: str):
    """`clusters`, `exact` and `minhash` load on first use (they import numpy): `webtext --help` stays fast."""
    if name in ("clusters", "exact", "minhash", "stream"):
        return importlib.import_module(f"webtext.dedup.{name}")
    raise AttributeError(f"module 'webtext.dedup' has no attribute {name!r}")

__all__ = ["DedupOptions", "DocKeys", "dedup_documents", "dedup_plan", "clusters", "exact", "minhash"]


@dataclass(frozen=True)
class DedupOptions:
    """Near-duplicate settings (see the module docstring for the defaults)."""

    num_perm: int = 128
    threshold: float = 0.5
    seed: int = 1
    ngram: int = 5
    hash: str = "sha1"  # "sha1": datasketch's default hash; "poly": the faster vectorised one
    bands: int | None = None  # None: lsh_params(threshold, num_perm, 0.2, 0.8)
    rows: int | None = None
    window: int = 64  # pairwise comparisons per member inside one LSH bucket
    exact_url: bool = True
    exact_text: bool = True
    near: bool = True

    def __post_init__(self):
        from webtext.errors import ConfigError

        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"dedup threshold must be between 0 and 1 (exclusive), got {self.threshold}")
        if self.num_perm < 2:
            raise ConfigError(f"num_perm must be at least 2, got {self.num_perm}")
        if self.hash not in HASHES:
            raise ConfigError(f"hash must be one of {sorted(HASHES)}, got {self.hash!r}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ConfigError(f"bands*rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}")

    def lsh(self) -> tuple[int, int]:
        """`(bands, rows)`: as given, or the recall-weighted optimum for the threshold."""
        if self.bands is not None:
            return self.bands, self.rows
        from webtext.dedup import minhash

        return minhash.lsh_params(self.threshold, self.num_perm, 0.2, 0.8)

    def to_dict(self) -> dict:
        bands, rows = self.lsh()
        return {**asdict(self), "bands": bands, "rows": rows}


def near_duplicate_components(ids: list[str], texts: list[str], opts: DedupOptions) -> dict[str, str]:
    """doc id -> component root for every document with at least one near-duplicate."""
    from webtext.dedup import minhash

    sigs = minhash.signatures(texts, opts.num_perm, opts.seed, opts.ngram, opts.hash)
    return components_from_signatures(ids, sigs, opts)


def components_from_signatures(ids: list[str], sigs, opts: DedupOptions) -> dict[str, str]:
    """doc id -> component root, from the documents' signatures (`sigs[i]` is `ids[i]`'s).

    LSH buckets: per band, the documents are sorted by that band's values (`numpy.lexsort`), and
    a run of equal values is one bucket - the same buckets as the `band_keys` bytes, as compact
    arrays: memory is a few bytes per document and band, not a dict of byte keys. Documents with
    an empty signature (no shingles) have no band keys and join no bucket."""
    import numpy as np

    from webtext.dedup import clusters

    bands, rows = opts.lsh()
    n = len(ids)
    if n < 2:
        return {}
    nonempty = np.flatnonzero(~np.all(sigs == np.uint32(0xFFFFFFFF), axis=1))
    edges = []
    for b in range(bands):
        block = sigs[nonempty, b * rows : (b + 1) * rows]
        order = np.lexsort(block.T[::-1])
        ranked = block[order]
        # Starts of runs of equal rows: where any column differs from the row before.
        change = np.ones(len(ranked), dtype=bool)
        if len(ranked) > 1:
            change[1:] = np.any(ranked[1:] != ranked[:-1], axis=1)
        starts = np.flatnonzero(change)
        ends = np.append(starts[1:], len(ranked))
        for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
            members = [int(nonempty[order[k]]) for k in range(start, end)]
            edges.extend(clusters.bucket_edges([(ids[i], sigs[i]) for i in members], opts.threshold, opts.window))
    return clusters.connected_components(edges)


@dataclass
class DocKeys:
    """What dedup needs of each document, without its text: the survivor key, the exact keys, and
    the submitted URL (for the report's examples). One per document, in input order."""

    survivor: list = field(default_factory=list)
    url: list = field(default_factory=list)
    text: list = field(default_factory=list)
    submitted: list = field(default_factory=list)

    def add(self, doc: dict) -> None:
        from webtext.dedup import clusters, exact

        self.survivor.append(clusters.survivor_key(doc))
        self.url.append(exact.url_key(doc))
        self.text.append(exact.text_key(doc))
        self.submitted.append(doc.get("url"))


def dedup_plan(keys: DocKeys, sigs, opts: DedupOptions, report: StageReport) -> list[int]:
    """The survivors' indexes (into `keys`, in output order: by URL key), every drop counted in
    `report` with an example. `sigs[i]` is document i's MinHash signature (array or memmap).

    Both `dedup_documents` (documents in memory) and `webtext.dedup.stream` (documents streamed from
    disk, bounded memory) run this one function, so they keep the same documents and count the same
    drops with the same examples."""
    from webtext.dedup import clusters

    ordered = sorted(range(len(keys.url)), key=lambda i: (keys.survivor[i], keys.url[i]))

    def drop_seen(idx: list[int], key: list, reason: str) -> list[int]:
        seen: dict[str, int] = {}
        kept = []
        for i in idx:
            k = key[i]
            if k in seen:
                report.drop(reason, {"url": keys.submitted[i], "duplicate_of": keys.submitted[seen[k]]})
            else:
                seen[k] = i
                kept.append(i)
        return kept

    if opts.exact_url:
        ordered = drop_seen(ordered, keys.url, "duplicate_url")
    if opts.exact_text:
        ordered = drop_seen(ordered, keys.text, "duplicate_text")
    if opts.near and len(ordered) > 1:
        import numpy as np

        ids = [keys.url[i] for i in ordered]  # unique: the URL step ran (or keys are made unique)
        if len(set(ids)) != len(ids):
            ids = [f"{k}#{j}" for j, k in enumerate(ids)]
        index = dict(zip(ids, ordered))
        order = np.asarray(ordered, dtype=np.int64)
        components = components_from_signatures(ids, np.asarray(sigs[order]), opts)  # in memory: 512 B/doc
        dropped = set()
        for root, members in clusters.components_members(components).items():
            survivor = min(members, key=lambda m: keys.survivor[index[m]])
            for m in members:
                if m != survivor:
                    dropped.add(m)
                    report.drop("near_duplicate", {"url": keys.submitted[index[m]], "duplicate_of": keys.submitted[index[survivor]]})
        ordered = [i for doc_id, i in zip(ids, ordered) if doc_id not in dropped]
    report.keep(len(ordered))
    report.check()
    return sorted(ordered, key=lambda i: keys.url[i])


def dedup_documents(docs: list[dict], opts: DedupOptions | None = None) -> tuple[list[dict], StageReport]:
    """Remove exact and near duplicates. Returns the survivors sorted by URL key, and the report.

    Holds the documents in memory; `webtext.dedup.stream.dedup_folder` gives the same result
    streaming from and to disk."""
    from webtext.dedup import minhash

    opts = opts or DedupOptions()
    report = StageReport("dedup")
    keys = DocKeys()
    for doc in docs:
        keys.add(doc)
    sigs = minhash.signatures([d.get("text") or "" for d in docs], opts.num_perm, opts.seed, opts.ngram, opts.hash)
    kept = dedup_plan(keys, sigs, opts, report)
    return [docs[i] for i in kept], report
