"""The typed (msgspec) decoding path gives exactly what the dict path gives; empty dumps are errors."""

from __future__ import annotations

import json
import os
import random

import pytest
import zstandard

from webtext.cli import main
from webtext.errors import InputError
from webtext.reddit import harvest, read_links
from webtext.reddit.dumps import iter_records
from webtext.reddit.links import HarvestOptions, RecordFields, classify
from webtext.report import StageReport
from webtext.urls import _already_normal, _normalize, normalize_url

# Lines that a typed decoder may refuse or read differently from json.loads: each must come out
# of the typed path exactly as out of the dict path (same reason, same row).
AWKWARD = [
    b'{"id": "a1", "url": "https://x.example/1", "created_utc": "1500000000", "score": "7"}',  # strings (2014 era)
    b'{"id": "a2", "url": "https://x.example/2", "created_utc": 1500000000.0, "score": 7.0}',  # floats (2024 era)
    b'{"id": "a3", "url": "https://x.example/3", "created_utc": 1500000000, "score": true}',  # bool score
    b'{"id": "a4", "url": "https://x.example/4", "created_utc": [1], "score": 5}',  # list
    b'{"id": 17, "url": "https://x.example/5", "created_utc": 1500000000, "score": 5}',  # int id
    b'{"id": "a6", "url": 42, "created_utc": 1500000000, "score": 5}',  # url not a string
    b'{"id": "a7", "url": "https://x.example/7", "created_utc": NaN, "score": 5}',  # NaN: json.loads only
    b'{"id": "a8", "url": "https://x.example/8", "created_utc": 1500000000, "score": 5, "is_self": 1}',  # int bool
    b'{"id": "a9", "url": "https://x.example/9", "created_utc": 1500000000, "score": 5, "over_18": "true"}',
    b'{"id": "b1", "url": "https://x.example/b1", "created_utc": 1500000000, "score": 5, "removed_by_category": 3}',
    b'{"id": "b2", "url": "https://x.example/b2", "created_utc": 1500000000, "score": 1, "score": 9}',  # repeated key
    b'{"id": "b3", "url": "https://x.example/b3", "created_utc": 1500000000, "score": 5, "title": "\\ud800"}',
    b'{"id": "b4", "url": "https://x.example/b4", "created_utc": 1500000000, "score": 5}\r',  # CRLF
    b'{"id": "b5", "url": "https://x.example/\xff", "created_utc": 1500000000, "score": 5}',  # bad UTF-8
    b'{"id": "", "url": "https://x.example/b6", "created_utc": 1500000000, "score": 5}',
    b'{"id": "b7", "url": null, "created_utc": 1500000000, "score": 5}',
    b'{"id": "b8", "url": "https://x.example/b8", "created_utc": 99999999999999999999999, "score": 5}',
    b'{"id": "b9", "url": "https://x.example/b9", "created_utc": 1500000000, "score": 5, "domain": "self.x"}',
    b"[1, 2]",
    b'"just a string"',
    b'{"id": "c1", "url": "https://x.example/c1"',  # cut
    b"   ",
    "\u3000".encode(),  # a line of Unicode whitespace only: blank, not a record
    b"",
]


def _write_zst(path, lines: list[bytes]) -> None:
    path.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))


def _outcome(records, opts):
    out = []
    for rec in records:
        sub, reason = classify(rec, opts)
        out.append((reason, None if sub is None else (sub.id, sub.url, sub.domain, sub.subreddit, sub.created_utc, sub.score)))
    return out


def test_typed_path_equals_dict_path_line_by_line(tmp_path, reddit_dumps):
    real = (reddit_dumps / "mixed-years" / "test_submissions.json").read_bytes().splitlines()
    lines = AWKWARD + real
    random.Random(3).shuffle(lines)
    path = tmp_path / "RS_2017-12.zst"
    _write_zst(path, lines)
    opts = HarvestOptions("2024-12", min_karma=0)
    plain_report, typed_report = StageReport("a"), StageReport("b")
    plain = _outcome(iter_records(path, report=plain_report), opts)
    typed = list(iter_records(path, report=typed_report, fields=RecordFields))
    assert any(type(r) is RecordFields for r in typed) and any(type(r) is dict for r in typed)  # both paths ran
    assert _outcome(typed, opts) == plain
    assert typed_report.to_dict()["dropped"] == plain_report.to_dict()["dropped"] != {}
    assert typed_report.samples == plain_report.samples  # the same line numbers named


