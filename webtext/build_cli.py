"""`webtext build`: the whole corpus build in one command (the Beam pipeline in `pipelines/`).

    webtext build --until 2017-12                       # the embedded sample, offline -> ./webtext-out
    webtext build --until 2017-12 --dumps RS_2017-*.zst --live-fetch --out /data/webtext
    webtext build --until 2017-12 --dumps dumps/ --replay crawl/*.warc.gz --workers 8
    webtext build --live --subreddit science --subreddit space --live-fetch
    webtext build --until 2017-12 --runner DaskRunner --workers 4    # a local Dask cluster for the run
    webtext build ... --runner DaskRunner --dask-address tcp://scheduler:8786
    webtext build --until 2017-12 --dumps dumps/ --source wayback --out /data/webtext-2017
    webtext build ... --runner DataflowRunner --out gs://bucket/webtext --beam-option=--project=p ...
    webtext build --config build.toml --workers 8      # settings from a file; flags override it
    webtext build --until 2017-12 --decontaminate wiki.test.raw lambada_test.jsonl   # drop what shares their 8-grams

With no input named, the build reads the embedded sample (`webtext/sample/`: a Pushshift-format
dump and the WARC archive of the pages it links to, replayed instead of fetched). Stage outputs go
to OUT/stages/<stage>/ and a rerun of the same command reuses every finished stage; the shards,
`manifest.json` (config, package versions, every stage's Beam-counted drop reasons, shard hashes)
and `README.md` go to OUT. `--stop-after STAGE` runs the stages up to STAGE only (the Airflow DAG's
tasks use it). One `BuildConfig` (webtext/config.py) carries every option; `--config FILE` reads
them from a TOML file with BuildConfig's field names, and the flags given override it. The
effective config goes into manifest.json.

Nothing heavy is imported here: Beam and the stages load inside the command.
"""

from __future__ import annotations

import argparse
import json

from webtext.config import STAGES, BuildConfig


def add_commands(sub) -> None:
    p = sub.add_parser(
        "build",
        help="run the whole build (harvest, fetch, extract, clean, dedup, shards) as a Beam pipeline",
        description=__doc__.split("\n\n")[0] + " With no input named it runs offline on the embedded sample.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n\n")[1:2]),
    )
    p.add_argument("--config", metavar="TOML",
                   help="read the settings from a TOML file (BuildConfig's field names, e.g. until = \"2017-12\", "
                        "workers = 8, [dedup_options] threshold = 0.8); flags given here override it")
    p.add_argument("--until", metavar="YYYY-MM",
                   help="keep submissions created up to the end of this month (default: 2017-12, as WebText)")
    src = p.add_argument_group("inputs")
    src.add_argument("--dumps", nargs="+", metavar="PATH", help="Pushshift submission dumps (files or folders)")
    src.add_argument("--live", action="store_true", default=None, help="read submissions from Reddit's API instead of dumps")
    src.add_argument("--subreddit", action="append", metavar="NAME", help="with --live: a subreddit (repeatable)")
    src.add_argument("--live-limit", type=int, metavar="N", help="with --live: at most N submissions per subreddit")
    fetch = src.add_mutually_exclusive_group()
    fetch.add_argument("--live-fetch", action="store_true", default=None, help="crawl the real web (Scrapy) instead of replaying archives")
    fetch.add_argument("--replay", nargs="+", metavar="WARC", help="replay these WARC files/folders as the fetch source")
    fetch.add_argument("--source", metavar="SOURCE",
                       help="live, wayback, commoncrawl[:CRAWL,...] or archive-then-live: web archives give each link "
                            "as it was when posted (docs/fetch.md); default: replay the sample's archive / --replay")
    src.add_argument("--archive-endpoint", metavar="URL",
                     help="with an archive --source: a pywb collection (http://host/COLL) or CDX server instead of the public archive")
    p.add_argument("--out", help="output folder, local or gs://bucket/path (default: ./webtext-out)")
    beam = p.add_argument_group("Beam")
    beam.add_argument("--runner",
                      help="FnApiRunner (local, default), DirectRunner (same, local), DaskRunner (apache-beam[dask]) "
                           "or DataflowRunner (apache-beam[gcp]); docs/pipeline.md")
    beam.add_argument("--workers", type=int,
                      help="local worker processes, or the local Dask cluster's (default: one per CPU; 1 = in-process)")
    beam.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                      help="with --runner DaskRunner: a running Dask scheduler (default: a local cluster for the run)")
    beam.add_argument("--beam-option", action="append", metavar="--OPT=VALUE",
                      help="a Beam pipeline option passed through, e.g. --beam-option=--project=my-project (repeatable)")
    knobs = p.add_argument_group("stages")
    knobs.add_argument("--min-karma", type=int, help="karma threshold (default 3)")
    knobs.add_argument("--karma-rule", choices=("max", "sum"), help="max: one submission reaches it (WebText, default); sum: all together")
    knobs.add_argument("--keep-nsfw", action="store_true", default=None, help="keep links from NSFW submissions")
    knobs.add_argument("--on-error", choices=("fail", "skip"), help="a damaged dump file: fail (default), or count it and go on")
    knobs.add_argument("--fetch-buckets", type=int, help="parallel crawlers (domain buckets); default: one per worker")
    knobs.add_argument("--fetch-batch-size", type=int, help="URLs per crawl process (default 2000)")
    knobs.add_argument("--fetch-option", action="append", metavar="NAME=JSON",
                       help="a webtext.fetch.FetchOptions field, e.g. download_timeout=10 (repeatable)")
    knobs.add_argument("--languages", metavar="en,de,...", help="languages the clean stage keeps (ISO 639-1; default en; 'all' keeps every language)")
    knobs.add_argument("--clean-option", action="append", metavar="NAME=JSON", help="a CleanOptions field, e.g. min_words=50")
    knobs.add_argument("--dedup-option", action="append", metavar="NAME=JSON", help="a DedupOptions field, e.g. threshold=0.8")
    decon = p.add_argument_group("decontamination (docs/checks.md)")
    decon.add_argument("--decontaminate", nargs="+", metavar="FILE",
                       help="evaluation files (plain text, JSON lines or Parquet, as `webtext overlap --eval`): the clean "
                            "stage drops every document sharing more than --decontaminate-threshold of their n-grams, "
                            "counted as `contaminated`")
    decon.add_argument("--decontaminate-ngram", type=int, metavar="N", help="n-gram length in normalised words (default 8, the paper's)")
    decon.add_argument("--decontaminate-threshold", type=int, metavar="N",
                       help="shared n-gram occurrences a document may have (default 0: any shared n-gram drops it)")
    decon.add_argument("--decontaminate-format", choices=("auto", "text", "jsonl", "parquet"),
                       help="format of the evaluation files (default: from the extension)")
    decon.add_argument("--decontaminate-field", metavar="NAME", help="text field of JSON lines / Parquet files (default text)")
    knobs.add_argument("--shard-mb", type=float, help="target uncompressed text per shard in MB (default: the shard writer's)")
    p.add_argument("--stop-after", choices=STAGES, help="run the stages up to this one, then stop")
    p.set_defaults(func=run)


