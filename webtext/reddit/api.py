"""The live source: submissions from Reddit's API through praw, harvested like a dump.

    WEBTEXT_REDDIT_CLIENT_ID=... WEBTEXT_REDDIT_CLIENT_SECRET=... \\
        webtext harvest --live --subreddit science worldnews --until 2024-12 --out out/

Credentials come from the environment (`WEBTEXT_REDDIT_CLIENT_ID`, `WEBTEXT_REDDIT_CLIENT_SECRET`,
`WEBTEXT_REDDIT_USER_AGENT`) or from a `praw.ini` site (`--praw-site NAME`, praw's own lookup of
praw.ini in the working folder, the user config folder and next to praw). They are handed to praw
and never printed: errors name the variable or the site, never a value. The client is read-only
(application-only OAuth, the `client_credentials` grant) and praw's update check is off, so praw
contacts nothing but the configured endpoints.

Endpoints default to Reddit's and can be pointed elsewhere (a mirror, or a test server on
127.0.0.1; plain http is accepted there): `WEBTEXT_REDDIT_URL` (token endpoint host),
`WEBTEXT_REDDIT_OAUTH_URL` (API host), `WEBTEXT_REDDIT_SHORT_URL`, or the matching CLI flags.

Rate limits: praw's core reads Reddit's `x-ratelimit-remaining/used/reset` headers and sleeps
before a request would exceed them. A 429 still gets through (it is Reddit's last word, e.g. when
another client shares the credentials): then we wait for `Retry-After` (or `x-ratelimit-reset`,
capped at `max_wait` seconds), say so on stderr, and ask for the same page again; after
`max_retries` 429s in a row the harvest stops with an error. praw pages through a listing with
`after` (100 per page; Reddit serves at most about 1,000 items per listing).

Records are the submission's JSON fields (the Pushshift field names: `id`, `url`, `score`,
`created_utc`, `is_self`, `over_18`, `subreddit`, ...), so the filters and accounting are exactly
those of the dumps. A submission seen twice (listings shift while paging) is counted once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from webtext import __version__
from webtext.errors import ConfigError, InputError, WebtextError
from webtext.progress import log

ENV_CLIENT_ID = "WEBTEXT_REDDIT_CLIENT_ID"
ENV_CLIENT_SECRET = "WEBTEXT_REDDIT_CLIENT_SECRET"
ENV_USER_AGENT = "WEBTEXT_REDDIT_USER_AGENT"
ENV_SITE = "WEBTEXT_REDDIT_SITE"
ENV_ENDPOINTS = {
    "reddit_url": "WEBTEXT_REDDIT_URL",
    "oauth_url": "WEBTEXT_REDDIT_OAUTH_URL",
    "short_url": "WEBTEXT_REDDIT_SHORT_URL",
}
DEFAULT_USER_AGENT = f"webtext/{__version__} (link harvest; +https://github.com/openai/gpt-2-output-dataset)"
LISTINGS = ("new", "top", "hot")
_SCALARS = (str, int, float, bool, type(None))


def connect(
    *,
    site: str | None = None,
    reddit_url: str | None = None,
    oauth_url: str | None = None,
    short_url: str | None = None,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
):
    """A read-only `praw.Reddit` from environment variables or a praw.ini site (see the module doc)."""
    import praw
    import praw.exceptions

    env = os.environ if env is None else env
    settings: dict = {"check_for_updates": False}
    for key, given in (("reddit_url", reddit_url), ("oauth_url", oauth_url), ("short_url", short_url)):
        value = given or env.get(ENV_ENDPOINTS[key])
        if value:
            settings[key] = value.rstrip("/")
    client_id, secret = env.get(ENV_CLIENT_ID), env.get(ENV_CLIENT_SECRET)
    site = site or env.get(ENV_SITE)
    if client_id or secret:
        if not (client_id and secret):
            missing = ENV_CLIENT_SECRET if client_id else ENV_CLIENT_ID
            raise ConfigError(f"{missing} is not set; live harvesting needs both {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}")
        settings.update(client_id=client_id, client_secret=secret, user_agent=env.get(ENV_USER_AGENT) or DEFAULT_USER_AGENT)
    elif not site:
        raise ConfigError(
            f"no Reddit credentials: set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (and {ENV_USER_AGENT}), "
            "or name a praw.ini site with --praw-site"
        )
    elif env.get(ENV_USER_AGENT):
        settings["user_agent"] = env[ENV_USER_AGENT]
    try:
        reddit = praw.Reddit(site, requestor_kwargs={"timeout": timeout}, **settings)
    except praw.exceptions.MissingRequiredAttributeException:
        where = f"praw.ini site {site!r}" if site else "the environment"
        raise ConfigError(f"incomplete Reddit credentials in {where}: client_id, client_secret and user_agent are needed") from None
    except Exception as exc:  # configparser errors for a missing site name, bad values
        where = f"praw.ini site {site!r}" if site else "the Reddit settings"
        raise ConfigError(f"cannot use {where}: {type(exc).__name__}") from None
    reddit.read_only = True
    return reddit


def _retry_after(headers: Mapping[str, str], max_wait: float) -> float:
    for name in ("retry-after", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, min(float(value), max_wait))
            except ValueError:
                pass
    return max_wait


def record_of(submission) -> dict:
    """A praw Submission as a Pushshift-shaped dict: its JSON scalars, subreddit and author as names."""
    record = {k: v for k, v in vars(submission).items() if not k.startswith("_") and isinstance(v, _SCALARS)}
    sub = getattr(submission, "subreddit", None)
    record["subreddit"] = getattr(sub, "display_name", None) or (str(sub) if sub is not None else "")
    author = getattr(submission, "author", None)
    record["author"] = getattr(author, "name", None) or "[deleted]"
    return record


def iter_live_records(
    reddit,
    subreddits: list[str],
    *,
    listing: str = "new",
    limit: int | None = None,
    time_filter: str = "all",
    max_wait: float = 300.0,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict]:
    """Submission records from each subreddit's listing, paged by praw; 429s waited out and retried."""
    import prawcore.exceptions as pce

    if listing not in LISTINGS:
        raise ConfigError(f"listing must be one of {LISTINGS}, not {listing!r}")
    for name in subreddits:
        subreddit = reddit.subreddit(name)
        if listing == "top":
            items = subreddit.top(time_filter=time_filter, limit=limit)
        else:
            items = getattr(subreddit, listing)(limit=limit)
        log("harvest", f"r/{name}: reading the {listing} listing")
        in_a_row = 0
        while True:
            try:
                submission = next(items)
            except StopIteration:
                break
            except pce.TooManyRequests as exc:
                in_a_row += 1
                if in_a_row > max_retries:
                    raise WebtextError(f"Reddit answered 429 (too many requests) {in_a_row} times in a row for r/{name}; try later") from None
                wait = _retry_after(exc.response.headers, max_wait)
                log("harvest", f"r/{name}: rate limited (429); waiting {wait:.1f} s before asking again")
                sleep(wait)
                continue  # praw's generator kept its place: the same page is asked for again
            except (pce.Redirect, pce.NotFound):
                raise InputError(f"no such subreddit: r/{name}") from None
            except (pce.Forbidden, pce.OAuthException) as exc:
                raise ConfigError(f"Reddit refused access to r/{name} ({type(exc).__name__}); check the credentials") from None
            except pce.ResponseException as exc:
                status = exc.response.status_code
                if status == 401:
                    raise ConfigError("Reddit rejected the credentials (HTTP 401)") from None
                raise WebtextError(f"Reddit answered HTTP {status} for r/{name}") from None
            except pce.RequestException as exc:
                raise WebtextError(f"cannot reach Reddit: {type(exc.original_exception).__name__}") from None
            except pce.PrawcoreException as exc:
                raise WebtextError(f"Reddit API error for r/{name}: {type(exc).__name__}") from None
            except (ValueError, TypeError, KeyError, AttributeError) as exc:  # praw could not parse the answer
                raise WebtextError(f"unexpected answer from Reddit for r/{name}: {type(exc).__name__}: {exc}") from None
            in_a_row = 0
            yield record_of(submission)


