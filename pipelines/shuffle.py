"""Grouping by key through files, for the local runner: `GroupViaStorage`, `CoGroupViaStorage`.

Beam's local FnApiRunner performs every GroupByKey (and every multi-input Flatten) in the
launching process: the map side's output is sent back to it and held there, in Python objects,
until the stage that reads the groups has run. So the launcher's memory grows with whatever a
stage shuffles (fetch's links rows, dedup's key records and band pairs, every row a stage writes).
Here the data goes through files under the stage's folder instead; only a small reference per
bundle reaches the runner:

    map side     each bundle writes its (key, value) pairs into ONE spill file
                 (`SHUFFLE/<random>.spill`, temporary name then rename), sections by
                 `crc32(key encoding) % BUCKETS`, buffered at most `FLUSH_BYTES` in the worker;
                 it emits a reference {path, [(bucket, offset, length), ...]} when it finishes
    barrier      the references, grouped on one key (a GroupByKey of references only), are
                 planned into reduce tasks: consecutive buckets of about equal bytes (`plan_tasks`)
    reduce side  one task per element, spread over the workers (Reshuffle); its worker reads its
                 sections from every referenced spill file, groups them by the encoded key and
                 emits (key, [values]), keys in encoded-key order and each key's values in
                 encoded-value order: the same output whatever the bundles and workers were

Memory: the launcher holds the references (a few bytes per section); a map-side worker at most
`FLUSH_BYTES` of encoded pairs; a reduce-side worker one task's encoded pairs (about the grouped
data / tasks; a single key's values are never split) plus one key's decoded values.

Only files named by a committed reference are read: a bundle that failed and was retried leaves
an orphan file nobody reads, and the build removes the folder after the stage
(pipelines/build.py). Keys are encoded by Beam's deterministic primitives coder (str, bytes, int,
None, tuples of them), so equal keys always have equal bytes and the same bucket; values by Beam's
primitives coder (pickle for other objects, e.g. numpy arrays).

Only for the local runner: the map side emits its reference from `finish_bundle`, which Beam's
Dask runner drops, and on Dask and Dataflow the shuffle already lives in the workers. So with
`shuffle_dir=None` both transforms are exactly Beam's (Flatten + GroupByKey, CoGroupByKey), and
the build passes a folder only for the local runner (pipelines/build.py).
"""

from __future__ import annotations

import struct
import uuid
import zlib

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pipelines import store

BUCKETS = 256  # map-side sections by key hash; a reduce task is a run of consecutive buckets
FLUSH_BYTES = 16 << 20  # a map-side worker writes its buffered sections out past this many bytes
TASK_BYTES = 64 << 20  # a reduce task's target size (more tasks when the data is larger)
MIN_TASKS = 8  # at least this many reduce tasks (when there are as many non-empty buckets): parallelism
_LENGTHS = struct.Struct("<II")  # a record: key length, value length, key bytes, value bytes


def _coders():
    from apache_beam import coders

    return coders.FastPrimitivesCoder().as_deterministic_coder("GroupViaStorage"), coders.FastPrimitivesCoder()


class SpillWriter:
    """One bundle's spill file: pairs appended by bucket, buffered, written in sections."""

    def __init__(self, spill_dir: str, buckets: int = BUCKETS, flush_bytes: int = FLUSH_BYTES):
        self.spill_dir, self.buckets, self.flush_bytes = spill_dir, buckets, flush_bytes
        self.key_coder, self.value_coder = _coders()
        self.buffers: dict[int, list[bytes]] = {}
        self.buffered = 0
        self.path = self.handle = None
        self.offset = 0
        self.sections: list[tuple[int, int, int]] = []

    def add(self, key, value) -> None:
        kb, vb = self.key_coder.encode(key), self.value_coder.encode(value)
        record = _LENGTHS.pack(len(kb), len(vb)) + kb + vb
        self.buffers.setdefault(zlib.crc32(kb) % self.buckets, []).append(record)
        self.buffered += len(record)
        if self.buffered >= self.flush_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self.buffers:
            return
        if self.handle is None:
            self.path = store.join(self.spill_dir, f"{uuid.uuid4().hex}.spill")
            self.handle = store.open_write(self.path)
        for bucket in sorted(self.buffers):
            data = b"".join(self.buffers[bucket])
            self.handle.write(data)
            self.sections.append((bucket, self.offset, len(data)))
            self.offset += len(data)
        self.buffers.clear()
        self.buffered = 0

    def close(self) -> dict | None:
        """Write what is buffered, publish the file under its name; its reference (None: no pairs)."""
        self._flush()
        if self.handle is None:
            return None
        store.close_write(self.handle, self.path)
        return {"path": self.path, "sections": self.sections}


