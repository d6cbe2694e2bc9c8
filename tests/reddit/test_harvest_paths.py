"""The harvest's fast path (runs of lines decoded in one call, the date cap and karma bar applied a
batch at a time, rows written as columns) against the plain path it replaces: every record read
with `json.loads`, `classify` on each, rows grouped in a dict, `aggregate`, `write_links`. Same
links table byte for byte, same drop counts, same examples, on a dump with every kind of record."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
import zstandard

from webtext.reddit import harvest, read_links
from webtext.reddit import dumps as dumps_module
from webtext.reddit.dumps import iter_records, plan_dump_files
from webtext.reddit.links import HarvestOptions, RecordFields, aggregate, classify, qualifies, write_links
from webtext.report import SAMPLES_PER_REASON, StageReport

CAP = 1514764800  # --until 2017-12


def _record(rng: random.Random, i: int) -> dict:
    """One submission of a realistic mix: most plain, some of each reason, some drifted types."""
    sub = f"sub{rng.randrange(6)}"
    url = rng.choice([
        f"https://blog{rng.randrange(40)}.example.net/post-{rng.randrange(60)}.html",
        f"HTTPS://News.Example.com:443/story/{rng.randrange(30)}/?utm_source=rss&b=2&a=1#top",
        f"http://www.site.org/a/../b/{rng.randrange(20)}?x=1&amp;y=2",
        f"https://i.imgur.com/{i:x}.jpg", f"https://www.youtube.com/watch?v={i}", f"https://en.wikipedia.org/wiki/A{i % 7}",
        f"https://www.reddit.com/r/{sub}/comments/{i:x}/", "ftp://files.example.com/x", "not a url",
        f"https://example.com/file{i % 5}.PDF", f"https://example.com/img%2Ejpg?{i % 3}",
    ])  # fmt: skip
    rec = {
        "id": f"t{i:x}", "url": url, "created_utc": rng.choice([rng.randrange(CAP - 10**7, CAP + 10**6), CAP - 1, CAP]),
        "score": rng.choice([0, 1, 2, 3, 5, 40, 1000]), "subreddit": sub, "domain": url.split("/")[2] if "//" in url else "",
        "is_self": False, "over_18": rng.random() < 0.05, "title": "A headline", "selftext": "",
        "author": rng.choice(["someone", "[deleted]"]), "num_comments": rng.randrange(9), "media": None,
    }  # fmt: skip
    roll = rng.random()
    if roll < 0.04:
        rec["is_self"], rec["domain"] = True, f"self.{sub}"
    elif roll < 0.06:
        rec["removed_by_category"] = rng.choice(["deleted", "moderator", "reddit"])
    elif roll < 0.08:
        rec[rng.choice(["title", "selftext", "url"])] = rng.choice(["[deleted]", "[removed]"])
    elif roll < 0.10:  # schema drift: the types of other eras
        rec["created_utc"] = rng.choice([str(rec["created_utc"]), float(rec["created_utc"]), f"{rec['created_utc']}.0"])
        rec["score"] = rng.choice([str(rec["score"]), float(rec["score"]), "n/a", True, None])
        rec["is_self"] = rng.choice(["false", "true", 0, 1])
        rec["over_18"] = rng.choice(["true", "false", 1, None])
    elif roll < 0.11:
        del rec[rng.choice(["id", "url", "created_utc", "score"])]
    elif roll < 0.12:
        rec[rng.choice(["id", "url", "created_utc", "score"])] = rng.choice([None, "", [], {}, 17, "x"])
    elif roll < 0.13:
        rec["id"] = f"t{rng.randrange(i + 1):x}"  # the same submission again (overlapping dumps)
    return rec


# Lines that are not plain records, mixed into the runs (each sends its run down the line-by-line path).
ODD_LINES = [
    b"not json at all", b"[1, 2, 3]", b'"a string"', b"42", b"null", b"{", b"}", b'{"id": "x1", "url": ',
    b'{"id": "x2", "url": "https://two.example/1", "created_utc": 1500000000, "score": 9} {"id": "x3"}',
    b'{"id": "x4", "url": "https://odd.example/\xff", "created_utc": 1500000000, "score": 9}',  # bad UTF-8, used field
    b'{"id": "x5", "url": "https://odd.example/5", "created_utc": 1500000000, "score": 9, "other": "\xfe"}',  # skipped field
    b'{"id": "x6", "url": "https://odd.example/6", "created_utc": NaN, "score": 9}',
    b'{"id": "x7", "url": "https://odd.example/7", "created_utc": 1500000000, "score": 1e999}',
    b'{"id": "x8", "url": "https://odd.example/8", "created_utc": 1500000000, "score": 9, "score": 1}',
    b'{"id": "x9", "url": "https://odd.example/9", "created_utc": 1500000000, "score": 9}\r',
    b'{"id": "xa", "url": "https://odd.example/a", "created_utc": 1500000000, "score": 9}{"id": "xb", "score": 1}',
    b'{"id": "xc", "url": "https://odd.example/c", "created_utc": 1500000000, "score": 9, "x": [{}]}',
    b"   ", b"", b"\t",
]
# An object over two lines next to two objects on one line: a decoder of the whole run in one call
# would find as many objects as lines; read line by line they are malformed lines, never records.
# In the first, every line ends with `}` (only "each line starts with `{`" catches it); in the
# second every line starts with `{` (only "each line ends with `}`" catches it).
SPLIT_PAIRS = [
    [b'{"id": "y1", "url": "https://split.example/1", "media": {}', b'}',
     b'{"id": "y2", "url": "https://split.example/2", "created_utc": 1500000000, "score": 9}{"id": "y3"}'],
    [b'{"id": "y4", "url": "https://split.example/4", "media":', b'{}}',
     b'{"id": "y5", "url": "https://split.example/5", "created_utc": 1500000000, "score": 9}{"id": "y6"}'],
]  # fmt: skip


def _dump_lines(seed: int, n: int, odd: bool = True) -> list[bytes]:
    rng = random.Random(seed)
    lines = [json.dumps(_record(rng, i), separators=(",", ":")).encode() for i in range(n)]
    if not odd:
        return lines
    for odd in ODD_LINES:
        lines.insert(rng.randrange(len(lines)), odd)
    for pair in SPLIT_PAIRS:
        at = rng.randrange(len(lines))
        lines[at:at] = pair
    return lines


def _write(path, lines: list[bytes], *, crlf: bool = False, bom: bool = False) -> None:
    data = (b"\r\n" if crlf else b"\n").join(lines) + b"\n"
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(zstandard.ZstdCompressor(level=1).compress(data))


def _plain_harvest(files, opts: HarvestOptions, out, on_error: str = "fail") -> StageReport:
    """The harvest the simple way: one record at a time through `json.loads`, `classify`, a dict
    of URL -> entries, `aggregate`, `qualifies`, `write_links`."""
    report = StageReport("harvest")
    by_url: dict[str, list] = {}
    for f in files:
        for record in iter_records(f, on_error=on_error, report=report):  # no `fields`: dicts, json.loads
            sub, reason = classify(record, opts)
            if sub is None:
                rid, url = record.get("id", "?"), record.get("url")
                text = f"{rid} {url}" if isinstance(url, str) else str(rid)
                report.drop(reason, example=text.encode("utf-8", "backslashreplace").decode()[:300])
            else:
                by_url.setdefault(sub.url, []).append((sub.id, sub.created_utc, sub.score, sub.subreddit))
    rows = []
    for url in sorted(by_url):
        row, repeats = aggregate(url, by_url[url])
        if repeats:
            report.drop("duplicate_submission", example=url, n=repeats)
        if qualifies(row, opts):
            report.keep(row["n_submissions"])
            rows.append(row)
        else:
            report.drop("low_karma", example=url, n=row["n_submissions"])
    write_links(rows, out / "links")
    return report


def _digests(folder) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))]


@pytest.mark.parametrize(
    "options,max_urls",
    [
        ({}, 200_000),
        ({"karma_rule": "sum"}, 200_000),
        ({"keep_nsfw": True, "min_karma": 0}, 200_000),
        ({"min_karma": 5}, 7),  # spilled to disk and merged
    ],
)
def test_fast_path_equals_plain_path(tmp_path, monkeypatch, options, max_urls):
    inputs = tmp_path / "in"
    inputs.mkdir()
    monkeypatch.setattr(dumps_module, "CHUNK", 2048)  # runs of ~500 lines: some plain, some with an odd line
    _write(inputs / "RS_2017-10.zst", _dump_lines(1, 12_000))
    _write(inputs / "RS_2017-11.zst", _dump_lines(2, 2000, odd=False), crlf=True, bom=True)
    _write(inputs / "RS_2017-12.zst", [b'{"id": "z1", "url": "https://last.example/", "created_utc": 1, "score": 9}',
                                       b'{"id": "z2", "url": "https://last.example/cut", "creat'])  # fmt: skip
    files = plan_dump_files([inputs], "2017-12").selected

    fast = harvest([inputs], "2017-12", tmp_path / "fast", max_urls_in_memory=max_urls, **options)
    plain = _plain_harvest(files, HarvestOptions("2017-12", **options), tmp_path / "plain")

    assert fast.read == plain.read == fast.kept + sum(fast.dropped.values())
    assert (fast.kept, dict(fast.dropped)) == (plain.kept, dict(plain.dropped))
    assert fast.samples == plain.samples  # the same first examples of each reason, in order
    assert read_links(tmp_path / "fast" / "links") == read_links(tmp_path / "plain" / "links")
    assert _digests(tmp_path / "fast" / "links") == _digests(tmp_path / "plain" / "links")  # byte for byte
    # The mix really holds every kind of record.
    expected = {"missing_field", "bad_field", "after_until", "deleted", "removed", "self_post", "bad_url",
                "reddit_link", "wikipedia", "blocked_extension", "blocked_domain", "duplicate_submission",
                "malformed_json", "not_an_object", "low_karma"}  # fmt: skip
    if not options.get("keep_nsfw"):
        expected.add("nsfw")
    if options.get("min_karma") == 0:
        expected.discard("low_karma")
    assert expected <= set(fast.dropped)
    assert fast.dropped["malformed_json"] >= 4 + 6  # the split pairs: six malformed lines, never records
    assert fast.links > 50


# Numbers the links table cannot hold (int64 scores and sums, int64 milliseconds since 1970) and
# text it cannot hold (lone UTF-16 surrogates): each is a `bad_field` drop, never a failed write.
OUT_OF_RANGE = [
    {"score": s} for s in (1e30, 2**70, 2**63, 2**63 - 1, -(2**63) - 1, 2**31, -(2**31), "1e30", "9" * 30, 1.5e19, -1e300)
] + [
    {"created_utc": c} for c in (-1, -(2**62), 2**70, 2**63, 1e30, "-5", "1e30", -1.5, 253402300800, 10**15)
] + [
    {"id": "\ud800"}, {"subreddit": "a\udfffb"},
    {"created_utc": -7, "score": 0}, {"created_utc": 2**70, "score": 0}, {"created_utc": CAP + 9, "score": 2**70},
]  # fmt: skip


def _out_of_range_lines() -> list[bytes]:
    """Records that would be kept but for one field out of range (also below the karma bar or after
    the cap, where `bad_field` still comes first)."""
    lines = []
    for i, fields in enumerate(OUT_OF_RANGE):
        rec = {"id": f"oor{i}", "url": f"https://range.example/{i}", "created_utc": CAP - 100, "score": 50,
               "subreddit": "s", "title": "t"} | fields  # fmt: skip
        lines.append(json.dumps(rec).encode())
    return lines


@pytest.mark.parametrize(
    "options,max_urls",
    [({}, 200_000), ({"karma_rule": "sum"}, 200_000), ({"keep_nsfw": True, "min_karma": 0}, 200_000), ({"min_karma": 5}, 7)],
)
def test_out_of_range_numbers_are_bad_field(tmp_path, monkeypatch, options, max_urls):
    """A huge or negative score or time (int, float or string) or a lone surrogate: the harvest
    finishes, counts each as `bad_field` with an example, and the fast path equals the plain one."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    monkeypatch.setattr(dumps_module, "CHUNK", 2048)
    base = _dump_lines(5, 3000, odd=False)
    _write(inputs / "RS_2017-09.zst", base)
    base_report = harvest([inputs], "2017-12", tmp_path / "base", **options)
    lines = list(base)
    rng = random.Random(6)
    for line in _out_of_range_lines():
        lines.insert(rng.randrange(len(lines)), line)
    _write(inputs / "RS_2017-09.zst", lines)
    files = plan_dump_files([inputs], "2017-12").selected

    fast = harvest([inputs], "2017-12", tmp_path / "fast", max_urls_in_memory=max_urls, **options)
    plain = _plain_harvest(files, HarvestOptions("2017-12", **options), tmp_path / "plain")

    assert fast.read == plain.read == fast.kept + sum(fast.dropped.values()) == base_report.read + len(OUT_OF_RANGE)
    assert fast.dropped["bad_field"] == base_report.dropped.get("bad_field", 0) + len(OUT_OF_RANGE)
    assert (fast.kept, dict(fast.dropped)) == (base_report.kept, dict(base_report.dropped) | {"bad_field": fast.dropped["bad_field"]})
    assert (fast.kept, dict(fast.dropped)) == (plain.kept, dict(plain.dropped))
    assert fast.samples == plain.samples
    assert any(e.startswith("oor") for e in fast.samples["bad_field"]) or base_report.dropped.get("bad_field", 0) >= SAMPLES_PER_REASON
    assert json.loads((tmp_path / "fast" / "report.json").read_text())["dropped"]["bad_field"] == fast.dropped["bad_field"]
    assert read_links(tmp_path / "fast" / "links") == read_links(tmp_path / "plain" / "links") == read_links(tmp_path / "base" / "links")
    assert _digests(tmp_path / "fast" / "links") == _digests(tmp_path / "plain" / "links")


