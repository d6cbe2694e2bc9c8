"""One page at a time: guards for pathological HTML give a reason, never a crash; rows follow DESIGN.md."""

from __future__ import annotations

import gzip
import hashlib
import socket

import pytest

from webtext.extract import ExtractionFailed, document_from_page, extract_html
from webtext.extract import documents

LINK = {
    "url": "https://example.org/a",
    "domain": "example.org",
    "subreddits": ["science"],
    "reddit_ids": ["abc12"],
    "first_created_utc": 1489068131,
    "score": 152,
    "score_sum": 166,
    "n_submissions": 2,
}


@pytest.fixture(scope="module")
def article_html(dev_pages):
    return dev_pages[0].read_html()


def _reason(html, **kw):
    with pytest.raises(ExtractionFailed) as info:
        extract_html(html, "https://example.org/a", **kw)
    return info.value.reason


@pytest.mark.parametrize(
    "html,reason",
    [
        (b"", "empty_html"),
        ("   \n\t ", "empty_html"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary_content"),
        (b"<html><body>" + b"<div>" * 5000 + b"<p>deep text here.</p>" + b"</div>" * 5000, "html_too_deep"),
        ("<html><body><nav>Home | About</nav></body></html>", "no_text"),
        ("<<<>>>&&&;;;", "no_text"),
        ("<?xml version='1.0'?><!-- only a comment -->", "unparseable_html"),
    ],
)
def test_broken_html_gives_a_reason(html, reason):
    assert _reason(html) == reason


def test_huge_html_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(documents, "MAX_HTML_BYTES", 1000)
    assert _reason("<html><body>" + "<p>word </p>" * 200 + "</body></html>") == "html_too_large"


def test_slow_page_times_out(article_html):
    # the real page takes tens of milliseconds; one millisecond is not enough
    assert _reason(article_html, timeout=0.001) == "timeout"


def test_timeout_counts_cpu_time_not_the_clock():
    """Waiting (what a page does on a loaded machine, off the CPU) never times it out; computing
    past the limit does. So the pages dropped as `timeout` do not depend on the machine's load."""
    import time

    with documents._time_limit(0.2):
        time.sleep(0.6)  # three times the limit on the clock, no CPU
    start = time.process_time()
    with pytest.raises(documents._Timeout):
        with documents._time_limit(0.2):
            while time.process_time() - start < 5:
                pass
    assert time.process_time() - start < 2


def test_extractor_exception_is_a_reason_not_a_crash(article_html, monkeypatch):
    from webtext.extract import newspaper

    def boom(html, url=""):
        raise KeyError("simulated bug")

    monkeypatch.setattr(newspaper, "extract_tree", boom)
    row, reason = document_from_page(LINK, "https://example.org/a", article_html)
    assert row is None and reason == "extractor_error"


def test_extraction_never_touches_the_network(article_html, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    ex = extract_html(article_html, "https://www.latimes.com/some/article")
    assert len(ex.text) > 500 and ex.title


def test_document_row_has_design_fields_and_carries_reddit_fields(article_html):
    row, reason = document_from_page(LINK, "https://www.Example.org/final", article_html.encode("utf-8"))
    assert reason is None
    for key in documents.DOCUMENT_COLUMNS + documents.REDDIT_FIELDS:
        assert key in row
    assert row["url"] == LINK["url"] and row["final_url"] == "https://www.Example.org/final"
    assert row["domain"] == "example.org"
    assert row["text_sha1"] == hashlib.sha1(row["text"].encode("utf-8")).hexdigest()
    assert row["n_chars"] == len(row["text"]) and row["n_words"] == len(row["text"].split())
    assert row["extractor"] in ("combined", "newspaper", "dragnet")
    assert {k: row[k] for k in documents.REDDIT_FIELDS} == {k: LINK[k] for k in documents.REDDIT_FIELDS}


def test_bytes_are_decoded_by_their_declared_charset():
    body = "<html><head><meta charset='windows-1251'></head><body>" + "".join(
        f"<p>Это длинный абзац номер {i} о том, как работает извлечение текста из страниц.</p>" for i in range(12)
    ) + "</body></html>"
    ex = extract_html(body.encode("cp1251"), "https://example.ru/a")
    assert "извлечение текста" in ex.text


def test_html_dir_input_and_report_accounting(bench, dev_pages, tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in dev_pages[:2]:
        (folder / f"{page.id}.html.gz").write_bytes(page.html_path.read_bytes())
    (folder / "empty.html").write_bytes(b"")
    (folder / "bad.html.gz").write_bytes(b"not gzip")
    (folder / "notes.txt").write_text("ignored: not HTML by name")
    urls = documents.load_url_map(bench / "ground-truth.json")
    report = documents.extract_pages(documents.iter_html_dir(folder, urls), tmp_path / "out")
    assert (report.read, report.kept) == (4, 2)
    assert dict(report.dropped) == {"empty_html": 1, "unreadable_file": 1}
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "out" / "documents" / "part-00000.parquet").to_pylist()
    assert sorted(r["url"] for r in rows) == sorted(p.url for p in dev_pages[:2])
    assert [r["url"] for r in rows] == sorted(r["url"] for r in rows)
    assert all(r["score"] is None for r in rows)  # no links table: Reddit fields are null
    assert (tmp_path / "out" / "report.json").exists()
