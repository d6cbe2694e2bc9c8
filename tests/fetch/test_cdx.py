"""The capture rule, CDX answers, Common Crawl crawl brackets and archive header clean-up (no servers)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from webtext.errors import ConfigError
from webtext.fetch.archive import (
    archived_headers,
    cc_index_url,
    original_url_from_location,
    parse_source,
    wayback_cdx_url,
    wayback_playback_url,
)
from webtext.fetch.ccindex import bracketing_crawls, crawl_date
from webtext.fetch.cdx import Capture, choose_capture, parse_cdx, rank_captures

U = "http://news.example.com/story"


def t(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp()


def cap(ts: str, status=200, url=U) -> Capture:
    return Capture(timestamp=ts, url=url, status=status)


CAPS = [cap("20170105100000"), cap("20170301100000"), cap("20170601100000")]


@pytest.mark.parametrize(
    "submitted, chosen, why",
    [
        ("2017-03-10", "20170301100000", "A: at or before, within 30 days"),
        ("2017-03-01T10:00:00", "20170301100000", "A: the exact second counts as before"),
        ("2017-02-20", "20170301100000", "B: 9 days after beats 46 days before"),
        ("2017-05-20", "20170601100000", "B: 12 days after beats 80 days before"),
        ("2017-12-01", "20170601100000", "C: nothing within the window: the latest older capture"),
        ("2016-06-01", "20170105100000", "D: nothing before: the earliest newer capture"),
    ],
)
def test_rule_tiers(submitted, chosen, why):
    assert choose_capture(CAPS, t(submitted)).timestamp == chosen, why


def test_window_is_configurable():
    # with a 90-day window, 2017-03-01 (80 days before 2017-05-20) is in tier A and wins
    assert choose_capture(CAPS, t("2017-05-20"), window_days=90).timestamp == "20170301100000"


def test_pages_and_redirects_beat_errors_even_when_further_away():
    caps = [cap("20170309000000", 404), cap("20170101000000", 200), cap("20170305000000", 503)]
    assert choose_capture(caps, t("2017-03-10")).timestamp == "20170101000000"
    caps.append(cap("20170308000000", 301))
    assert choose_capture(caps, t("2017-03-10")).status == 301
    # only errors: the closest error capture (an archived 404 is the outcome, like a live 404)
    only_errors = [cap("20170309000000", 404), cap("20160101000000", 410)]
    assert choose_capture(only_errors, t("2017-03-10")).status == 404


def test_no_capture_or_only_statusless_lines_is_a_miss():
    assert choose_capture([], t("2017-03-10")) is None
    assert choose_capture([cap("20170309000000", None)], t("2017-03-10")) is None


def test_exact_spelling_preferred_over_canonical_variants():
    # the CDX key of http://x/ and https://x/ is the same: looking up the https target of an
    # archived http -> https redirect must not pick the redirect again
    https = "https://news.example.com/story"
    caps = [cap("20170309000000", 301, U), cap("20170309000001", 200, https)]
    assert choose_capture(caps, t("2017-03-10"), url=https).url == https
    assert choose_capture(caps, t("2017-03-10"), url=U).status == 301
    # a spelling with no exact capture uses the variants
    assert choose_capture(caps, t("2017-03-10"), url="http://www.news.example.com/story") is not None


def test_parse_cdx_both_shapes_and_junk():
    ndjson = (
        '{"urlkey": "com,example)/", "timestamp": "20170301100000", "url": "http://example.com/", "mime": "text/html", '
        '"status": "200", "digest": "X", "length": "358", "offset": "360", "filename": "a.warc.gz"}\n'
        "not json\n"
        '{"timestamp": "20170302100000", "url": "http://example.com/", "status": "-"}\n'
    )
    a, b = parse_cdx(ndjson.encode())
    assert (a.status, a.filename, a.offset, a.length) == (200, "a.warc.gz", 360, 358)
    assert b.status is None
    ia = '[["urlkey","timestamp","original","mimetype","statuscode","digest","length"],' \
         '["com,example)/","20170301100000","http://example.com/","text/html","301","Y","400"]]'
    (c,) = parse_cdx(ia)
    assert (c.url, c.status, c.mime) == ("http://example.com/", 301, "text/html")
    assert parse_cdx(b"") == [] and parse_cdx("[]") == []


def test_crawl_dates_and_brackets():
    assert datetime.fromtimestamp(crawl_date("CC-MAIN-2017-51"), tz=timezone.utc).date().isoformat() == "2017-12-18"
    crawls = ["CC-MAIN-2017-09", "CC-MAIN-2017-22", "CC-MAIN-2017-47"]
    assert bracketing_crawls(crawls, t("2017-03-10")) == ["CC-MAIN-2017-09", "CC-MAIN-2017-22"]
    assert bracketing_crawls(crawls, t("2017-12-25")) == ["CC-MAIN-2017-47"]
    assert bracketing_crawls(crawls, t("2016-01-01")) == ["CC-MAIN-2017-09"]
    with pytest.raises(ConfigError):
        crawl_date("CC-MAIN-2017")


def test_sources_and_endpoints():
    assert parse_source("commoncrawl:CC-MAIN-2017-47,CC-MAIN-2017-51").crawls == ("CC-MAIN-2017-47", "CC-MAIN-2017-51")
    assert parse_source("archive-then-live").archive == "wayback"
    assert parse_source(None).archive is None
    for bad in ("waybak", "wayback:CC-MAIN-2017-47", "commoncrawl:2017-47"):
        with pytest.raises(ConfigError):
            parse_source(bad)
    assert wayback_cdx_url("https://web.archive.org/web", U).startswith("https://web.archive.org/cdx/search/cdx?url=http")
    assert wayback_cdx_url("http://127.0.0.1:8080/coll", U).startswith("http://127.0.0.1:8080/coll/cdx?url=")
    assert wayback_playback_url("http://h/coll", "20170301100000", U) == f"http://h/coll/20170301100000id_/{U}"
    assert cc_index_url("https://index.commoncrawl.org", "CC-MAIN-2017-47", U).startswith(
        "https://index.commoncrawl.org/CC-MAIN-2017-47-index?url=")
    assert cc_index_url("http://h/{crawl}/cdx", "CC-MAIN-2017-47", U).startswith("http://h/CC-MAIN-2017-47/cdx?url=")


def test_archive_headers_removed_and_original_headers_restored():
    from scrapy.http import Headers

    prefix = "https://web.archive.org/web/"
    h = Headers({"Content-Type": "text/html", "Memento-Datetime": "x", "Link": "<...>; rel=original",
                 "Location": prefix + "20170301100000id_/https://example.com/b"})
    assert sorted(archived_headers(h, prefix)) == [("Content-Type", "text/html"), ("Location", "https://example.com/b")]
    ia = Headers({"Content-Type": "text/html", "X-Archive-Orig-Content-Type": "text/html; charset=iso-8859-1",
                  "X-Archive-Orig-Server": "Apache", "Server": "nginx"})
    assert sorted(archived_headers(ia, prefix)) == [("Content-Type", "text/html; charset=iso-8859-1"), ("Server", "Apache")]
    assert original_url_from_location("/relative", prefix) == "/relative"
