"""The build's dedup stage: no shuffle carries a document's text, and the survivors are the library's.

The stage turns each document into a key record (URL key, text hash, survivor-rule fields, MinHash
signature) in the worker that reads it, chooses survivors from those records, and re-reads the
survivors' rows from the clean stage's files. On the local runner the groupings go through spill
files under the stage's folder (pipelines/shuffle.py), so what crossed a shuffle is measured there:
the spill files' bytes, recorded when the build removes them, must stay a small fraction of the
text (~90 KB a document). The launcher's Python allocations (tracemalloc), where Beam's own
GroupByKey would hold the data, must not grow with the text either. Before this layout the
exact-duplicate and survivor groupings carried whole documents and both failed.
"""

from __future__ import annotations

import random
from pathlib import Path
import tracemalloc

import pytest

from pipelines import store
from pipelines.build import _run_stage_pipeline
from pipelines.runner import RunnerSession
from webtext.config import BuildConfig
from webtext.dedup import DedupOptions, dedup_documents

WORDS = [f"w{i}" for i in range(20000)]


def _corpus(n: int, words_per_doc: int) -> list[dict]:
    """Long random documents plus planted duplicates: the same URL again, the same text elsewhere,
    and near copies (2% of the words changed), each posted later than its original."""
    rng = random.Random(17)

    def doc(i, url, text, created, final=None):
        return {"url": url, "final_url": final or url, "domain": url.split("/")[2], "title": f"doc {i}", "text": text,
                "n_chars": len(text), "n_words": len(text.split()), "first_created_utc": created, "score": i % 40,
                "score_sum": i % 40, "n_submissions": 1, "subreddits": ["s"], "reddit_ids": [str(i)]}

    docs = [doc(i, f"https://site{i % 23}.example/{i}", " ".join(rng.choices(WORDS, k=words_per_doc)), 1_300_000_000 + 60 * i)
            for i in range(n)]
    for j in range(0, n, 10):  # every tenth document has copies
        src = docs[j]
        words = src["text"].split()
        for k in rng.sample(range(len(words)), len(words) // 50):
            words[k] = "edited"
        docs.append(doc(n + j, f"https://mirror.example/same-{j}", src["text"], src["first_created_utc"] + 5))
        docs.append(doc(n + j + 1, f"https://mirror.example/near-{j}", " ".join(words), src["first_created_utc"] + 9))
        docs.append(doc(n + j + 2, src["url"].replace("https:", "http:") + "?utm_source=x", src["text"] + " more",
                        src["first_created_utc"] + 7, final=src["url"]))
    return docs


def _clean_output(out, docs: list[dict], files: int) -> None:
    for k in range(files):
        store.write_parquet(f"{store.data_prefix(str(out), 'clean')}-{k:05d}.parquet", docs[k::files], "documents")


def _dedup(out, monkeypatch) -> tuple[int, int]:
    """Run the dedup stage as the build does (two local worker processes); the launcher's peak of
    Python allocations and the bytes of the spill files its groupings wrote."""
    spilled = []
    delete_tree = store.delete_tree

    def measure_then_delete(path):
        if path == store.shuffle_dir(str(out), "dedup"):
            spilled.append(sum(f.stat().st_size for f in Path(path).rglob("*.spill")))
        delete_tree(path)

    monkeypatch.setattr(store, "delete_tree", measure_then_delete)
    tracemalloc.start()
    try:
        _run_stage_pipeline(BuildConfig(out=str(out), workers=2), "dedup", RunnerSession())
        return tracemalloc.get_traced_memory()[1], sum(spilled)
    finally:
        tracemalloc.stop()
        monkeypatch.setattr(store, "delete_tree", delete_tree)


@pytest.fixture(scope="module")
def corpus():
    return _corpus(40, 15000)  # ~4.7 MB of text in 52 documents


@pytest.mark.timeout(1800)  # three pipeline runs of two worker processes each: minutes on a loaded machine
def test_dedup_stage_keeps_the_library_survivors_and_its_shuffles_carry_no_text(tmp_path, corpus, monkeypatch):
    text_bytes = sum(len(d["text"].encode()) for d in corpus)
    assert text_bytes > 4_000_000
    large, small, warm = tmp_path / "large", tmp_path / "small", tmp_path / "warm"
    _clean_output(large, random.Random(3).sample(corpus, len(corpus)), 3)
    for folder in (small, warm):
        _clean_output(folder, corpus[:4], 2)
    _dedup(warm, monkeypatch)  # the first run's imports are not the stage's data
    small_peak, _ = _dedup(small, monkeypatch)
    large_peak, spilled = _dedup(large, monkeypatch)

    lib_kept, lib_report = dedup_documents([dict(d) for d in corpus], DedupOptions())
    kept = store.read_parquet_rows(store.data_prefix(str(large), "dedup") + "-*.parquet")
    report = store.report_from_outputs(str(large), "dedup")
    assert sorted(d["url"] for d in kept) == sorted(d["url"] for d in lib_kept)
    assert dict(report.dropped) == dict(lib_report.dropped) == {"duplicate_url": 4, "duplicate_text": 4, "near_duplicate": 4}
    by_url = {d["url"]: d for d in kept}
    assert all(by_url[d["url"]]["text"] == d["text"] for d in lib_kept)  # the rows themselves, re-read from the files

    print(f"dedup launcher peak {small_peak / 1e6:.2f} MB (4 documents), {large_peak / 1e6:.2f} MB ({text_bytes / 1e6:.1f} MB of text); "
          f"spilled {spilled / 1e6:.2f} MB")
    assert 0 < spilled < text_bytes / 8, (spilled, text_bytes)  # what crossed the shuffles: key records, not text
    # Key records and band pairs are a few KB a document (mostly the 512-byte signature) against ~90 KB of text.
    assert large_peak - small_peak < text_bytes / 8, (small_peak, large_peak, text_bytes)
