"""Submissions -> links: the filters (each drop has a reason), aggregation per URL, Parquet I/O.

## Filters

`classify(record, opts)` answers `(Submission, None)` or `(None, reason)`. The checks run in this
order and the first that fails names the reason, so every record is counted exactly once:

| reason                | the record is dropped when                                                      |
|-----------------------|----------------------------------------------------------------------------------|
| `missing_field`       | `id`, `url`, `created_utc` or `score` is absent or null                           |
| `bad_field`           | `created_utc` or `score` is not a number (int, float and numeric strings are fine) or out of range (`SCORE_LIMIT`, `CREATED_MAX`), or `url` is not a string; also, checked last (after `blocked_domain`), an `id` or `subreddit` that is no UTF-8 (a lone surrogate) |
| `after_until`         | `created_utc` >= the first instant (UTC) after the `until` month                  |
| `low_karma`           | `score` < `min_karma` (karma rule `max` only; under `sum` see below)               |
| `deleted`             | the post was deleted by its author: `removed_by_category == "deleted"`, or its title, URL or self text is `[deleted]` |
| `removed`             | removed by moderators, admins or filters: any other `removed_by_category`, or `[removed]` |
| `self_post`           | `is_self` is true, or `domain` is `self.<subreddit>`                              |
| `nsfw`                | `over_18` is true (kept with `keep_nsfw`)                                          |
| `bad_url`             | not an http(s) URL with a host, after Reddit's `&amp;` escaping is undone (see `webtext.urls.normalize_url`) |
| `reddit_link`         | a link into Reddit itself: reddit.com, redd.it, i.redd.it, v.redd.it, ...          |
| `wikipedia`           | any Wikipedia (WebText holds none; the cleaning stage checks again by final URL)   |
| `blocked_extension`   | the path ends in an image, video, audio, archive or binary extension (`BLOCKED_EXTENSIONS`) |
| `blocked_domain`      | the host is on `BLOCKED_DOMAINS` or a subdomain of one                             |

An account deleted after posting (`author == "[deleted]"`) is not a deleted post: the link and its
karma stand, so it is kept. Reading the files adds `malformed_json`, `not_an_object` and
`corrupt_file` (see `webtext.reddit.dumps`).

`low_karma` comes before the content checks on purpose: under the `max` rule most of Reddit is
below the bar, and dropping it before URL parsing is most of the harvest's speed. `drop_early`
applies the date cap and the karma bar to a whole batch of decoded records at once, exactly as
`classify` would, and leaves the rest to `classify`.

## The blocklists

`BLOCKED_EXTENSIONS` and `BLOCKED_DOMAINS` remove links whose target has no article text for the
extractors to find: image, video and audio files and the hosts that serve them (imgur, gfycat,
YouTube, Vimeo, Twitch, SoundCloud, ...), adult video hosts, and file lockers. Text sites that
merely embed media (news, blogs, Twitter) are not blocked; the fetch stage also drops any response
that is not HTML by its content type.

## Aggregation

Submissions are grouped by normalised URL into one row per URL (the links contract in DESIGN.md):
`url`, `domain`, `subreddits` (sorted, unique), `reddit_ids` (unique, ordered by creation time,
then id), `first_created_utc` (earliest), `score` (highest), `score_sum`, `n_submissions`. A
submission id seen twice (overlapping dumps, a dump and the live API) counts once, with its highest
score; the repeat is dropped as `duplicate_submission`.

Karma rules (`karma_rule`): `max` (WebText: a URL qualifies when one submission reaches
`min_karma`; submissions below the bar are dropped early, so `score_sum` and `n_submissions` count
only those at or above it) or `sum` (OpenWebText2: every valid submission is aggregated and the URL
qualifies when `score_sum` reaches `min_karma`; the submissions of URLs that do not are dropped as
`low_karma` at the end).

Memory: the aggregation state is one small entry per unique URL and submission, held in a dict of
at most `max_urls_in_memory` URLs. When the dict is full it is written to disk as a sorted run,
and at the end the runs are merged (an external merge sort), so memory stays flat however many
unique URLs a dump holds. Output rows come out sorted by URL whether or not anything was spilled,
and are written `rows_per_file` to a Parquet file (`links-00000.parquet`, ...): the same inputs
give the same files.
"""

from __future__ import annotations

import heapq
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import chain, compress, groupby, islice
from operator import itemgetter, not_
from pathlib import Path
from typing import Annotated, NamedTuple
from urllib.parse import unquote

import msgspec