def test_out_of_range_records_one_by_one(tmp_path):
    """Each out-of-range record, as the typed struct and as a dict: `classify` says `bad_field`
    (before `after_until` and `low_karma`), and `drop_early` leaves it to `classify`; a record alone
    in a dump gives a finished harvest with one `bad_field` drop and its example."""
    import msgspec

    from webtext.reddit.links import drop_early

    decode = msgspec.json.Decoder(RecordFields).decode
    for rule in ("max", "sum"):
        opts = HarvestOptions("2017-12", karma_rule=rule)
        for line in _out_of_range_lines():
            record = json.loads(line)
            assert classify(record, opts) == (None, "bad_field"), line
            try:
                typed = decode(line)
            except msgspec.MsgspecError:  # refused: read as a dict then (checked above)
                continue
            assert classify(typed, opts) == (None, "bad_field"), line
            assert drop_early([typed], opts) == ([typed], 0, 0), line
    # A surrogate in the URL makes it no URL: `bad_url`, and its example is written escaped.
    path = tmp_path / "RS_2017-08.ndjson"
    path.write_text(json.dumps({"id": "u1", "url": "https://s.example/\ud800", "created_utc": 1, "score": 9}) + "\n")
    report = harvest([path], "2017-12", tmp_path / "out-u")
    assert dict(report.dropped) == {"bad_url": 1}
    assert report.samples["bad_url"] == ["u1 https://s.example/\\ud800"]
    for i, line in enumerate(_out_of_range_lines()):
        path = tmp_path / f"in{i}" / "RS_2017-09.ndjson"
        path.parent.mkdir()
        path.write_bytes(line + b"\n")
        report = harvest([path], "2017-12", tmp_path / f"out{i}")
        assert (report.read, report.kept, dict(report.dropped)) == (1, 0, {"bad_field": 1})
        assert report.samples["bad_field"][0].endswith(f" https://range.example/{i}")


