"""Intermediate data between the build's stages: Parquet (what the build writes) vs gzipped JSON lines
(what it wrote before), on the same documents.

    .venv/bin/python benchmarks/intermediate_format.py [--docs 20000]

Documents are made of real article sentences (the shared extraction benchmark's ground truth),
each document a different random draw of sentences (2-8 KB, as WebText's), with every column of
the documents table. Printed per format: bytes on disk, seconds to write, seconds to read back
every row as Python dicts (what the next stage does), and seconds to get what the shards stage
needs before it starts (the documents' byte total: Parquet's footer vs parsing every line).
JSON lines are written as the build wrote them (`json.dumps(sort_keys=True)`, gzip level 6 as
Beam's text sink); Parquet through `pipelines.store.write_parquet` (zstd, 1,024-row groups).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import store  # noqa: E402
from webtext.shards import row_bytes  # noqa: E402

GOLD = ROOT.parent / "shared" / "data" / "extraction" / "ground-truth.json"


def make_docs(n: int, seed: int = 0) -> list[dict]:
    gold = json.loads(GOLD.read_text(encoding="utf-8"))
    sentences = [s for v in gold.values() for s in re.split(r"(?<=[.!?])\s+", v["articleBody"]) if len(s) > 20]
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        target = rng.randint(2000, 8000)
        parts, size = [], 0
        while size < target:
            s = rng.choice(sentences)
            parts.append(s)
            size += len(s) + 1
        text = " ".join(parts)
        url = f"https://site{rng.randrange(5000)}.example/{i}/{rng.getrandbits(32):08x}"
        docs.append({
            "url": url, "final_url": url, "domain": url.split("/")[2], "title": parts[0][:80], "text": text,
            "extractor": "combined", "text_sha1": hashlib.sha1(text.encode()).hexdigest(),
            "n_chars": len(text), "n_words": len(text.split()), "subreddits": [f"sub{rng.randrange(300)}"],
            "reddit_ids": [f"{rng.getrandbits(30):x}"], "first_created_utc": 1_200_000_000 + rng.randrange(10**9),
            "score": rng.randrange(3, 500), "score_sum": rng.randrange(3, 900), "n_submissions": 1,
        })
    return docs


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20_000)
    args = ap.parse_args()
    docs = make_docs(args.docs)
    text_mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    per_file = 5_000
    with tempfile.TemporaryDirectory() as tmp:
        jdir, pdir = Path(tmp, "jsonl"), Path(tmp, "parquet")
        jdir.mkdir()

        def write_jsonl():
            for k in range(0, len(docs), per_file):
                with gzip.open(jdir / f"data-{k:08d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=6) as f:
                    for d in docs[k:k + per_file]:
                        f.write(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n")

        def write_parquet():
            for k in range(0, len(docs), per_file):
                store.write_parquet(str(pdir / f"data-{k:08d}.parquet"), docs[k:k + per_file], "documents")

        def read_jsonl():
            rows = []
            for f in sorted(jdir.iterdir()):
                with gzip.open(f, "rt", encoding="utf-8") as fh:
                    rows.extend(json.loads(line) for line in fh)
            return rows

        def read_parquet():
            rows = []
            for f in sorted(pdir.iterdir()):
                for _, i in store.row_groups(str(f)):
                    rows.extend(store.read_row_group(str(f), i))
            return rows

        def total_jsonl():
            return sum(row_bytes(r) for r in read_jsonl())

        def total_parquet():
            return sum(store.file_meta(str(f))["row_bytes"] for f in sorted(pdir.iterdir()))

        _, wj = timed(write_jsonl)
        _, wp = timed(write_parquet)
        rj, tj = timed(read_jsonl)
        rp, tp = timed(read_parquet)
        assert len(rj) == len(rp) == len(docs) and rp[0]["text"] == rj[0]["text"]
        bj, sj = timed(total_jsonl)
        bp, sp = timed(total_parquet)
        assert bj == bp
        size_j = sum(f.stat().st_size for f in jdir.iterdir())
        size_p = sum(f.stat().st_size for f in pdir.iterdir())
    print(f"{len(docs):,} documents, {text_mb:,.1f} MB of text; {os.cpu_count()} CPUs")
    print(f"{'format':<22}{'bytes':>14}{'write s':>10}{'read all s':>12}{'byte total s':>14}")
    print(f"{'JSON lines, gzip 6':<22}{size_j:>14,}{wj:>10.2f}{tj:>12.2f}{sj:>14.2f}")
    print(f"{'Parquet, zstd':<22}{size_p:>14,}{wp:>10.2f}{tp:>12.2f}{sp:>14.3f}")
    print(f"Parquet / JSON lines: bytes {size_p / size_j:.2f}x, write {wp / wj:.2f}x, read {tp / tj:.2f}x, "
          f"byte total {sp / sj:.4f}x")


if __name__ == "__main__":
    main()