from webtext.errors import ConfigError, InputError
from webtext.reddit.dumps import month_end_utc
from webtext.urls import REDDIT_DOMAINS, WIKIPEDIA_DOMAINS, host_of, normalize_url, unquote_path

KARMA_RULES = ("max", "sum")

# By the last suffix of the URL's (decoded) path, lowercased.
BLOCKED_EXTENSIONS = frozenset(
    {
        # images
        "jpg", "jpeg", "jpe", "png", "gif", "gifv", "webp", "bmp", "tif", "tiff", "svg", "ico", "heic", "heif", "avif",
        # video
        "mp4", "m4v", "webm", "mov", "avi", "mkv", "flv", "wmv", "mpg", "mpeg", "3gp", "ogv", "m3u8",
        # audio
        "mp3", "wav", "ogg", "oga", "flac", "m4a", "aac", "opus", "wma", "mid", "midi",
        # archives and binaries
        "zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "zst", "iso", "dmg", "exe", "msi", "apk", "deb", "rpm", "torrent",
    }
)  # fmt: skip

# A host matches when it is one of these or a subdomain of one (i.imgur.com, m.youtube.com, ...).
BLOCKED_DOMAINS = (
    # image hosts
    "imgur.com", "gfycat.com", "redgifs.com", "giphy.com", "tenor.com", "flickr.com", "photobucket.com",
    "tinypic.com", "imageshack.us", "imageshack.com", "imgbox.com", "postimg.cc", "ibb.co", "instagram.com",
    "pinterest.com", "500px.com", "deviantart.com",
    # video and audio hosts
    "youtube.com", "youtu.be", "youtube-nocookie.com", "vimeo.com", "dailymotion.com", "liveleak.com", "twitch.tv",
    "streamable.com", "vid.me", "tiktok.com", "soundcloud.com", "spotify.com", "mixcloud.com",
    # adult video hosts
    "pornhub.com", "xvideos.com", "xhamster.com", "xnxx.com", "redtube.com", "youporn.com", "onlyfans.com",
    # file lockers and downloads
    "mega.nz", "mega.co.nz", "mediafire.com", "dropbox.com", "drive.google.com", "rapidshare.com",
)  # fmt: skip

_EXTENSION = re.compile(r"\.([a-z0-9]{1,5})$")

# Host rules as suffix sets: a host matches a listed domain when it equals it or ends with
# "." + it, which is a membership test for each of its label suffixes (a.b.c.com -> a.b.c.com,
# b.c.com, c.com, com). The same rule as `webtext.urls.host_in`, with the same domain lists
# (`webtext.urls.REDDIT_DOMAINS`, `WIKIPEDIA_DOMAINS`), at a few set lookups per URL.
_REDDIT = frozenset(REDDIT_DOMAINS)
_WIKIPEDIA = frozenset(WIKIPEDIA_DOMAINS)
_BLOCKED = frozenset(BLOCKED_DOMAINS)


_MOST_LABELS = max(d.count(".") + 1 for d in (*_REDDIT, *_WIKIPEDIA, *_BLOCKED))


def _suffixes(host: str) -> list[str]:
    """The host and its suffixes of up to `_MOST_LABELS` labels: all a listed domain can equal."""
    labels = host.rsplit(".", _MOST_LABELS)
    return [".".join(labels[i:]) for i in range(len(labels))]


def _host_of_normalised(url: str) -> str:
    """The host of a URL from `normalize_url` (scheme://host[:port]/..., host lowercase, no user info)."""
    netloc = url.split("/", 3)[2]
    if netloc.startswith("["):  # IPv6 literal
        return netloc[1 : netloc.index("]")]
    return netloc.partition(":")[0]


def _domain_of_normalised(url: str) -> str:
    """`webtext.urls.domain_of` for a URL from `normalize_url`."""
    host = _host_of_normalised(url)
    return host[4:] if host.startswith("www.") else host


def _matches(suffixes: list[str], domains: frozenset) -> bool:
    return not domains.isdisjoint(suffixes)


@lru_cache(maxsize=1 << 16)
def _host_listed(host: str) -> str:
    """Which host list `host` is on, as the reason it gives: `reddit_link`, `wikipedia` or
    `blocked_domain` (in that order), or "". Cached: a dump names the same hosts over and over."""
    suffixes = _suffixes(host)
    if _matches(suffixes, _REDDIT):
        return "reddit_link"
    if _matches(suffixes, _WIKIPEDIA):
        return "wikipedia"
    if _matches(suffixes, _BLOCKED):
        return "blocked_domain"
    return ""


