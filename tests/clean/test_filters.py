"""Cleaning: every filter's keep/drop decision and reason, the repairs, and the accounting."""

from __future__ import annotations

import hashlib

import pytest

from webtext.filters import CleanOptions, clean_document, clean_documents, normalize_whitespace, repair_text

ANY_LANGUAGE = CleanOptions(languages=())  # for tests of other filters on made-up words
LONG = " ".join(f"This is sentence number {i} of a plain English test document." for i in range(15))


@pytest.mark.parametrize(
    "final_url",
    [
        "https://en.wikipedia.org/wiki/Python_(programming_language)",
        "https://de.wikipedia.org/wiki/Berlin",
        "https://en.m.wikipedia.org/wiki/Berlin",
        "http://ja.m.wikipedia.org/wiki/%E6%9D%B1%E4%BA%AC",
        "https://wikipedia.org/",
        "http://www.wikipedia.com/wiki/X",
        "https://EN.WIKIPEDIA.ORG./wiki/Upper",
    ],
)
def test_wikipedia_is_dropped_by_final_url(make_doc, final_url):
    doc = make_doc("http://redirector.example/abc", LONG, final_url=final_url)
    assert clean_document(doc) == (None, "wikipedia")


def test_wikipedia_link_redirected_elsewhere_is_still_dropped(make_doc):
    doc = make_doc("https://en.wikipedia.org/wiki/X", LONG, final_url="https://mirror.example/X")
    assert clean_document(doc)[1] == "wikipedia"


@pytest.mark.parametrize("url", ["https://wikipedia.org.evil.example/x", "https://notwikipedia.org/x", "https://example.com/wikipedia.org"])
def test_lookalike_hosts_are_kept(make_doc, url):
    out, reason = clean_document(make_doc(url, LONG))
    assert reason is None and out["url"] == url


def test_wikipedia_can_be_kept_on_request(make_doc):
    doc = make_doc("https://en.wikipedia.org/wiki/X", LONG)
    assert clean_document(doc, CleanOptions(drop_wikipedia=False))[1] is None


@pytest.mark.parametrize("text", [None, "", "   \n\t  ", b"", "\u200b\u200b"])
def test_empty(make_doc, text):
    assert clean_document(make_doc("http://a.example/", text))[1] == "empty"


@pytest.mark.parametrize("text", [b"caf\xe9 " * 200, "bad \ud800 surrogate " * 50, 12345, "\ufffd" * 30 + " " + LONG])
def test_undecodable(make_doc, text):
    assert clean_document(make_doc("http://a.example/", text))[1] == "undecodable"


def test_utf8_bytes_are_decoded(make_doc):
    out, reason = clean_document(make_doc("http://a.example/", ("café " * 150).encode("utf-8")), ANY_LANGUAGE)
    assert reason is None and out["text"].startswith("café café")


def test_mojibake_is_repaired_and_content_kept():
    assert repair_text("The cafÃ© served crÃ¨me brÃ»lÃ©e") == "The café served crème brûlée"
    assert repair_text("â€œquotedâ€\x9d") == "\u201cquoted\u201d"
    # Real typography is content, not damage: curly quotes, ligatures and full-width stay.
    assert repair_text("\u201chi\u201d \ufb01ne \uff21") == "\u201chi\u201d \ufb01ne \uff21"
    assert repair_text("Tom &amp; Jerry") == "Tom & Jerry"


def test_whitespace_normalisation():
    raw = "  Title\u00a0\u00a0here \r\n\r\n\r\n\r\nPara\tone\u200b  \nline two   \n\n\n\nEnd  "
    assert normalize_whitespace(raw) == "Title here\n\nPara one\nline two\n\nEnd"


def test_stats_are_recomputed_after_repair(make_doc):
    text = "  " + "CafÃ©   au lait. " * 60
    out, reason = clean_document(make_doc("http://a.example/", text), ANY_LANGUAGE)
    assert reason is None
    assert "Café au lait." in out["text"] and "  " not in out["text"]
    assert out["n_chars"] == len(out["text"])
    assert out["n_words"] == len(out["text"].split()) == 180
    assert out["text_sha1"] == hashlib.sha1(out["text"].encode()).hexdigest()
    assert out["subreddits"] == ["reddit.com"]  # carried columns untouched


def test_length_limits(make_doc):
    opts = CleanOptions(min_chars=200, min_words=100, languages=())
    assert clean_document(make_doc("http://a.example/", "x" * 199), opts)[1] == "too_short"
    assert clean_document(make_doc("http://a.example/", "word " * 99), opts)[1] == "too_few_words"
    assert clean_document(make_doc("http://a.example/", "word " * 100), opts)[1] is None


def test_every_input_is_kept_or_counted(make_doc):
    docs = [
        make_doc("http://ok.example/1", LONG),
        make_doc("http://ok.example/2", "The cafÃ© on the corner is open again this week. " * 12),
        make_doc("http://x.example/de", "Das Café an der Ecke ist in dieser Woche wieder geöffnet und voll. " * 12),
        make_doc("http://x.example/w", LONG, final_url="https://fr.wikipedia.org/wiki/X"),
        make_doc("http://x.example/e", ""),
        make_doc("http://x.example/u", b"\xff\xfe" * 100),
        make_doc("http://x.example/s", "short text"),
        make_doc("http://x.example/s2", "word " * 50),
    ]
    kept, report = clean_documents(docs)
    assert [d["url"] for d in kept] == ["http://ok.example/1", "http://ok.example/2"]
    assert report.read == len(docs) and report.kept == 2
    assert dict(report.dropped) == {"wikipedia": 1, "empty": 1, "undecodable": 1, "too_short": 1, "too_few_words": 1,
                                    "non_english": 1}
    assert report.samples["wikipedia"] == ["https://fr.wikipedia.org/wiki/X"]
    report.check()
