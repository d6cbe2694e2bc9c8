"""`webtext build`: the whole corpus build in one command (the Beam pipeline in `pipelines/`).

    webtext build --until 2017-12                       # the embedded sample, offline -> ./webtext-out
    webtext build --until 2017-12 --dumps RS_2017-*.zst --live-fetch --out /data/webtext
    webtext build --until 2017-12 --dumps dumps/ --replay crawl/*.warc.gz --workers 8
    webtext build --live --subreddit science --subreddit space --live-fetch
    webtext build ... --runner DataflowRunner --out gs://bucket/webtext --beam-option=--project=p ...

With no input named, the build reads the embedded sample (`webtext/sample/`: a Pushshift-format
dump and the WARC archive of the pages it links to, replayed instead of fetched). Stage outputs go
to OUT/stages/<stage>/ and a rerun of the same command reuses every finished stage; the shards,
`manifest.json` (config, package versions, every stage's Beam-counted drop reasons, shard hashes)
and `CARD.md` go to OUT. `--stop-after STAGE` runs the stages up to STAGE only (the Airflow DAG's
tasks use it). One `BuildConfig` (webtext/config.py) carries every option.

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
    p.add_argument("--until", default="2017-12", metavar="YYYY-MM",
                   help="keep submissions created up to the end of this month (default: 2017-12, as WebText)")
    src = p.add_argument_group("inputs")
    src.add_argument("--dumps", nargs="+", default=[], metavar="PATH", help="Pushshift submission dumps (files or folders)")
    src.add_argument("--live", action="store_true", help="read submissions from Reddit's API instead of dumps")
    src.add_argument("--subreddit", action="append", default=[], metavar="NAME", help="with --live: a subreddit (repeatable)")
    src.add_argument("--live-limit", type=int, default=None, metavar="N", help="with --live: at most N submissions per subreddit")
    fetch = src.add_mutually_exclusive_group()
    fetch.add_argument("--live-fetch", action="store_true", help="crawl the real web (Scrapy) instead of replaying archives")
    fetch.add_argument("--replay", nargs="+", default=[], metavar="WARC", help="replay these WARC files/folders as the fetch source")
    p.add_argument("--out", default="webtext-out", help="output folder, local or gs://bucket/path (default: ./webtext-out)")
    beam = p.add_argument_group("Beam")
    beam.add_argument("--runner", default="FnApiRunner",
                      help="FnApiRunner (local, default), DirectRunner (same, local) or DataflowRunner, ...")
    beam.add_argument("--workers", type=int, default=0, help="local worker processes (default: one per CPU; 1 = in-process)")
    beam.add_argument("--beam-option", action="append", default=[], metavar="--OPT=VALUE",
                      help="a Beam pipeline option passed through, e.g. --beam-option=--project=my-project (repeatable)")
    knobs = p.add_argument_group("stages")
    knobs.add_argument("--min-karma", type=int, default=3, help="karma threshold (default 3)")
    knobs.add_argument("--karma-rule", choices=("max", "sum"), default="max", help="max: one submission reaches it (WebText); sum: all together")
    knobs.add_argument("--keep-nsfw", action="store_true", help="keep links from NSFW submissions")
    knobs.add_argument("--on-error", choices=("fail", "skip"), default="fail", help="a damaged dump file: fail, or count it and go on")
    knobs.add_argument("--fetch-buckets", type=int, default=0, help="parallel crawlers (domain buckets); default: one per worker")
    knobs.add_argument("--fetch-batch-size", type=int, default=2000, help="URLs per crawl process (default 2000)")
    knobs.add_argument("--fetch-option", action="append", default=[], metavar="NAME=JSON",
                       help="a webtext.fetch.FetchOptions field, e.g. download_timeout=10 (repeatable)")
    knobs.add_argument("--clean-option", action="append", default=[], metavar="NAME=JSON", help="a CleanOptions field, e.g. min_words=50")
    knobs.add_argument("--dedup-option", action="append", default=[], metavar="NAME=JSON", help="a DedupOptions field, e.g. threshold=0.8")
    knobs.add_argument("--shard-mb", type=float, default=None, help="target uncompressed text per shard in MB (default: the shard writer's)")
    p.add_argument("--stop-after", choices=STAGES, default=None, help="run the stages up to this one, then stop")
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


def config_from_args(args) -> BuildConfig:
    return BuildConfig(
        until=args.until,
        dumps=list(args.dumps),
        live=args.live,
        subreddits=list(args.subreddit),
        live_limit=args.live_limit,
        live_fetch=args.live_fetch,
        replay=list(args.replay),
        out=args.out,
        runner=args.runner,
        workers=args.workers,
        beam_args=list(args.beam_option),
        min_karma=args.min_karma,
        keep_nsfw=args.keep_nsfw,
        karma_rule=args.karma_rule,
        on_error=args.on_error,
        fetch_buckets=args.fetch_buckets,
        fetch_batch_size=args.fetch_batch_size,
        fetch_options=_options(args.fetch_option, "--fetch-option"),
        clean_options=_options(args.clean_option, "--clean-option"),
        dedup_options=_options(args.dedup_option, "--dedup-option"),
        shard_target_bytes=int(args.shard_mb * 1e6) if args.shard_mb else None,
        stop_after=args.stop_after,
    )


def run(args) -> int:
    config = config_from_args(args).validate()
    from pipelines.build import run_build  # Beam and the stages load only now

    result = run_build(config)
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