def harvest_live(
    subreddits: list[str],
    until: str,
    out: str | os.PathLike,
    *,
    reddit=None,
    listing: str = "new",
    limit: int | None = None,
    time_filter: str = "all",
    min_karma: int = 3,
    keep_nsfw: bool = False,
    karma_rule: str = "max",
    max_wait: float = 300.0,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    max_urls_in_memory: int = 200_000,
    **connect_kwargs,
):
    """Harvest live subreddit listings into `out/links/*.parquet` and `out/report.json` (like `harvest`)."""
    from webtext.reddit.harvest import STAGE, HarvestReport, harvest_records
    from webtext.reddit.links import HarvestOptions

    if not subreddits:
        raise ConfigError("live harvesting needs at least one --subreddit")
    names = [s.strip().removeprefix("r/") for s in subreddits]
    opts = HarvestOptions(until, min_karma=min_karma, keep_nsfw=keep_nsfw, karma_rule=karma_rule)
    if reddit is None:
        reddit = connect(**connect_kwargs)
    options = {**opts.to_dict(), "source": "live", "subreddits": names, "listing": listing, "limit": limit}
    report = HarvestReport(STAGE, options=options, files=[f"r/{n}/{listing}" for n in names])
    records = iter_live_records(
        reddit, names, listing=listing, limit=limit, time_filter=time_filter,
        max_wait=max_wait, max_retries=max_retries, sleep=sleep,
    )  # fmt: skip
    return harvest_records(
        records, opts, Path(out), report, max_urls_in_memory=max_urls_in_memory, progress_unit="submissions"
    )