# ---------------------------------------------------------------------------------------------
# Options and submissions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarvestOptions:
    """What a harvest keeps. `until` is a month, YYYY-MM: records created after it are dropped."""

    until: str
    min_karma: int = 3
    keep_nsfw: bool = False
    karma_rule: str = "max"
    cap_utc: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.karma_rule not in KARMA_RULES:
            raise ConfigError(f"karma rule must be one of {KARMA_RULES}, not {self.karma_rule!r}")
        if isinstance(self.min_karma, bool) or not isinstance(self.min_karma, int):
            raise ConfigError(f"min karma must be an integer, not {self.min_karma!r}")
        object.__setattr__(self, "cap_utc", month_end_utc(self.until))

    def to_dict(self) -> dict:
        return {"until": self.until, "min_karma": self.min_karma, "keep_nsfw": self.keep_nsfw, "karma_rule": self.karma_rule}


class Submission(NamedTuple):
    """One submission that passed the filters; `url` is normalised. (A named tuple: immutable, and
    the cheapest object Python builds, once per kept record.)"""

    id: str
    url: str
    domain: str
    subreddit: str
    created_utc: int
    score: int


# Submission(...) without the Python-level __new__ a named tuple has: once per kept record.
_submission = partial(tuple.__new__, Submission)


class RecordFields(msgspec.Struct, gc=False):
    """The fields of a Pushshift submission that `classify` reads, and nothing else.

    Dumps are decoded straight into this (`dumps.iter_records(fields=RecordFields)`): msgspec
    skips the other ~30 fields of a record without building them, which is most of the harvest's
    speed. The types are the ones Pushshift's eras use (`created_utc` and `score` as int, float or
    numeric string; booleans as JSON booleans or strings); a record with any other type in these
    fields is refused by the decoder and read again as a plain dict, so `classify` sees every
    record either way. `get` makes it read like the dict it replaces.
    """

    id: str | None = None
    url: str | None = None
    created_utc: int | float | str | None = None
    score: int | float | str | None = None
    removed_by_category: str | None = None
    title: str | None = None
    selftext: str | None = None
    is_self: bool | str | None = None
    over_18: bool | str | None = None
    domain: str | None = None
    subreddit: str | None = None

    def get(self, key: str, default=None):
        value = getattr(self, key, None)
        return default if value is None else value

    @classmethod
    def of(cls, record) -> "RecordFields":
        """The fields of a decoded record (a dict from the live API or a JSON-array dump), as they
        are: the struct does not check types on construction, `classify` does."""
        if type(record) is cls:
            return record
        get = record.get
        return cls(*(get(name) for name in cls.__struct_fields__))


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------


def _as_int(value) -> int | None:
    """int, float and numeric strings (all three occur in Pushshift's eras) -> int; else None."""
    if type(value) is int:  # the common case first
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                f = float(value)
            except ValueError:
                return None
            return int(f) if f == f and abs(f) != float("inf") else None
    return None


# The ranges a record's numbers must lie in to be written (else `bad_field`). The links table holds
# `score` and `score_sum` as int64 and `first_created_utc` as int64 milliseconds: a score or time
# outside these ranges (1e30, 2**70, a time before 1970) would make the Parquet write fail, so it is
# a bad record, counted, never a crash. Real scores are well inside +-2**31, and with each score
# there the sum over a URL cannot leave int64 (that would take 2**32 submissions of one URL).
SCORE_LIMIT = 2**31  # -SCORE_LIMIT < score < SCORE_LIMIT
CREATED_MAX = 253402300799  # 9999-12-31T23:59:59Z: 0 <= created_utc <= CREATED_MAX


class RecordKeys(msgspec.Struct, gc=False):
    """The fields `classify` reads up to its `low_karma` check, as a plain record has them: what
    the harvest decodes first for every line of a dump (`dumps.iter_records(keys=RecordKeys)`).

    Strict on purpose: a run of lines decodes into it only if every record in it is plain - a
    non-empty string `id`, a string `url`, int `created_utc` and `score` in the range `classify`
    accepts (`CREATED_MAX`, `SCORE_LIMIT`) - so that nothing before the date cap and the karma bar
    can fire on any of them, and `drop_early_keys` decides each with two comparisons. A run with
    any other record (a missing field, another era's types, a number out of range) is refused as a
    whole and read into `RecordFields` as before. The rest of `RecordFields` is decoded only for
    the records these two checks leave (`dumps.KeyedRun.complete`).
    """

    id: Annotated[str, msgspec.Meta(min_length=1)]
    url: str
    created_utc: Annotated[int, msgspec.Meta(ge=0, le=CREATED_MAX)]
    score: Annotated[int, msgspec.Meta(gt=-SCORE_LIMIT, lt=SCORE_LIMIT)]


