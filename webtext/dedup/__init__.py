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

from dataclasses import asdict, dataclass

from webtext.dedup import clusters, exact, minhash
from webtext.report import StageReport

__all__ = ["DedupOptions", "dedup_documents", "clusters", "exact", "minhash"]


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
        if self.hash not in minhash.HASHES:
            raise ConfigError(f"hash must be one of {sorted(minhash.HASHES)}, got {self.hash!r}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ConfigError(f"bands*rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}")

    def lsh(self) -> tuple[int, int]:
        """`(bands, rows)`: as given, or the recall-weighted optimum for the threshold."""
        if self.bands is not None:
            return self.bands, self.rows
        return minhash.lsh_params(self.threshold, self.num_perm, 0.2, 0.8)

    def to_dict(self) -> dict:
        bands, rows = self.lsh()
        return {**asdict(self), "bands": bands, "rows": rows}


def near_duplicate_components(ids: list[str], texts: list[str], opts: DedupOptions) -> dict[str, str]:
    """doc id -> component root for every document with at least one near-duplicate."""
    bands, rows = opts.lsh()
    sigs = minhash.signatures(texts, opts.num_perm, opts.seed, opts.ngram, opts.hash)
    buckets: dict[bytes, list[int]] = {}
    for i, doc_id in enumerate(ids):
        for key, _ in clusters.band_pairs(doc_id, sigs[i], bands, rows):
            buckets.setdefault(key, []).append(i)
    edges = []
    for members in buckets.values():
        if len(members) > 1:
            edges.extend(clusters.bucket_edges([(ids[i], sigs[i]) for i in members], opts.threshold, opts.window))
    return clusters.connected_components(edges)


def dedup_documents(docs: list[dict], opts: DedupOptions | None = None) -> tuple[list[dict], StageReport]:
    """Remove exact and near duplicates. Returns the survivors sorted by URL key, and the report."""
    opts = opts or DedupOptions()
    report = StageReport("dedup")
    ordered = sorted(docs, key=lambda d: (clusters.survivor_key(d), exact.url_key(d)))

    def drop_seen(rows: list[dict], key_fn, reason: str) -> list[dict]:
        seen: dict[str, dict] = {}
        kept = []
        for doc in rows:
            key = key_fn(doc)
            if key in seen:
                report.drop(reason, {"url": doc.get("url"), "duplicate_of": seen[key].get("url")})
            else:
                seen[key] = doc
                kept.append(doc)
        return kept

    if opts.exact_url:
        ordered = drop_seen(ordered, exact.url_key, "duplicate_url")
    if opts.exact_text:
        ordered = drop_seen(ordered, exact.text_key, "duplicate_text")
    if opts.near and len(ordered) > 1:
        ids = [exact.url_key(d) for d in ordered]  # unique: the URL step ran (or keys are made unique)
        if len(set(ids)) != len(ids):
            ids = [f"{k}#{i}" for i, k in enumerate(ids)]
        by_id = dict(zip(ids, ordered))
        components = near_duplicate_components(ids, [d.get("text") or "" for d in ordered], opts)
        dropped = set()
        for root, members in clusters.components_members(components).items():
            survivor = clusters.choose_survivor(by_id[m] for m in members)
            for m in members:
                if by_id[m] is not survivor:
                    dropped.add(m)
                    report.drop("near_duplicate", {"url": by_id[m].get("url"), "duplicate_of": survivor.get("url")})
        ordered = [d for i, d in zip(ids, ordered) if i not in dropped]
    report.keep(len(ordered))
    report.check()
    return sorted(ordered, key=exact.url_key), report
