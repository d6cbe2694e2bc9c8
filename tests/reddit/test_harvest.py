"""The harvest end to end on the real dumps: counts, accounting, outputs, reruns, the CLI."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from webtext.cli import main
from webtext.reddit import harvest, read_links
from webtext.reddit.links import HarvestOptions, qualifies

# The mixed-years sample, labelled by hand from its records: why each one is dropped with
# min_karma=0, until=2024-12, NSFW not kept (None: kept).
MIXED_LABELS = {
    "1afwvv8": "self_post", "1afwvv9": "reddit_link", "1afwvva": "nsfw", "1afwvvb": "self_post",
    "1afwvve": "nsfw", "1afwvvf": "self_post", "1afwvvg": "self_post", "1afwvvh": "nsfw", "1afwvvi": "nsfw",
    "1afwvvj": "self_post", "87": None, "88": None, "89": None, "90": None, "91": None, "1v3sg": None,
    "1v3sk": None, "1v3st": None, "1v3su": None, "1v3t1": None, "2f4i96": None, "2f4i97": None,
    "2f4i98": "self_post", "2f4i99": None, "2f4i9a": "reddit_link", "j08bcm": "self_post",
    "jk3lbh": "self_post", "jwl1gg": "self_post", "jyc1pb": "self_post", "jzzw6o": "self_post",
    "abdn5a": "removed",  # a self post whose text is [removed]
}  # fmt: skip


def test_july_2005(reddit_dumps, tmp_path):
    report = harvest([reddit_dumps / "RS_v2_2005-07.xz"], "2017-12", tmp_path)
    assert report.read == 1079
    assert report.dropped["low_karma"] == 1079 - 757
    others = sum(n for reason, n in report.dropped.items() if reason != "low_karma")
    assert report.kept + others == 757  # the 757 above the bar are kept or dropped for another reason
    assert report.kept > 700
    rows = read_links(tmp_path / "links")
    assert len(rows) == report.links
    assert sum(r["n_submissions"] for r in rows) == report.kept
    assert [r["url"] for r in rows] == sorted({r["url"] for r in rows})  # unique, sorted
    assert all(r["score"] >= 3 for r in rows)
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["read"] == on_disk["kept"] + sum(on_disk["dropped"].values())
    assert on_disk["links"] == len(rows) and on_disk["kept"] == report.kept


def test_june_2005(reddit_dumps, tmp_path):
    report = harvest([reddit_dumps / "RS_v2_2005-06.xz"], "2005-06", tmp_path)
    assert report.read == 103 and report.dropped["low_karma"] == 103 - 83
    assert report.kept + sum(report.dropped.values()) - report.dropped["low_karma"] == 83


def test_mixed_years_every_schema_era(reddit_dumps, tmp_path):
    path = reddit_dumps / "mixed-years" / "test_submissions.json"
    report = harvest([path], "2024-12", tmp_path, min_karma=0)
    expected = Counter(reason for reason in MIXED_LABELS.values() if reason)
    assert report.dropped == expected
    assert report.kept == sum(1 for r in MIXED_LABELS.values() if r is None) == 13
    kept_ids = {rid for row in read_links(tmp_path / "links") for rid in row["reddit_ids"]}
    assert kept_ids == {rid for rid, r in MIXED_LABELS.items() if r is None}
    # The string (2014) and int (2005/2007) eras both come through as ints.
    rows = {rid: row for row in read_links(tmp_path / "links") for rid in row["reddit_ids"]}
    assert rows["2f4i97"]["first_created_utc"] == 1409529600
    assert rows["87"]["first_created_utc"] == 1119552233


def test_until_cap_and_month_skip(reddit_dumps, tmp_path):
    report = harvest([reddit_dumps], "2005-06", tmp_path)
    assert [p.endswith("RS_v2_2005-07.xz") for p in report.skipped_files] == [True]
    # The mixed sample's records after June 2005 are counted, and its June ones overlap the June dump.
    assert report.dropped["after_until"] == 31 - 5
    assert report.dropped["duplicate_submission"] == 4  # four of the five are also in the June dump above the bar
    assert report.read == 103 + 31
    assert all(r["first_created_utc"] < 1120176000 for r in read_links(tmp_path / "links"))


def test_sum_rule_aggregates_below_the_bar(reddit_dumps, tmp_path):
    opts = HarvestOptions("2017-12", karma_rule="sum")
    maxr = harvest([reddit_dumps / "RS_v2_2005-07.xz"], "2017-12", tmp_path / "max")
    sumr = harvest([reddit_dumps / "RS_v2_2005-07.xz"], "2017-12", tmp_path / "sum", karma_rule="sum")
    rows = read_links(tmp_path / "sum" / "links")
    assert all(qualifies(r, opts) for r in rows)
    assert sumr.read == maxr.read == 1079 and sumr.kept >= maxr.kept
    assert sumr.kept + sum(sumr.dropped.values()) == 1079


def test_spilling_gives_identical_output(reddit_dumps, tmp_path):
    a = harvest([reddit_dumps], "2017-12", tmp_path / "a")
    b = harvest([reddit_dumps], "2017-12", tmp_path / "b", max_urls_in_memory=50)
    assert read_links(tmp_path / "a" / "links") == read_links(tmp_path / "b" / "links")
    assert a.to_dict()["dropped"] == b.to_dict()["dropped"] and a.kept == b.kept


def test_rerun_is_skipped_and_option_change_reruns(reddit_dumps, tmp_path):
    first = harvest([reddit_dumps / "RS_v2_2005-06.xz"], "2017-12", tmp_path)
    stamp = (tmp_path / "report.json").stat().st_mtime_ns
    again = harvest([reddit_dumps / "RS_v2_2005-06.xz"], "2017-12", tmp_path)
    assert (tmp_path / "report.json").stat().st_mtime_ns == stamp
    assert again.to_dict() == first.to_dict()
    (tmp_path / ".harvest-spill-99999").mkdir()  # as a crashed run would leave it
    other = harvest([reddit_dumps / "RS_v2_2005-06.xz"], "2017-12", tmp_path, min_karma=10)
    assert other.kept < first.kept
    assert json.loads((tmp_path / "report.json").read_text())["options"]["min_karma"] == 10
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_corrupt_file_fail_and_skip(reddit_dumps, tmp_path):
    d = tmp_path / "dumps"
    d.mkdir()
    shutil.copy(reddit_dumps / "RS_v2_2005-06.xz", d)
    whole = (reddit_dumps / "RS_v2_2005-07.xz").read_bytes()
    (d / "RS_v2_2005-07.xz").write_bytes(whole[: len(whole) // 3])
    from webtext.errors import InputError

    with pytest.raises(InputError, match="RS_v2_2005-07.xz"):
        harvest([d], "2017-12", tmp_path / "fail")
    report = harvest([d], "2017-12", tmp_path / "skip", on_error="skip")
    assert report.dropped["corrupt_file"] == 1
    assert 103 < report.read < 103 + 1079
    report.check()


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_harvest(reddit_dumps, tmp_path, capsys):
    rc = main(["harvest", "--dumps", str(reddit_dumps / "RS_v2_2005-06.xz"), "--until", "2017-12", "--out", str(tmp_path),
               "--max-urls-in-memory", "10"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert f"read {report['read']:,} records" in out and f"{report['links']:,} links" in out
    assert report["read"] == 103


def test_cli_bad_input_is_one_line_exit_2(reddit_dumps, tmp_path, capsys):
    cut = tmp_path / "RS_2017-01.zst"
    cut.write_bytes(b"\x28\xb5\x2f\xfd\x00\x58garbage")
    rc = main(["harvest", "--dumps", str(cut), "--until", "2017-12", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and str(cut) in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("webtext harvest: error")]) == 1
    rc = main(["harvest", "--dumps", str(cut), "--until", "2017-12", "--out", str(tmp_path / "o"), "--on-error", "skip"])
    assert rc == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["dropped"] == {"corrupt_file": 1}
    assert main(["harvest", "--dumps", str(cut), "--until", "12-2017", "--out", str(tmp_path / "o")]) == 2
    assert main(["harvest", "--dumps", str(cut), "--subreddit", "x", "--until", "2017-12", "--out", str(tmp_path)]) == 2