def _writable(*texts: str) -> bool:
    """True when every text can be written as UTF-8 (a lone UTF-16 surrogate, which `json.loads`
    accepts as `"\\ud800"`, cannot)."""
    for text in texts:
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


_GONE = ("[deleted]", "[removed]")


def _deleted_or_removed(r: RecordFields) -> str | None:
    category = r.removed_by_category
    if category:
        return "deleted" if category == "deleted" else "removed"
    for value in (r.title, r.url, r.selftext):
        if value == "[deleted]":
            return "deleted"
        if value == "[removed]":
            return "removed"
    return None


def unescape_reddit(text: str) -> str:
    """Undo Reddit's HTML escaping of `&`, `<` and `>` (`&amp;` -> `&`), and nothing else.

    `html.unescape` would be wrong here: it also decodes bare legacy entities, turning a real
    query such as `?a=1&copy=2` into `?a=1©=2`.
    """
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocked_extension(url: str) -> bool:
    """True when the URL's path ends in an image, video, audio, archive or binary extension."""
    m = _EXTENSION.search(unquote_path(url).lower())
    return bool(m) and m.group(1) in BLOCKED_EXTENSIONS


def _blocked_extension_normalised(url: str) -> bool:
    """`blocked_extension` for a URL from `normalize_url` (no fragment; the path is after the host)."""
    end = url.find("?")
    if end < 0:
        end = len(url)
    dot = url.rfind(".", 0, end)
    if dot < url.rfind("/", 0, end):  # no dot in the last segment of the path: no extension
        return False
    if url.find("%", 0, end) < 0:  # nothing escaped: the extension is what follows the dot
        return url[dot + 1 : end].lower() in BLOCKED_EXTENSIONS
    parts = url.split("/", 3)
    path = parts[3].partition("?")[0] if len(parts) > 3 else ""
    if "." not in path:
        return False
    if "%" in path:
        path = unquote(path)
    m = _EXTENSION.search(path.lower())
    return bool(m) and m.group(1) in BLOCKED_EXTENSIONS


def blocked_domain(url: str) -> bool:
    """True when the URL's host is on `BLOCKED_DOMAINS` (or below one)."""
    return _matches(_suffixes(host_of(url)), _BLOCKED)


def classify(record, opts: HarvestOptions) -> tuple[Submission | None, str | None]:
    """`(Submission, None)` for a record that passes every filter, else `(None, reason)`.

    `record` is a `RecordFields` (as the dumps are decoded) or a dict (the live API, JSON-array
    dumps, Beam elements); both go through the same checks."""
    r = record if type(record) is RecordFields else RecordFields.of(record)
    rid, url, created, score = r.id, r.url, r.created_utc, r.score
    if rid is None or url is None or created is None or score is None or rid == "":
        return None, "missing_field"
    if type(created) is not int:  # int is the common case: no call for it
        created = _as_int(created)
    if type(score) is not int:
        score = _as_int(score)
    if created is None or score is None or not isinstance(url, str):
        return None, "bad_field"
    if not (0 <= created <= CREATED_MAX and -SCORE_LIMIT < score < SCORE_LIMIT):  # see SCORE_LIMIT
        return None, "bad_field"
    if created >= opts.cap_utc:
        return None, "after_until"
    if score < opts.min_karma and opts.karma_rule == "max":
        return None, "low_karma"
    if r.removed_by_category or r.title in _GONE or url in _GONE or r.selftext in _GONE:  # (most: none)
        return None, _deleted_or_removed(r)
    is_self, over_18 = r.is_self, r.over_18  # booleans, or strings in some eras: _truthy reads those
    if is_self is True or (is_self and _truthy(is_self)) or str(r.domain or "").startswith("self."):
        return None, "self_post"
    if not opts.keep_nsfw and (over_18 is True or (over_18 and _truthy(over_18))):
        return None, "nsfw"
    if "&" in url:  # Pushshift (and the API without raw_json) HTML-escape &, < and > in URLs
        url = unescape_reddit(url)
    try:
        url = normalize_url(url)
    except ValueError:
        return None, "bad_url"
    host = _host_of_normalised(url)
    listed = _host_listed(host)
    if listed == "reddit_link" or listed == "wikipedia":
        return None, listed
    if _blocked_extension_normalised(url):
        return None, "blocked_extension"
    if listed:
        return None, listed
    subreddit = r.subreddit
    subreddit = subreddit if isinstance(subreddit, str) else str(subreddit or "")
    rid = str(rid)
    # Checked last: only the few records that get this far. (`url` is ASCII: `normalize_url`
    # percent-escapes its path and query and IDNA-encodes its host.)
    if not (rid.isascii() and subreddit.isascii()) and not _writable(rid, subreddit):
        return None, "bad_field"
    domain = host[4:] if host.startswith("www.") else host  # as webtext.urls.domain_of
    return _submission((rid, url, domain, subreddit, created, score)), None


