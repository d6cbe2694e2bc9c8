"""The Beam transforms against the library's in-memory stages: same rows, same drop counts.

Each test runs a small pipeline in this process (FnApiRunner, one worker) and compares what the
distributed shape gives (GroupByKey per URL, per band key, union-find over edges) with what the
plain-Python stage gives on the same input; plus the dead-letter path and the CLI's errors.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import apache_beam as beam
import pytest

from pipelines import store
from pipelines import transforms as t
from pipelines.runner import make_runner, pipeline_options
from webtext.config import SAMPLE_DUMP, BuildConfig


KIND = {"harvest": "links", "extract": "documents", "dedup": "documents"}


def run_transform(tmp_path, stage: str, build):
    """Run `build(pipeline) -> {kept, dropped, dead_letter}` and write it as the build does
    (WriteOutputs: Parquet, dead letters as JSON lines); return kept rows, drop rows, dead rows and
    the report taken from those files, after checking it against Beam's metrics."""
    config = BuildConfig(workers=1)
    options = pipeline_options(config, "test")
    p = beam.Pipeline(runner=make_runner(config, options), options=options)
    out = str(tmp_path)
    build(p) | t.WriteOutputs(out, stage, KIND[stage], 3)
    result = p.run()
    result.wait_until_finish()
    kept = store.read_parquet_rows(store.data_prefix(out, stage) + "-*.parquet")
    drops = store.read_parquet_rows(store.drops_prefix(out, stage) + "-*.parquet")
    dead = [json.loads(line) for f in store.dead_letter_files(out, stage) for line in open(f)]
    report = store.report_from_outputs(out, stage)
    assert store.cross_check(report, store.metrics_totals(stage, result)) == []
    return kept, drops, dead, report


# ----------------------------------------------------------------------------------- harvest


def test_beam_harvest_equals_library_harvest_on_real_dumps(tmp_path, shared):
    from webtext.reddit import harvest, read_links
    from webtext.reddit.dumps import select_dump_files
    from webtext.reddit.links import HarvestOptions

    dumps = [
        shared / "data/reddit/RS_v2_2005-06.xz",
        shared / "data/reddit/RS_v2_2005-07.xz",
        shared / "data/reddit/mixed-years/test_submissions.json",
        SAMPLE_DUMP,
    ]
    lib = harvest(dumps, "2017-12", tmp_path / "lib")
    files = [str(f) for f in select_dump_files(dumps, "2017-12")]
    opts = HarvestOptions("2017-12")
    kept, drops, dead, report = run_transform(tmp_path / "beam", "harvest", lambda p: p | t.Harvest(files, opts))
    assert dead == []
    expected = read_links(tmp_path / "lib" / "links")
    assert len(expected) > 800  # the real July 2005 dump alone gives hundreds of links
    assert sorted(kept, key=lambda r: r["url"]) == expected
    assert (report.read, report.kept, dict(report.dropped)) == (lib.read, lib.kept, dict(lib.dropped))
    assert sum(1 for d in drops) >= len(report.dropped)  # every reason has example rows


