"""The archive's guarantees, piece by piece (issue 11): sets written with their log row, recovery
that only cuts what a dead crawl of this folder wrote and never committed (and stops, naming the
file, on anything else), revisit records, valid WARC-Target-URIs, and readers that name bad files."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.http import Headers
from warcio.archiveiterator import ArchiveIterator

from webtext.errors import InputError
from webtext.fetch.log import FetchLog, committed_warc_sizes, log_parts, make_row, read_fetch_log
from webtext.fetch.replay import ArchiveIndex, check_warc_files, iter_warc_responses, read_response
from webtext.fetch.warc import Exchange, RollingWarcWriter, recover, warc_files

SAMPLE_WARC = Path(__file__).resolve().parents[2] / "webtext" / "sample" / "sample.warc.gz"
WARCIO = str(Path(sys.executable).with_name("warcio"))


def _ex(url: str, body: bytes, status: int = 200, **kw) -> Exchange:
    return Exchange(url, status, Headers({"Content-Type": "text/html"}), body, reason="OK",
                    request_headers=Headers({"User-Agent": "t"}), **kw)


def _crawl(out: Path, n: int, *, commit_every: int = 2, dies: bool = False, body=lambda i: f"<html>p{i}</html>".encode()):
    """A crawl process's writes: n URLs, a set each, committed every `commit_every` rows."""
    writer = RollingWarcWriter(out, max_bytes=10**9)
    flog = FetchLog(out, writer, commit_rows=commit_every)
    for i in range(n):
        url = f"http://example.com/{i}"
        (path, offset), = writer.write_set([_ex(url, body(i))], fetch_url=url, outcome=None)[-1:]
        flog.add(make_row(url, warc_path=path, warc_offset=offset, status=200))
    if dies:  # kill -9: nothing more is written, the locks go with the process
        writer._fh.flush()
        writer._fh.close()
        writer._journal.close()
    else:
        flog.commit()
        writer.close()
    return writer


def _records(out: Path) -> list[tuple[str, str, str | None]]:
    got = []
    for path in warc_files(out):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                got.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"), rec.rec_headers.get_header("WebText-URL")))
    return got


def test_dead_crawl_uncommitted_sets_are_cut_committed_ones_kept(tmp_path):
    _crawl(tmp_path, 5, commit_every=2, dies=True)  # rows 0-3 committed, row 4 buffered: lost
    assert len(read_fetch_log(tmp_path)) == 4
    changed = recover(tmp_path)
    assert len(changed) == 1
    responses = [u for t, u, _ in _records(tmp_path) if t == "response"]
    assert responses == [f"http://example.com/{i}" for i in range(4)]  # the set of URL 4 is gone with its row
    assert recover(tmp_path) == {}  # idempotent


def test_dead_crawl_that_never_committed_loses_its_own_file(tmp_path):
    _crawl(tmp_path, 1, commit_every=100, dies=True)
    assert len(warc_files(tmp_path)) == 1
    recover(tmp_path)
    assert warc_files(tmp_path) == []  # written by this folder's crawl and never committed


def test_foreign_warc_in_the_folder_is_never_deleted(tmp_path):
    _crawl(tmp_path, 3)
    foreign = tmp_path / "warc" / "copied-in.warc.gz"
    shutil.copy(SAMPLE_WARC, foreign)
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    with pytest.raises(InputError) as err:
        recover(tmp_path)
    assert "copied-in.warc.gz" in str(err.value) and "never deletes" in str(err.value)
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before


def test_a_copied_webtext_warc_with_a_journal_name_is_still_foreign(tmp_path):
    other = tmp_path / "other"
    _crawl(other, 2)
    out = tmp_path / "out"
    _crawl(out, 2)
    copied = out / "warc" / warc_files(other)[0].name
    shutil.copy(warc_files(other)[0], copied)  # same naming scheme, another crawl's file
    with pytest.raises(InputError, match=copied.name):
        recover(out)
    assert copied.exists()


def test_folder_whose_log_was_removed_is_left_alone(tmp_path):
    _crawl(tmp_path, 4)
    sizes = {p: p.stat().st_size for p in warc_files(tmp_path)}
    shutil.rmtree(tmp_path / "log")
    with pytest.raises(InputError) as err:
        recover(tmp_path)
    assert "log" in str(err.value)
    assert {p: p.stat().st_size for p in warc_files(tmp_path)} == sizes


@pytest.mark.parametrize("which", [0, -1])
def test_lost_log_part_stops_recovery_and_cuts_nothing(tmp_path, which):
    _crawl(tmp_path, 6, commit_every=2)
    parts = log_parts(tmp_path)
    assert len(parts) == 3
    sizes = {p: p.stat().st_size for p in warc_files(tmp_path)}
    parts[which].unlink()
    with pytest.raises(InputError) as err:
        recover(tmp_path)
    assert "missing" in str(err.value)
    assert {p: p.stat().st_size for p in warc_files(tmp_path)} == sizes


