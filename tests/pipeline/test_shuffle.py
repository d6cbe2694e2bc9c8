"""Grouping through files (pipelines/shuffle.py): the same groups as Beam's GroupByKey, in a
deterministic order, reading only committed spill files, with the launcher's memory flat.

On the local FnApiRunner a GroupByKey's data is held in the launching process; through
`GroupViaStorage` only the spill files' references are. The memory test generates the pairs in
the workers (a Create would hold them in the launcher) and compares the launcher's Python
allocations (tracemalloc) for N and 4N pairs of ~1 KB.
"""

from __future__ import annotations

import os
import random
import tracemalloc

import apache_beam as beam
import pytest

from pipelines import shuffle
from pipelines.runner import make_runner, pipeline_options
from webtext.config import BuildConfig


def _pipeline(tmp_path, workers: int):
    config = BuildConfig(out=str(tmp_path), workers=workers)
    options = pipeline_options(config, "test-shuffle")
    return beam.Pipeline(runner=make_runner(config, options), options=options)


def _random_pairs(seed: int, n: int, keys: int) -> list:
    """Duplicate keys of several types (str, int, tuple, bytes, None) and values of several shapes."""
    rng = random.Random(seed)
    pool = [f"k{i}" for i in range(keys)] + list(range(keys)) + [("t", i) for i in range(keys // 4)] + [b"\x00b", None]
    return [(rng.choice(pool), {"v": rng.randrange(10**6), "s": "x" * rng.randrange(50), "l": [rng.random()]})
            for _ in range(n)]


def _expand(seed: int, per_seed: int = 400, keys: int = 60):
    return _random_pairs(seed, per_seed, keys)


def _canonical(groups) -> list:
    return sorted((repr(k), sorted(repr(v) for v in vs)) for k, vs in groups)


class _Collect(beam.DoFn):
    """Each element written as one line of a file of its own: the output read back after the run."""

    def __init__(self, folder: str):
        self.folder = folder

    def process(self, element):
        import uuid

        with open(os.path.join(self.folder, uuid.uuid4().hex), "w") as f:
            f.write(repr(element))
        return ()


def _run(tmp_path, name: str, workers: int, seeds: int, group) -> list:
    """Pairs generated in the workers (seed by seed), grouped by `group`; the groups as read back."""
    collect = tmp_path / f"{name}-out"
    collect.mkdir()
    p = _pipeline(tmp_path / name, workers)
    (p | beam.Create(list(range(seeds))) | beam.Reshuffle() | beam.FlatMap(_expand)
       | group | beam.ParDo(_Collect(str(collect))))
    p.run().wait_until_finish()
    return [eval(f.read_text()) for f in sorted(collect.iterdir())]  # noqa: S307 - our own reprs


@pytest.mark.timeout(600)
def test_groups_equal_beam_group_by_key_on_two_workers(tmp_path):
    spill = tmp_path / "spill"
    ours = _run(tmp_path, "ours", 2, 12, shuffle.GroupViaStorage(str(spill)))
    beams = _run(tmp_path, "beam", 2, 12, beam.GroupByKey())
    assert len(ours) == len(beams) > 100
    assert _canonical(ours) == _canonical(beams)
    assert sum(len(vs) for _, vs in ours) == 12 * 400
    assert len({repr(k) for k, _ in ours}) == len(ours)  # one group per key
    assert list(spill.glob("*.spill")), "the grouping went through spill files"


def test_each_key_and_its_values_come_in_one_order_whatever_the_bundles(tmp_path):
    pairs = _random_pairs(5, 3000, 200)
    results = []
    for attempt, (bundles, flush) in enumerate([(1, 1 << 30), (7, 2000), (3, 64)]):
        order = pairs[:] if attempt == 0 else random.Random(attempt).sample(pairs, len(pairs))
        refs = []
        for b in range(bundles):
            writer = shuffle.SpillWriter(str(tmp_path / f"a{attempt}"), buckets=64, flush_bytes=flush)
            for k, v in order[b::bundles]:
                writer.add(k, v)
            refs.append(writer.close())
        tasks = shuffle.plan_tasks(refs, buckets=64, task_bytes=10_000, min_tasks=5)
        assert len(tasks) >= 5
        out = [group for task in tasks for group in shuffle.read_task(task)]
        results.append(out)
    assert results[0] == results[1] == results[2]
    expected: dict = {}
    for k, v in pairs:
        expected.setdefault(repr(k), []).append(repr(v))
    assert _canonical(results[0]) == sorted((k, sorted(vs)) for k, vs in expected.items())


@pytest.mark.parametrize("sizes", [(1, 1000), (1000, 1), (10, 10), (5, 300, 2), (1, 1, 1, 1, 5000)])
def test_a_few_keys_of_uneven_size_get_a_task_each(tmp_path, sizes):
    """Fetch groups its links on one key per worker (its buckets): each key must be its own
    reduce task, whatever the sizes, or one worker crawls every bucket one after the other."""
    writer = shuffle.SpillWriter(str(tmp_path / "spill"), buckets=256)
    for key, n in enumerate(sizes):
        for i in range(n):
            writer.add(key, "x" * 50 + str(i))
    tasks = shuffle.plan_tasks([writer.close()], buckets=256)
    assert len(tasks) == len(sizes)
    keys_per_task = [{k for k, _ in shuffle.read_task(task)} for task in tasks]
    assert all(len(keys) == 1 for keys in keys_per_task)


def test_only_committed_spill_files_are_read(tmp_path):
    """A bundle that failed after writing its spill file (its reference never committed) and was
    retried: the orphan is not read, the retry's file is; no pair is lost or doubled."""
    pairs = _random_pairs(9, 500, 30)
    spill = str(tmp_path / "spill")
    first = shuffle.SpillWriter(spill, buckets=16, flush_bytes=100)
    for k, v in pairs[:250]:
        first.add(k, {"orphan": v})  # the failed attempt's pairs (marked, to see if any is read)
    first.close()  # written and renamed, but its reference is lost with the failed bundle
    refs = []
    for part in (pairs[:250], pairs[250:]):  # the retry of the first bundle, and the second bundle
        writer = shuffle.SpillWriter(spill, buckets=16, flush_bytes=100)
        for k, v in part:
            writer.add(k, v)
        refs.append(writer.close())
    assert len(os.listdir(spill)) == 3
    out = [g for task in shuffle.plan_tasks(refs, buckets=16) for g in shuffle.read_task(task)]
    values = [v for _, vs in out for v in vs]
    assert not any("orphan" in v for v in values)
    assert sorted(map(repr, values)) == sorted(repr(v) for _, v in pairs)


def test_cogroup_and_distinct_equal_beams_in_memory(tmp_path):
    def run(name, make):
        collect = tmp_path / f"{name}-out"
        collect.mkdir()
        p = _pipeline(tmp_path / name, 1)
        make(p) | beam.ParDo(_Collect(str(collect)))
        p.run().wait_until_finish()
        return sorted(f.read_text() for f in collect.iterdir())

    left = [(i % 7, f"a{i}") for i in range(40)]
    right = [(i % 5, f"b{i}") for i in range(30)] + [(99, "only")]

    def cogroup(storage):
        def make(p):
            inputs = {"l": p | "L" >> beam.Create(left), "r": p | "R" >> beam.Create(right)}
            return (inputs | shuffle.CoGroupViaStorage(storage)
                    | beam.Map(lambda kv: (kv[0], {t: sorted(v) for t, v in sorted(kv[1].items())})))
        return make

    def distinct(storage):
        return lambda p: p | beam.Create([i % 13 for i in range(100)]) | shuffle.DistinctViaStorage(storage)

    assert run("co-ours", cogroup(str(tmp_path / "s1"))) == run("co-beam", cogroup(None))
    assert run("d-ours", distinct(str(tmp_path / "s2"))) == run("d-beam", distinct(None)) == sorted(str(i) for i in range(13))


def _launcher_peak(tmp_path, name: str, seeds: int, group) -> int:
    """The launcher's peak of Python allocations while 2 workers generate `seeds` x 400 pairs of
    ~1 KB and group them with `group`."""
    collect = tmp_path / f"{name}-out"
    collect.mkdir()
    p = _pipeline(tmp_path / name, 2)
    (p | beam.Create(list(range(seeds))) | beam.Reshuffle() | beam.FlatMap(_big_pairs)
       | group | beam.Map(lambda kv: (kv[0], len(kv[1]))) | beam.ParDo(_Collect(str(collect))))
    tracemalloc.start()
    try:
        p.run().wait_until_finish()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _big_pairs(seed: int):
    rng = random.Random(seed)
    for i in range(400):
        yield f"key{rng.randrange(500)}", {"seed": seed, "i": i, "payload": "%08d" % i * 128}  # ~1 KB


@pytest.mark.timeout(900)
def test_the_launcher_holds_the_references_not_the_data(tmp_path):
    """N and 4N pairs of ~1 KB (1.6 and 6.6 MB): through storage the launcher's peak does not grow
    with the data; through Beam's GroupByKey (the check that the test can see it) it does."""
    _launcher_peak(tmp_path, "warm", 2, shuffle.GroupViaStorage(str(tmp_path / "s0")))  # imports, caches
    small = _launcher_peak(tmp_path, "small", 4, shuffle.GroupViaStorage(str(tmp_path / "s1")))
    large = _launcher_peak(tmp_path, "large", 16, shuffle.GroupViaStorage(str(tmp_path / "s2")))
    data = 12 * 400 * 1024  # the extra pairs of the large run
    beam_small = _launcher_peak(tmp_path, "beam-small", 4, beam.GroupByKey())
    beam_large = _launcher_peak(tmp_path, "beam-large", 16, beam.GroupByKey())
    print(f"launcher peak: storage {small / 1e6:.2f} -> {large / 1e6:.2f} MB, "
          f"GroupByKey {beam_small / 1e6:.2f} -> {beam_large / 1e6:.2f} MB, for {data / 1e6:.1f} MB more pairs")
    assert beam_large - beam_small > data / 2  # the runner's GroupByKey holds the pairs in the launcher
    assert large - small < data / 20, (small, large)