def test_numbers_at_the_edges_are_written(tmp_path):
    """The largest score and the earliest and latest times that are accepted reach the Parquet
    file unchanged; a URL's score sum beyond 2**31 is fine."""
    big = 2**31 - 1
    recs = [{"id": f"e{i}", "url": "https://edge.example/a", "created_utc": 0 if i == 0 else CAP - 1, "score": big}
            for i in range(5)]  # fmt: skip
    recs.append({"id": "n1", "url": "https://edge.example/b", "created_utc": 1.9, "score": "-2147483647"})
    path = tmp_path / "RS_2017-09.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    report = harvest([path], "2017-12", tmp_path / "out", min_karma=-(2**31) + 1)
    assert report.dropped == {}
    rows = read_links(tmp_path / "out" / "links")
    assert [(r["score"], r["score_sum"], r["first_created_utc"]) for r in rows] == [(big, 5 * big, 0), (-big, -big, 1)]


@pytest.mark.parametrize("odd", [[line] for line in ODD_LINES] + SPLIT_PAIRS, ids=lambda odd: repr(odd[0][:24]))
def test_one_odd_line_in_a_plain_run(tmp_path, odd):
    """Each odd line alone in a run of plain lines (the case the run-level checks must catch): the
    typed reading gives what reading every line with `json.loads` gives."""
    import msgspec

    decode = msgspec.json.Decoder(RecordFields).decode

    def typed_ok(line):
        try:
            return bool(decode(line))
        except msgspec.ValidationError:
            return False

    lines = [line for line in _dump_lines(4, 120, odd=False) if typed_ok(line)][:60]  # a run decodable in one call
    assert len(dumps_module._plain_breaks(b"\n".join(lines))) + 1 == 60
    lines[30:30] = odd
    path = tmp_path / "RS_2017-10.zst"
    _write(path, lines)
    opts = HarvestOptions("2017-12", min_karma=0, keep_nsfw=True)
    plain_report, typed_report = StageReport("p"), StageReport("t")
    plain = [classify(r, opts) for r in iter_records(path, report=plain_report)]
    typed = [classify(r, opts) for r in iter_records(path, report=typed_report, fields=RecordFields)]
    assert typed == plain
    assert typed_report.to_dict() | {"stage": None} == plain_report.to_dict() | {"stage": None}


