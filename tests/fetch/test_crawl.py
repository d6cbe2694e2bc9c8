"""The crawler against hostile local servers: every case ends as the right fetch-log row.

One crawl (module fixture) fetches all the hostile cases at once, with short timeouts; each test
then checks one case's row. Servers listen on 127.0.0.x, so the crawl runs with the test-only
`allow_loopback`; a separate crawl without it checks that loopback is refused.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

sys.path.insert(0, str(Path(__file__).parent))
import servers as S  # noqa: E402

from webtext.fetch import FetchOptions, fetch_urls, read_fetch_log  # noqa: E402
from webtext.fetch.replay import iter_warc_responses, read_response  # noqa: E402
from webtext.fetch.warc import warc_files  # noqa: E402

FRENCH = "Le café est une boisson très appréciée en France; les cafés sont des lieux de rencontre. " * 5
RUSSIAN = "Москва — столица России, крупнейший город страны. " * 5

OPTS = dict(
    allow_loopback=True,
    download_timeout=1.5,
    max_bytes=2**20,
    per_domain_concurrency=16,
    retries=1,
    retry_backoff=0.1,
    max_retry_after=5,
    redirect_limit=3,
    autothrottle=False,
    commit_rows=5,
    commit_seconds=0.5,
)


def _routes(main_port: int) -> dict:
    bomb, _ = S.gzip_bomb(20 * 2**20)
    return {
        "/ok": S.html(S.page("ok", "fine page")),
        "/redirect": S.redirect("/ok", 301),
        "/loop": S.redirect("/loop"),
        "/to-metadata": S.redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-zero": S.redirect(f"http://0.0.0.0:{main_port}/secret"),
        "/to-private": S.redirect(f"http://10.1.2.3:{main_port}/secret"),
        "/to-file": S.redirect("file:///etc/passwd"),
        "/secret": S.html(S.page("secret")),
        "/404": S.status(404),
        "/410": S.status(410),
        "/500": S.status(500),
        "/429-long": S.status(429, [("Retry-After", "3600")]),
        "/pdf": S.html(b"%PDF-1.4 binary", "application/pdf"),
        "/json": S.html(b'{"a": 1}', "application/json"),
        "/wrong-charset": S.html(f"<html><body><p>{FRENCH}</p></body></html>".encode("cp1252"), "text/html; charset=utf-8"),
        "/meta-charset": S.html(
            f'<html><head><meta charset="windows-1251"></head><body>{RUSSIAN}</body></html>'.encode("cp1251"), "text/html"
        ),
        "/no-charset": S.html(f"<html><body>{FRENCH}</body></html>".encode("utf-8"), "text/html"),
        "/latin1-lie": S.html(f"<html><body>{FRENCH}</body></html>".encode("utf-8"), "text/html; charset=iso-8859-1"),
        "/no-ctype": S.html(b"<!DOCTYPE html><html><body>untyped</body></html>", ""),
        "/big": S.big(2 * 2**20),
        "/big-stream": S.big(2 * 2**20, declare_length=False),
        "/bomb": bomb,
        "/reset": S.reset_mid_body(),
        "/drip": S.drip(),
        "/hang": S.hang(),
    }


class _Once429:
    """429 with Retry-After: 1 the first time, then the page."""

    def __init__(self):
        self.calls = 0

    def __call__(self, h):
        self.calls += 1
        if self.calls == 1:
            S.send(h, 429, b"slow down", "text/plain", [("Retry-After", "1")])
        else:
            S.send(h, 200, S.page("after 429"))


INVALID = {
    "example.com/no-scheme": "invalid_url",
    "http://127.0.0.1:99999/": "invalid_url",
    "http://": "invalid_url",
    "": "invalid_url",
    "ftp://127.0.0.1/file.txt": "forbidden_scheme",
    "javascript:alert(1)": "forbidden_scheme",
    "mailto:someone@example.com": "forbidden_scheme",
    "http://169.254.169.254/latest/meta-data/": "forbidden_address",
}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    out = tmp_path_factory.mktemp("fetch")
    with S.Site("127.0.0.1") as main, S.Site("127.0.0.3") as polite:
        main.routes.update(_routes(main.port))
        main.routes["/429-once"] = _Once429()
        polite.routes.update(
            {
                "/robots.txt": S.html(b"User-agent: *\nDisallow: /private\nCrawl-delay: 1\n", "text/plain"),
                "/p1": S.html(S.page("p1")),
                "/p2": S.html(S.page("p2")),
                "/p3": S.html(S.page("p3")),
                "/private": S.html(S.page("private")),
            }
        )
        urls = {name: main.url(name) for name in main.routes if name != "/secret"}
        urls.update({f"polite{p}": polite.url(p) for p in ("/p1", "/p2", "/p3", "/private")})
        urls["refused"] = f"http://127.0.0.1:{S.free_port()}/"
        urls.update({f"invalid:{u}": u for u in INVALID})
        url_list = list(urls.values())
        rows = fetch_urls(url_list, out, FetchOptions(**OPTS))
        hits_after_crawl = len(main.hits) + len(polite.hits)
        yield {
            "out": out,
            "urls": urls,
            "url_list": url_list,
            "rows": rows,
            "by": {name: r for name, r in zip(urls, rows)},
            "main": main,
            "polite": polite,
            "hits_after_crawl": hits_after_crawl,
        }


def row(crawl, name):
    r = crawl["by"][name]
    assert r["url"] == crawl["urls"][name]
    return r


def test_one_row_per_url_in_order(crawl):
    assert [r["url"] for r in crawl["rows"]] == crawl["url_list"]
    assert len(read_fetch_log(crawl["out"])) == len(crawl["url_list"])


def test_ok_page_and_redirect(crawl):
    ok = row(crawl, "/ok")
    assert ok["error"] is None and ok["status"] == 200 and ok["charset"] == "utf-8"
    assert ok["bytes"] == len(S.page("ok", "fine page")) and ok["ip"] == "127.0.0.1"
    red = row(crawl, "/redirect")
    assert red["error"] is None and red["final_url"] == crawl["urls"]["/ok"] and red["redirects"] == 1


@pytest.mark.parametrize(
    "name,error,status",
    [
        ("/404", "http_404", 404),
        ("/410", "http_410", 410),
        ("/500", "http_500", 500),
        ("/429-long", "http_429", 429),
        ("/pdf", "non_html", 200),
        ("/json", "non_html", 200),
        ("/loop", "too_many_redirects", 302),  # answered: the status is kept
        ("/to-metadata", "forbidden_address", None),
        ("/to-zero", "forbidden_address", None),
        ("/to-private", "forbidden_address", None),
        ("/to-file", "redirect_not_followed", 302),
        ("/big", "too_large", None),
        ("/big-stream", "too_large", None),
        ("/bomb", "too_large", 200),  # archived, then over the cap decompressed
        ("/reset", "connection_lost", None),
        ("/drip", "timeout", None),
        ("/hang", "timeout", None),
        ("refused", "connection_refused", None),
        ("polite/private", "robots_disallowed", None),
    ],
)
def test_hostile_case_outcome(crawl, name, error, status):
    r = row(crawl, name)
    assert (r["error"], r["status"]) == (error, status), r


def test_forbidden_redirect_targets_never_reached(crawl):
    assert "/secret" not in crawl["main"].paths()
    assert row(crawl, "/to-metadata")["final_url"].startswith("http://169.254.169.254/")


def test_retries(crawl):
    assert crawl["main"].paths().count("/500") == 2  # retries=1: two attempts, then the 500 is final
    assert row(crawl, "/500")["attempts"] == 2
    assert crawl["main"].paths().count("/429-long") == 1  # Retry-After beyond the limit: not retried
    assert "Retry-After" in row(crawl, "/429-long")["error_detail"]


def test_429_waits_for_retry_after(crawl):
    r = row(crawl, "/429-once")
    assert r["error"] is None and r["status"] == 200 and r["attempts"] == 2
    first, second = crawl["main"].times("/429-once")
    assert second - first >= 0.95  # the server asked for 1 s; backoff alone would be 0.1 s


def test_robots_crawl_delay(crawl):
    polite = crawl["polite"]
    assert "/private" not in polite.paths() and polite.paths()[0] == "/robots.txt"
    times = sorted(polite.times("/p1") + polite.times("/p2") + polite.times("/p3"))
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:])), times
    assert all(row(crawl, f"polite/p{i}")["error"] is None for i in (1, 2, 3))


def test_charsets(crawl):
    out = crawl["out"]
    wrong = row(crawl, "/wrong-charset")
    assert wrong["error"] is None and wrong["charset_source"] == "detected" and wrong["charset"] != "utf-8"
    assert "Le café est une boisson très appréciée" in read_response(wrong["warc_path"], wrong["warc_offset"]).text()
    meta = row(crawl, "/meta-charset")
    assert (meta["charset"], meta["charset_source"]) == ("cp1251", "meta")
    assert "Москва" in read_response(meta["warc_path"], meta["warc_offset"]).text()
    assert (row(crawl, "/no-charset")["charset"], row(crawl, "/no-charset")["charset_source"]) == ("utf-8", "detected")
    assert row(crawl, "/latin1-lie")["charset"] == "utf-8"
    assert row(crawl, "/no-ctype")["error"] is None
    assert out.exists()


def test_invalid_urls_are_rows_not_crashes(crawl):
    for url, error in INVALID.items():
        r = row(crawl, f"invalid:{url}")
        assert r["error"] == error, r
        assert r["warc_path"] is None and r["status"] is None


def test_warc_records_match_the_log(crawl):
    for r in crawl["rows"]:
        if r["warc_path"] is None:
            continue
        rec = read_response(r["warc_path"], r["warc_offset"])
        if r["status"] is not None:
            assert rec.status == r["status"]
        if not r["redirects"]:
            assert rec.url == r["url"]  # WARC-Target-URI = the links-table URL
    ok = row(crawl, "/ok")
    assert read_response(ok["warc_path"], ok["warc_offset"]).body == S.page("ok", "fine page")
    # the gzip bomb is archived as received: compressed, small, with its Content-Encoding
    bomb = row(crawl, "/bomb")
    rec = read_response(bomb["warc_path"], bomb["warc_offset"], max_bytes=1000)
    assert rec.headers["content-encoding"] == "gzip" and len(rec.raw_body) < 100_000 and rec.truncated
    # every file reads cleanly; every response has its request record
    kinds = {"response": 0, "revisit": 0, "request": 0}
    for path in warc_files(crawl["out"]):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type in kinds:
                    kinds[record.rec_type] += 1
    assert kinds["response"] + kinds["revisit"] == kinds["request"] > 0
    assert any(r.url.endswith("/robots.txt") for r in iter_warc_responses(warc_files(crawl["out"])))


def test_rerun_skips_everything(crawl):
    before = len(crawl["main"].hits) + len(crawl["polite"].hits)
    rows = fetch_urls(crawl["url_list"], crawl["out"], FetchOptions(**OPTS))
    assert rows == crawl["rows"]
    assert len(crawl["main"].hits) + len(crawl["polite"].hits) == before


def test_replay_serves_from_the_archive_offline(crawl, tmp_path):
    names = ["/ok", "/redirect", "/404", "/pdf", "/wrong-charset", "/bomb"]
    never = "http://127.0.0.1:9/never-fetched"
    urls = [crawl["urls"][n] for n in names] + [never]
    before = len(crawl["main"].hits)
    rows = fetch_urls(urls, tmp_path / "replayed", FetchOptions(**{**OPTS, "replay": [str(crawl["out"] / "warc")]}))
    assert len(crawl["main"].hits) == before  # nothing went to the network
    for name, r in zip(names, rows):
        orig = row(crawl, name)
        for col in ("final_url", "status", "error", "bytes", "charset"):
            assert r[col] == orig[col], (name, col)
        # served from (and pointing at) a record of the original archive, with the same body
        assert Path(r["warc_path"]).parent.resolve() == (crawl["out"] / "warc").resolve()
        replayed = read_response(r["warc_path"], r["warc_offset"], max_bytes=1000)
        original = read_response(orig["warc_path"], orig["warc_offset"], max_bytes=1000)
        assert replayed.raw_body == original.raw_body
    assert rows[-1]["error"] == "not_in_archive"
    assert not (tmp_path / "replayed" / "warc").exists() or not list((tmp_path / "replayed" / "warc").iterdir())


def test_loopback_refused_without_the_test_option(tmp_path):
    with S.Site("127.0.0.1", {"/secret": S.html(S.page("secret"))}) as site:
        port = site.port
        urls = [
            f"http://localhost:{port}/secret",  # a name that resolves inside
            f"http://127.0.0.1:{port}/secret",
            f"http://2130706433:{port}/secret",  # 127.0.0.1 spelled as one number
            f"http://0.0.0.0:{port}/secret",
            f"http://[::1]:{port}/secret",
            f"http://[::ffff:127.0.0.1]:{port}/secret",
        ]
        opts = FetchOptions(**{**OPTS, "allow_loopback": False})
        rows = fetch_urls(urls, tmp_path, opts)
        assert [r["error"] for r in rows] == ["forbidden_address"] * len(urls), rows
        assert site.hits == []  # not even robots.txt was asked for


def test_per_host_concurrency_is_a_limit(tmp_path):
    """No more than `per_domain_concurrency` requests in flight to one host, ever.

    All requests wait for the host's robots.txt, then reach the downloader together; Scrapy
    2.19's own downloader let every one of them out at once (webtext/fetch/downloader.py). The
    server counts requests it is answering; a request leaves that count before the client has
    its response, so the peak the server sees can only be at or under the client's limit.
    """
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def counted(i):
        def route(h):
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            try:
                time.sleep(0.02)
                S.send(h, 200, S.page(f"page {i}"))
            finally:
                with lock:
                    state["now"] -= 1

        return route

    with S.Site("127.0.0.1", {f"/c{i}": counted(i) for i in range(40)}) as site:
        urls = [site.url(f"/c{i}") for i in range(40)]
        opts = FetchOptions(**{**OPTS, "per_domain_concurrency": 3, "download_timeout": 30, "retries": 0})
        rows = fetch_urls(urls, tmp_path, opts)
    assert [r["error"] for r in rows] == [None] * len(urls), [r for r in rows if r["error"]]
    assert 1 <= state["peak"] <= 3, state
