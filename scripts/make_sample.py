#!/usr/bin/env python
"""Regenerate the embedded sample (`webtext/sample/`) from the shared benchmark data.

    .venv/bin/python scripts/make_sample.py [--shared ../shared] [--out webtext/sample]

The sample is what `webtext build --until 2017-12` runs on when no input is named: a Pushshift-format
dump of Reddit submissions (`RS_sample.zst`, zstd NDJSON) and a WARC archive (`sample.warc.gz`) that
holds the pages those submissions link to, under their real URLs, so the fetch stage can replay it
offline. Every stage has something to do: the submissions plant one case for each reason a link is
dropped (low karma, after the date cap, self post, NSFW, Wikipedia, image, the same article at two
URLs, a near-duplicate copy, dead links), and `cases.json` records, for every submission, what the
build must do with it. `README.md` (written here too) describes each case for people.

What is real and what is made up:
- The article pages are real: a handful of pages of the scrapinghub article-extraction benchmark
  (`../shared/data/extraction`, MIT), stored under the URL the benchmark gives for each page.
- The submissions are synthetic but shaped like Pushshift's (the fields and their types match real
  2016-2017 dumps). The pages were captured in 2018-2019; the submission dates are set in 2016-2018 so
  that the `--until 2017-12` cap has something to cut. The HTTP headers and WARC dates are plausible,
  not recorded ones.
- Four archive records are written here, not captured: the near-duplicate copy (the SlashGear article
  with other boilerplate and small edits, on the reserved `example.com` domain), a Wikipedia-style page
  (our own text), a small PNG for the image link, and a 404 page; plus a 301 redirect from the
  bare-host http URL of the Detroit News article (and one from any URL whose normalised spelling,
  which the crawler asks for, differs from the page's own, as a real server would answer).

Deterministic: fixed record ids (UUID5 of the URL), fixed dates, fixed gzip/zstd settings and sorted
records; running the script twice gives byte-identical files (it prints their sha256).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import struct
import sys
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # webtext.urls, when run from a checkout without the package installed
DUMP_NAME = "RS_sample.zst"
WARC_NAME = "sample.warc.gz"
CASES_NAME = "cases.json"
UNTIL = "2017-12"

# The benchmark pages in the archive, by the URL the benchmark gives them.
PAGES = {
    "sciencealert": "https://www.sciencealert.com/nasa-finds-water-plumes-above-the-surface-of-jupiter-s-icy-moon-europa",
    "givewell": "https://blog.givewell.org/2018/10/09/a-grant-to-evidence-action-beta-to-prototype-test-and-scale-promising-programs/",
    "physorg": "https://phys.org/news/2019-11-hibernating-astronauts-smaller-spacecraft.html",
    "livescience": "https://www.livescience.com/most-detailed-universe-simulation.html",
    "spacecom": "https://www.space.com/nasa-picks-spacex-blue-origin-private-moon-lander-companies.html",
    "politifact": "https://www.politifact.com/west-virginia/statements/2019/nov/18/david-mckinley/what-value-drugs-come-us-border/",
    "slashgear": "https://www.slashgear.com/2020-audi-e-tron-sportback-revealed-as-electric-4-door-coupe-19600369/",
    "detroitnews": "https://www.detroitnews.com/story/news/nation/2019/11/19/thousands-teachers-pack-indiana-statehouse-protest/40651467/",
    "therealdeal": "https://therealdeal.com/2019/11/18/thousands-of-wework-employees-to-be-laid-off-this-week/",
    "venturebeat": "https://venturebeat.com/2019/11/18/new-york-state-attorney-general-investigating-wework-and-former-ceo/",
    "hawaiinews": "https://www.hawaiinewsnow.com/2019/11/19/scientists-use-hawaii-telescope-spot-water-vapor-one-jupiters-moon/",
    "aljazeera": "https://www.aljazeera.com/news/2019/11/service-members-killed-afghanistan-helicopter-crash-191120070028895.html",
}

# Archive records written here (not benchmark captures).
NEAR_DUP_URL = "https://www.example.com/autos/2017/02/audi-e-tron-sportback-electric-coupe"
WIKIPEDIA_URL = "https://en.wikipedia.org/wiki/Language_model"
IMAGE_URL = "https://i.imgur.com/Qm3Xk7b.png"
GONE_404_URL = "https://www.morebikes.co.uk/7412/retired-bike-light-roundup-2016/"
REDIRECT_FROM = "http://detroitnews.com/story/news/nation/2019/11/19/thousands-teachers-pack-indiana-statehouse-protest/40651467/"
UTM_URL = PAGES["sciencealert"] + "?utm_source=reddit&utm_medium=social&utm_campaign=space"
# Never archived: replaying it finds nothing, as a live fetch of a vanished host would.
ABSENT_URL = "https://phys.org/news/2016-05-archived-story-no-longer-online.html"


@dataclass
class Case:
    """One submission of the sample and what the build must do with it."""

    id: str                      # Reddit base-36 id
    case: str                    # short name of the planted case
    url: str
    subreddit: str
    created: str                 # ISO date-time, UTC
    score: int
    title: str
    expect: str                  # "kept", or "<stage>:<reason>" for a drop
    note: str
    is_self: bool = False
    over_18: bool = False
    author: str = "webtext_sample"
    extra: dict = field(default_factory=dict)


# The expected outcome names the stage that drops the link and the reason it counts: these are the
# reason strings of the stages (webtext.reddit, webtext.fetch, webtext.extract, webtext.filters,
# webtext.dedup), which the end-to-end test checks against the manifest.
CASES = [
    Case("5yq1ab", "kept", PAGES["sciencealert"], "space", "2017-03-09T14:02:11", 152,
         "NASA finds water plumes above the surface of Jupiter's icy moon Europa", "kept",
         "A plain article link; also posted with tracking parameters (next case)."),
    Case("5yv7kd", "same_url_tracking_params", UTM_URL, "science", "2017-03-10T08:45:40", 14,
         "Water plumes spotted above Europa", "harvest:merged",
         "The same article with utm_* parameters: normalises to the previous URL, so harvest merges the "
         "two submissions into one link row (score = max, n_submissions = 2); not a drop."),
    Case("5ax3mf", "kept", PAGES["givewell"], "EffectiveAltruism", "2016-11-02T19:20:05", 48,
         "A grant to Evidence Action Beta to prototype, test and scale programs", "kept", "A blog post."),
    Case("6h2kq9", "kept", PAGES["physorg"], "space", "2017-06-14T11:31:57", 311,
         "Hibernating astronauts would need smaller spacecraft", "kept", "A science news article."),
    Case("6tg0zn", "kept", PAGES["livescience"], "Physics", "2017-08-12T22:03:18", 97,
         "The most detailed simulation of the universe", "kept", "A science news article."),
    Case("75n4w2", "kept", PAGES["spacecom"], "spacex", "2017-10-10T16:47:29", 27,
         "NASA picks SpaceX, Blue Origin and others for private moon landers", "kept", "A news article."),
    Case("52b8xe", "kept", PAGES["politifact"], "politics", "2016-09-11T03:12:44", 15,
         "What value of drugs come across the southern border?", "kept", "A fact check."),
    Case("5t4c1q", "kept", PAGES["slashgear"], "cars", "2017-02-08T09:55:01", 64,
         "2020 Audi e-tron Sportback revealed as electric 4-door coupe", "kept",
         "The original of the near-duplicate pair: posted first, so it survives."),
    Case("5tc9hv", "near_duplicate", NEAR_DUP_URL, "electricvehicles", "2017-02-10T17:21:36", 9,
         "Audi's e-tron Sportback is an electric coupe", "dedup:near_duplicate",
         "A syndicated copy of the SlashGear article on another site: other header, menus and footer, "
         "a dateline and a credit line added, a few words changed. MinHash finds it; the earlier post survives."),
    Case("65k2dw", "kept", PAGES["detroitnews"], "Teachers", "2017-04-15T13:40:22", 36,
         "Thousands of teachers pack Indiana Statehouse in protest", "kept",
         "The canonical URL of an article also posted at its bare-host http URL (next case)."),
    Case("68wq3s", "same_article_redirect", REDIRECT_FROM, "Indiana", "2017-05-02T20:10:09", 5,
         "Indiana teachers rally at the Statehouse", "dedup:duplicate_url",
         "http://detroitnews.com/... is a different URL after normalisation (host and scheme differ), so "
         "harvest keeps both; the archive holds a 301 to the https://www. URL, both fetches end at the same "
         "final URL, and exact dedup keeps the earlier post."),
    Case("743nfb", "kept", PAGES["therealdeal"], "RealEstate", "2017-10-03T12:26:51", 19,
         "Thousands of WeWork employees to be laid off", "kept", "A news article."),
    Case("6a9pcu", "low_karma", PAGES["venturebeat"], "technology", "2017-05-09T07:14:33", 2,
         "New York AG investigating WeWork", "harvest:low_karma",
         "Score 2, below the karma threshold of 3 (the page is archived; it must never be fetched)."),
    Case("7q1xme", "after_until", PAGES["hawaiinews"], "Astronomy", "2018-01-15T05:33:02", 88,
         "Scientists use Hawaii telescope to spot water vapor on one of Jupiter's moons", "harvest:after_until",
         "Created in January 2018, after the --until 2017-12 cap."),
    Case("5o7r2j", "nsfw", PAGES["aljazeera"], "CombatFootage", "2017-01-16T21:08:45", 40,
         "US service members killed in Afghanistan helicopter crash", "harvest:nsfw",
         "Marked over_18 (the subreddit is NSFW).", over_18=True),
    Case("6n1d0k", "self_post",
         "https://www.reddit.com/r/MachineLearning/comments/6n1d0k/d_what_data_do_language_models_learn_from/",
         "MachineLearning", "2017-07-13T10:02:19", 120,
         "[D] What data do language models learn from?", "harvest:self_post",
         "A text post: its URL is its own Reddit permalink.", is_self=True,
         extra={"selftext": "Most corpora are scraped from the web. How much filtering happens before training?"}),
    Case("5h0w7t", "wikipedia", WIKIPEDIA_URL, "todayilearned", "2016-12-07T15:45:10", 75,
         "TIL what a language model is", "harvest:wikipedia",
         "A Wikipedia article: WebText removed Wikipedia. (An archived page stands in for it, with our own text.)"),
    Case("6q8ke1", "image", IMAGE_URL, "pics", "2017-07-29T18:27:56", 530,
         "My telescope's first photo of Jupiter", "harvest:blocked_extension",
         "A direct image link: the .png extension is blocked at harvest, so it is never fetched (a small PNG is archived in case the rule changes: the fetch stage would then drop it as non_html)."),
    Case("60f2ta", "dead_404", GONE_404_URL, "bicycling", "2017-03-19T08:12:40", 6,
         "The best bike lights of 2016", "fetch:http_404",
         "The archive holds a 404 Not Found for this URL."),
    Case("69d4hg", "dead_absent", ABSENT_URL, "science", "2017-05-04T23:50:31", 11,
         "An archived story that is no longer online", "fetch:not_in_archive",
         "Not in the archive at all: replay answers as for a dead host."),
]


# ----------------------------------------------------------------------------------- the dump


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp())


def _reddit_domain(url: str, subreddit: str, is_self: bool) -> str:
    if is_self:
        return f"self.{subreddit}"
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


def submission_record(c: Case) -> dict:
    """A submission as Pushshift's 2016-2017 dumps spell it (same field names and types)."""
    created = _epoch(c.created)
    slug = "".join(ch if ch.isalnum() else "_" for ch in c.title.lower()).strip("_")[:50].rstrip("_")
    permalink = f"/r/{c.subreddit}/comments/{c.id}/{slug}/"
    rec = {
        "archived": False,
        "author": c.author,
        "created_utc": created,
        "domain": _reddit_domain(c.url, c.subreddit, c.is_self),
        "gilded": 0,
        "hidden": False,
        "id": c.id,
        "is_self": c.is_self,
        "link_flair_text": None,
        "locked": False,
        "name": f"t3_{c.id}",
        "num_comments": max(0, c.score // 4),
        "over_18": c.over_18,
        "permalink": permalink,
        "retrieved_on": created + 86400 * 30,
        "score": c.score,
        "selftext": "",
        "stickied": False,
        "subreddit": c.subreddit,
        "subreddit_id": "t5_" + hashlib.sha1(c.subreddit.encode()).hexdigest()[:5],
        "thumbnail": "self" if c.is_self else "default",
        "title": c.title,
        "url": c.url,
    }
    rec.update(c.extra)
    return rec


def write_dump(path: Path, cases: list[Case]) -> None:
    import zstandard

    records = sorted((submission_record(c) for c in cases), key=lambda r: (r["created_utc"], r["id"]))
    data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
    # Level 19 and a checksum, as Pushshift's own files; no content size in the frame header (streamed).
    cctx = zstandard.ZstdCompressor(level=19, write_checksum=True, write_content_size=False)
    _write_atomic(path, cctx.compress(data))


# ----------------------------------------------------------------------------------- the archive


def _record_id(url: str, kind: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, kind + ' ' + url)}>"


