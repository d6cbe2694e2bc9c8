"""`webtext shard`: the documents table to the final Parquet shards, `manifest.json` and the card.

    webtext shard --docs dedup_out --out shards [--target-mb 256] [--reports a/report.json ...]

The writers are `webtext/shards.py` (shards, manifest) and `webtext/card.py` (the dataset card);
this module is their command, beside them as `build_cli.py` is beside `config.py`. The manifest
carries the reports given by `--reports` plus the shard step's own. Nothing heavy is imported
until the command runs.
"""

from __future__ import annotations

from pathlib import Path


def run_shard(args) -> int:
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
    write_card(args.out, manifest, [s["card"] for s in shards])  # the statistics taken as each shard was written
    report.write(Path(args.out) / "report.json")
    log("shard", f"{report.kept:,} documents in {len(shards)} shard(s) under {args.out}")
    return 0


def add_commands(subparsers) -> None:
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
    p.set_defaults(func=run_shard)
