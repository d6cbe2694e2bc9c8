"""Filters, aggregation and Parquet I/O of the links table."""

from __future__ import annotations

import pytest

from webtext.errors import ConfigError
from webtext.reddit.dumps import month_end_utc
from webtext.reddit.links import (
    HarvestOptions,
    LinkAggregator,
    Submission,
    aggregate,
    classify,
    link_row,
    qualifies,
    read_links,
    write_links,
)

CAP = month_end_utc("2017-12")
OPTS = HarvestOptions("2017-12")


def rec(**kw) -> dict:
    base = {"id": "abc", "url": "https://News.Example.com:443/story/?b=2&a=1&utm_source=x#top", "score": 10,
            "created_utc": CAP - 1, "subreddit": "science", "is_self": False, "over_18": False}  # fmt: skip
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


# Each row: the record's changes -> the reason it is dropped (None: kept).
CASES = [
    ({}, None),
    ({"id": ...}, "missing_field"),
    ({"url": None}, "missing_field"),
    ({"created_utc": ...}, "missing_field"),
    ({"score": ...}, "missing_field"),
    ({"created_utc": "yesterday"}, "bad_field"),
    ({"score": "lots"}, "bad_field"),
    ({"url": 42}, "bad_field"),
    ({"created_utc": CAP}, "after_until"),
    ({"created_utc": str(CAP + 5)}, "after_until"),
    ({"created_utc": float(CAP - 1) + 0.9}, None),  # float before the cap
    ({"created_utc": str(CAP - 100)}, None),  # string era
    ({"score": 2}, "low_karma"),
    ({"score": "3"}, None),
    ({"removed_by_category": "deleted"}, "deleted"),
    ({"removed_by_category": "moderator"}, "removed"),
    ({"selftext": "[deleted]"}, "deleted"),
    ({"title": "[removed]"}, "removed"),
    ({"author": "[deleted]"}, None),  # account gone, link stands
    ({"is_self": True}, "self_post"),
    ({"is_self": ..., "domain": "self.science"}, "self_post"),
    ({"over_18": True}, "nsfw"),
    ({"over_18": "true"}, "nsfw"),
    ({"url": "ftp://files.example.com/x"}, "bad_url"),
    ({"url": "javascript:alert(1)"}, "bad_url"),
    ({"url": "http:///nohost"}, "bad_url"),
    ({"url": "https://www.reddit.com/r/science/comments/1/x/"}, "reddit_link"),
    ({"url": "https://i.redd.it/abc.jpeg"}, "reddit_link"),
    ({"url": "https://v.redd.it/abc"}, "reddit_link"),
    ({"url": "https://redd.it/abc"}, "reddit_link"),
    ({"url": "https://en.wikipedia.org/wiki/GPT-2"}, "wikipedia"),
    ({"url": "http://de.m.wikipedia.org/wiki/X"}, "wikipedia"),
    ({"url": "http://example.com/pics/cat.JPG"}, "blocked_extension"),
    ({"url": "http://example.com/song.mp3?x=1"}, "blocked_extension"),
    ({"url": "http://example.com/dump.tar.gz"}, "blocked_extension"),
    ({"url": "http://example.com/a%20photo.png"}, "blocked_extension"),
    ({"url": "http://example.com/article.html"}, None),
    ({"url": "https://i.imgur.com/abc"}, "blocked_domain"),
    ({"url": "https://www.youtube.com/watch?v=x"}, "blocked_domain"),
    ({"url": "https://youtu.be/x"}, "blocked_domain"),
    ({"url": "https://notyoutube.com/watch"}, None),  # a suffix match needs a dot boundary
]


@pytest.mark.parametrize("changes,reason", CASES)
def test_classify_reasons(changes, reason):
    sub, got = classify(rec(**changes), OPTS)
    assert got == reason
    assert (sub is None) == (reason is not None)


def test_classify_normalises_and_types():
    sub, _ = classify(rec(created_utc=f"{CAP - 10}.0", score="12"), OPTS)
    assert sub == Submission("abc", "https://news.example.com/story/?a=1&b=2", "news.example.com", "science", CAP - 10, 12)


def test_reddit_html_escaping_is_undone_but_only_that():
    sub, _ = classify(rec(url="http://www.nytimes.com/x.html?ex=1&amp;en=c0&amp;ei=5090"), OPTS)
    assert sub.url == "http://www.nytimes.com/x.html?ei=5090&en=c0&ex=1"
    sub, _ = classify(rec(url="http://example.com/p?a=1&copy=2"), OPTS)  # html.unescape would make this "©=2"
    assert sub.url == "http://example.com/p?a=1&copy=2"


def test_nsfw_kept_on_request_and_karma_bar_configurable():
    assert classify(rec(over_18=True), HarvestOptions("2017-12", keep_nsfw=True))[1] is None
    assert classify(rec(score=5), HarvestOptions("2017-12", min_karma=6))[1] == "low_karma"
    # Under the sum rule karma is judged per URL after aggregation, not per submission.
    assert classify(rec(score=0), HarvestOptions("2017-12", karma_rule="sum"))[1] is None


def test_options_validate():
    with pytest.raises(ConfigError):
        HarvestOptions("2017-12", karma_rule="mean")
    with pytest.raises(ConfigError):
        HarvestOptions("Dec 2017")


