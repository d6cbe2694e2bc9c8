"""`webtext dedup`: remove exact and MinHash near-duplicate documents, in bounded memory.

    webtext dedup --docs clean_out --out dedup_out [--threshold 0.5] [--num-perm 128] [--hash sha1|poly]

Reads the documents table (`DIR/documents/*.parquet`), writes the survivors as
`OUT/documents/part-NNNNN.parquet` (ordered by URL key) and the stage report (`OUT/report.json`).
The documents are streamed, never all held: only their keys and MinHash signatures are
(`webtext.dedup.stream`). Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run_dedup(args: argparse.Namespace) -> int:
    from webtext.dedup import DedupOptions
    from webtext.dedup.stream import dedup_folder
    from webtext.progress import log

    opts = DedupOptions(threshold=args.threshold, num_perm=args.num_perm, hash=args.hash)
    report = dedup_folder(args.docs, args.out, opts)
    report.write(Path(args.out) / "report.json")
    log("dedup", f"{report.read:,} read, {report.kept:,} kept, dropped {dict(report.dropped)}")
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "dedup", help="remove exact and MinHash near-duplicate documents",
        description="Deduplicate the documents table: exact URL, exact text, then MinHash LSH near-duplicates "
                    "(estimated Jaccard of word 5-shingles at least --threshold) grouped into connected "
                    "components; the earliest-posted document of each group survives. Writes "
                    "OUT/documents/*.parquet and OUT/report.json. Streams the documents: memory holds "
                    "their keys and MinHash signatures, not their text.",
        epilog="examples:\n  webtext dedup --docs out/clean --out out/dedup\n"
               "  webtext dedup --docs out/clean --out out/dedup --threshold 0.8 --num-perm 256 --hash poly",
    )
    p.add_argument("--docs", required=True, help="folder with documents/*.parquet (the clean output)")
    p.add_argument("--out", required=True, help="output folder: documents/*.parquet and report.json")
    p.add_argument("--threshold", type=float, default=0.5, help="estimated Jaccard for near-duplicates (default 0.5)")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    p.add_argument("--hash", choices=("sha1", "poly"), default="sha1", help="shingle hash (default sha1, datasketch's)")
    p.set_defaults(func=run_dedup)