def _http_date(dt: datetime) -> str:
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _png(width: int = 32, height: int = 24) -> bytes:
    """A small gradient PNG, built byte by byte so it is the same everywhere."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    # One filter byte (0 = none) then RGB triples, per row.
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 8 % 256, y * 10 % 256, 160)) for x in range(width)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _near_duplicate_page(article: str) -> str:
    """The SlashGear article as a syndication site would carry it: other boilerplate, small edits."""
    paras = [p.strip() for p in article.split("\n") if p.strip()]
    edits = [
        ("It’s a handsome EV, certainly.", "It is a handsome EV, no doubt."),
        ("thirteen different finishes", "13 different finishes"),
        ("Steeply-raked", "Steeply raked"),
        ("electronically-limited", "electronically limited"),
    ]
    body = "\n".join(paras)
    for old, new in edits:
        body = body.replace(old, new)
    paras = body.split("\n")
    paras[0] = "LOS ANGELES — " + paras[0]
    paras.append("This article originally appeared on SlashGear and is republished with permission.")
    import html as _html

    article_html = "\n".join(
        f"<h2>{_html.escape(p)}</h2>" if len(p) < 40 and not p.endswith(".") else f"<p>{_html.escape(p)}</p>"
        for p in paras
    )
    nav = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in ("Autos", "Tech", "Science", "Business", "Travel"))
    related = "".join(
        f'<li><a href="/autos/2017/02/{s}">{t}</a></li>'
        for s, t in (
            ("best-evs-2017", "The best electric cars you can buy this year"),
            ("charging-network-map", "Where to charge: a map of fast chargers"),
            ("winter-range-test", "We tested five EVs in the cold. Here is the range we got"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Audi's e-tron Sportback is an electric coupe | Example Autos</title>
<meta name="description" content="Audi reveals the e-tron Sportback, the second model in its all-electric range.">
<link rel="canonical" href="{NEAR_DUP_URL}">
</head><body>
<header class="site-header"><a class="logo" href="/">Example Autos</a><nav><ul>{nav}</ul></nav>
<form class="search" action="/search"><input name="q" placeholder="Search"></form></header>
<div class="ad-slot">Advertisement</div>
<main><article>
<h1>Audi's e-tron Sportback is an electric coupe</h1>
<p class="byline">By Example Autos staff · Feb 10, 2017</p>
{article_html}
</article>
<aside class="related"><h3>Related</h3><ul>{related}</ul></aside></main>
<footer><p>Subscribe to our newsletter for the week's car news.</p>
<p>© 2017 Example Autos. All rights reserved. <a href="/privacy">Privacy</a> · <a href="/terms">Terms</a></p></footer>
</body></html>
"""


