"""`webtext extract`, `webtext extract train-dragnet` and `webtext eval-extract`.

    webtext extract (--fetch DIR | --warc WARC... | --html DIR) --out DIR [--links LINKS] [--urls MAP.json] [--workers N] [--timeout S]
    webtext extract train-dragnet [--data DIR] [--split train] [--out MODELS_DIR] [--seed N]
    webtext eval-extract [--gold GOLD.json --html DIR [--ids FILE]] [--snippets EVAL.json] [--json]

`extract` takes an optional action: with none it extracts; `train-dragnet` retrains the Dragnet
model that ships in the package. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _default_data_dir() -> Path:
    repo = Path(__file__).resolve().parents[2]
    shared = Path(os.environ.get("WEBTEXT_SHARED", repo.parent / "shared"))
    return shared / "data" / "extraction"


def add_commands(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="extract article text from fetched pages (Dragnet + Newspaper, combined) into the documents table",
        description=(
            "Extract article text from WARC responses or a folder of HTML files and write "
            "OUT/documents/*.parquet and OUT/report.json. `webtext extract train-dragnet` retrains "
            "the Dragnet model instead."
        ),
        epilog=(
            "examples:\n"
            "  webtext extract --fetch out/fetch --links out/links --out out/extract\n"
            "  webtext extract --warc crawl/*.warc.gz --out out/extract --workers 4\n"
            "  webtext extract --html pages/ --urls urls.json --out out/extract"
        ),
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--warc", nargs="+", metavar="WARC", help="WARC files or folders of *.warc.gz")
    src.add_argument("--html", metavar="DIR", help="a folder of *.html / *.html.gz files")
    src.add_argument("--fetch", metavar="DIR", help="a `webtext fetch --out` folder: the pages its log kept")
    p.add_argument("--out", metavar="DIR", help="output folder")
    p.add_argument("--links", metavar="LINKS", help="links table (Parquet file or folder): Reddit fields to carry")
    p.add_argument("--urls", metavar="MAP.json", help="with --html: {id: url} or a ground-truth.json giving each file's URL")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per page before it is dropped as `timeout`")
    p.set_defaults(func=_cmd_extract)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    t = actions.add_parser(
        "train-dragnet",
        help="retrain Dragnet's content model on the benchmark's train split",
        description="Train Dragnet's content model with Dragnet's own training code on the train split (fixed seed).",
        epilog="examples:\n  webtext extract train-dragnet\n  webtext extract train-dragnet --data ../shared/data/extraction --out model/",
    )
    t.add_argument("--data", default=None, help="benchmark folder with ground-truth.json, split.json, html/ (default ../shared/data/extraction)")
    t.add_argument("--split", default="train", help="which split of split.json to train on (default train; never dev)")
    t.add_argument("--out", dest="model_out", default=None, help="where to write the model (default: inside the package)")
    t.add_argument("--seed", type=int, default=None, help="random seed (default 1234)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser(
        "eval-extract",
        help="score Dragnet, Newspaper and the combination on the article and snippet benchmarks",
        description=(
            "Score the extractors on the article benchmark (gold bodies; its metric: 4-token shingles, "
            "P/R averaged over pages) and on the snippet benchmark (with/without snippets; its metric: "
            "P/R/F1 pooled over snippets), and time them (pages per CPU-second). With neither --gold "
            "nor --snippets, both dev splits in ../shared/data are scored."
        ),
        epilog=(
            "examples:\n"
            "  webtext eval-extract                      (both dev splits from ../shared/data)\n"
            "  webtext eval-extract --gold ../shared/data/extraction/ground-truth.json "
            "--html ../shared/data/extraction/html --ids ../shared/data/extraction/split.json:dev\n"
            "  webtext eval-extract --snippets ../shared/data/extraction-snippets/evaldata.dev.json --json"
        ),
    )
    e.add_argument("--gold", help="article benchmark: ground-truth JSON {id: {articleBody, url}}")
    e.add_argument("--html", help="article benchmark: folder of <id>.html.gz / <id>.html (with --gold)")
    e.add_argument("--ids", help="article ids to score: a file with one per line, a JSON list, or split.json:dev")
    e.add_argument("--snippets", metavar="EVAL.json", help="snippet benchmark: {page: {file, with, without}} (HTML in html/ beside it)")
    e.add_argument("--snippet-html", metavar="DIR", help="the snippet pages' folder, if not html/ beside --snippets")
    e.add_argument("--json", action="store_true", help="print JSON instead of tables")
    e.set_defaults(func=_cmd_eval)


def _cmd_extract(args: argparse.Namespace) -> int:
    from webtext.errors import ConfigError
    from webtext.extract import documents

    if not args.out:
        raise ConfigError("--out DIR is required")
    if not args.warc and not args.html and not args.fetch:
        raise ConfigError("give --fetch DIR, --warc WARC... or --html DIR (or the action train-dragnet)")
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    links = documents.read_links(args.links) if args.links else None
    if args.fetch:
        pages = documents.iter_fetch_pages(args.fetch)
    elif args.warc:
        pages = documents.iter_warc_pages(args.warc)
    else:
        urls = documents.load_url_map(args.urls) if args.urls else None
        pages = documents.iter_html_dir(args.html, urls)
    timeout = args.timeout if args.timeout and args.timeout > 0 else None
    report = documents.extract_pages(pages, args.out, links=links, workers=args.workers, timeout=timeout)
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) or "none"
    print(f"extract: {report.read} pages, {report.kept} documents; dropped: {dropped}; -> {args.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from webtext.errors import ConfigError
    from webtext.extract import dragnet
    from webtext.extract.evaluate import read_ids

    if args.split == "dev":
        raise ConfigError("the dev split is for choosing the combination rule; never train on it")
    data = Path(args.data) if args.data else _default_data_dir()
    ids = read_ids(f"{data / 'split.json'}:{args.split}")
    seed = dragnet.DEFAULT_SEED if args.seed is None else args.seed
    result = dragnet.train(data / "ground-truth.json", data / "html", ids, args.model_out, seed=seed)
    block = result.meta["block_level_on_training_pages"]
    print(
        f"train-dragnet: {result.meta['trained_on']['pages']} pages, seed {seed} -> {result.model_path} "
        f"({result.meta['bytes']:,} bytes); block-level F1 on the training pages {block['f1']:.3f}"
    )
    return 0


def _benchmarks(args: argparse.Namespace) -> dict[str, list]:
    from webtext.errors import ConfigError
    from webtext.extract.evaluate import load_gold, load_snippets, read_ids

    if bool(args.gold) != bool(args.html):
        raise ConfigError("--gold and --html go together (the article benchmark)")
    out = {}
    if not args.gold and not args.snippets:  # both dev splits from ../shared
        data = _default_data_dir()
        args.gold, args.html = str(data / "ground-truth.json"), str(data / "html")
        args.ids = args.ids or f"{data / 'split.json'}:dev"
        args.snippets = str(data.parent / "extraction-snippets" / "evaldata.dev.json")
    if args.gold:
        ids = read_ids(args.ids) if args.ids else None
        out["article"] = load_gold(args.gold, args.html, ids)
    if args.snippets:
        out["snippets"] = load_snippets(args.snippets, args.snippet_html)
    return out


def _cmd_eval(args: argparse.Namespace) -> int:
    import json

    from webtext.extract.evaluate import evaluate_extractors

    results = {name: evaluate_extractors(pages) for name, pages in _benchmarks(args).items()}
    if args.json:
        print(json.dumps(results if len(results) > 1 else next(iter(results.values())), indent=2, sort_keys=True))
        return 0
    titles = {"article": "article benchmark (shingle P/R averaged over pages)", "snippets": "snippet benchmark (P/R/F1 pooled over snippets)"}
    for bench, result in results.items():
        print(f"{titles[bench]}: {result['pages']} pages")
        print(f"  {'extractor':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'pages/s/core':>13}")
        for name, s in result["extractors"].items():
            speed = f"{s['pages_per_cpu_s']:.1f}" if s["pages_per_cpu_s"] else "-"
            print(f"  {name:<10} {s['precision']:>9.4f} {s['recall']:>7.4f} {s['f1']:>6.4f} {speed:>13}")
        if result["failures"]:
            print("  combined failures: " + ", ".join(f"{k}: {v}" for k, v in sorted(result["failures"].items())))
    return 0