def test_harvest_output_unchanged_by_the_typed_path(tmp_path, reddit_dumps, monkeypatch):
    """The harvest (typed) against the same harvest reading plain dicts: same rows, same report."""
    import importlib

    hv = importlib.import_module("webtext.reddit.harvest")  # the module (the package exports the function)

    dumps = [reddit_dumps / "RS_v2_2005-07.xz", reddit_dumps / "mixed-years" / "test_submissions.json"]
    typed = harvest(dumps, "2024-12", tmp_path / "typed", min_karma=0)
    plain_iter = hv.iter_records
    monkeypatch.setattr(hv, "iter_records", lambda *a, fields=None, keys=None, **k: plain_iter(*a, **k))
    plain = harvest(dumps, "2024-12", tmp_path / "plain", min_karma=0)
    assert typed.to_dict() | {"inputs": None} == plain.to_dict() | {"inputs": None}
    assert read_links(tmp_path / "typed" / "links") == read_links(tmp_path / "plain" / "links")


@pytest.mark.parametrize("name,data", [
    ("RS_2017-11.zst", b""),  # 0 bytes
    ("RS_2017-11.ndjson", b""),
    ("RS_2017-11.zst", zstandard.ZstdCompressor().compress(b"")),  # a valid frame of nothing
    ("RS_2017-11.zst", zstandard.ZstdCompressor().compress(b"\n \n\t\n")),  # only whitespace
])  # fmt: skip
def test_empty_dump_is_an_error_or_a_counted_skip(tmp_path, reddit_dumps, capsys, name, data):
    empty = tmp_path / "in" / name
    empty.parent.mkdir()
    empty.write_bytes(data)
    good = reddit_dumps / "RS_v2_2005-06.xz"
    with pytest.raises(InputError, match=name):
        harvest([good, empty], "2017-12", tmp_path / "out")
    assert not (tmp_path / "out" / "report.json").exists()  # nothing finished, nothing to resume from
    rc = main(["harvest", "--dumps", str(good), str(empty), "--until", "2017-12", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and name in err[0]
    report = harvest([good, empty], "2017-12", tmp_path / "skip", on_error="skip")
    assert report.dropped["unreadable_file"] == 1
    assert report.read == 103 + 1 and report.read == report.kept + sum(report.dropped.values())
    assert name in report.samples["unreadable_file"][0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_dump_is_an_error_or_a_counted_skip(tmp_path):
    path = tmp_path / "RS_2017-11.ndjson"
    path.write_text(json.dumps({"id": "a", "url": "https://a.example/", "created_utc": 1, "score": 5}) + "\n")
    path.chmod(0)
    with pytest.raises(InputError, match="RS_2017-11.ndjson"):
        harvest([path], "2017-12", tmp_path / "out")
    assert harvest([path], "2017-12", tmp_path / "skip", on_error="skip").dropped["unreadable_file"] == 1


def test_url_fast_path_agrees_with_the_full_rules():
    """`normalize_url` returns URLs already in normal form untouched; that shortcut must agree with
    the full parse on every URL, including near misses (case, ports, escapes, dot segments, query)."""
    rng = random.Random(7)
    pieces = list("abcAZ09-._~!$&'()*+,;=:@/?#%[] ") + ["..", "/./", "/../", "utm_source=x", "fbclid=1", "=", "&",
              "?", "www.", ":80", ":443", "%2e", "%41", "é", "b=1", "a=2", "A=0", "&&"]  # fmt: skip
    hosts = ["example.com", "a.b", "Ex.com", "h", "127.0.0.1", "h.com.", "a-b.c", "-a.b", "a..b", "[::1]", "u@h.com", "h.com:8080"]

    def full(url):
        try:
            return _normalize(url)
        except ValueError:
            return "error"

    hits = 0
    for _ in range(30_000):
        url = rng.choice(["http://", "https://", "HTTPS://", "ftp://"]) + rng.choice(hosts) + rng.choice(["", "/", "/p"])
        url += "".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        hits += _already_normal(url)
        if _already_normal(url):
            assert full(url) == url
        assert normalize_url(url) == full(url) if full(url) != "error" else True
    assert hits > 500