def drop_early(batch: list, opts: HarvestOptions) -> tuple[list, int, int]:
    """`classify`'s first checks on a whole batch at once: `(rest, after_until, low_karma)`.

    Most records of a dump fall at the date cap or the karma bar, and almost all of them are plain
    (decoded into `RecordFields` with an int `created_utc` and `score`, a string `url`, a
    non-empty `id`). This takes those out in one comprehension, with no call per record, and
    counts them; everything else (dicts, other types, records past both checks) is in `rest`, in
    batch order, for `classify`. A record is taken out only where `classify` would answer the same
    reason: the checks before `after_until` (`missing_field`, `bad_field`) cannot fire on a plain
    record (in-range int `created_utc` and `score`, checked here too). `low_karma` is taken out only under the `max` rule.
    """
    codes = _early_codes(batch, opts)
    return list(compress(batch, map(not_, codes))), codes.count(_AFTER_UNTIL), codes.count(_LOW_KARMA)


def drop_early_keys(keys: list, opts: HarvestOptions) -> tuple[list[int], int, int]:
    """`drop_early` for the `RecordKeys` of a `dumps.KeyedRun`: `(indices left, after_until,
    low_karma)`, the indices (ascending) being the records `classify` must see in full. Every
    `RecordKeys` is plain by its type, so two comparisons decide each record."""
    cap, after, below = opts.cap_utc, _AFTER_UNTIL, _LOW_KARMA
    # Under `sum` nothing is low_karma yet: no score in a RecordKeys is below -SCORE_LIMIT.
    bar = opts.min_karma if opts.karma_rule == "max" else -SCORE_LIMIT
    codes = [after if r.created_utc >= cap else below if r.score < bar else 0 for r in keys]
    return list(compress(range(len(codes)), map(not_, codes))), codes.count(after), codes.count(below)


_AFTER_UNTIL, _LOW_KARMA = 1, 2


def _early_codes(records: list, opts: HarvestOptions) -> list[int]:
    """Per record: `_AFTER_UNTIL` or `_LOW_KARMA` where `classify` answers that reason and the
    record is plain (a `RecordFields` with int `created_utc` and `score` in range, str `url`, non-empty
    `id`: nothing before those checks can fire), else 0 (left to `classify`)."""
    cap, top, low, high = opts.cap_utc, CREATED_MAX, -SCORE_LIMIT, SCORE_LIMIT
    # Under `sum` nothing is low_karma yet (`s < low` never holds for a score in range).
    bar = min(opts.min_karma, high) if opts.karma_rule == "max" else low
    after, below, plain = _AFTER_UNTIL, _LOW_KARMA, RecordFields
    return [
        0
        if type(r) is not plain
        or type(c := r.created_utc) is not int
        or type(s := r.score) is not int
        or type(r.url) is not str
        or not r.id
        or not 0 <= c <= top
        or not low < s < high
        else after
        if c >= cap
        else below
        if s < bar
        else 0
        for r in records
    ]


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------

# The per-URL state is a list of these compact tuples: (id, created_utc, score, subreddit).
Entry = tuple


def _entry(sub: Submission) -> Entry:
    return (sub.id, sub.created_utc, sub.score, sub.subreddit)


LINK_COLUMNS = ("url", "domain", "subreddits", "reddit_ids", "first_created_utc", "score", "score_sum", "n_submissions")


def aggregate(url: str, entries: Iterable[Entry]) -> tuple[dict, int]:
    """One links row from a (normalised) URL's entries, and how many entries repeated an id already seen."""
    values, repeats = aggregate_values(url, entries)
    return dict(zip(LINK_COLUMNS, values)), repeats