def test_fast_path_runs_were_taken(tmp_path, monkeypatch):
    """The one-call decoding is used for plain runs and refused for runs holding an odd line."""
    import msgspec

    calls = {"runs": 0, "plain": 0}
    real = dumps_module._plain_breaks

    def counting(data):
        calls["runs"] += 1
        breaks = real(data)
        calls["plain"] += breaks is not None
        return breaks

    monkeypatch.setattr(dumps_module, "_plain_breaks", counting)
    monkeypatch.setattr(dumps_module, "CHUNK", 2048)
    path = tmp_path / "RS_2017-10.zst"
    _write(path, _dump_lines(3, 12_000))
    typed = list(iter_records(path, report=StageReport("x"), fields=RecordFields))
    assert 0 < calls["plain"] < calls["runs"]
    assert any(type(r) is RecordFields for r in typed)
    assert msgspec  # (decode_lines is msgspec's)


def test_examples_come_in_record_order(tmp_path, monkeypatch):
    """Only the first few records of a reason are examples, and early drops and `classify` drops of
    the same reason in one run must not change their order: a drifted record (classify) before
    plain ones (dropped a batch at a time)."""
    lines = [json.dumps({"id": "s0", "url": "https://a.example/0", "created_utc": str(CAP + 5), "score": 9}).encode()]
    lines += [json.dumps({"id": f"p{i}", "url": f"https://a.example/{i}", "created_utc": CAP + i, "score": 9}).encode()
              for i in range(1, 30)]  # fmt: skip
    lines.append(json.dumps({"id": "k1", "url": "https://a.example/k", "created_utc": 1, "score": "0"}).encode())
    lines += [json.dumps({"id": f"q{i}", "url": f"https://a.example/q{i}", "created_utc": 1, "score": 0}).encode()
              for i in range(30)]  # fmt: skip
    path = tmp_path / "RS_2017-10.zst"
    _write(path, lines)
    report = harvest([path], "2017-12", tmp_path / "out")
    assert report.dropped == {"after_until": 30, "low_karma": 31}
    assert report.samples["after_until"][:2] == ["s0 https://a.example/0", "p1 https://a.example/1"]
    assert report.samples["low_karma"][:2] == ["k1 https://a.example/k", "q0 https://a.example/q0"]
    assert len(report.samples["after_until"]) == SAMPLES_PER_REASON


