"""The build's shards stage: written by the workers, the same bytes with any number of them, and
the launcher never holding the documents' text.

A synthetic dedup-stage output (~11 MB of text) is laid out two ways, as different worker counts of
the stages before would leave it (one file; seven files in another order). The shards stage runs
on the first with one worker (in-process) and on the second with two worker processes: the shards
must be byte-identical. During the two-worker runs the launcher's Python allocations are traced
(tracemalloc): its peak must not grow with the corpus - the same (a fixed ~8 MB of Beam, DuckDB and
matplotlib work for the manifest and card) for 0.5 MB and for ~11 MB of text, which only the
workers read.
"""

from __future__ import annotations

import hashlib
import random
import tracemalloc

import pyarrow.parquet as pq
import pytest

from pipelines import store
from pipelines.build import _run_shards
from pipelines.runner import RunnerSession
from webtext.config import BuildConfig
from webtext.shards import read_shards, shard_index

WORDS = [f"w{i}" for i in range(5000)] + ["the", "of", "and", "a", "to", "in"] * 200


def _corpus(n: int, words_per_doc: int) -> list[dict]:
    rng = random.Random(13)
    docs = []
    for i in range(n):
        text = " ".join(rng.choices(WORDS, k=words_per_doc))
        docs.append({
            "url": f"https://site{i % 37}.example/{i}", "final_url": f"https://site{i % 37}.example/{i}",
            "domain": f"site{i % 37}.example", "title": f"doc {i}", "text": text,
            "text_sha1": hashlib.sha1(text.encode()).hexdigest(), "n_chars": len(text), "n_words": words_per_doc,
            "subreddits": ["s"], "reddit_ids": [str(i)], "first_created_utc": 1_300_000_000 + i,
            "score": i % 50, "score_sum": i % 50, "n_submissions": 1,
        })
    return docs


def _lay_out(out, docs: list[dict], files: int) -> None:
    for k in range(files):
        store.write_parquet(f"{store.data_prefix(str(out), 'dedup')}-{k:05d}-of-{files:05d}.parquet", docs[k::files], "documents")


@pytest.fixture(scope="module")
def corpus():
    return _corpus(1200, 1700)  # ~11 MB of text


def test_shards_by_1_and_2_workers_are_byte_identical_and_the_launcher_holds_no_text(tmp_path, corpus):
    text_bytes = sum(len(d["text"].encode()) for d in corpus)
    assert text_bytes > 10_000_000
    target = 2_000_000
    one, two = tmp_path / "one", tmp_path / "two"
    _lay_out(one, corpus, 1)
    _lay_out(two, random.Random(5).sample(corpus, len(corpus)), 7)

    small = tmp_path / "small"
    _lay_out(small, corpus[:50], 3)

    def launcher_peak(out) -> int:
        tracemalloc.start()
        try:
            _run_shards(BuildConfig(out=str(out), workers=2, shard_target_bytes=target), {}, RunnerSession())
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    _run_shards(BuildConfig(out=str(one), workers=1, shard_target_bytes=target), {}, RunnerSession())
    small_peak = launcher_peak(small)
    large_peak = launcher_peak(two)

    names = sorted(p.name for p in (one / "shards").iterdir())
    assert len(names) == -(-sum(store.file_meta(f)["row_bytes"] for f in store.data_files(str(one), "dedup")) // target) >= 5
    assert names == sorted(p.name for p in (two / "shards").iterdir())
    for name in names:
        assert (one / "shards" / name).read_bytes() == (two / "shards" / name).read_bytes(), name
    # The launcher's peak of Python allocations does not grow with the corpus: 24x the text, and
    # less than a twentieth of the difference (the texts pass only through the worker processes).
    print(f"launcher peak {small_peak / 1e6:.2f} MB (50 documents), {large_peak / 1e6:.2f} MB ({text_bytes / 1e6:.1f} MB of text)")
    assert large_peak - small_peak < text_bytes / 20, (small_peak, large_peak, text_bytes)

    # Every document once, in the global order (SHA-1 of the URL), each shard its key range.
    table = read_shards(two)  # checks each shard's sha256 and rows against the manifest
    urls = table.column("url").to_pylist()
    assert sorted(urls) == sorted(d["url"] for d in corpus)
    assert urls == sorted(urls, key=lambda u: hashlib.sha1(u.encode()).hexdigest())
    for i, name in enumerate(names):
        shard_urls = pq.read_table(two / "shards" / name, columns=["url"]).column("url").to_pylist()
        assert {shard_index(u, len(names)) for u in shard_urls} == {i}
    assert not (two / "stages" / "shards" / "spill").exists()  # the workers' spill files are removed
