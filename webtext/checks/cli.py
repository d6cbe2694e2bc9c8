"""The paper's checks: `webtext overlap` (n-gram overlap between the corpus and evaluation sets,
decontamination) and `webtext eval` (zero-shot perplexity and LAMBADA accuracy of a model).

    webtext overlap --corpus webtext-out --eval wiki.test.raw lambada_test.jsonl
    webtext overlap --corpus webtext-out --eval test.jsonl --decontaminate --out webtext-clean
    webtext overlap --corpus webtext-out --eval test.jsonl --decontaminate --list

    webtext eval --checkpoint runs/124m --data wiki.test.raw --detokenizer wikitext
    webtext eval --checkpoint hf-gpt2/ --data lambada_test.jsonl --format lambada --out result.json

The first overlap run builds the corpus's n-gram Bloom filter in CORPUS/overlap/ngramN/ (its parameters go in
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


def _eval(args) -> int:
    import json

    from webtext.gpt2.eval import EvalConfig, evaluate
    from webtext.report import write_json_atomic

    cfg = EvalConfig(checkpoint=args.checkpoint, data=args.data, format=args.format, detokenizer=args.detokenizer,
                     stride=args.stride, batch_size=args.batch_size, device=args.device, dtype=args.dtype,
                     field=args.field, tokenizer=args.tokenizer, limit=args.limit)
    r = evaluate(cfg)
    if r["task"] == "lambada":
        print(f"{args.data}: accuracy {r['accuracy']:.4f} ({r['correct']:,}/{r['examples']:,}), "
              f"perplexity {r['perplexity']:.3f} ({r['tokens_per_s']:,.0f} tokens/s on {r['device']})")
    else:
        print(f"{args.data}: word perplexity {r['word_perplexity']:.3f}, token perplexity {r['token_perplexity']:.3f}, "
              f"bits per byte {r['bits_per_byte']:.4f} ({r['tokens']:,} tokens, {r['words']:,} words, "
              f"stride {r['stride']}; {r['tokens_per_s']:,.0f} tokens/s on {r['device']})")
    if args.out:
        write_json_atomic(args.out, r)
        print(f"wrote {args.out}")
    else:
        print(json.dumps(r, indent=2))
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

    p = sub.add_parser(
        "eval", help="zero-shot perplexity (per token, word, byte) and LAMBADA accuracy of a GPT-2 checkpoint",
        description="Evaluate a checkpoint (a run folder, ckpt.pt, or any folder `webtext import-hf` accepts) "
                    "as the GPT-2 paper does: sliding-window perplexity normalised per token, per word and per "
                    "byte, or LAMBADA last-word accuracy. See docs/checks.md.",
    )
    p.add_argument("--checkpoint", required=True, help="run folder / ckpt.pt, or a Hugging Face or OpenAI GPT-2 folder")
    p.add_argument("--data", required=True, help="evaluation file")
    p.add_argument("--format", choices=("text", "jsonl", "lambada"), default="text",
                   help="text: the file is one document; jsonl: one document per line (--field); "
                        "lambada: JSON lines, predict each text's last word (default text)")
    p.add_argument("--field", default="text", help="text field of JSON lines / Parquet (default text)")
    p.add_argument("--detokenizer", choices=("none", "wikitext", "ptb", "lambada"), default="none",
                   help="undo the dataset's tokenization first (default none); see docs/checks.md")
    p.add_argument("--stride", type=int, default=None,
                   help="new tokens scored per window (default: the model's context, i.e. no overlap)")
    p.add_argument("--batch-size", type=int, default=4, help="windows or examples per forward pass (default 4)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="default float32")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the checkpoint's)")
    p.add_argument("--limit", type=int, default=None, help="only the first N documents / examples")
    p.add_argument("--out", default=None, metavar="JSON", help="write the result here (default: print it)")
    p.set_defaults(func=_eval)
