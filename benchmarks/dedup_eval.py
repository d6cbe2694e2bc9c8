"""Near-duplicate precision and recall on the labelled set built from the shared pages.

    .venv/bin/python benchmarks/dedup_eval.py [--threshold 0.5] [--num-perm 128] [--sweep]

The set (`webtext.dedup.evaluate.build_eval_set`, also used by tests/clean/test_dedup.py): every
shared gold article of 100+ words with a little of its page's boilerplate, paired with four
near-duplicates of it (another site's boilerplate, 3% word edits, cut to 80%, paragraphs shuffled)
and with non-duplicates (a different article in the same page boilerplate; the other article of the
same site where the shared set has two). A pair counts as flagged when the dedup stage would join
it: the two signatures share an LSH band key for the options' bands x rows, and their estimated
Jaccard similarity is at least the threshold. Prints precision, recall, the flagged count per kind,
the true Jaccard range per kind, and with `--sweep` the same figures at other thresholds.

Figures only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webtext.dedup import DedupOptions, minhash  # noqa: E402
from webtext.dedup.evaluate import build_eval_set, score_pairs  # noqa: E402

SHARED = Path(os.environ.get("WEBTEXT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def evaluate(pairs, opts: DedupOptions) -> dict:
    bands, rows = opts.lsh()
    cache: dict[str, tuple] = {}

    def sig(text):
        if text not in cache:
            s = minhash.signature(text, opts.num_perm, opts.seed, opts.ngram, opts.hash)
            cache[text] = (s, set(minhash.band_keys(s, bands, rows)))
        return cache[text]

    def is_dup(a, b):
        (sa, ka), (sb, kb) = sig(a), sig(b)
        return bool(ka & kb) and minhash.jaccard(sa, sb) >= opts.threshold

    return score_pairs(pairs, is_dup)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threshold", type=float, default=DedupOptions.threshold)
    ap.add_argument("--num-perm", type=int, default=DedupOptions.num_perm)
    ap.add_argument("--sweep", action="store_true", help="also print 0.3 ... 0.9")
    args = ap.parse_args()
    pairs = build_eval_set(SHARED / "data/extraction")
    dup = sum(p.duplicate for p in pairs)
    print(f"labelled set: {len(pairs)} pairs, {dup} near-duplicates, {len(pairs) - dup} non-duplicates")

    jac = defaultdict(list)
    for p in pairs:
        a, b = minhash.shingles(p.a), minhash.shingles(p.b)
        jac[(p.kind, p.duplicate)].append(len(a & b) / max(len(a | b), 1))
    for (kind, d), values in sorted(jac.items(), key=lambda kv: (not kv[0][1], kv[0][0])):
        values.sort()
        print(f"  {'dup' if d else 'non'} {kind:17s} n={len(values):3d}  true Jaccard min {values[0]:.2f}  median {values[len(values) // 2]:.2f}  max {values[-1]:.2f}")

    thresholds = [args.threshold] + ([t for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9) if t != args.threshold] if args.sweep else [])
    for i, t in enumerate(thresholds):
        opts = DedupOptions(threshold=t, num_perm=args.num_perm)
        bands, rows = opts.lsh()
        s = evaluate(pairs, opts)
        label = "default" if i == 0 and t == DedupOptions.threshold and args.num_perm == DedupOptions.num_perm else "sweep" if i else "given"
        print(f"\nthreshold {t} ({label}), num_perm {args.num_perm}, {bands} bands x {rows} rows: "
              f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  (tp {s['tp']}, fp {s['fp']}, fn {s['fn']})")
        for kind, c in s["flagged_by_kind"].items():
            print(f"  flagged {kind:17s} {c['flagged']:3d} / {c['of']}")


if __name__ == "__main__":
    main()
