"""Standalone dedup in bounded memory: a documents table on disk in, the deduplicated table out.

`dedup_folder(src, out, opts)` gives what `dedup_documents(read_documents(src), opts)` followed by
`write_documents` gives (the same documents in the same order, the same report), without ever
holding the documents:

1. **Keys and signatures, streamed.** The documents are read in batches of `batch_rows` rows, only
   the columns dedup looks at (`url`, `final_url`, `text`, `first_created_utc`, `score`). Per
   document it keeps the survivor key, the URL and text keys and the submitted URL (`DocKeys`,
   ~200-300 bytes), and appends its MinHash signature (`num_perm` x 4 bytes) to a file in a
   temporary folder next to the output. The text is dropped with its batch.
2. **The plan** (`webtext.dedup.dedup_plan`, shared with the in-memory path): exact URL and text
   duplicates over the keys, then LSH buckets and connected components over the signatures,
   mapped from the file. What grows with the corpus is what the method needs: the keys, the
   signatures of the documents left after the exact steps, and the edges.
3. **The survivors, written in order.** A second streaming pass hands each kept document to the
   spill file of its output part (`rows_per_file` consecutive ranks of the output order, by URL
   key); each part is then read back alone, put in order, and written as
   `OUT/documents/part-NNNNN.parquet`. Memory: one batch, or one part.

Memory, measured by `benchmarks/dedup_memory.py` (the figures are in docs/clean.md): peak resident
memory no longer grows with the documents' text, only with the keys and signatures.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from webtext.dedup import DedupOptions, DocKeys, dedup_plan, minhash
from webtext.report import StageReport
from webtext.shards import _write_parquet_atomic, document_files, iter_batches, timestamps_to_epoch, to_table

KEY_COLUMNS = ["url", "final_url", "text", "first_created_utc", "score"]


def iter_rows(files: list[Path], columns: list[str] | None, batch_rows: int) -> Iterator[list[dict]]:
    """The documents table's rows, one batch (a list of dicts) at a time."""
    import pyarrow as pa

    for f in files:
        for batch in iter_batches(f, columns=columns, batch_rows=batch_rows):
            yield timestamps_to_epoch(pa.Table.from_batches([batch])).to_pylist()  # times as epoch seconds, as read_documents


def dedup_folder(
    src: str | os.PathLike,
    out: str | os.PathLike,
    opts: DedupOptions | None = None,
    *,
    batch_rows: int = 1024,
    rows_per_file: int = 10_000,
) -> StageReport:
    """Deduplicate the documents table at `src` into `out/documents/` (see the module docstring)."""
    opts = opts or DedupOptions()
    files = document_files(src)
    folder = Path(out) / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(out) / f".dedup-work-{os.getpid()}"
    for stale in Path(out).glob(".dedup-work-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a run that crashed
    work.mkdir()
    try:
        # 1. keys and signatures
        keys = DocKeys()
        sig_path = work / "signatures.u32"
        with open(sig_path, "wb") as sig_file:
            for rows in iter_rows(files, KEY_COLUMNS, batch_rows):
                for doc in rows:
                    keys.add(doc)
                sigs = minhash.signatures([d.get("text") or "" for d in rows], opts.num_perm, opts.seed, opts.ngram, opts.hash)
                sig_file.write(np.ascontiguousarray(sigs, dtype=np.uint32).tobytes())
        n = len(keys.url)
        sigs = np.memmap(sig_path, dtype=np.uint32, mode="r", shape=(n, opts.num_perm)) if n else np.empty((0, opts.num_perm), np.uint32)
        # 2. the plan
        report = StageReport("dedup")
        kept = dedup_plan(keys, sigs, opts, report)
        del sigs, keys
        # 3. the survivors, part by part
        rank = np.full(n, -1, dtype=np.int64)  # input position -> output rank (-1: dropped)
        rank[np.asarray(kept, dtype=np.int64)] = np.arange(len(kept))
        rows_per_file = max(rows_per_file, -(-len(kept) // 500))  # at most 500 spill files open at once
        parts = max(1, -(-len(kept) // rows_per_file))
        spills = [open(work / f"part-{p:05d}.pickle", "wb") for p in range(parts)]
        try:
            i = 0
            for rows in iter_rows(files, None, batch_rows):
                for doc in rows:
                    r = int(rank[i])
                    if r >= 0:
                        pickle.dump((r, doc), spills[r // rows_per_file], protocol=pickle.HIGHEST_PROTOCOL)
                    i += 1
        finally:
            for f in spills:
                f.close()
        del rank
        written = []
        for p in range(parts):
            spill = work / f"part-{p:05d}.pickle"
            ranked = []
            with open(spill, "rb") as f:
                while True:
                    try:
                        ranked.append(pickle.load(f))
                    except EOFError:
                        break
            spill.unlink()
            ranked.sort(key=lambda item: item[0])
            path = folder / f"part-{p:05d}.parquet"
            _write_parquet_atomic(to_table([doc for _, doc in ranked]), path)
            written.append(path)
            del ranked
        for old in folder.glob("part-*.parquet"):
            if old not in written:
                old.unlink()  # a part of an earlier run with more parts
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report