def test_row_groups_and_files_cut_as_before(tmp_path, monkeypatch):
    """`LinksWriter` cuts row groups every ROWS_PER_GROUP rows and files at rows_per_file, however
    the rows come in (the layout the row-at-a-time writer had, so the bytes stay the same)."""
    import pyarrow.parquet as pq

    from webtext.reddit import links
    from webtext.reddit.links import LINK_COLUMNS, LinksWriter

    monkeypatch.setattr(links, "ROWS_PER_GROUP", 7)
    rows = [(f"https://e.com/{i:03d}", "e.com", ["s"], [str(i)], 1_500_000_000 + i, 3, 3, 1) for i in range(25)]
    with LinksWriter(tmp_path / "a", rows_per_file=10) as writer:
        for at in range(0, 25, 4):  # in chunks that match neither boundary
            writer.extend_rows(rows[at : at + 4])
    files = write_links([dict(zip(LINK_COLUMNS, r)) for r in rows], tmp_path / "b", rows_per_file=10)
    groups = [[pq.ParquetFile(f).metadata.row_group(g).num_rows for g in range(pq.ParquetFile(f).num_row_groups)]
              for f in writer.files]  # fmt: skip
    assert groups == [[7, 3], [7, 3], [5]]
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert [f.name for f in files] == [f.name for f in writer.files]


