"""Shard writing speed: MB/s of document text into zstd Parquet shards (webtext.shards.write_shards).

    .venv/bin/python benchmarks/shard_speed.py [--mb 200] [--target-mb 32] [--repeat 2]

Builds about `--mb` MiB of documents (5 KB windows of the shared gold articles, with the full
documents-table columns), then times `write_shards` into a temporary folder: sorting, Arrow
conversion, zstd Parquet writing, fsync-free rename, and the sha256 of every shard. Prints MB/s of
UTF-8 text in (wall and process CPU time), the shard count and the compression ratio. Best of
`--repeat` runs. Figures only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_speed import make_docs  # noqa: E402

from webtext.shards import write_shards  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--target-mb", type=float, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    texts = make_docs(int(args.mb * 1024 * 1024 / 5000), seed=1)
    docs = [
        {
            "url": f"https://site{i % 997}.example/story/{i}",
            "final_url": f"https://site{i % 997}.example/story/{i}",
            "domain": f"site{i % 997}.example",
            "title": text[:60],
            "text": text,
            "extractor": "combined",
            "text_sha1": None,
            "n_chars": len(text),
            "n_words": len(text.split()),
            "subreddits": ["technology"],
            "reddit_ids": [f"t3_{i:x}"],
            "first_created_utc": 1_120_000_000 + i,
            "score": 3 + i % 50,
            "score_sum": 3 + i % 50,
            "n_submissions": 1,
        }
        for i, text in enumerate(texts)
    ]
    text_mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    best = None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            w, c = time.perf_counter(), time.process_time()
            infos = write_shards(docs, tmp, target_bytes=int(args.target_mb * 1024 * 1024))
            w, c = time.perf_counter() - w, time.process_time() - c
            if best is None or w < best[0]:
                best = (w, c, infos)
    w, c, infos = best
    on_disk = sum(i["bytes"] for i in infos) / 1e6
    print(f"{len(docs):,} documents, {text_mb:,.1f} MB of text -> {len(infos)} shards, {on_disk:,.1f} MB on disk (zstd, {text_mb / on_disk:.2f}x)")
    print(f"write_shards: {w:.2f} s wall, {c:.2f} s CPU -> {text_mb / w:,.1f} MB/s wall, {text_mb / c:,.1f} MB/s per CPU second")


if __name__ == "__main__":
    main()