def test_link_row_aggregates_and_dedupes_ids():
    url = "https://example.com/a"
    subs = [
        Submission("b", url, "example.com", "news", 200, 5),
        Submission("a", url, "example.com", "science", 100, 3),
        Submission("b", url, "example.com", "news", 200, 9),  # same submission seen twice
        Submission("c", url, "example.com", "news", 150, 1),
    ]
    row = link_row(url, subs)
    assert row == {
        "url": url, "domain": "example.com", "subreddits": ["news", "science"], "reddit_ids": ["a", "c", "b"],
        "first_created_utc": 100, "score": 9, "score_sum": 13, "n_submissions": 3,
    }  # fmt: skip
    assert aggregate(url, [("x", 1, 1, "s"), ("x", 1, 1, "s")])[1] == 1


def test_qualifies_max_vs_sum():
    row = {"score": 2, "score_sum": 4}
    assert not qualifies(row, HarvestOptions("2017-12", karma_rule="max"))
    assert qualifies(row, HarvestOptions("2017-12", karma_rule="sum"))


def _in_memory_and_spilled(tmp_path, subs, *, max_urls: int, fan_in: int):
    """Two aggregators fed the same submissions: one holding everything, one spilling every
    `max_urls` URLs and merging `fan_in` runs at a time."""
    mem = LinkAggregator(tmp_path / "a", max_urls_in_memory=10**6)
    spill = LinkAggregator(tmp_path / "b", max_urls_in_memory=max_urls)
    spill.FAN_IN = fan_in
    for s in subs:
        mem.add(s)
        spill.add(s)
    return mem, spill


def test_aggregator_spills_and_merges_like_in_memory(tmp_path):
    subs = [
        Submission(f"id{i}", f"https://e{i % 37}.com/p{i % 11}", f"e{i % 37}.com", f"s{i % 3}", 1000 + i, i % 9)
        for i in range(2000)
    ]
    mem, spill = _in_memory_and_spilled(tmp_path, subs, max_urls=7, fan_in=4)  # multi-pass merging too
    a = [aggregate(u, e)[0] for u, e in mem.groups()]
    b = [aggregate(u, e)[0] for u, e in spill.groups()]
    assert spill._merges > 10 and len(spill.runs) <= 4 and not mem.runs
    assert a == b
    assert [r["url"] for r in a] == sorted({s.url for s in subs})
    assert sum(r["n_submissions"] for r in a) == len(subs)


def test_spilled_runs_give_back_the_entries_added(tmp_path):
    """The runs on disk round-trip each entry exactly (tuples of str, int, int, str; non-ASCII
    text; scores at the range's ends): every URL gets back the entries added for it."""
    subs = [
        Submission(f"id{i}", f"https://e{i % 5}.com/p", f"e{i % 5}.com", ["naïve", "日本", "", "s"][i % 4],
                   1_500_000_000 + (i * 7919) % 1000, [-(2**31) + 1, 2**31 - 1, 0, 3][i % 4])
        for i in range(60)
    ]
    mem, spill = _in_memory_and_spilled(tmp_path, subs, max_urls=2, fan_in=3)
    got, want = list(spill.groups()), list(mem.groups())
    assert spill._merges > 0 and [u for u, _ in got] == [u for u, _ in want]
    assert [sorted(e) for _, e in got] == [sorted(e) for _, e in want]  # (merge passes may reorder a URL's entries)
    assert all(type(e) is tuple for _, entries in got for e in entries)


def test_write_and_read_links(tmp_path):
    rows = [link_row(f"https://e.com/{i:03d}", [Submission(str(i), f"https://e.com/{i:03d}", "e.com", "s", i, 3)]) for i in range(25)]
    files = write_links(iter(rows), tmp_path / "links", rows_per_file=10)
    assert [f.name for f in files] == ["links-00000.parquet", "links-00001.parquet", "links-00002.parquet"]
    assert read_links(tmp_path / "links") == rows
    assert read_links(files[2]) == rows[20:]
    # Rewriting replaces the whole set (no stale files left behind), and empty output keeps the schema.
    files = write_links([], tmp_path / "links")
    assert [f.name for f in (tmp_path / "links").iterdir()] == ["links-00000.parquet"]
    assert read_links(tmp_path / "links") == []
    import pyarrow.parquet as pq

    assert pq.read_schema(files[0]).names[:2] == ["url", "domain"]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.reddit.com/r/x", "https://old.reddit.com/", "https://redd.it/x", "https://notreddit.com/",
        "https://en.m.wikipedia.org/wiki/X", "https://wikipedia.org/", "https://wikipedia.org.evil.com/",
        "http://www.Example.com:8080/a", "http://[2001:db8::1]:8080/x", "http://1.2.3.4/x", "https://bücher.de/x",
    ],
)  # fmt: skip
def test_fast_host_rules_agree_with_webtext_urls(url):
    from webtext.urls import domain_of, is_reddit, is_wikipedia

    sub, reason = classify(rec(url=url), OPTS)
    if is_reddit(url):
        assert reason == "reddit_link"
    elif is_wikipedia(url):
        assert reason == "wikipedia"
    else:
        assert reason is None and sub.domain == domain_of(sub.url)