def test_identical_payloads_are_revisits(tmp_path):
    writer = RollingWarcWriter(tmp_path)
    same = b"<html><body>" + b"the same page " * 50 + b"</body></html>"
    locs = []
    for i, body in enumerate([same, b"<html>other</html>", same, same]):
        url = f"http://example.com/{i}"
        locs.append(writer.write_set([_ex(url, body)], fetch_url=url)[-1])
    writer.committed(1, writer.sync())  # as a log commit would (readers skip what was never committed)
    writer.close()
    kinds = [t for t, _, _ in _records(tmp_path) if t in ("response", "revisit")]
    assert kinds == ["response", "response", "revisit", "revisit"]
    with open(tmp_path / locs[2][0], "rb") as fh:
        fh.seek(locs[2][1])
        rec = next(iter(ArchiveIterator(fh)))
        h = rec.rec_headers
        assert h.get_header("WARC-Profile") == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
        assert h.get_header("WARC-Refers-To-Target-URI") == "http://example.com/0"
        assert h.get_header("WARC-Refers-To-Date") and h.get_header("WARC-Refers-To")
        assert rec.content_stream().read() == b""  # headers only
    # every reader sees the page under its own URL, with the original's body
    for i in (2, 3):
        page = read_response(tmp_path / locs[i][0], locs[i][1])
        assert page.url == f"http://example.com/{i}" and page.body == same and page.revisit
    assert [r.body == same for r in iter_warc_responses(tmp_path / "warc")] == [True, False, True, True]
    assert ArchiveIndex([tmp_path / "warc"]).get("http://example.com/3")[1] == locs[3][1]
    check = subprocess.run([WARCIO, "check", *map(str, warc_files(tmp_path))], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_target_uri_is_a_valid_uri_never_a_raw_iri(tmp_path):
    writer = RollingWarcWriter(tmp_path)
    iri = "http://bücher.example/été?q=ü#frag"
    writer.write_set([_ex(iri, b"<html>x</html>")], fetch_url=iri)
    writer.close()
    (kind, uri, fetch_url), *_ = [r for r in _records(tmp_path) if r[0] == "response"]
    assert uri == "http://xn--bcher-kva.example/%C3%A9t%C3%A9?q=%C3%BC"
    assert uri.isascii() and " " not in uri
    assert fetch_url == iri  # the logged URL, as given, for readers that join on it
    req = [r for r in _records(tmp_path) if r[0] == "request"][0]
    assert req[1] == uri


def test_archive_source_can_reuse_the_writer(tmp_path):
    """A response record with a given WARC-Date and extra fields, without a request record."""
    from datetime import datetime, timezone

    writer = RollingWarcWriter(tmp_path)
    when = datetime(2017, 5, 1, 12, 30, tzinfo=timezone.utc)
    ex = _ex("http://example.com/old", b"<html>old</html>", date=when, with_request=False,
             warc_headers={"WARC-Source-URI": "https://web.archive.org/web/20170501123000id_/http://example.com/old"})
    path, offset = writer.write_set([ex], fetch_url="http://example.com/old")[-1]
    writer.close()
    with open(tmp_path / path, "rb") as fh:
        fh.seek(offset)
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.rec_headers.get_header("WARC-Date") == "2017-05-01T12:30:00.000000Z"
        assert rec.rec_headers.get_header("WARC-Source-URI").startswith("https://web.archive.org/")
    assert [t for t, _, _ in _records(tmp_path)] == ["warcinfo", "response"]


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02 not a warc \xff" * 100, b"hello\r\n\r\nworld"])
def test_bad_warc_files_are_named(tmp_path, content):
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(content)
    for read in (lambda: check_warc_files([bad]), lambda: list(iter_warc_responses([bad])), lambda: ArchiveIndex([bad])):
        with pytest.raises(InputError, match="bad.warc.gz"):
            read()


def test_fetch_log_part_with_wrong_columns_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _crawl(tmp_path, 2)
    bad = tmp_path / "log" / "part-zzz.parquet"
    pq.write_table(pa.table({"url": ["http://a/"], "warc_offset": ["not a number"]}), bad)
    with pytest.raises(InputError, match="part-zzz.parquet"):
        read_fetch_log(tmp_path)
    pq.write_table(pa.table({c: [1] for c in ("url", "final_url", "status", "content_type", "bytes", "error",
                                              "fetched_at", "warc_path", "warc_offset")}), bad)
    with pytest.raises(InputError, match="part-zzz.parquet.*'url' is int64"):
        committed_warc_sizes(tmp_path)


def test_readers_ignore_what_a_dead_crawl_never_committed(tmp_path):
    """Before any rerun: a killed crawl's uncommitted sets and torn tail are invisible to every reader."""
    writer = _crawl(tmp_path, 5, commit_every=2, dies=True)  # rows 0-3 committed, URL 4's set is not
    with open(tmp_path / writer._relpath, "ab") as fh:
        fh.write(b"\x1f\x8b\x08\x00torn-record")  # kill -9 in the middle of a record
    logged = {r["url"] for r in read_fetch_log(tmp_path)}
    assert logged == {f"http://example.com/{i}" for i in range(4)}
    seen = [r.fetch_url for r in iter_warc_responses([tmp_path / "warc"])]
    assert sorted(seen) == sorted(logged)
    index = ArchiveIndex([tmp_path / "warc"])
    assert index.get("http://example.com/4") is None and index.get("http://example.com/3") is not None
    from webtext.extract.documents import iter_fetch_pages, iter_warc_pages

    assert sorted(p.url for p in iter_warc_pages([tmp_path / "warc"])) == sorted(p.url for p in iter_fetch_pages(tmp_path))


def _index_lookups(index, urls):
    return {u: index.get(u) for u in urls}


def test_replay_index_file_is_built_once_and_rebuilt_when_the_archive_changes(tmp_path, monkeypatch):
    """The build's crawls share one SQLite URL index: the first builds it, the others read it
    without opening the archive; it answers as the in-memory index does (last record per URL,
    Scrapy's spelling of a URL as an alias) and is rebuilt when a WARC file changes."""
    from webtext.fetch import replay

    writer = RollingWarcWriter(tmp_path)
    urls = ["http://example.com/a", "http://example.com/b", "http://example.com/a", "http://exämple.com/ü x"]
    for i, url in enumerate(urls):
        writer.write_set([_ex(url, f"<html>page {i}</html>".encode())], fetch_url=url)
    writer.committed(len(urls), writer.sync())
    writer.close()
    asked = urls + ["http://xn--exmple-cua.com/%C3%BC%20x", "http://example.com/missing"]
    db = tmp_path / "stage" / "replay-index.sqlite"
    db.parent.mkdir()
    (db.parent / "replay-index.sqlite.tmp-99999").write_bytes(b"half an index a killed builder left")
    in_memory = _index_lookups(ArchiveIndex([tmp_path / "warc"]), asked)
    assert in_memory["http://example.com/a"] == max(in_memory["http://example.com/a"], in_memory["http://example.com/b"])
    assert in_memory["http://xn--exmple-cua.com/%C3%BC%20x"] is not None  # the spelling Scrapy requests
    assert _index_lookups(ArchiveIndex([tmp_path / "warc"], db), asked) == in_memory
    built = db.stat().st_mtime_ns
    assert sorted(p.name for p in db.parent.iterdir()) == ["replay-index.sqlite", "replay-index.sqlite.lock"]

    def no_reading(*a, **k):
        raise AssertionError("the archive was read again although the index file is current")

    with monkeypatch.context() as m:
        m.setattr(replay, "_fill_index", no_reading)
        assert _index_lookups(ArchiveIndex([tmp_path / "warc"], db), asked) == in_memory
    assert db.stat().st_mtime_ns == built

    # the archive grows (a later crawl appended a page): the index is rebuilt, not served stale
    writer = RollingWarcWriter(tmp_path)
    writer.write_set([_ex("http://example.com/c", b"<html>new</html>")], fetch_url="http://example.com/c")
    writer.committed(len(urls) + 1, writer.sync())
    writer.close()
    fresh = ArchiveIndex([tmp_path / "warc"], db)
    assert fresh.get("http://example.com/c") == ArchiveIndex([tmp_path / "warc"]).get("http://example.com/c") is not None
    # an archive that turns out unreadable half-way through the build of a new index: the
    # InputError goes up and no half-built index is left behind
    db.unlink()
    real_records = replay._records

    def torn(path, limit=None):
        for i, item in enumerate(real_records(path, limit)):
            if i == 2:
                raise InputError("not a readable WARC file: torn record", path=str(path))
            yield item

    with monkeypatch.context() as m:
        m.setattr(replay, "_records", torn)
        with pytest.raises(InputError, match="torn record"):
            ArchiveIndex([tmp_path / "warc"], db)
    assert not db.exists() and not list(db.parent.glob("*.tmp-*"))
    # a file at the index's path that is not an index (cut short, foreign) is rebuilt
    db.write_bytes(b"not a database")
    assert _index_lookups(ArchiveIndex([tmp_path / "warc"], db), asked)["http://example.com/b"] == in_memory["http://example.com/b"]