def test_beam_harvest_lists_and_reads_remote_dumps_through_beam_filesystems(tmp_path, shared):
    """Dumps at a URL (gs:// on Dataflow; here `wtfs://`, a local folder behind Beam's
    FileSystems, see remote_fs.py) are listed and read through Beam, never `open()`: the same
    selection and the same links as the library's harvest of the local files, and a damaged
    remote dump is a counted drop that names its location."""
    import shutil

    from .remote_fs import remote

    from webtext.reddit import harvest, read_links
    from webtext.reddit.dumps import plan_dump_files
    from webtext.reddit.links import HarvestOptions

    d = tmp_path / "bucket" / "dumps"
    (d / "2018").mkdir(parents=True)
    shutil.copy(shared / "data/reddit/RS_v2_2005-07.xz", d)
    shutil.copy(SAMPLE_DUMP, d / "RS_2017-12.zst")
    (d / "2018" / "RS_2018-01.zst").write_bytes(b"garbage: after --until, never opened")
    (d / "RC_2017-01.zst").write_bytes(b"comments")
    whole = (shared / "data/reddit/RS_v2_2005-06.xz").read_bytes()
    (d / "RS_v2_2005-06.xz").write_bytes(whole[: len(whole) // 2])  # cut mid-stream
    plan = plan_dump_files([remote(d)], "2017-12", listing=store.list_tree)
    assert plan.selected == [remote(d / n) for n in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz", "RS_2017-12.zst")]
    assert plan.skipped == [remote(d / "2018" / "RS_2018-01.zst")]

    lib = harvest([d / "RS_v2_2005-06.xz", d / "RS_v2_2005-07.xz", d / "RS_2017-12.zst"], "2017-12", tmp_path / "lib",
                  on_error="skip")
    opts = HarvestOptions("2017-12")
    kept, drops, dead, report = run_transform(tmp_path / "beam", "harvest",
                                              lambda p: p | t.Harvest(plan.selected, opts, on_error="skip"))
    assert dead == [] and report.dropped["corrupt_file"] == 1
    assert sorted(kept, key=lambda r: r["url"]) == read_links(tmp_path / "lib" / "links")
    assert (report.read, report.kept, dict(report.dropped)) == (lib.read, lib.kept, dict(lib.dropped))
    (corrupt,) = [r for r in drops if r["reason"] == "corrupt_file"]
    assert json.dumps(corrupt).find(remote(d / "RS_v2_2005-06.xz")) >= 0

    # The build plans its inputs the same way: `--dumps wtfs://.../dumps/` as `--dumps gs://...`.
    from pipelines.build import run_build
    from webtext.config import SAMPLE_WARC

    out = tmp_path / "build"
    run_build(BuildConfig(dumps=[remote(d) + "/"], replay=[str(SAMPLE_WARC)], out=str(out), workers=1,
                          on_error="skip", stop_after="harvest"))
    built = store.read_parquet_rows(store.data_prefix(str(out), "harvest") + "-*.parquet")
    assert sorted(built, key=lambda r: r["url"]) == read_links(tmp_path / "lib" / "links")

    # A rerun after a remote dump changed harvests again (its listing is in the fingerprint):
    # the damaged file replaced by the whole one is now read to its end.
    (d / "RS_v2_2005-06.xz").write_bytes(whole)
    run_build(BuildConfig(dumps=[remote(d) + "/"], replay=[str(SAMPLE_WARC)], out=str(out), workers=1,
                          on_error="skip", stop_after="harvest"))
    again = store.report_from_outputs(str(out), "harvest")
    assert "corrupt_file" not in again.dropped and again.read > report.read


# ----------------------------------------------------------------------------------- dedup


def _corpus(shared) -> list[dict]:
    """Real article texts with planted duplicates: same final URL, same text, near copies, a chain."""
    gold = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    texts = [v["articleBody"] for _, v in sorted(gold.items()) if len(v["articleBody"].split()) > 300][:40]
    rng = random.Random(7)
    docs = []

    def doc(i, url, text, created, score=10, final=None):
        docs.append({"url": url, "final_url": final or url, "text": text, "first_created_utc": created,
                     "score": score, "title": f"t{i}", "domain": "d"})

    for i, text in enumerate(texts):
        doc(i, f"https://site{i}.example/a", text, 1_400_000_000 + 1000 * i)

    def edit(text: str, n: int) -> str:
        words = text.split()
        for _ in range(n):
            words[rng.randrange(len(words))] = "changed"
        return " ".join(words)

    # exact duplicates by final URL (a redirect) and by text (a copy elsewhere)
    doc(100, "http://site0.example/a-old", texts[0] + " extra", 1_300_000_000, final="https://site0.example/a")
    doc(101, "https://mirror.example/copy1", texts[1].upper(), 1_500_000_000)
    # near duplicates: a copy with a few edits, and a chain 5 ~ x ~ y drifting further each hop
    doc(102, "https://mirror.example/near2", edit(texts[2], 6), 1_500_000_100)
    doc(103, "https://mirror.example/near5a", edit(texts[5], 8), 1_390_000_000, score=50)  # earlier: survives
    doc(104, "https://mirror.example/near5b", edit(docs[-1]["text"], 8), 1_500_000_200)
    # NOT a near-duplicate: half of one article glued to half of another (Jaccard ~0.5 with each)
    doc(105, "https://site9.example/b", texts[9][: len(texts[9]) // 2] + " " + texts[11][len(texts[11]) // 2 :], 1_500_000_300)
    return docs


def test_beam_dedup_equals_library_dedup(tmp_path, shared, monkeypatch):
    """The build's dedup stage (key records through the shuffles, survivors re-read from the
    input files per row group) keeps the documents `dedup_documents` keeps, rows unchanged."""
    from webtext.dedup import DedupOptions, dedup_documents

    docs = _corpus(shared)
    opts = DedupOptions()
    lib_kept, lib_report = dedup_documents([dict(d) for d in docs], opts)
    # the clean stage's output as the build has it: several files of several row groups
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 8)
    shuffled = random.Random(3).sample(docs, len(docs))
    files = [store.write_parquet(str(tmp_path / "in" / f"data-{i}.parquet"), shuffled[i::3], "documents")["path"] for i in range(3)]
    assert max(len(store.row_groups(f)) for f in files) > 1
    config = BuildConfig(workers=1)
    options = pipeline_options(config, "test")
    p = beam.Pipeline(runner=make_runner(config, options), options=options)
    out = str(tmp_path / "out")
    p | t.DedupFiles(files, out, opts, 3)
    result = p.run()
    result.wait_until_finish()
    kept = store.read_parquet_rows(store.data_prefix(out, "dedup") + "-*.parquet")
    drops = store.read_parquet_rows(store.drops_prefix(out, "dedup") + "-*.parquet")
    dead = store.dead_letter_files(out, "dedup")
    report = store.report_from_outputs(out, "dedup")
    assert store.cross_check(report, store.metrics_totals("dedup", result)) == []
    assert dead == []
    assert sorted(d["url"] for d in kept) == sorted(d["url"] for d in lib_kept)
    by_url = {d["url"]: d for d in kept}  # whole rows, re-read from the input files
    assert all({k: by_url[d["url"]][k] for k in d} == d for d in lib_kept)
    assert (report.read, report.kept, dict(report.dropped)) == (lib_report.read, lib_report.kept, dict(lib_report.dropped))
    assert dict(report.dropped) == {"duplicate_url": 1, "duplicate_text": 1, "near_duplicate": 3}
    near = {d["key"]: d["detail"]["duplicate_of"] for d in drops if d["reason"] == "near_duplicate"}
    # the chain collapses onto its earliest post, which is the edited copy posted before the original
    assert near["https://site5.example/a"] == "https://mirror.example/near5a"
    assert near["https://mirror.example/near5b"] == "https://mirror.example/near5a"
    assert "https://site9.example/b" in {d["url"] for d in kept}


# ----------------------------------------------------------------------------------- failures


def test_failed_elements_go_to_the_dead_letter_output(tmp_path):
    from webtext.config import SAMPLE_WARC
    from webtext.fetch.replay import iter_warc_responses

    good = next(r for r in iter_warc_responses([SAMPLE_WARC]) if r.status == 200 and "space.com" in r.url)
    link = {"url": good.url, "domain": "space.com", "subreddits": ["space"], "reddit_ids": ["x1"],
            "first_created_utc": 1_500_000_000, "score": 5, "score_sum": 5, "n_submissions": 1}
    pages = [
        {"link": link, "fetch": {"final_url": good.url, "warc_path": str(SAMPLE_WARC), "warc_offset": good.warc_offset}},
        {"link": {**link, "url": "https://gone.example/x"},
         "fetch": {"final_url": "https://gone.example/x", "warc_path": str(tmp_path / "missing.warc.gz"), "warc_offset": 0}},
    ]
    kept, drops, dead, report = run_transform(tmp_path, "extract", lambda p: p | beam.Create(pages) | t.Extract())
    assert [d["url"] for d in kept] == [good.url]
    (letter,) = dead
    assert letter["key"] == "https://gone.example/x" and "InputError" in letter["error"] and letter["traceback"]
    assert (report.read, report.kept, dict(report.dropped)) == (2, 1, {"dead_letter": 1})


def test_dead_letter_with_a_lone_surrogate_is_written_and_reads_back(tmp_path):
    """A dead letter's key or error may hold a lone surrogate (bytes that were not UTF-8): it is
    written as its JSON escape, valid UTF-8 on disk, and reads back as the same string."""
    row = {"stage": "extract", "key": "http://example.com/\udc80", "error": "ValueError: \udcff"}
    written = store.write_dead_letters(str(tmp_path), "extract", "00000-of-00001", [row])
    raw = open(written["path"], "rb").read()
    assert written["rows"] == 1 and json.loads(raw.decode("utf-8")) == row


@pytest.mark.parametrize(
    "args, message",
    [
        (["--until", "2017-13"], "--until must be a month"),
        (["--dumps", "/nonexistent/RS_2017-01.zst"], "real inputs need a fetch source"),
        (["--dumps", "/nonexistent/RS_2017-01.zst", "--live-fetch"], "no such file or folder: /nonexistent/RS_2017-01.zst"),
        (["--live"], "--live needs at least one --subreddit"),
        (["--clean-option", "min_words"], "--clean-option expects NAME=VALUE"),
    ],
)
def test_cli_configuration_errors_are_one_line(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "webtext.cli", "build", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "webtext-out").exists()


def test_library_does_not_import_beam():
    code = "import webtext.cli, webtext.build_cli, webtext.config, sys; webtext.cli.build_parser(); " \
           "print(any(m.startswith(('apache_beam', 'airflow')) for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