def plan_tasks(refs, buckets: int = BUCKETS, task_bytes: int = TASK_BYTES, min_tasks: int = MIN_TASKS) -> list[list]:
    """The committed references -> reduce tasks: runs of consecutive buckets of about equal bytes,
    each task the list of its (path, offset, length) sections. A bucket is never split."""
    by_bucket: dict[int, list] = {}
    for ref in refs:
        for bucket, offset, length in ref["sections"]:
            by_bucket.setdefault(bucket, []).append((ref["path"], offset, length))
    sizes = {b: sum(s[2] for s in secs) for b, secs in by_bucket.items()}
    total = sum(sizes.values())
    if not by_bucket:
        return []
    n_tasks = min(len(by_bucket), max(min_tasks, -(-total // task_bytes)))
    target = total / n_tasks
    tasks, current, size = [], [], 0
    order = sorted(by_bucket)
    for i, bucket in enumerate(order):
        current.extend(by_bucket[bucket])
        size += sizes[bucket]
        # Cut at the byte target, and also where the buckets left are only just enough for the
        # tasks still to open: a few keys of uneven size (fetch's buckets, one per worker) must
        # still get a task each, or one worker would run them all one after the other.
        if len(tasks) < n_tasks - 1 and (size >= target * (len(tasks) + 1) or len(order) - i - 1 <= n_tasks - len(tasks) - 1):
            tasks.append(sorted(current))
            current = []
    if current:
        tasks.append(sorted(current))
    return tasks


def read_task(sections) -> list:
    """One reduce task: its sections read and grouped; yields (key, [values]) in encoded-key order,
    each key's values in encoded-value order."""
    key_coder, value_coder = _coders()
    groups: dict[bytes, list[bytes]] = {}
    handle, current = None, None
    try:
        for path, offset, length in sections:
            if path != current:
                if handle is not None:
                    handle.close()
                handle, current = store.open_read(path), path
            handle.seek(offset)
            data = handle.read(length)
            pos = 0
            while pos < len(data):
                klen, vlen = _LENGTHS.unpack_from(data, pos)
                pos += _LENGTHS.size
                kb = data[pos:pos + klen]
                pos += klen
                groups.setdefault(kb, []).append(data[pos:pos + vlen])
                pos += vlen
            del data
    finally:
        if handle is not None:
            handle.close()
    for kb in sorted(groups):
        values = sorted(groups.pop(kb))
        yield key_coder.decode(kb), [value_coder.decode(v) for v in values]


class _Spill(beam.DoFn):
    """Map side: this bundle's pairs into one spill file; its reference when the bundle ends."""

    def __init__(self, spill_dir: str, buckets: int):
        self.spill_dir, self.buckets = spill_dir, buckets

    def start_bundle(self):
        self.writer = SpillWriter(self.spill_dir, self.buckets)

    def process(self, pair):
        key, value = pair
        self.writer.add(key, value)
        return ()

    def finish_bundle(self):
        ref = self.writer.close()
        if ref is not None:
            yield GlobalWindows.windowed_value(ref)


def _plan(item, buckets: int):
    _, refs = item
    return plan_tasks(list(refs), buckets)


class GroupViaStorage(beam.PTransform):
    """(key, value) pairs -> (key, [values]), like `beam.GroupByKey`, through spill files under
    `shuffle_dir` (module docstring); `shuffle_dir=None`: Beam's GroupByKey itself. The input may
    be a tuple of PCollections: each is spilled where it is produced (no Flatten, which the local
    runner would also hold in the launcher)."""

    def __init__(self, shuffle_dir: str | None, buckets: int = BUCKETS):
        super().__init__()
        self.shuffle_dir, self.buckets = shuffle_dir, buckets

    def expand(self, pcolls):
        inputs = tuple(pcolls) if isinstance(pcolls, (tuple, list)) else (pcolls,)
        if self.shuffle_dir is None:
            pairs = inputs[0] if len(inputs) == 1 else inputs | "Flatten" >> beam.Flatten()
            return pairs | "GroupByKey" >> beam.GroupByKey()
        refs = [pc | f"Spill{i}" >> beam.ParDo(_Spill(self.shuffle_dir, self.buckets)) for i, pc in enumerate(inputs)]
        refs = refs[0] if len(refs) == 1 else tuple(refs) | "AllRefs" >> beam.Flatten()
        return (
            refs
            | "OneKey" >> beam.Map(lambda ref: (None, ref))
            | "Refs" >> beam.GroupByKey()
            | "Plan" >> beam.FlatMap(_plan, self.buckets)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Reduce" >> beam.FlatMap(read_task)
        )


def _tagged(pair, tag: str):
    return pair[0], (tag, pair[1])


def _regroup(item, tags):
    key, tagged = item
    out = {tag: [] for tag in tags}
    for tag, value in tagged:
        out[tag].append(value)
    return key, out


class CoGroupViaStorage(beam.PTransform):
    """{tag: PCollection of (key, value)} -> (key, {tag: [values]}), like `beam.CoGroupByKey`,
    through `GroupViaStorage`; `shuffle_dir=None`: Beam's CoGroupByKey itself."""

    def __init__(self, shuffle_dir: str | None, buckets: int = BUCKETS):
        super().__init__()
        self.shuffle_dir, self.buckets = shuffle_dir, buckets

    def expand(self, inputs: dict):
        if self.shuffle_dir is None:
            return inputs | "CoGroupByKey" >> beam.CoGroupByKey()
        tags = sorted(inputs)
        tagged = tuple(inputs[tag] | f"Tag.{tag}" >> beam.Map(_tagged, tag) for tag in tags)
        return (
            tagged
            | "Group" >> GroupViaStorage(self.shuffle_dir, self.buckets)
            | "Regroup" >> beam.Map(_regroup, tags)
        )


def _distinct_key(x):
    return x, None


def _first(item):
    return item[0]


class DistinctViaStorage(beam.PTransform):
    """`beam.Distinct` through `GroupViaStorage` (`shuffle_dir=None`: Beam's Distinct itself)."""

    def __init__(self, shuffle_dir: str | None):
        super().__init__()
        self.shuffle_dir = shuffle_dir

    def expand(self, pcoll):
        if self.shuffle_dir is None:
            return pcoll | "Distinct" >> beam.Distinct()
        return pcoll | "Key" >> beam.Map(_distinct_key) | "Group" >> GroupViaStorage(self.shuffle_dir) | "Keys" >> beam.Map(_first)