def aggregate_values(url: str, entries: Iterable[Entry]) -> tuple[tuple, int]:
    """`aggregate` as a tuple of the row's values in `LINK_COLUMNS` order (no dict per row)."""
    if type(entries) is list and len(entries) == 1:  # most URLs are submitted once
        rid, created, score, subreddit = entries[0]
        return (url, _domain_of_normalised(url), [subreddit] if subreddit else [], [rid], created, score, score, 1), 0
    by_id: dict[str, list] = {}
    n = 0
    for rid, created, score, subreddit in entries:
        n += 1
        seen = by_id.get(rid)
        if seen is None:
            by_id[rid] = [created, score, subreddit]
        else:  # the same submission twice: earliest time, highest score
            seen[0] = min(seen[0], created)
            seen[1] = max(seen[1], score)
    subs = sorted(by_id.items(), key=lambda kv: (kv[1][0], kv[0]))
    row = (
        url,
        _domain_of_normalised(url),
        sorted({s for _, (_, _, s) in subs if s}),
        [rid for rid, _ in subs],
        subs[0][1][0],
        max(v[1] for _, v in subs),
        sum(v[1] for _, v in subs),
        len(subs),
    )
    return row, n - len(subs)


def link_row(url: str, subs: list[Submission]) -> dict:
    """The links-table row for `url` from its submissions (repeated ids count once)."""
    if not subs:
        raise ValueError(f"no submissions for {url}")
    return aggregate(url, (_entry(s) for s in subs))[0]


def qualifies(row: dict | tuple, opts: HarvestOptions) -> bool:
    """The karma rule on an aggregated row (a dict, or `aggregate_values`' tuple): `max` looks at
    the best submission, `sum` at the total."""
    if type(row) is tuple:
        value = row[5] if opts.karma_rule == "max" else row[6]
    else:
        value = row["score"] if opts.karma_rule == "max" else row["score_sum"]
    return value >= opts.min_karma


class LinkAggregator:
    """Groups submissions by URL with bounded memory (an external merge sort; see the module doc).

    `add()` each submission, then iterate `groups()` once: `(url, entries)` sorted by URL.
    """

    FAN_IN = 64  # runs merged at once

    def __init__(self, spill_dir: str | os.PathLike, max_urls_in_memory: int = 200_000):
        if max_urls_in_memory < 1:
            raise ConfigError("max_urls_in_memory must be at least 1")
        self.spill_dir = Path(spill_dir)
        self.max_urls = max_urls_in_memory
        self.table: dict[str, list[Entry]] = {}
        self.runs: list[Path] = []
        self._merges = 0

    def add(self, sub: Submission) -> None:
        rid, url, _, subreddit, created, score = sub
        bucket = self.table.get(url)
        if bucket is None:
            if len(self.table) >= self.max_urls:
                self._spill()
            self.table[url] = [(rid, created, score, subreddit)]  # an Entry, as _entry builds it
        else:
            bucket.append((rid, created, score, subreddit))

    def _spill(self) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        path = self.spill_dir / f"run-{len(self.runs):05d}.jsonl"
        table = self.table
        self.table = {}
        self._write_run(path, ((url, table[url]) for url in sorted(table)))
        self.runs.append(path)

    @staticmethod
    def _write_run(path: Path, groups: Iterable[tuple[str, list[Entry]]]) -> None:
        """A sorted run: one JSON array `[url, [[id, created_utc, score, subreddit], ...]]` per line."""
        encode_lines = _RUN_ENCODER.encode_lines
        with open(path, "wb") as f:
            while chunk := list(islice(groups, 4096)):
                f.write(encode_lines(chunk))

    @staticmethod
    def _read_run(path: Path) -> Iterator[tuple[str, list]]:
        """A run's `(url, entries)` in order, decoded a block of lines at a time (entries as tuples)."""
        decode_lines = _RUN_DECODER.decode_lines
        with open(path, "rb") as f:
            pending = b""
            while block := f.read(1 << 20):
                block = pending + block
                cut = block.rfind(b"\n") + 1
                pending = block[cut:]
                if cut:
                    yield from decode_lines(block[:cut])
            if pending:
                yield from decode_lines(pending)

    def groups(self) -> Iterator[tuple[str, list[Entry]]]:
        if not self.runs:
            table, self.table = self.table, {}
            urls = sorted(table)
            yield from zip(urls, map(table.__getitem__, urls))  # no Python frame per URL
            return
        if self.table:
            self._spill()
        # Merge at most FAN_IN runs at a time (open files stay few however big the dump): runs
        # beyond that are first merged into longer runs, then the last pass streams the groups.
        while len(self.runs) > self.FAN_IN:
            batch, self.runs = self.runs[: self.FAN_IN], self.runs[self.FAN_IN :]
            path = self.spill_dir / f"run-m{self._merges:05d}.jsonl"
            self._merges += 1
            self._write_run(path, self._merge(batch))
            for p in batch:
                p.unlink()
            self.runs.append(path)
        yield from self._merge(self.runs)

    def _merge(self, runs: list[Path]) -> Iterator[tuple[str, list[Entry]]]:
        # By URL (a C itemgetter, no Python call per item); a URL in several runs comes from the
        # earlier run first, so its entries keep the order they were added in.
        merged = heapq.merge(*(self._read_run(p) for p in runs), key=_first)
        for url, items in groupby(merged, key=_first):
            first = next(items)[1]
            rest = [e for _, entries in items for e in entries]
            yield url, first + rest if rest else first


