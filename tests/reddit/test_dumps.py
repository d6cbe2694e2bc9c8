"""Reading dumps: formats, the 2**31 zstd window, month selection, damaged files, malformed lines."""

from __future__ import annotations

import bz2
import calendar
import gzip
import io
import json
import lzma
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
import zstandard

from webtext.errors import ConfigError, InputError
from webtext.reddit.dumps import iter_records, month_end_utc, month_of_file, plan_dump_files, select_dump_files
from webtext.report import StageReport


def _records(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"r{i}", "url": f"https://example.com/a/{i}", "score": i % 7, "created_utc": 1500000000 + i, "subreddit": "s"}
        for i in range(start, start + n)
    ]


def _ndjson(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def write_long_window_zst(path: Path, data: bytes, frames: int = 1) -> None:
    """Like `zstd --long=31`: a 2**31 window with long-distance matching, streamed (no content size)."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    cctx = zstandard.ZstdCompressor(compression_params=params)
    step = -(-len(data) // frames)
    with open(path, "wb") as f:
        for i in range(frames):
            with cctx.stream_writer(f, closefd=False) as w:
                w.write(data[i * step : (i + 1) * step])


# --- the real dumps ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,records,karma", [("RS_v2_2005-07.xz", 1079, 757), ("RS_v2_2005-06.xz", 103, 83)])
def test_real_xz_dumps_read_completely(reddit_dumps, name, records, karma):
    report = StageReport("t")
    rows = list(iter_records(reddit_dumps / name, report=report))
    assert len(rows) == records
    assert sum(1 for r in rows if r["score"] >= 3) == karma
    assert report.read == 0  # nothing malformed in a clean dump
    assert len({r["id"] for r in rows}) == records


def test_mixed_years_sample_is_ndjson_with_every_created_utc_type(reddit_dumps):
    path = reddit_dumps / "mixed-years" / "test_submissions.json"
    assert path.read_bytes().lstrip()[:1] == b"{"  # NDJSON, not one JSON array
    rows = list(iter_records(path))
    assert len(rows) == 31
    assert {type(r["created_utc"]) for r in rows} == {int, str, float}
    assert sum(bool(r.get("is_self")) for r in rows) == 12
    assert sum(bool(r.get("over_18")) for r in rows) == 6


# --- zstd with a 2**31 window -----------------------------------------------------------------


def test_zst_with_2_31_window_and_long_distance_matching(tmp_path):
    data = _ndjson(_records(5000))
    path = tmp_path / "RS_2017-11.zst"
    write_long_window_zst(path, data, frames=3)
    # The file really needs the big window: a default decompressor refuses it.
    with pytest.raises(zstandard.ZstdError, match="too much memory"):
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(path.read_bytes())).read()
    frame = zstandard.get_frame_parameters(path.read_bytes())
    assert frame.window_size == 2**31
    rows = list(iter_records(path))
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(5000)]


def test_truncated_zst_names_file_and_position(tmp_path):
    data = _ndjson(_records(20000))
    path = tmp_path / "RS_2017-11.zst"
    write_long_window_zst(path, data)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(InputError) as err:
        list(iter_records(path))
    message = str(err.value)
    assert str(path) in message and "truncated zstd" in message
    assert "compressed bytes" in message and "complete lines" in message

    # skip: the records before the cut are kept, the rest is one counted drop.
    report = StageReport("t")
    rows = list(iter_records(path, on_error="skip", report=report))
    assert 0 < len(rows) < 20000
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(rows))]
    assert report.dropped == {"corrupt_file": 1}
    assert str(path) in report.samples["corrupt_file"][0]


def test_corrupt_zst_is_an_input_error(tmp_path):
    data = _ndjson(_records(20000))
    path = tmp_path / "bad.zst"
    write_long_window_zst(path, data)
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="bad.zst"):
        list(iter_records(path))


@pytest.mark.parametrize("suffix,compress", [(".xz", lzma.compress), (".bz2", bz2.compress), (".gz", gzip.compress)])
def test_stdlib_formats_and_their_truncation(tmp_path, suffix, compress):
    data = _ndjson(_records(3000))
    good = tmp_path / f"RS_2010-01{suffix}"
    good.write_bytes(compress(data))
    assert len(list(iter_records(good))) == 3000
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(InputError) as err:
        list(iter_records(cut))
    assert str(cut) in str(err.value) and "complete lines" in str(err.value)


def test_truncated_real_xz_dump(reddit_dumps, tmp_path):
    whole = (reddit_dumps / "RS_v2_2005-07.xz").read_bytes()
    cut = tmp_path / "RS_v2_2005-07.xz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="truncated xz stream"):
        list(iter_records(cut))
    report = StageReport("t")
    rows = list(iter_records(cut, on_error="skip", report=report))
    assert 0 < len(rows) < 1079 and report.dropped == {"corrupt_file": 1}


# --- malformed lines --------------------------------------------------------------------------


def test_malformed_lines_are_counted_not_fatal(tmp_path):
    good = _records(3)
    body = (
        json.dumps(good[0]).encode() + b"\n"
        + b"{not json\n"
        + b"\n   \n"  # blank lines are not records
        + b"[1, 2]\n"
        + b'{"id": "x", "title": "\xff\xfe broken utf-8"}\n'
        + json.dumps(good[1]).encode() + b"\n"
        + json.dumps(good[2]).encode()[:-5]  # cut last line, no newline
    )  # fmt: skip
    path = tmp_path / "dump.ndjson"
    path.write_bytes(body)
    report = StageReport("t")
    rows = list(iter_records(path, report=report))
    assert [r["id"] for r in rows] == ["r0", "r1"]
    assert report.dropped == {"malformed_json": 3, "not_an_object": 1}
    assert "dump.ndjson:2" in report.samples["malformed_json"]
    # Without a report to count in, a malformed line is an error, not a silent skip.
    with pytest.raises(InputError, match="line 2"):
        list(iter_records(path))


def test_json_array_file_is_streamed(tmp_path):
    recs = _records(2000)
    path = tmp_path / "subs.json"
    path.write_text(json.dumps(recs, indent=1))
    assert [r["id"] for r in iter_records(path)] == [r["id"] for r in recs]
    empty = tmp_path / "empty.json"
    empty.write_text(" [ ] ")
    assert list(iter_records(empty)) == []
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(recs)[:-200])
    with pytest.raises(InputError, match="cut.json"):
        list(iter_records(cut))


# --- months and file selection ----------------------------------------------------------------


def test_month_end_is_first_instant_of_next_month():
    assert month_end_utc("2017-12") == int(datetime(2018, 1, 1, tzinfo=timezone.utc).timestamp())
    assert month_end_utc("2005-06") == calendar.timegm((2005, 7, 1, 0, 0, 0))
    for bad in ("2017-13", "2017-1", "17-12", "2017/12", ""):
        with pytest.raises(ConfigError):
            month_end_utc(bad)


def test_month_of_file_names():
    assert month_of_file("RS_2017-12.zst") == (2017, 12)
    assert month_of_file("/x/RS_v2_2005-07.xz") == (2005, 7)
    assert month_of_file("RS_2018-01-03.zst") == (2018, 1)
    assert month_of_file("test_submissions.json") is None


def test_select_expands_folders_and_skips_later_months_unread(tmp_path, reddit_dumps):
    d = tmp_path / "dumps"
    (d / "2018").mkdir(parents=True)
    shutil.copy(reddit_dumps / "RS_v2_2005-07.xz", d / "RS_v2_2005-07.xz")
    (d / "RS_2017-12.zst").write_bytes(b"not even zstd")  # never opened when selected only by name
    # A later month that is not a valid file at all: skipped by name, so never read.
    (d / "2018" / "RS_2018-01.zst").write_bytes(b"garbage")
    (d / "RC_2017-01.zst").write_bytes(b"comments")
    (d / "notes.txt").write_text("x")
    (d / ".hidden.zst").write_bytes(b"x")
    plan = plan_dump_files([d, d / "RS_v2_2005-07.xz"], "2017-12")
    assert [p.name for p in plan.selected] == ["RS_v2_2005-07.xz", "RS_2017-12.zst"]
    assert [p.name for p in plan.skipped] == ["RS_2018-01.zst"]
    assert [p.name for p in select_dump_files([d], "2005-06")] == []
    with pytest.raises(InputError, match="no such file"):
        select_dump_files([tmp_path / "missing"], "2017-12")
    with pytest.raises(InputError, match="not a dump file"):
        select_dump_files([d / "notes.txt"], "2017-12")
    with pytest.raises(InputError, match="comments dump"):
        select_dump_files([d / "RC_2017-01.zst"], "2017-12")


# --- remote locations (gs://): listed and opened by the caller ------------------------------------


def test_remote_locations_are_planned_through_the_listing_given():
    """The same selection rules as for a local folder, on the names a listing gives (the build
    passes one that lists gs:// through Beam); nothing with a scheme is touched without one."""
    files = [
        "gs://b/dumps/2018/RS_2018-01.zst",  # a later month: skipped by name
        "gs://b/dumps/RC_2017-01.zst",  # comments
        "gs://b/dumps/RS_2017-12.zst",
        "gs://b/dumps/RS_v2_2005-07.xz",
        "gs://b/dumps/.cache/RS_2017-11.zst",  # in a hidden folder
        "gs://b/dumps/.RS_2017-10.zst",  # hidden
        "gs://b/dumps/notes.txt",
        "gs://b/dumpsX/RS_2017-09.zst",  # a sibling sharing the prefix: not inside
        "gs://b/one/RS_2017-06.zst",
        "gs://b/empty/readme.md",
    ]

    def listing(path: str) -> list[str]:  # as pipelines.store.list_tree answers
        inside = [f for f in files if f.startswith(path.rstrip("/") + "/")]
        return inside or ([path] if path in files else [])

    plan = plan_dump_files(["gs://b/dumps/", "gs://b/one/RS_2017-06.zst", "gs://b/dumps/RS_2017-12.zst"], "2017-12",
                           listing=listing)
    assert plan.selected == ["gs://b/dumps/RS_v2_2005-07.xz", "gs://b/one/RS_2017-06.zst", "gs://b/dumps/RS_2017-12.zst"]
    assert plan.skipped == ["gs://b/dumps/2018/RS_2018-01.zst"]
    for path, message in [("gs://b/missing", "no such file or folder"), ("gs://b/empty", "folder holds no dump files")]:
        with pytest.raises(InputError, match=message) as err:
            plan_dump_files([path], "2017-12", listing=listing)
        assert path in str(err.value)
    with pytest.raises(InputError, match="this command reads local files") as err:
        plan_dump_files(["gs://b/dumps/RS_2017-12.zst"], "2017-12")
    assert "gs://b/dumps/RS_2017-12.zst" in str(err.value)


def test_a_dump_read_from_a_file_object_is_read_as_from_its_path(tmp_path):
    """`fh`/`size` (how the build reads gs:// through Beam): the same records, and a damaged file
    named by its location in the error and in the drop example."""
    path = tmp_path / "RS_2017-12.zst"
    records = _records(3000)
    write_long_window_zst(path, _ndjson(records) + b"not json\n")
    name = "gs://b/dumps/RS_2017-12.zst"
    report, from_path = StageReport("t"), StageReport("t")
    with open(path, "rb") as fh:
        got = list(iter_records(name, fh=fh, size=path.stat().st_size, report=report))
    assert got == list(iter_records(path, report=from_path)) == records
    assert dict(report.dropped) == {"malformed_json": 1} and report.samples["malformed_json"] == ["RS_2017-12.zst:3001"]

    cut = tmp_path / "cut.zst"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with open(cut, "rb") as fh, pytest.raises(InputError, match="truncated zstd") as err:
        list(iter_records(name, fh=fh, size=cut.stat().st_size))
    assert name in str(err.value) and f"of {cut.stat().st_size:,} compressed bytes" in str(err.value)
    report = StageReport("t")
    with open(cut, "rb") as fh:
        kept = list(iter_records(name, fh=fh, size=cut.stat().st_size, on_error="skip", report=report))
    assert 0 < len(kept) < len(records) and kept == records[: len(kept)]
    assert report.dropped["corrupt_file"] == 1 and report.samples["corrupt_file"][0].startswith(name)
    with pytest.raises(ConfigError, match="size="):
        list(iter_records(name, fh=io.BytesIO(b""), size=None))
