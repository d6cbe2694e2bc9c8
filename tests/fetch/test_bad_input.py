"""Bad input to the fetch stage and to the readers of its output: one line naming the file, exit 2,
and nothing written that would poison a rerun (issue 11)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import servers as S  # noqa: E402

from webtext.cli import main  # noqa: E402
from webtext.fetch import FetchOptions, fetch_urls, read_fetch_log  # noqa: E402

SAMPLE_WARC = Path(__file__).resolve().parents[2] / "webtext" / "sample" / "sample.warc.gz"
BINARY = bytes(range(256)) * 64


def _links(tmp_path: Path, urls) -> Path:
    d = tmp_path / "links-in"
    (d / "links").mkdir(parents=True)
    pq.write_table(pa.table({"url": urls}), d / "links" / "part-0.parquet")
    return d


def _one_error_line(capsys, name: str) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert name in err[0], err[0]
    return err[0]


@pytest.mark.parametrize("content", [b"", BINARY], ids=["empty", "binary"])
def test_bad_replay_archive_is_an_error_and_poisons_nothing(tmp_path, capsys, content):
    bad = tmp_path / "broken.warc.gz"
    bad.write_bytes(content)
    from webtext.fetch.replay import iter_warc_responses

    urls = sorted({r.url for r in iter_warc_responses([SAMPLE_WARC])})[:5]
    links, out = _links(tmp_path, urls), tmp_path / "out"
    assert main(["fetch", "--links", str(links), "--out", str(out), "--replay", str(bad)]) == 2
    _one_error_line(capsys, "broken.warc.gz")
    assert read_fetch_log(out) == []  # no not_in_archive rows that a rerun would skip
    # a folder holding the bad file among good ones fails the same way
    folder = tmp_path / "archives"
    folder.mkdir()
    shutil.copy(SAMPLE_WARC, folder / "good.warc.gz")
    shutil.copy(bad, folder / "broken.warc.gz")
    assert main(["fetch", "--links", str(links), "--out", str(out), "--replay", str(folder)]) == 2
    _one_error_line(capsys, "broken.warc.gz")
    # the rerun with the right archive fetches every URL
    assert main(["fetch", "--links", str(links), "--out", str(out), "--replay", str(SAMPLE_WARC)]) == 0
    rows = read_fetch_log(out)
    assert sorted(r["url"] for r in rows) == urls and all(r["error"] != "not_in_archive" for r in rows)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_replay_archive_is_named(tmp_path, capsys):
    bad = tmp_path / "locked.warc.gz"
    shutil.copy(SAMPLE_WARC, bad)
    bad.chmod(0)
    links = _links(tmp_path, ["http://example.com/a"])
    assert main(["fetch", "--links", str(links), "--out", str(tmp_path / "o"), "--replay", str(bad)]) == 2
    _one_error_line(capsys, "locked.warc.gz")


@pytest.mark.parametrize("content", [b"", BINARY, b"<html>not a warc</html>\n"], ids=["empty", "binary", "text"])
def test_extract_warc_bad_file_exit_2(tmp_path, capsys, content):
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(content)
    assert main(["extract", "--warc", str(bad), "--out", str(tmp_path / "x")]) == 2
    _one_error_line(capsys, "bad.warc.gz")


def test_integer_url_column_is_an_error_before_crawling(tmp_path, capsys):
    d = tmp_path / "links-in" / "links"
    d.mkdir(parents=True)
    pq.write_table(pa.table({"url": [1, 2, 3]}), d / "ints.parquet")
    out = tmp_path / "out"
    assert main(["fetch", "--links", str(tmp_path / "links-in"), "--out", str(out)]) == 2
    line = _one_error_line(capsys, "ints.parquet")
    assert "'url'" in line and "int64" in line
    assert not out.exists()  # nothing started, nothing to resume


def test_fetch_log_with_wrong_columns_is_named(tmp_path, capsys):
    with S.Site("127.0.0.1", {"/a": S.html(S.page("a", "some text " * 40))}) as site:
        fetch_urls([site.url("/a")], tmp_path / "f", FetchOptions(allow_loopback=True, download_timeout=5))
    bad = tmp_path / "f" / "log" / "part-zzzz.parquet"
    pq.write_table(pa.table({"page": ["http://x/"], "code": [200]}), bad)
    assert main(["extract", "--fetch", str(tmp_path / "f"), "--out", str(tmp_path / "x")]) == 2
    line = _one_error_line(capsys, "part-zzzz.parquet")
    assert "None" not in line
    # and a rerun of the fetch itself says the same, before touching anything
    with S.Site("127.0.0.1", {}) as site:
        with pytest.raises(Exception, match="part-zzzz.parquet"):
            fetch_urls([site.url("/b")], tmp_path / "f", FetchOptions(allow_loopback=True, download_timeout=5))
