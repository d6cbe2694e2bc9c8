"""`webtext harvest`: Reddit links from Pushshift dumps or the live API.

    webtext harvest --dumps ../shared/data/reddit --until 2017-12 --out out/
    webtext harvest --live --subreddit science worldnews --until 2024-12 --out out/

Writes `OUT/links/links-*.parquet` (one row per URL) and `OUT/report.json`. Nothing heavy is
imported until the command runs.
"""

from __future__ import annotations

import argparse


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "harvest",
        help="Reddit links (karma, date cap, filters) -> OUT/links/*.parquet",
        description=(
            "Harvest outbound links from Reddit submissions: Pushshift dumps (.zst with a 2**31 window, "
            ".xz, .bz2, .gz, NDJSON; files or folders) or the live API (praw). Keeps link posts created "
            "before the end of the --until month with enough karma, not self posts, not NSFW, not into "
            "Reddit or Wikipedia, not media files or blocked domains; one row per normalised URL. "
            "Writes OUT/links/*.parquet and OUT/report.json (every drop counted with its reason)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog=(
            "examples:\n"
            "  webtext harvest --dumps webtext/sample/RS_sample.zst --until 2017-12 --out out/\n"
            "  webtext harvest --dumps dumps/ --until 2017-12 --out out/ --on-error skip\n"
            "  webtext harvest --live --subreddit science --until 2024-12 --out out/   # needs Reddit API credentials"
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dumps", nargs="+", metavar="PATH", help="dump files or folders of them")
    source.add_argument("--live", action="store_true", help="read the live API through praw (needs credentials)")
    p.add_argument("--until", required=True, metavar="YYYY-MM", help="keep submissions created before the end of this month (UTC)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--min-karma", type=int, default=3, help="karma bar a URL must reach")
    p.add_argument("--keep-nsfw", action="store_true", help="keep submissions marked NSFW (over_18)")
    p.add_argument(
        "--on-error", choices=("fail", "skip"), default="fail",
        help="a truncated or corrupt dump file: stop with an error, or count it and go on",
    )  # fmt: skip
    p.add_argument(
        "--karma-rule", choices=("max", "sum"), default="max",
        help="max: one submission reaches the bar (WebText); sum: the URL's submissions together (OpenWebText2)",
    )  # fmt: skip
    p.add_argument(
        "--max-urls-in-memory", type=int, default=200_000, metavar="N",
        help="unique URLs aggregated in memory before sorted runs are spilled to disk (about 1 KiB each)",
    )  # fmt: skip
    live = p.add_argument_group("live mode (--live)")
    live.add_argument("--subreddit", nargs="+", metavar="NAME", help="subreddits to read")
    live.add_argument("--listing", choices=("new", "top", "hot"), default="new", help="which listing to page through")
    live.add_argument("--limit", type=int, default=None, help="at most this many submissions per subreddit")
    live.add_argument("--praw-site", metavar="NAME", help="a praw.ini site holding the credentials")
    live.add_argument("--reddit-url", metavar="URL", help="token endpoint host (default Reddit's; env WEBTEXT_REDDIT_URL)")
    live.add_argument("--oauth-url", metavar="URL", help="API host (default Reddit's; env WEBTEXT_REDDIT_OAUTH_URL)")
    live.add_argument("--short-url", metavar="URL", help="short link host (env WEBTEXT_REDDIT_SHORT_URL)")
    p.set_defaults(func=run_harvest)


def run_harvest(args: argparse.Namespace) -> int:
    from webtext.errors import ConfigError

    common = dict(
        min_karma=args.min_karma, keep_nsfw=args.keep_nsfw, karma_rule=args.karma_rule,
        max_urls_in_memory=args.max_urls_in_memory,
    )  # fmt: skip
    if args.live:
        if not args.subreddit:
            raise ConfigError("--live needs --subreddit NAME [NAME ...]")
        from webtext.reddit.api import harvest_live

        report = harvest_live(
            args.subreddit, args.until, args.out, listing=args.listing, limit=args.limit,
            site=args.praw_site, reddit_url=args.reddit_url, oauth_url=args.oauth_url, short_url=args.short_url,
            **common,
        )  # fmt: skip
    else:
        if args.subreddit:
            raise ConfigError("--subreddit is for --live; dumps hold every subreddit")
        from webtext.reddit.harvest import harvest

        report = harvest(args.dumps, args.until, args.out, on_error=args.on_error, **common)
    dropped = ", ".join(f"{reason} {n:,}" for reason, n in sorted(report.dropped.items(), key=lambda kv: -kv[1]))
    print(
        f"harvest: read {report.read:,} records; kept {report.kept:,} submissions -> {report.links:,} links "
        f"in {args.out}/links; dropped: {dropped or 'none'}; report {args.out}/report.json"
    )
    return 0