def test_url_shortcuts_agree_with_the_general_rules():
    """The extension and host-list checks `classify` runs on normalised URLs (a few string finds; a
    cache per host) answer as the general rules (`blocked_extension`, `host_in`) on generated URLs."""
    from webtext.reddit.links import BLOCKED_DOMAINS, _blocked_extension_normalised, _host_listed, blocked_extension
    from webtext.urls import REDDIT_DOMAINS, WIKIPEDIA_DOMAINS, host_in, host_of, normalize_url

    rng = random.Random(11)
    labels = ["www", "i", "en", "m", "old", "a-b", "x1", "imgur", "reddit", "redd", "wikipedia", "youtube", "youtu",
              "com", "org", "it", "be", "net", "co", "uk", "nz", "mega", "google", "drive"]  # fmt: skip
    pieces = ["a", "B", "/", ".", "..", "jpg", "JPG", "gifv", "html", "mp4", "tar", "gz", "%2E", "%2e", "%41", "?",
              "=", "&", "x=.png", "#f", "é", "~", "-", "_", "zip", "7z", "webm", ";", ":"]  # fmt: skip
    checked = blocked = 0
    for _ in range(20_000):
        host = ".".join(rng.choice(labels) for _ in range(rng.randrange(1, 5)))
        host = rng.choice([host, *BLOCKED_DOMAINS, *REDDIT_DOMAINS, *WIKIPEDIA_DOMAINS[:5]]) if rng.random() < 0.2 else host
        raw = f"{rng.choice(['http', 'https'])}://{host}/" + "".join(rng.choice(pieces) for _ in range(rng.randrange(8)))
        try:
            url = normalize_url(raw)
        except ValueError:
            continue
        checked += 1
        assert _blocked_extension_normalised(url) == blocked_extension(url), url
        blocked += blocked_extension(url)
        h = host_of(url)
        expected = ("reddit_link" if host_in(h, REDDIT_DOMAINS) else "wikipedia" if host_in(h, WIKIPEDIA_DOMAINS)
                    else "blocked_domain" if host_in(h, BLOCKED_DOMAINS) else "")  # fmt: skip
        assert _host_listed(h) == expected, url
    assert checked > 15_000 and blocked > 500


