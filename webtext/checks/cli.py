"""`webtext overlap`: n-gram overlap between the corpus and evaluation sets, and decontamination.

    webtext overlap --corpus webtext-out --eval wiki.test.raw lambada_test.jsonl
    webtext overlap --corpus webtext-out --eval test.jsonl --decontaminate --out webtext-clean
    webtext overlap --corpus webtext-out --eval test.jsonl --decontaminate --list

The first run builds the corpus's n-gram Bloom filter in CORPUS/overlap/ngramN/ (its parameters go in
CORPUS/manifest.json); later runs reuse it. Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse


def _overlap(args) -> int:
    import json

    from webtext.checks import overlap as ov
    from webtext.errors import ConfigError
    from webtext.progress import log

    say = (lambda m: log("overlap", m))
    if args.decontaminate:
        if not args.list and not args.out:
            raise ConfigError("--decontaminate needs --out DIR (a rebuilt shard set) or --list (only list the documents)")
        summary = ov.decontaminate_corpus(args.corpus, args.eval, None if args.list else args.out, n=args.ngram,
                                          threshold=args.threshold, fmt=args.format, field=args.field, workers=args.workers)
        where = f"; shards without them in {summary['out']}" if summary.get("out") else ""
        print(f"{summary['contaminated']:,} of {summary['documents']:,} documents share more than {args.threshold} "
              f"{args.ngram}-gram(s) with the evaluation sets (listed in {summary['listing']}){where}")
        return 0
    flt = ov.build_filter(args.corpus, n=args.ngram, fp_rate=args.fp_rate, workers=args.workers, force=args.rebuild, log=say)
    p = flt.params
    print(f"filter: {p['ngrams']:,} {p['ngram']}-grams of {p['documents']:,} documents, {p['bytes']:,} bytes, "
          f"{p['hashes']} hashes, FP rate <= {p['fp_rate_bound']:.3g} (target {p['target_fp_rate']:.3g}); "
          f"built at {p['ngrams_per_s']:,} n-grams/s")
    reports = []
    for path in args.eval:
        r = ov.overlap_report(flt, path, fmt=args.format, field=args.field, top=args.top)
        reports.append(r)
        print(f"{path}: {r['found']:,} of {r['ngrams']:,} {r['ngram']}-grams in the corpus ({100 * r['share']:.2f}%); "
              f"{r['examples_with_overlap']:,} of {r['examples']:,} examples overlap; {r['query_ngrams_per_s']:,} n-grams/s")
        for e in r["most_overlapping"]:
            print(f"  example {e['index']}: {100 * e['overlap']:.1f}% ({e['found']}/{e['ngrams']}) {e['text'][:80]!r}")
    if args.report:
        from webtext.report import write_json_atomic

        write_json_atomic(args.report, {"filter": {k: v for k, v in p.items() if k != "shards"}, "files": reports})
        print(f"wrote {args.report}")
    elif args.json:
        print(json.dumps({"filter": {k: v for k, v in p.items() if k != "shards"},
                          "files": [{k: v for k, v in r.items() if k != "per_example"} for r in reports]}, indent=2))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser(
        "overlap", help="n-gram overlap of evaluation sets with the corpus (Bloom filter); decontamination",
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--corpus", required=True, help="the build's output folder (manifest.json and its shards)")
    p.add_argument("--eval", nargs="*", default=[], metavar="FILE",
                   help="evaluation files: plain text (one example per non-blank line), JSON lines or Parquet")
    p.add_argument("--format", choices=("auto", "text", "jsonl", "parquet"), default="auto",
                   help="format of the evaluation files (default: from the extension; .jsonl/.json, .parquet, else text)")
    p.add_argument("--field", default="text", help="the text field of JSON lines / Parquet files (default: text)")
    p.add_argument("--ngram", type=int, default=8, help="n-gram length in normalised words (default 8, the paper's)")
    p.add_argument("--fp-rate", type=float, default=1e-8, help="false-positive rate bound of the filter (default 1e-8, the paper's)")
    p.add_argument("--workers", type=int, default=0, help="processes (default: one per CPU)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the filter even if a matching one is saved")
    p.add_argument("--top", type=int, default=10, help="print the N most overlapping examples per file (default 10)")
    p.add_argument("--report", metavar="JSON", help="write the full report (every example's overlap) to this file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON too")
    d = p.add_argument_group("decontamination")
    d.add_argument("--decontaminate", action="store_true",
                   help="drop the corpus documents sharing more than --threshold n-grams with the --eval files")
    d.add_argument("--threshold", type=int, default=0, help="shared n-gram occurrences a document may have (default 0)")
    d.add_argument("--out", help="with --decontaminate: folder for the rebuilt shard set (reason `contaminated` in its manifest)")
    d.add_argument("--list", action="store_true", help="with --decontaminate: only list the documents, change nothing")
    p.set_defaults(func=_overlap)