_first = itemgetter(0)
# A spilled run's lines, (url, entries) with each entry (id, created_utc, score, subreddit): what
# LinkAggregator.add builds. msgspec decodes a block of lines into exactly those tuples.
_RUN_ENCODER = msgspec.json.Encoder()
_RUN_DECODER = msgspec.json.Decoder(tuple[str, list[tuple[str, int, int, str]]])


# ---------------------------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------------------------

ROWS_PER_FILE = 1_000_000
ROWS_PER_GROUP = 20_000  # rows per Parquet row group; also the most rows held before writing


def links_schema():
    """The links table's schema; each field has its description in the Parquet field metadata.
    `first_created_utc` is a UTC timestamp on disk and epoch seconds in the rows (`read_links`)."""
    import pyarrow as pa

    def f(name, typ, desc):
        return pa.field(name, typ, metadata={"description": desc})

    return pa.schema(
        [
            f("url", pa.string(), "the normalised outbound URL"),
            f("domain", pa.string(), "host of `url`, lower case, without a leading www."),
            f("subreddits", pa.list_(pa.string()), "subreddits of the submissions that posted the URL"),
            f("reddit_ids", pa.list_(pa.string()), "ids of the submissions that posted the URL"),
            f("first_created_utc", pa.timestamp("ms", tz="UTC"), "creation time of the earliest of those submissions"),
            f("score", pa.int64(), "highest score of those submissions"),
            f("score_sum", pa.int64(), "sum of their scores"),
            f("n_submissions", pa.int32(), "how many submissions posted the URL"),
        ]
    )


def write_links(rows: Iterable[dict], out_dir: str | os.PathLike, *, rows_per_file: int = ROWS_PER_FILE) -> list[Path]:
    """Write rows (already in the order wanted) to `out_dir/links-00000.parquet`, ... atomically.

    The files are written into a temporary folder next to `out_dir`, which then replaces `out_dir`
    as a whole: a reader sees the old set of files or the new one, never a mix. An empty input
    still writes one (empty) file, so the schema is always there.
    """
    with LinksWriter(out_dir, rows_per_file=rows_per_file) as writer:
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= ROWS_PER_GROUP:
                writer.extend({n: [r[n] for r in batch] for n in LINK_COLUMNS})
                batch = []
        if batch:
            writer.extend({n: [r[n] for r in batch] for n in LINK_COLUMNS})
    return writer.files


class LinksWriter:
    """`write_links` for rows that come as columns: `extend({name: [values], ...})`, in order.

    Row groups and files are cut exactly where `write_links` cuts them (every `ROWS_PER_GROUP`
    rows, and at `rows_per_file`), so the same rows give the same bytes however they come in. Used as
    a context manager: on a clean exit the folder replaces `out_dir` (`files` names what it holds);
    on an error nothing replaces it.
    """

    def __init__(self, out_dir: str | os.PathLike, *, rows_per_file: int = ROWS_PER_FILE):
        self.out_dir = Path(out_dir)
        self.rows_per_file = rows_per_file
        self.schema = links_schema()
        self.files: list[Path] = []
        self._tmp = self.out_dir.with_name(f".{self.out_dir.name}.tmp-{os.getpid()}")
        self._names: list[str] = []
        self._writer = None
        self._in_file = 0
        self._buffer: dict[str, list] = {n: [] for n in self.schema.names}
        self._buffered = 0

    def __enter__(self) -> "LinksWriter":
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir()
        return self

    def extend_rows(self, rows: list[tuple]) -> None:
        """Rows as tuples of their values in `LINK_COLUMNS` order."""
        if rows:
            self.extend(dict(zip(LINK_COLUMNS, zip(*rows))))

    def extend(self, columns: dict[str, list]) -> None:
        """Rows as columns: `{name: values}` for each name in `LINK_COLUMNS`, all of one length."""
        k = len(columns["url"])
        i = 0
        while i < k:
            take = min(ROWS_PER_GROUP - self._buffered, self.rows_per_file - self._in_file, k - i)
            for name, values in columns.items():
                self._buffer[name] += values[i : i + take]
            i += take
            self._buffered += take
            self._in_file += take
            if self._buffered >= ROWS_PER_GROUP or self._in_file >= self.rows_per_file:
                self._flush()
            if self._in_file >= self.rows_per_file:
                self._writer.close()
                self._writer, self._in_file = None, 0

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            name = f"links-{len(self._names):05d}.parquet"
            self._names.append(name)
            self._writer = pq.ParquetWriter(self._tmp / name, self.schema, compression="zstd")
        arrays = [_arrow_column(self._buffer[f.name], f.type) for f in self.schema]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self._buffer = {n: [] for n in self.schema.names}
        self._buffered = 0

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                if self._buffered or not self._names:  # an empty table still gets its file
                    self._flush()
            except BaseException:
                self._abort()
                raise
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if exc_type is not None:
            self._abort()
            return
        old = self.out_dir.with_name(f".{self.out_dir.name}.old-{os.getpid()}")
        if self.out_dir.exists():
            os.replace(self.out_dir, old)
        os.replace(self._tmp, self.out_dir)
        shutil.rmtree(old, ignore_errors=True)
        self.files = [self.out_dir / n for n in self._names]

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        shutil.rmtree(self._tmp, ignore_errors=True)