def _options(values: list[str], flag: str) -> dict:
    from webtext.errors import ConfigError

    out = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{flag} expects NAME=VALUE, not {item!r}")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw  # a bare string
    return out


# flag (argparse dest) -> BuildConfig field, for the flags that map one to one
_FLAGS = {
    "until": "until", "dumps": "dumps", "live": "live", "subreddit": "subreddits", "live_limit": "live_limit",
    "live_fetch": "live_fetch", "replay": "replay", "source": "source",
    "archive_endpoint": "archive_endpoint", "out": "out", "runner": "runner", "workers": "workers",
    "dask_address": "dask_address",
    "beam_option": "beam_args", "min_karma": "min_karma", "keep_nsfw": "keep_nsfw", "karma_rule": "karma_rule",
    "on_error": "on_error", "fetch_buckets": "fetch_buckets", "fetch_batch_size": "fetch_batch_size",
    "stop_after": "stop_after", "decontaminate": "decontaminate", "decontaminate_ngram": "decontaminate_ngram",
    "decontaminate_threshold": "decontaminate_threshold", "decontaminate_format": "decontaminate_format",
    "decontaminate_field": "decontaminate_field",
}


def config_from_args(args) -> BuildConfig:
    """BuildConfig's defaults, then the --config file, then the flags the user gave (every flag
    defaults to None, so "not given" is never confused with "given the default value")."""
    flags = {field: getattr(args, dest) for dest, field in _FLAGS.items() if getattr(args, dest) is not None}
    for dest, field in (("fetch_option", "fetch_options"), ("clean_option", "clean_options"), ("dedup_option", "dedup_options")):
        if getattr(args, dest):
            flags[field] = _options(getattr(args, dest), "--" + dest.replace("_", "-"))
    if getattr(args, "languages", None) is not None:
        from webtext.langid import parse_languages

        flags["clean_options"] = {**flags.get("clean_options", {}), "languages": list(parse_languages(args.languages))}
    if args.shard_mb is not None:
        flags["shard_target_bytes"] = int(args.shard_mb * 1e6)
    if getattr(args, "config", None):
        return BuildConfig.from_toml(args.config, **flags)
    return BuildConfig(**flags)


def run(args) -> int:
    import os
    import sys

    config = config_from_args(args).validate()
    from pipelines.build import BuildInterrupted, run_build  # Beam and the stages load only now

    try:
        result = run_build(config)
    except BuildInterrupted as exc:  # Ctrl-C: one line, what finished and how to resume
        print(f"webtext build: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # Leave now: the runner's threads and worker processes would otherwise be waited for (or
        # print their own errors) while they wind down. Every file on disk is already consistent:
        # outputs are written under temporary names and a stage counts only once its marker exists.
        os._exit(130)
    if config.stop_after and config.stop_after != STAGES[-1]:
        last = result["stages"][-1]
        print(f"{last['stage']}: read {last['read']:,}, kept {last['kept']:,} ({config.out})")
        return 0
    totals = result.get("totals", {})
    print(
        f"wrote {totals.get('documents', 0):,} documents ({totals.get('words', 0):,} words) in "
        f"{totals.get('shards', 0)} shard(s) to {config.out}"
    )
    return 0
