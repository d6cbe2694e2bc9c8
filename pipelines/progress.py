"""Live progress of `webtext build`: the workers count, the launcher sums and shows.

The stages run in worker processes the launcher cannot see into (the local FnApiRunner's SDK
workers, a Dask cluster's workers, Dataflow's VMs), and Beam's metrics are of no help while a
stage runs: the Dask runner has none, and the others give them only at the end. So each worker
publishes its own running count as a small file in the stage's folder, through the same storage
the stage writes its output to:

    OUT/stages/<stage>/progress/<measure>-<host>-<pid>-<random>.json     {"n": 1234}

One file per counting DoFn instance (`Tally`), rewritten in place (a temporary name, then a
rename) at most once a second by a background thread of that process and once more at the end of
every bundle; the launcher (`BuildWatch`) lists the folder every half second (5 s for `gs://`),
sums the files and feeds the sums to the display (`webtext.progress.StageBoard`). The folder is
removed when the stage ends; the counts of record stay the ones taken from the outputs
(store.report_from_outputs).

What a stage counts ("done"): its input elements once their fate is decided (a kept row, each
dropped element, each dead letter), counted where they flow into the stage's writer
(`transforms.WriteOutputs`, `UnitStage`, `WriteShard`), so at the end done equals the stage's
`read`. Where that comes late (the harvest decides most records only after grouping them by URL;
a fetch bucket yields its rows batch by batch), an earlier measure, `read`, counts elements as they
enter (dump records, links sent to the crawler), and the display shows the larger of the two.
The total is the previous stage's row count (Parquet footers), known before the stage starts; the
harvest's is known only at its end (the dumps are compressed streams).

A bundle that the runner retries is counted again: a live figure may then pass its total
(the line shows what the workers counted; the report stays exact).
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref

from pipelines import store

PROGRESS = "progress"
DONE, READ = "done", "read"
FLUSH_S = 1.0
REMOTE_MIN_S = 5.0  # an object store takes about one write per second per object: stay well under it


def progress_dir(stage_dir: str) -> str:
    return store.join(stage_dir, PROGRESS)


# ----------------------------------------------------------------------------------- workers


class Tally:
    """A worker's running count of one measure of one stage, published as one small file.

    Pickled into the pipeline with its folder only; each process's copy names its own file.
    `add` is an integer addition; the file is written by `flush` (end of a bundle) and by the
    process's flusher thread, at most once a second, only when the count changed (on `gs://`, at
    most once every `REMOTE_MIN_S`, so there the last seconds of counts can miss the final figure).
    A failed write is skipped: a progress figure never fails the work."""

    def __init__(self, stage_dir: str, measure: str = DONE):
        self.folder, self.measure = progress_dir(stage_dir), measure
        self._reset()

    def _reset(self) -> None:
        self.n, self._written, self._path, self._at = 0, 0, None, 0.0
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"folder": self.folder, "measure": self.measure}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    def add(self, n: int = 1) -> None:
        self.n += n
        if self._path is None:
            import socket
            import uuid

            host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40]
            self._path = store.join(self.folder, f"{self.measure}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json")
            _flusher().watch(self)

    def flush(self) -> None:
        with self._lock:
            n, now = self.n, time.monotonic()
            if self._path is None or n == self._written:
                return
            if "://" in self._path and now - self._at < REMOTE_MIN_S:
                return
            try:
                _write_small(self._path, json.dumps({"n": n}).encode())
            except Exception:  # noqa: BLE001 - the store refused or the folder went: the next flush tries again
                return
            self._written, self._at = n, now


def _write_small(path: str, data: bytes) -> None:
    """Replace a small file whole (no fsync: a lost count after a crash only delays a figure)."""
    if "://" in path:
        with store.fs().create(path) as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class _Flusher:
    """One daemon thread per process: flushes the live tallies once a second, so a count made
    just before a long pause (a fetch batch, a big row group) shows without waiting for the next."""

    def __init__(self):
        self.tallies: weakref.WeakSet = weakref.WeakSet()
        self.lock = threading.Lock()
        threading.Thread(target=self._run, name="webtext-progress", daemon=True).start()

    def watch(self, tally: Tally) -> None:
        with self.lock:
            self.tallies.add(tally)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_S)
            with self.lock:
                tallies = list(self.tallies)
            for t in tallies:
                t.flush()


_FLUSHER: _Flusher | None = None
_FLUSHER_LOCK = threading.Lock()


def _flusher() -> _Flusher:
    global _FLUSHER
    with _FLUSHER_LOCK:
        if _FLUSHER is None or os.getpid() != _FLUSHER_PID[0]:  # a forked worker needs its own thread
            _FLUSHER = _Flusher()
            _FLUSHER_PID[0] = os.getpid()
        return _FLUSHER


_FLUSHER_PID = [0]


def read_counts(stage_dir: str) -> dict[str, int]:
    """The workers' counts of one stage, summed per measure ({"done": n, "read": m})."""
    totals: dict[str, int] = {}
    try:
        paths = store.glob(store.join(progress_dir(stage_dir), "*.json"))
    except Exception:  # noqa: BLE001 - no folder yet, or a listing that failed: no figure this time
        return totals
    for path in paths:
        try:
            n = int(json.loads(store.read_bytes(path))["n"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # replaced or removed while read: the next poll has it
        measure = path.rsplit("/", 1)[-1].split("-", 1)[0]
        totals[measure] = totals.get(measure, 0) + n
    return totals


def done_count(counts: dict[str, int]) -> int:
    return max(counts.get(DONE, 0), counts.get(READ, 0))


# ----------------------------------------------------------------------------------- launcher


class BuildWatch:
    """The launcher's side: a StageBoard for the build's stages and a thread that polls the
    running stage's progress folder into it. A context manager around the whole build."""

    UNITS = {"harvest": "submissions", "fetch": "links", "extract": "pages", "clean": "documents",
             "dedup": "documents", "shards": "documents"}

    def __init__(self, out: str, stages: list[str], board=None):
        from webtext.progress import StageBoard

        self.out = out
        self.board = board or StageBoard("build", [(s, self.UNITS[s]) for s in stages])
        self.poll_s = 5.0 if "://" in out else 0.5
        self._current: str | None = None
        self._stop = threading.Event()
        self._thread = None
        self._env = None

    def __enter__(self) -> "BuildWatch":
        if self.board.live:
            # The workers (started from here, inheriting the environment) would draw their own
            # bars on the same terminal (the fetch's crawls): their figures are on the board.
            self._env = os.environ.get("WEBTEXT_PROGRESS")
            os.environ["WEBTEXT_PROGRESS"] = "off"
        self.board.__enter__()
        if not self.board.quiet:
            self._thread = threading.Thread(target=self._poll, name="webtext-build-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.board.__exit__(*exc)
        if self.board.live:
            if self._env is None:
                os.environ.pop("WEBTEXT_PROGRESS", None)
            else:
                os.environ["WEBTEXT_PROGRESS"] = self._env

    def reused(self, stage: str, read: int, seconds: float | None) -> None:
        self.board.finish(stage, read, read, seconds or 0.0, reused=True)

    def start(self, stage: str, total: int | None) -> None:
        self.board.start(stage, total)
        self._current = stage

    def finish(self, stage: str, read: int) -> int:
        """The stage has run: its final count (what the workers counted), shown against its
        total (for the harvest, the `read` of its report); the progress folder goes."""
        self._current = None
        sdir = store.stage_dir(self.out, stage)
        done = done_count(read_counts(sdir))
        self.board.finish(stage, done, None if self.board.stages[stage]["total"] is not None else read)
        store.delete_tree(progress_dir(sdir))
        return done

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            stage = self._current
            if stage is not None:
                self.board.update(stage, done_count(read_counts(store.stage_dir(self.out, stage))))
            self.board.tick()