_TIME_SCALE = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}


def _arrow_column(values: list, typ):
    """A Python list as an Arrow array of `typ`, built from its buffers where the values are the
    plain kind the links table holds (str, lists of str, int; times as int epoch seconds).

    Why not `pa.array`: its first call imports pandas (to ask whether the input is a pandas
    object), ~0.3 CPU-s, a tenth of a harvest of a million records. Anything else (None, floats,
    datetimes, out of range) goes through `pa.array`, which checks and converts it as before.
    """
    import numpy as np
    import pyarrow as pa

    n = len(values)
    try:
        if pa.types.is_string(typ):
            return _strings(values)
        if pa.types.is_list(typ) and pa.types.is_string(typ.value_type):
            offsets = np.zeros(n + 1, np.int32)
            np.cumsum(np.fromiter(map(len, values), np.int64, n), out=offsets[1:])
            child = _strings(list(chain.from_iterable(values)))
            return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets)], children=[child])
        if pa.types.is_integer(typ) or pa.types.is_timestamp(typ):
            ints = np.array(values, dtype=object if not n else None)
            if n and ints.dtype == np.int64:
                if pa.types.is_timestamp(typ):  # epoch seconds in memory, `typ.unit` on disk
                    scale, width = _TIME_SCALE[typ.unit], np.int64
                else:
                    scale, width = 1, np.dtype(f"int{typ.bit_width}")
                limit = np.iinfo(width).max // scale
                if -limit <= ints.min() and ints.max() <= limit:
                    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer((ints * scale).astype(width))])
    except (TypeError, ValueError, OverflowError):
        pass
    from webtext.shards import epoch_to_unit

    if pa.types.is_timestamp(typ):
        values = epoch_to_unit(values, typ.unit)
    return pa.array(values, type=typ)


def _strings(values: list[str]):
    """A string array from its two buffers: the UTF-8 bytes end to end, and where each one ends."""
    import numpy as np
    import pyarrow as pa

    n = len(values)
    joined = "".join(values)  # TypeError for anything but str: the caller falls back
    if joined.isascii():
        data = joined.encode("ascii")
        lengths = np.fromiter(map(len, values), np.int64, n)
    else:
        encoded = [v.encode("utf-8") for v in values]
        data = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), np.int64, n)
    if len(data) >= 2**31:
        raise OverflowError("more than 2 GiB of strings in one row group")
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def read_links(path_or_dir: str | os.PathLike) -> list[dict]:
    """Rows of a links Parquet file, or of every `*.parquet` in a folder (in file-name order);
    `first_created_utc` as epoch seconds."""
    import pyarrow.parquet as pq

    from webtext.shards import timestamps_to_epoch

    path = Path(path_or_dir)
    if path.is_dir():
        files = sorted(path.glob("*.parquet"))
        if not files:
            raise InputError("no links Parquet files here", path=str(path))
    elif path.is_file():
        files = [path]
    else:
        raise InputError("no such links file or folder", path=str(path))
    rows: list[dict] = []
    for f in files:
        try:
            rows.extend(timestamps_to_epoch(pq.read_table(f)).to_pylist())
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"unreadable Parquet file: {exc}", path=str(f)) from None
    return rows