# Lines that the keys struct (`RecordKeys`) reads but the full one (`RecordFields`) refuses, with
# a score above the bar and below it: the first kind must reach `classify` as the dict `json.loads`
# makes of it, the second be dropped as `low_karma` exactly as the one-stage path drops it.
DRIFTED_FIELDS = [{"title": 5}, {"is_self": 3}, {"over_18": [1]}, {"removed_by_category": 1}, {"domain": {}},
                  {"subreddit": 7}, {"selftext": None, "title": "\ud800"}, {"selftext": False}]  # fmt: skip
BIG = "1" * 5000  # more digits than json.loads converts (sys.get_int_max_str_digits): it refuses the line


def _keyed_lines() -> list[bytes]:
    lines = []
    for i, drift in enumerate(DRIFTED_FIELDS):
        for score in (50, 1):
            rec = {"id": f"d{i}s{score}", "url": f"https://drift.example/{i}/{score}", "created_utc": CAP - 500,
                   "score": score, "subreddit": "s", "title": "t"} | drift  # fmt: skip
            lines.append(json.dumps(rec).encode())
    for score in (50, 1):  # a huge integer in a field nobody reads, with and without a drifted field
        for drift in ("", ', "title": 5'):
            lines.append(f'{{"id": "big{score}{len(drift)}", "url": "https://big.example/{score}{len(drift)}", '
                         f'"created_utc": {CAP - 9}, "score": {score}, "n": {BIG}{drift}}}'.encode())  # fmt: skip
    lines.append(json.dumps({"id": "long", "url": "https://long.example/", "created_utc": CAP - 9, "score": 50,
                             "selftext": "x" * 6000}).encode())  # fmt: skip
    return lines


