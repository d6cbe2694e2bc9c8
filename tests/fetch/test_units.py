"""Unit tests of the fetch stage's pieces: address rules, URL checks, charsets, Retry-After,
the WARC writer and its crash recovery, the log, error classes, and the CLI."""

from __future__ import annotations

import io
import sys
from email.utils import formatdate
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scrapy.exceptions import DownloadTimeoutError, IgnoreRequest
from scrapy.http import Headers
from warcio.archiveiterator import ArchiveIterator

sys.path.insert(0, str(Path(__file__).parent))
import servers as S  # noqa: E402

from webtext.cli import main  # noqa: E402
from webtext.fetch.charset import decode_html, detect_charset, is_html  # noqa: E402
from webtext.fetch.crawl import validate_url  # noqa: E402
from webtext.fetch.log import FetchLog, committed_warc_sizes, make_row, read_fetch_log  # noqa: E402
from webtext.fetch.middlewares import ForbiddenAddress, forbidden_reason, parse_retry_after  # noqa: E402
from webtext.fetch.replay import read_response  # noqa: E402
from webtext.fetch.spider import classify_failure  # noqa: E402
from webtext.fetch.warc import RollingWarcWriter, recover, warc_files  # noqa: E402


@pytest.mark.parametrize(
    "address,reason",
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not_global"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_forbidden_addresses(address, reason):
    assert forbidden_reason(address) == reason


def test_allow_loopback_allows_only_127_8():
    assert forbidden_reason("127.0.0.5", allow_loopback=True) is None
    assert forbidden_reason("::1", allow_loopback=True) == "loopback"
    assert forbidden_reason("10.0.0.1", allow_loopback=True) == "private"
    assert forbidden_reason("169.254.169.254", allow_loopback=True) == "link_local"


@pytest.mark.parametrize(
    "url,error",
    [
        ("https://example.com/a", None),
        ("http://example.com:8080/a?b=1", None),
        ("example.com/a", "invalid_url"),
        ("localhost:8080/a", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://example.com:abc/", "invalid_url"),
        ("http://", "invalid_url"),
        ("http:/example.com", "invalid_url"),
        (" http://example.com/", "invalid_url"),
        ("", "invalid_url"),
        (None, "invalid_url"),
        ("ftp://example.com/f", "forbidden_scheme"),
        ("javascript:alert(1)", "forbidden_scheme"),
        ("file:///etc/passwd", "forbidden_scheme"),
        ("data:text/html,hi", "forbidden_scheme"),
        ("http://192.168.0.1/admin", "forbidden_address"),
        ("http://[::1]/", "forbidden_address"),
    ],
)
def test_validate_url(url, error):
    result = validate_url(url)
    assert (result[0] if result else None) == error


def test_charset_rules():
    fr = ("Le café est très apprécié; les élèves à l'école. " * 4).encode
    assert detect_charset(b"\xef\xbb\xbf<html>caf\xc3\xa9</html>") == ("utf-8", "bom")
    assert detect_charset(fr("cp1252"), "text/html; charset=windows-1252") == ("cp1252", "header")
    assert detect_charset(b'<meta charset="koi8-r">' + "Привет".encode("koi8-r")) == ("koi8-r", "meta")
    # header lies (utf-8 but the bytes are not): the header is skipped
    codec, source = detect_charset(fr("cp1252"), "text/html; charset=utf-8")
    assert source == "detected" and "très" in fr("cp1252").decode(codec)
    # an unknown charset name is ignored, not an error
    assert detect_charset(fr("utf-8"), "text/html; charset=no-such-charset") == ("utf-8", "detected")
    # latin-1 declared, valid UTF-8 sent: UTF-8 wins
    assert detect_charset(fr("utf-8"), "text/html; charset=iso-8859-1") == ("utf-8", "detected")
    text, _, _ = decode_html("<p>naïve</p>".encode("utf-16"), "text/html; charset=utf-16")
    assert text == "<p>naïve</p>"


def test_is_html():
    assert is_html("text/html; charset=utf-8") and is_html("application/xhtml+xml")
    assert not is_html("application/pdf", b"<html>") and not is_html("text/plain")
    assert is_html(None, b"  <!DOCTYPE html><html>") and not is_html("", b"%PDF-1.4")


def test_parse_retry_after():
    assert parse_retry_after(b"120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after(b"soon") is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_classify_failure():
    assert classify_failure(ForbiddenAddress("x")) == "forbidden_address"
    assert classify_failure(IgnoreRequest("Forbidden by robots.txt")) == "robots_disallowed"
    assert classify_failure(IgnoreRequest("max redirections reached")) == "too_many_redirects"
    assert classify_failure(DownloadTimeoutError("took longer")) == "timeout"
    assert classify_failure(RuntimeError("?")) == "download_error"


def _exchange(writer: RollingWarcWriter, i: int):
    return writer.write_exchange(
        f"http://example.com/{i}",
        method="GET",
        request_url=f"http://example.com/{i}",
        request_headers=Headers({"User-Agent": "t"}),
        status=200,
        reason="OK",
        response_headers=Headers({"Content-Type": "text/html", "Transfer-Encoding": "chunked"}),
        body=f"<html>page {i}</html>".encode(),
        ip_address="93.184.216.34",
    )


def test_warc_log_commit_and_recovery(tmp_path):
    writer = RollingWarcWriter(tmp_path, max_bytes=10**9)
    flog = FetchLog(tmp_path, writer, commit_rows=1000)
    for i in range(3):
        path, offset = _exchange(writer, i)
        flog.add(make_row(f"http://example.com/{i}", warc_path=path, warc_offset=offset, status=200))
    assert not flog.add(make_row("http://example.com/0"))  # one row per URL, even within a run
    flog.commit()
    committed = committed_warc_sizes(tmp_path)
    (rel, size), = committed.items()
    # records written after the last commit, then a torn record, as a kill -9 would leave
    _exchange(writer, 3)
    writer._fh.write(b"\x1f\x8b\x08\x00garbage-half-record")
    writer._fh.flush()
    assert recover(tmp_path, committed) == {}  # the live writer holds its lock: untouched
    writer._fh.close()  # the process "dies": the lock goes with it
    writer._journal.close()
    changed = recover(tmp_path, committed)
    assert list(changed) == [rel] and (tmp_path / rel).stat().st_size == size
    with open(tmp_path / rel, "rb") as fh:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(fh)]
    assert [u for t, u in records if t == "response"] == [f"http://example.com/{i}" for i in range(3)]
    # the log's locations read back, with the hop-by-hop headers fixed up
    for row in read_fetch_log(tmp_path):
        rec = read_response(row["warc_path"], row["warc_offset"])
        assert rec.url == row["url"] and rec.body.startswith(b"<html>page ")
        assert "transfer-encoding" not in rec.headers and rec.headers["content-length"] == str(len(rec.body))
        assert rec.ip_address == "93.184.216.34"


def test_uncommitted_warc_file_is_removed_and_files_roll(tmp_path):
    writer = RollingWarcWriter(tmp_path, max_bytes=2000)
    for i in range(10):
        _exchange(writer, i)
    writer.close()
    assert len(warc_files(tmp_path)) > 2  # rolled by size
    recover(tmp_path, {})  # no log part mentions them: nothing of theirs was ever committed
    assert warc_files(tmp_path) == []


def test_gzip_records_decode_and_cap(tmp_path):
    import gzip

    writer = RollingWarcWriter(tmp_path)
    body = gzip.compress(b"<html>" + b"a" * 100_000 + b"</html>")
    path, offset = writer.write_exchange(
        "http://example.com/z", method="GET", request_url="http://example.com/z", request_headers=Headers(),
        status=200, reason="OK", response_headers=Headers({"Content-Encoding": "gzip"}), body=body,
    )
    writer.close()
    rec = read_response(tmp_path / path, offset)
    assert rec.raw_body == body and len(rec.body) == 100_013 and not rec.truncated
    capped = read_response(tmp_path / path, offset, max_bytes=1000)
    assert len(capped.body) == 1000 and capped.truncated


def test_cli_fetch(tmp_path, capsys):
    links = tmp_path / "links"
    links.mkdir()
    assert main(["fetch", "--links", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err
    pq.write_table(pa.table({"x": [1]}), links / "bad.parquet")
    assert main(["fetch", "--links", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no 'url' column" in capsys.readouterr().err
    with S.Site("127.0.0.1", {"/a": S.html(S.page("a")), "/b": S.status(404)}) as site:
        pq.write_table(pa.table({"url": [site.url("/a"), site.url("/b"), "ftp://x/y"]}), links / "bad.parquet")
        rc = main(["fetch", "--links", str(tmp_path), "--out", str(tmp_path / "o"), "--allow-loopback", "--timeout", "3"])
    assert rc == 0
    import json

    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["read"] == 3 and report["kept"] == 1
    assert report["dropped"] == {"forbidden_scheme": 1, "http_404": 1}


def test_docs_name_the_error_classes_the_log_writes():
    """docs/fetch.md's error classes are exactly the code's; the pipeline docs use the same names."""
    import re

    from webtext.fetch.spider import ERROR_CLASSES

    root = Path(__file__).resolve().parents[2]
    fetch_md = (root / "docs" / "fetch.md").read_text()
    section = fetch_md[fetch_md.index("Error classes:") : fetch_md.index("## The archive")]
    documented = set(re.findall(r"`([a-z_<>]+)`", section.split("The Beam pipeline")[0]))
    assert documented == set(ERROR_CLASSES)
    for doc in ("docs/pipeline.md", "pipelines/transforms.py"):
        names = set(re.findall(r"`(robots_[a-z]+)`", (root / doc).read_text()))
        assert names and names <= set(ERROR_CLASSES), (doc, names)
    assert classify_failure(IgnoreRequest("Forbidden by robots.txt")) in ERROR_CLASSES
