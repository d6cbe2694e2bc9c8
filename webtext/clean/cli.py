"""`webtext clean`: drop Wikipedia, empty, undecodable and short documents; repair the text.

    webtext clean --docs extract_out --out clean_out [--min-words 100] [--min-chars 200] [--keep-wikipedia]

Reads the documents table (`DIR/documents/*.parquet`) a batch at a time, runs
`webtext.filters.clean_document` on each row and writes the kept rows as they come
(`OUT/documents/part-NNNNN.parquet`, `ROWS_PER_FILE` rows each) and the stage report
(`OUT/report.json`). Memory: one batch and one part, whatever the corpus size. Nothing heavy is
imported until the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROWS_PER_FILE = 10_000
BATCH_ROWS = 1024


def run_clean(args: argparse.Namespace) -> int:
    from webtext.filters import CleanOptions, clean_documents
    from webtext.progress import Progress, log
    from webtext.report import StageReport
    from webtext.dedup.stream import iter_rows
    from webtext.shards import _write_parquet_atomic, document_files, to_table

    from webtext.langid import parse_languages

    opts = CleanOptions(min_chars=args.min_chars, min_words=args.min_words, drop_wikipedia=not args.keep_wikipedia,
                        languages=parse_languages(args.languages))
    files = document_files(args.docs)
    folder = Path(args.out) / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    report = StageReport("clean")
    written: list[Path] = []
    pending: list[dict] = []

    def flush() -> None:
        path = folder / f"part-{len(written):05d}.parquet"
        _write_parquet_atomic(to_table(pending), path)
        written.append(path)
        pending.clear()

    with Progress("clean", unit="documents") as progress:
        for rows in iter_rows(files, None, BATCH_ROWS):
            kept, part = clean_documents(rows, opts)
            report.merge(part)
            pending.extend(kept)
            progress.update(len(rows))
            if len(pending) >= ROWS_PER_FILE:
                flush()
    if pending or not written:  # an empty result is still one (empty) part, so readers find a schema
        flush()
    for old in folder.glob("part-*.parquet"):
        if old not in written:
            old.unlink()  # a part of an earlier run that had more parts
    report.check()
    report.write(Path(args.out) / "report.json")
    log("clean", f"{report.read:,} read, {report.kept:,} kept, dropped {dict(report.dropped)}")
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "clean", help="drop Wikipedia, short and undecodable documents; repair text",
        description="Clean the documents table: drop Wikipedia pages, documents under --min-words words or "
                    "--min-chars characters and undecodable text; repair mojibake with ftfy. Writes "
                    "OUT/documents/*.parquet and OUT/report.json (every drop counted with its reason). "
                    "Streams the documents: memory does not grow with the corpus.",
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
    p.set_defaults(func=run_clean)