@pytest.mark.parametrize(
    "options,max_urls",
    [({}, 200_000), ({"karma_rule": "sum"}, 200_000), ({"keep_nsfw": True, "min_karma": 0}, 200_000), ({"min_karma": 5}, 7)],
)
def test_keyed_runs_equal_the_one_stage_path(tmp_path, monkeypatch, options, max_urls):
    """Runs read in two stages (`RecordKeys` for every line, `RecordFields` for the records the date
    cap and the karma bar leave) give exactly what reading every line into `RecordFields` gives:
    same drops, reasons, examples and Parquet bytes - also for lines the second stage refuses
    (read with `json.loads` then, as before) and lines `json.loads` refuses (a huge integer)."""
    import importlib

    import msgspec

    from webtext.reddit.dumps import KeyedRun
    from webtext.reddit.links import RecordKeys

    hv = importlib.import_module("webtext.reddit.harvest")
    inputs = tmp_path / "in"
    inputs.mkdir()
    monkeypatch.setattr(dumps_module, "CHUNK", 4096)
    plain_keys = msgspec.json.Decoder(RecordKeys).decode

    def plain(line):  # a record of the kind every line of a KeyedRun is
        try:
            return bool(plain_keys(line))
        except msgspec.ValidationError:
            return False

    base = [line for line in _dump_lines(7, 5000, odd=False) if plain(line)]
    rng = random.Random(8)
    lines = list(base)
    for line in _keyed_lines():
        lines.insert(rng.randrange(len(lines)), line)
    _write(inputs / "RS_2017-11.zst", lines)
    _write(inputs / "RS_2017-12.zst", _dump_lines(9, 3000))
    files = plan_dump_files([inputs], "2017-12").selected

    # Both stages really ran: KeyedRuns, records completed by the typed decoder and by json.loads.
    runs = [run for f in files for run in iter_records(f, report=StageReport("x"), fields=RecordFields, keys=RecordKeys, batches=True)]
    keyed = [run for run in runs if type(run) is KeyedRun]
    assert keyed and len(keyed) < len(runs)
    completed = [r for run in keyed for r in run.complete(range(len(run)))]
    assert any(type(r) is RecordFields for r in completed) and any(type(r) is dict for r in completed)

    two_stage = harvest([inputs], "2017-12", tmp_path / "two", max_urls_in_memory=max_urls, **options)
    plain_iter = hv.iter_records
    monkeypatch.setattr(hv, "iter_records", lambda *a, keys=None, **k: plain_iter(*a, **k))
    one_stage = harvest([inputs], "2017-12", tmp_path / "one", max_urls_in_memory=max_urls, **options)

    assert two_stage.to_dict() | {"inputs": None} == one_stage.to_dict() | {"inputs": None}
    assert _digests(tmp_path / "two" / "links") == _digests(tmp_path / "one" / "links")
    assert two_stage.dropped["malformed_json"] >= 2  # the huge integer beside a drifted field, both scores
    urls = {row["url"] for row in read_links(tmp_path / "two" / "links")}
    assert "https://drift.example/0/50" in urls and "https://long.example/" in urls

    # And against reading every line with json.loads, where json.loads and msgspec agree (not on
    # the huge integer in a record msgspec reads: there the typed paths keep the record).
    without = [line for line in lines if BIG not in line.decode()] + [line for line in lines if BIG in line.decode() and b'"title": 5' in line]
    _write(inputs / "RS_2017-11.zst", without)
    two = harvest([inputs], "2017-12", tmp_path / "two-b", max_urls_in_memory=max_urls, **options)
    plain = _plain_harvest(files, HarvestOptions("2017-12", **options), tmp_path / "plain")
    assert (two.kept, dict(two.dropped), two.samples) == (plain.kept, dict(plain.dropped), plain.samples)
    assert _digests(tmp_path / "two-b" / "links") == _digests(tmp_path / "plain" / "links")


def test_early_drop_on_keys_agrees_with_classify():
    """`drop_early_keys` drops a record as `after_until` or `low_karma` exactly when `classify`
    answers that reason for the full record, on records at the edges of both checks."""
    import msgspec

    from webtext.reddit.links import RecordKeys, drop_early_keys

    rng = random.Random(12)
    records = [{"id": f"k{i}", "url": rng.choice(["https://a.example/x", "[deleted]", "nope"]),
                "created_utc": rng.choice([0, 1, CAP - 1, CAP, CAP + 1, 253402300799]),
                "score": rng.choice([-(2**31) + 1, -1, 0, 2, 3, 4, 2**31 - 1]), "is_self": rng.random() < 0.2}
               for i in range(3000)]  # fmt: skip
    data = b"\n".join(json.dumps(r).encode() for r in records)
    keys = msgspec.json.Decoder(RecordKeys).decode_lines(data)
    full = msgspec.json.Decoder(RecordFields).decode_lines(data)
    for opts in (HarvestOptions("2017-12"), HarvestOptions("2017-12", karma_rule="sum"), HarvestOptions("2017-12", min_karma=-5)):
        left, after_until, low_karma = drop_early_keys(keys, opts)
        reasons = [classify(r, opts)[1] for r in full]
        dropped = set(range(len(keys))) - set(left)
        assert left == sorted(left)
        assert after_until == reasons.count("after_until") and low_karma == reasons.count("low_karma")
        assert {i for i in dropped} == {i for i, why in enumerate(reasons) if why in ("after_until", "low_karma")}
