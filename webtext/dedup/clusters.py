"""From LSH buckets to clusters to one survivor per cluster: plain functions, one job each.

The distributed shape (what the Beam pipeline runs, and what `dedup_documents` runs in memory):

1. per document: `band_pairs(doc_id, sig, bands, rows)` -> `(band_key, doc_id)` pairs;
2. per band key (after a GroupByKey, members joined with their signatures):
   `bucket_edges(members, threshold)` -> edges between members whose *estimated* Jaccard
   similarity (signature agreement) is at least the threshold. Sharing one band only makes two
   documents candidates; this check removes the LSH false positives that the S-curve lets through
   below the threshold. A bucket is compared pairwise within a sliding window of `window` members in
   doc-id order (all pairs for buckets up to `window + 1` members), so one enormous bucket (a
   boilerplate page copied ten thousand times) costs `O(n * window)`, not `O(n**2)`; members of a
   true duplicate cluster still chain together through their neighbours;
3. over all edges: `connected_components(edges)` -> node -> root (union-find; the root is the
   smallest doc id of the component, so the answer does not depend on edge order);
4. per component: the survivor is the member with the smallest `survivor_key`.

Survivor rule (`survivor_key`, smallest wins): the earliest Reddit submission
(`first_created_utc`; a document without one sorts last), then the highest `score`, then the
`url`, then the `final_url` (string order). The earliest submission is the closest to "the
original": later copies are syndications and reposts, and WebText keys everything on the Reddit
link. Every tie is broken by a string, so the survivor never depends on input order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from webtext.dedup.minhash import band_keys

_NO_DATE = 1 << 62  # sorts after every real timestamp


def survivor_key(doc: dict) -> tuple:
    """Sort key of the survivor rule: the smallest key in a cluster survives."""
    created = doc.get("first_created_utc")
    score = doc.get("score")
    return (
        _NO_DATE if created is None else int(created),
        -(int(score) if score is not None else 0),
        doc.get("url") or "",
        doc.get("final_url") or "",
    )


def band_pairs(doc_id: str, sig: np.ndarray, bands: int, rows: int) -> list[tuple[bytes, str]]:
    """`(band_key, doc_id)` for every band of one document's signature (none for an empty text)."""
    return [(key, doc_id) for key in band_keys(sig, bands, rows)]


def bucket_edges(
    members: Sequence[tuple[str, np.ndarray]], threshold: float, window: int = 64
) -> list[tuple[str, str]]:
    """Edges `(a, b)` with `a < b` between the members of one band bucket whose signatures agree on
    at least `threshold` of their positions; each member is compared with the next `window`."""
    ordered = sorted({doc_id: sig for doc_id, sig in members}.items())  # a doc listed twice counts once
    if len(ordered) < 2:
        return []
    ids = [doc_id for doc_id, _ in ordered]
    sigs = np.stack([sig for _, sig in ordered])
    need = threshold * sigs.shape[1]
    edges = []
    for i in range(len(ids) - 1):
        others = sigs[i + 1 : i + 1 + window]
        agree = np.count_nonzero(others == sigs[i], axis=1)
        edges.extend((ids[i], ids[i + 1 + j]) for j in np.flatnonzero(agree >= need - 1e-9))
    return edges


def connected_components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Union-find over `edges`: every node that appears in an edge -> its component's root, the
    smallest node (by `<`) of the component. Nodes without edges do not appear."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra  # the smaller root wins, so the root is the component's minimum
    return {node: find(node) for node in sorted(parent)}


def components_members(components: dict[str, str]) -> dict[str, list[str]]:
    """root -> sorted members (root included), from `connected_components`' mapping."""
    groups: dict[str, list[str]] = defaultdict(list)
    for node, root in components.items():
        groups[root].append(node)
    return {root: sorted(nodes) for root, nodes in sorted(groups.items())}


def choose_survivor(docs: Iterable[dict]) -> dict:
    """The document that survives among duplicates: the one with the smallest `survivor_key`."""
    return min(docs, key=survivor_key)
