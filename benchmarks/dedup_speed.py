"""MinHash signatures per second on one core, on 5 KB documents, next to plain datasketch use.

    .venv/bin/python benchmarks/dedup_speed.py [--docs 3000] [--num-perm 128] [--repeat 3]

Documents: `--docs` windows of exactly 5,000 characters of English text cut from the shared gold
articles (`../shared/data/extraction/ground-truth.json`) at seeded random offsets (about 830 words,
about 830 shingles each). Every method gets the same documents and includes all of its work from
the raw text (normalisation, 5-gram shingles, hashing, permutations). One process, one thread: the
figures are per core. Best of `--repeat` runs. Rates printed:

- `webtext sha1`: `webtext.dedup.minhash.signatures(texts)` (the default; equal to datasketch's
  default `MinHash(num_perm, seed=1)`, checked here on every document);
- `webtext poly`: `signatures(texts, hash="poly")` (equal to datasketch with
  `hashfunc=shingle_hash`, also checked);
- `datasketch update_batch`: per document `MinHash(num_perm); m.update_batch(shingles)`;
- `datasketch update`: per document `MinHash(num_perm)` and `m.update(s)` per shingle (the
  tutorial way).

Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webtext.dedup import minhash  # noqa: E402

SHARED = Path(os.environ.get("WEBTEXT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def make_docs(n: int, size: int = 5000, seed: int = 0) -> list[str]:
    truth = json.loads((SHARED / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    english = [v["articleBody"] for _, v in sorted(truth.items()) if sum(c.isascii() for c in v["articleBody"]) > 0.98 * len(v["articleBody"])]
    corpus = "\n\n".join(english)
    rng = random.Random(seed)
    return [corpus[s : s + size] for s in (rng.randrange(len(corpus) - size) for _ in range(n))]


def best_rate(fn, n_docs: int, repeat: int) -> float:
    """Documents per second of this process's CPU time (per core, and robust to other load on the
    machine), best of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return n_docs / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from datasketch import MinHash

    docs = make_docs(args.docs)
    P = args.num_perm
    print(f"{len(docs):,} documents of {len(docs[0]):,} characters, ~{np.mean([len(minhash.shingles(d)) for d in docs[:200]]):.0f} distinct shingles each; num_perm={P}; one process, one thread")

    # Equality first: the fast paths must be datasketch's signatures, bit for bit.
    sha1 = minhash.signatures(docs, P)
    poly = minhash.signatures(docs, P, hash="poly")
    for i, d in enumerate(docs):
        m = MinHash(num_perm=P)
        m.update_batch(minhash.shingles(d))
        assert np.array_equal(sha1[i], m.hashvalues)
        m = MinHash(num_perm=P, hashfunc=minhash.shingle_hash)
        m.update_batch(minhash.shingles(d))
        assert np.array_equal(poly[i], m.hashvalues)
    print("equality: webtext sha1 == datasketch MinHash(num_perm), webtext poly == MinHash(hashfunc=shingle_hash): all documents")

    def plain_batch(subset):
        for d in subset:
            m = MinHash(num_perm=P)
            m.update_batch(minhash.shingles(d))

    def plain_update(subset):
        for d in subset:
            m = MinHash(num_perm=P)
            for s in minhash.shingles(d):
                m.update(s)

    few = docs[: max(200, len(docs) // 5)]  # the slow ways on a subset: their rate does not depend on n
    rows = [
        ("webtext sha1 (default)", best_rate(lambda: minhash.signatures(docs, P), len(docs), args.repeat)),
        ("webtext poly", best_rate(lambda: minhash.signatures(docs, P, hash="poly"), len(docs), args.repeat)),
        ("datasketch update_batch", best_rate(lambda: plain_batch(few), len(few), args.repeat)),
        ("datasketch update", best_rate(lambda: plain_update(few), len(few), 1)),
    ]
    base = rows[2][1]
    for name, rate in rows:
        print(f"{name:26s} {rate:10,.0f} docs/s/core   {rate / base:5.2f}x datasketch update_batch")


if __name__ == "__main__":
    main()