WIKIPEDIA_TEXT = [
    "A language model is a probability distribution over sequences of words. Given a sequence of words, "
    "it assigns a probability to the whole sequence, and it can be used to predict the word that comes next.",
    "Language models are estimated from text corpora. Early models counted short sequences of words, called "
    "n-grams, and smoothed the counts so that unseen sequences would not get a probability of zero.",
    "Neural language models represent words as vectors and use a neural network to compute the probability "
    "of the next word. Recurrent networks and, later, transformer networks made it possible to condition on "
    "long contexts, and models trained on large collections of web pages produce fluent text.",
    "Language models are used in speech recognition, machine translation, spelling correction, information "
    "retrieval and text generation. They are evaluated by their perplexity on held-out text.",
]


def _wikipedia_page() -> str:
    paras = "\n".join(f"<p>{p}</p>" for p in WIKIPEDIA_TEXT)
    return f"""<!DOCTYPE html>
<html class="client-nojs" lang="en" dir="ltr"><head><meta charset="UTF-8">
<title>Language model - Wikipedia</title></head>
<body class="mediawiki ltr sitedir-ltr"><div id="mw-page-base"></div>
<div id="content" class="mw-body" role="main"><h1 id="firstHeading" class="firstHeading">Language model</h1>
<div id="bodyContent" class="mw-body-content"><div id="siteSub">From Wikipedia, the free encyclopedia</div>
<div id="mw-content-text" class="mw-content-ltr"><div class="mw-parser-output">
{paras}
<h2><span class="mw-headline" id="See_also">See also</span></h2>
<ul><li><a href="/wiki/N-gram">n-gram</a></li><li><a href="/wiki/Perplexity">Perplexity</a></li></ul>
</div></div></div></div>
<div id="mw-navigation"><h2>Navigation menu</h2><ul><li><a href="/wiki/Main_Page">Main page</a></li>
<li><a href="/wiki/Special:Random">Random article</a></li></ul></div>
<div id="footer"><p>Text is available under the Creative Commons Attribution-ShareAlike License.</p></div>
</body></html>
"""


NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Page not found | MoreBikes</title></head>
<body><h1>Page not found</h1><p>Sorry, the page you were looking for could not be found.</p>
<p><a href="/">Back to the home page</a></p></body></html>
"""


def _html_headers(body: bytes, when: datetime, server: str = "nginx") -> list[tuple[str, str]]:
    return [
        ("Date", _http_date(when)),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        ("Server", server),
        ("Cache-Control", "max-age=300, public"),
        ("Vary", "Accept-Encoding"),
    ]


@dataclass
class Exchange:
    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


def archive_exchanges(shared: Path) -> list[Exchange]:
    """Every HTTP exchange the archive holds, in a fixed order (sorted by URL)."""
    truth = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    by_url = {v["url"]: k for k, v in truth.items()}
    when = datetime(2019, 11, 20, 12, 0, 0, tzinfo=timezone.utc)
    out: list[Exchange] = []
    for name, url in sorted(PAGES.items()):
        page_id = by_url.get(url)
        if page_id is None:
            raise SystemExit(f"make_sample: benchmark page for {name} not found in ground-truth.json: {url}")
        body = gzip.decompress((shared / f"data/extraction/html/{page_id}.html.gz").read_bytes())
        out.append(Exchange(url, 200, "OK", _html_headers(body, when), body))

    article = truth[by_url[PAGES["slashgear"]]]["articleBody"]
    near = _near_duplicate_page(article).encode("utf-8")
    out.append(Exchange(NEAR_DUP_URL, 200, "OK", _html_headers(near, when, "Apache"), near))

    wiki = _wikipedia_page().encode("utf-8")
    out.append(Exchange(WIKIPEDIA_URL, 200, "OK", _html_headers(wiki, when, "mw1321.eqiad.wmnet"), wiki))

    png = _png()
    out.append(Exchange(IMAGE_URL, 200, "OK", [
        ("Date", _http_date(when)), ("Content-Type", "image/png"), ("Content-Length", str(len(png))),
        ("Connection", "close"), ("Server", "cat factory 1.0"), ("Cache-Control", "public, max-age=31536000"),
    ], png))

    gone = NOT_FOUND_PAGE.encode("utf-8")
    out.append(Exchange(GONE_404_URL, 404, "Not Found", _html_headers(gone, when), gone))

    out.append(_redirect(REDIRECT_FROM, PAGES["detroitnews"], when, "Varnish"))

    # The harvest normalises URLs (webtext.urls), and the crawler asks for the normalised spelling.
    # Where that spelling differs from a page's URL, a real server would answer it with a 301 to the
    # canonical URL; the archive holds such hops, as a crawl would.
    from webtext.urls import normalize_url

    archived = {e.url for e in out}
    for e in list(out):
        norm = normalize_url(e.url)
        if norm != e.url and norm not in archived:
            out.append(_redirect(norm, e.url, when, "nginx"))
            archived.add(norm)
    return sorted(out, key=lambda e: e.url)


def _redirect(url: str, location: str, when: datetime, server: str) -> Exchange:
    return Exchange(url, 301, "Moved Permanently", [
        ("Date", _http_date(when)), ("Location", location), ("Content-Length", "0"),
        ("Connection", "close"), ("Server", server),
    ], b"")


def write_warc(path: Path, exchanges: list[Exchange]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    from urllib.parse import urlsplit

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    date = "2019-11-20T12:00:00Z"
    info = writer.create_warcinfo_record(WARC_NAME, {
        "software": "webtext scripts/make_sample.py (warcio)",
        "format": "WARC File Format 1.0",
        "description": "webtext embedded sample: benchmark pages under their real URLs, plus planted cases",
    })
    info.rec_headers.replace_header("WARC-Record-ID", _record_id(WARC_NAME, "warcinfo"))
    info.rec_headers.replace_header("WARC-Date", date)
    writer.write_record(info)
    for i, ex in enumerate(exchanges):
        when = f"2019-11-20T12:{i // 60:02d}:{i % 60:02d}Z"
        parts = urlsplit(ex.url)
        path_q = parts.path + (f"?{parts.query}" if parts.query else "")
        req_headers = StatusAndHeaders(f"GET {path_q or '/'} HTTP/1.1", [
            ("Host", parts.netloc),
            ("User-Agent", "webtext/0.1 (+https://github.com/webtext; research crawler)"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en"),
            ("Accept-Encoding", "identity"),
        ], is_http_request=True)
        resp_id, req_id = _record_id(ex.url, "response"), _record_id(ex.url, "request")
        resp = writer.create_warc_record(
            ex.url, "response", payload=io.BytesIO(ex.body), length=len(ex.body),
            http_headers=StatusAndHeaders(f"{ex.status} {ex.reason}", ex.headers, protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Record-ID": resp_id, "WARC-Date": when},
        )
        req = writer.create_warc_record(
            ex.url, "request", http_headers=req_headers,
            warc_headers_dict={"WARC-Record-ID": req_id, "WARC-Date": when, "WARC-Concurrent-To": resp_id},
        )
        writer.write_record(req)
        writer.write_record(resp)
    _write_atomic(path, buf.getvalue())


# ----------------------------------------------------------------------------------- cases + README


def write_cases(path: Path, cases: list[Case]) -> None:
    rows = []
    for c in sorted(cases, key=lambda c: c.id):
        stage, _, reason = c.expect.partition(":")
        rows.append({
            "id": c.id, "case": c.case, "url": c.url, "created_utc": _epoch(c.created), "score": c.score,
            "expect": "kept" if c.expect == "kept" else "dropped" if stage != "harvest" or reason != "merged" else "merged",
            "stage": None if c.expect == "kept" else stage, "reason": None if c.expect == "kept" else reason,
            "note": c.note,
        })
    data = {"until": UNTIL, "dump": DUMP_NAME, "warc": WARC_NAME, "submissions": rows}
    _write_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def write_readme(path: Path, cases: list[Case], sizes: dict[str, int]) -> None:
    lines = [
        "# The embedded sample",
        "",
        "What `webtext build --until 2017-12` runs on when no input is named. Regenerate it with",
        "`.venv/bin/python scripts/make_sample.py` (deterministic: the same bytes every time).",
        "",
        "| file | what |",
        "|---|---|",
        f"| `{DUMP_NAME}` | {len(cases)} Reddit submissions in Pushshift's dump format (zstd NDJSON, one JSON object a line) ({sizes[DUMP_NAME]:,} bytes) |",
        f"| `{WARC_NAME}` | the pages they link to, as a WARC (request + response records, `WARC-Target-URI` = the URL) ({sizes[WARC_NAME]:,} bytes) |",
        f"| `{CASES_NAME}` | every submission with the outcome the build must give it (the end-to-end test reads it) |",
        "",
        "The article pages are real pages of the scrapinghub article-extraction benchmark (MIT; the text",
        "belongs to its publishers), stored under their real URLs. The submissions are synthetic but shaped",
        "like Pushshift's; their dates (2016-2018) are set so the date cap has something to cut, though the",
        "pages were captured in 2018-2019. Written here rather than captured: the near-duplicate copy (on the",
        "reserved `example.com` domain), the Wikipedia-style page (our own text), the PNG, the 404 page and",
        "the 301 redirect from the bare-host http URL of one article.",
        "",
        "## The planted cases",
        "",
        "`expect` is `kept` (the document reaches the shards) or `stage:reason`, the drop reason the manifest",
        "must count for it.",
        "",
        "| id | case | URL | created | score | expect | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        url = c.url if len(c.url) <= 70 else c.url[:67] + "..."
        lines.append(f"| {c.id} | {c.case} | `{url}` | {c.created[:10]} | {c.score} | {c.expect} | {c.note} |")
    lines += [
        "",
        "Kept: " + str(sum(c.expect == "kept" for c in cases)) + " documents reach the shards.",
        "",
    ]
    _write_atomic(path, "\n".join(lines).encode())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared data folder")
    ap.add_argument("--out", type=Path, default=REPO / "webtext" / "sample", help="where the sample goes")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_dump(args.out / DUMP_NAME, CASES)
    write_warc(args.out / WARC_NAME, archive_exchanges(args.shared))
    write_cases(args.out / CASES_NAME, CASES)
    sizes = {n: (args.out / n).stat().st_size for n in (DUMP_NAME, WARC_NAME)}
    write_readme(args.out / "README.md", CASES, sizes)
    for name in (DUMP_NAME, WARC_NAME, CASES_NAME, "README.md"):
        p = args.out / name
        print(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.stat().st_size:>9,}  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
