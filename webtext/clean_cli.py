"""`webtext clean`, `webtext dedup`, `webtext shard`: the documents table to the final shards.

    webtext clean --docs extract_out --out clean_out
    webtext dedup --docs clean_out --out dedup_out [--threshold 0.5] [--num-perm 128]
    webtext shard --docs dedup_out --out shards [--target-mb 256] [--reports a/report.json ...]

`clean` and `dedup` read the documents table (`DIR/documents/*.parquet`) and write one under
`OUT/documents/`; every command writes its stage report to `OUT/report.json`. `shard` writes the
Parquet shards, `manifest.json` (with the reports given by `--reports`, plus its own) and `README.md`.
Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _clean(args) -> int:
    from webtext.filters import CleanOptions, clean_documents

    from webtext.langid import parse_languages

    opts = CleanOptions(min_chars=args.min_chars, min_words=args.min_words, drop_wikipedia=not args.keep_wikipedia,
                        languages=parse_languages(args.languages))
    return _documents_step("clean", args, lambda docs: clean_documents(docs, opts))


def _dedup(args) -> int:
    from webtext.dedup import DedupOptions, dedup_documents

    opts = DedupOptions(threshold=args.threshold, num_perm=args.num_perm, hash=args.hash)
    return _documents_step("dedup", args, lambda docs: dedup_documents(docs, opts))


def _documents_step(stage: str, args, step) -> int:
    """Documents table in (`--docs`), `step(docs) -> (kept, report)`, documents table and report out."""
    from webtext.progress import log
    from webtext.shards import read_documents, write_documents

    kept, report = step(read_documents(args.docs))
    write_documents(kept, args.out)
    report.write(Path(args.out) / "report.json")
    log(stage, f"{report.read:,} read, {report.kept:,} kept, dropped {dict(report.dropped)}")
    return 0


def _shard(args) -> int:
    import json

    from webtext.card import write_card
    from webtext.errors import ConfigError, InputError
    from webtext.progress import log
    from webtext.report import StageReport
    from webtext.shards import document_files, stream_shards, write_manifest

    if args.target_mb <= 0:
        raise ConfigError(f"--target-mb must be positive, got {args.target_mb}")
    reports = []
    for path in args.reports or []:
        try:
            reports.append(StageReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a stage report: {exc}", path=str(path)) from None
    # Streams: one shard in memory at a time, not the corpus (webtext.shards.stream_shards).
    shards = stream_shards(document_files(args.docs), args.out, target_bytes=int(args.target_mb * 1024 * 1024))
    report = StageReport("shard")
    report.keep(sum(s["rows"] for s in shards))
    config = {"target_bytes": int(args.target_mb * 1024 * 1024), "docs": str(args.docs)}
    manifest = write_manifest(args.out, config=config, reports=reports + [report], shards=shards)
    write_card(args.out, manifest)
    report.write(Path(args.out) / "report.json")
    log("shard", f"{report.kept:,} documents in {len(shards)} shard(s) under {args.out}")
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "clean", help="drop Wikipedia, short and undecodable documents; repair text",
        description="Clean the documents table: drop Wikipedia pages, documents under --min-words words or "
                    "--min-chars characters and undecodable text; repair mojibake with ftfy. Writes "
                    "OUT/documents/*.parquet and OUT/report.json (every drop counted with its reason).",
        epilog="examples:\n  webtext clean --docs out/extract --out out/clean\n"
               "  webtext clean --docs out/extract --out out/clean --min-words 50 --keep-wikipedia",
    )
    p.add_argument("--docs", required=True, help="folder with documents/*.parquet (the extract output)")
    p.add_argument("--out", required=True, help="output folder: documents/*.parquet and report.json")
    p.add_argument("--min-words", type=int, default=100, help="drop documents with fewer words (default 100)")
    p.add_argument("--languages", default="en", metavar="en,de,...",
                   help="ISO 639-1 languages to keep (default en: the paper's English filter; 'all' keeps every "
                        "language); every kept document gets `language` and `language_score` columns")
    p.add_argument("--min-chars", type=int, default=200, help="drop documents with fewer characters (default 200)")
    p.add_argument("--keep-wikipedia", action="store_true", help="do not drop Wikipedia pages")
    p.set_defaults(func=_clean)

    p = subparsers.add_parser(
        "dedup", help="remove exact and MinHash near-duplicate documents",
        description="Deduplicate the documents table: exact URL, exact text, then MinHash LSH near-duplicates "
                    "(estimated Jaccard of word 5-shingles at least --threshold) grouped into connected "
                    "components; the earliest-posted document of each group survives. Writes "
                    "OUT/documents/*.parquet and OUT/report.json.",
        epilog="examples:\n  webtext dedup --docs out/clean --out out/dedup\n"
               "  webtext dedup --docs out/clean --out out/dedup --threshold 0.8 --num-perm 256 --hash poly",
    )
    p.add_argument("--docs", required=True, help="folder with documents/*.parquet (the clean output)")
    p.add_argument("--out", required=True, help="output folder: documents/*.parquet and report.json")
    p.add_argument("--threshold", type=float, default=0.5, help="estimated Jaccard for near-duplicates (default 0.5)")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    p.add_argument("--hash", choices=("sha1", "poly"), default="sha1", help="shingle hash (default sha1, datasketch's)")
    p.set_defaults(func=_dedup)

    p = subparsers.add_parser(
        "shard", help="write Parquet shards, manifest.json and README.md",
        description="Write the final Parquet shards (zstd, sorted by URL hash, about --target-mb of text each), "
                    "manifest.json (every stage's counts and drop reasons, each shard's rows and sha256) and the "
                    "dataset card README.md with its plots: a folder that datasets.load_dataset() reads as it is.",
        epilog="examples:\n  webtext shard --docs out/dedup --out out/shards "
               "--reports out/clean/report.json out/dedup/report.json\n"
               "  webtext shard --docs out/dedup --out out/shards --target-mb 64",
    )
    p.add_argument("--docs", required=True, help="folder with documents/*.parquet (the dedup output)")
    p.add_argument("--out", required=True, help="output folder for the shards, manifest and card")
    p.add_argument("--target-mb", type=float, default=256, help="uncompressed text per shard, MiB (default 256)")
    p.add_argument("--reports", nargs="*", metavar="JSON", help="report.json files of earlier stages, for the manifest")
    p.set_defaults(func=_shard)
