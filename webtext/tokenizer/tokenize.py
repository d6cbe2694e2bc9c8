"""Tokenizing the corpus: Parquet shards -> `train.bin` / `val.bin` of uint16 token ids.

`webtext tokenize --shards DIR --tokenizer DIR --out DIR` writes, into `out`:

* `train.bin`, `val.bin`: the token ids of every document, each document followed by
  `<|endoftext|>`, as raw little-endian uint16, read with
  `np.memmap(path, dtype=np.uint16, mode="r")` (nanoGPT's format). A vocabulary must therefore
  have at most 65,536 ids (GPT-2's 50,257 fits).
* `meta.json`: vocabulary size, `<|endoftext|>` id, dtype, the split rule, document / token /
  byte counts per split, the documents dropped with their reason (a null or empty `text`), the
  tokenizer's folder and content hash (`tokenizer_sha256`, see `files.py`) and the shards read.

Rules:

* **Validation split by document hash**, so it is the same whatever the shard layout, worker count
  or order: a document goes to `val` when `int.from_bytes(sha1(text as UTF-8)[:8], "big") % 1000 <
  val_permille` (default 5, i.e. 0.5 %), else to `train`. Identical texts always land in the same
  split, so dedup leftovers never leak across it.
* **A usable validation split, however small the corpus.** When the rule above leaves `val` with
  fewer than `min_val_tokens` tokens (default `MIN_VAL_TOKENS` = 1,025: one window at GPT-2's
  1,024-token context, the trainer's minimum) or no document, more documents move to `val` in
  ascending order of their split key (`key % 1000`, then the key), until both minimums hold, while
  `train` keeps at least one document. The order depends only on the texts, so the split is still
  independent of layout and workers. This needs a second encoding pass, which happens only when the
  hash rule fell short (corpora under roughly `min_val_tokens / val_permille * 1000` tokens).
  `min_val_tokens=0` turns the minimum off. A one-document corpus cannot have both splits: it goes
  to `train` and a warning says so.
* **Order.** Documents are written in shard order (sorted file names), row group by row group, in
  row order; the output is byte-for-byte the same for any number of worker processes.
* **A document's own text is never a separator.** Documents are encoded with tiktoken's
  `encode_ordinary`, so a literal `<|endoftext|>` inside a page is encoded as plain text; only the
  separator gets the special id.
* **Speed.** Row groups are encoded in parallel processes (`multiprocessing.Pool.imap`, which keeps
  their order) with a `tiktoken.Encoding` built from the ranks the parent process read and hashed
  (`files.read_tokenizer`: the ids always match the hash in meta.json), about ten times faster
  than the pure-Python encoder that gives the same ids.
* **Idempotent and resumable.** Outputs are written under temporary names and renamed at the end; a
  rerun whose inputs (shard names and sizes, tokenizer content hash, split) match the existing
  `meta.json` returns without redoing the work.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

from webtext.errors import ConfigError, InputError
from webtext.progress import Progress, log
from webtext.report import StageReport, write_json_atomic
from webtext.tokenizer.bpe import find_parquet_files, iter_tasks
from webtext.tokenizer.encoder import ENDOFTEXT

DEFAULT_VAL_PERMILLE = 5
MIN_VAL_TOKENS = 1025  # one window of GPT-2's 1024-token context plus its target: what `webtext train` needs
DTYPE = "uint16"  # numpy dtype of the token files (numpy is imported where it is used)


def split_key(text: str) -> int:
    """The first 8 bytes of sha1(text as UTF-8) as a big-endian integer."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def is_val(text: str, val_permille: int) -> bool:
    """The split rule: the split key mod 1000 below `val_permille`."""
    return split_key(text) % 1000 < val_permille


def _move_order(key: int) -> tuple[int, int]:
    """Order in which train documents move to val when val is short (the rule's own order)."""
    return (key % 1000, key)


def _prune_candidates(cands: list[tuple[int, int]], min_tokens: int) -> list[tuple[int, int]]:
    """The first (key, n_tokens) pairs in move order that reach `min_tokens`: no document past them
    could ever be moved, so the rest are dropped (memory bounded by the minimum, not the corpus)."""
    cands = sorted(cands, key=lambda c: _move_order(c[0]))
    total = 0
    for i, (_, n) in enumerate(cands):
        total += n
        if total >= min_tokens:
            return cands[: i + 1]
    return cands


# Per-process state, set once by the pool initializer.
_ENC = None
_EOT = 0
_VAL = 0
_MOVED: frozenset = frozenset()  # split keys of train documents moved to val (the minimum)
_MIN_TOKENS = 0


def _init_worker(tok, val_permille: int, moved: frozenset = frozenset(), min_tokens: int = 0) -> None:
    global _ENC, _EOT, _VAL, _MOVED, _MIN_TOKENS
    # built from the ranks the parent read and hashed, never re-read from the folder
    _ENC = tok.encoding()
    _EOT = _ENC.eot_token
    _VAL = val_permille
    _MOVED = moved
    _MIN_TOKENS = min_tokens


def _encode_task(task: tuple[str, int]) -> tuple[bytes, bytes, dict]:
    """Encode one row group; return (train ids bytes, val ids bytes, counts). The counts carry
    `candidates`: (split key, tokens) of the train documents that could move to val."""
    import numpy as np
    import pyarrow.parquet as pq

    path, rg = task
    train: list[int] = []
    val: list[int] = []
    stats = {"documents_train": 0, "documents_val": 0, "bytes_train": 0, "bytes_val": 0, "empty": 0, "empty_example": None}
    candidates: list[tuple[int, int]] = []
    try:
        pf = pq.ParquetFile(path)
        row = 0
        for batch in pf.iter_batches(batch_size=1024, row_groups=[rg], columns=["text"]):
            texts = batch.column(0).to_pylist()
            for text in texts:
                row += 1
                if not text:
                    stats["empty"] += 1
                    if stats["empty_example"] is None:
                        stats["empty_example"] = f"{Path(path).name} row group {rg} row {row - 1}"
                    continue
                ids = _ENC.encode_ordinary(text)
                n_bytes = len(text.encode("utf-8"))
                key = split_key(text)
                if key % 1000 < _VAL or key in _MOVED:
                    val.extend(ids)
                    val.append(_EOT)
                    stats["documents_val"] += 1
                    stats["bytes_val"] += n_bytes
                else:
                    train.extend(ids)
                    train.append(_EOT)
                    stats["documents_train"] += 1
                    stats["bytes_train"] += n_bytes
                    if _MIN_TOKENS:
                        candidates.append((key, len(ids) + 1))
    except OSError as exc:
        raise InputError(f"cannot read row group {rg}: {exc}", path=path) from None
    stats["candidates"] = _prune_candidates(candidates, _MIN_TOKENS) if _MIN_TOKENS else []
    return np.asarray(train, dtype=DTYPE).tobytes(), np.asarray(val, dtype=DTYPE).tobytes(), stats


def tokenize_corpus(
    shards: str | Path,
    tokenizer: str | Path,
    out: str | Path,
    val_permille: int = DEFAULT_VAL_PERMILLE,
    workers: int | None = None,
    min_val_tokens: int = MIN_VAL_TOKENS,
) -> dict:
    """Tokenize every shard under `shards` with the tokenizer folder; return what meta.json holds."""
    import numpy as np

    from webtext.tokenizer.files import read_tokenizer

    if not 0 <= val_permille <= 1000:
        raise ConfigError(f"--val-permille must be between 0 and 1000, got {val_permille}")
    if min_val_tokens < 0:
        raise ConfigError(f"--min-val-tokens must be 0 or more, got {min_val_tokens}")
    tokenizer = Path(tokenizer)
    out = Path(out)
    tok = read_tokenizer(tokenizer)  # read once, checked and hashed, before any process starts
    eot, n_vocab = tok.eot, tok.n_vocab
    if n_vocab > np.iinfo(DTYPE).max + 1:
        raise ConfigError(f"vocabulary of {n_vocab} ids does not fit uint16 token files (at most 65,536)")
    files = find_parquet_files(shards)
    tasks = iter_tasks(files)
    inputs = {
        "shards": [{"name": str(f.relative_to(Path(shards))), "bytes": f.stat().st_size} for f in files],
        "tokenizer_sha256": tok.sha256,
        "val_permille": val_permille,
        "min_val_tokens": min_val_tokens,
    }
    meta_path = out / "meta.json"
    if meta_path.is_file() and (out / "train.bin").is_file() and (out / "val.bin").is_file():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        if old.get("inputs") == inputs and (out / "train.bin").stat().st_size == 2 * old.get("tokens_train", -1):
            log("tokenize", f"{out} is up to date (same shards, tokenizer and split); nothing to do")
            return old

    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    log("tokenize", f"{len(files)} file(s), {len(tasks)} row group(s), {workers} process(es), vocabulary {n_vocab:,}")
    t0 = time.monotonic()
    n_rows = _count_rows(files)
    totals, report, candidates = _encode_all(tasks, tok, out, val_permille, frozenset(), min_val_tokens, workers, n_rows)
    moved = _choose_moved(totals, candidates, min_val_tokens)
    if moved:
        log("tokenize", f"the hash rule gave val {totals['documents_val']} document(s), {totals['tokens_val']:,} token(s): "
                        f"moving {len(moved)} more to reach the minimum of {min_val_tokens:,} tokens")
        totals, report, _ = _encode_all(tasks, tok, out, val_permille, moved, 0, workers, n_rows)
    if min_val_tokens and totals["tokens_val"] < min_val_tokens:
        log("tokenize", f"warning: {totals['documents_train'] + totals['documents_val']} document(s) cannot give a validation "
                        f"split of {min_val_tokens:,} tokens with a train split left; val.bin has {totals['tokens_val']:,}")
    n_train, n_val = totals["tokens_train"], totals["tokens_val"]
    seconds = time.monotonic() - t0
    meta = {
        "stage": "tokenize",
        # absolute: the trainer and the sampler find the tokenizer from here, whatever their cwd
        "tokenizer": str(tok.folder),
        # the content hash (files.py): train, sample and eval refuse a tokenizer that hashes otherwise
        "tokenizer_sha256": tok.sha256,
        "vocab_size": n_vocab,
        "eot_token": eot,
        "eot_string": ENDOFTEXT,
        "dtype": "uint16",
        "byte_order": "little",
        "layout": "each document's ids followed by eot_token; documents in shard order",
        "split_rule": f"int.from_bytes(sha1(text.encode('utf-8')).digest()[:8], 'big') % 1000 < {val_permille} -> val",
        "min_val_tokens": min_val_tokens,
        "documents_moved_to_val": len(moved),
        "documents_train": totals["documents_train"],
        "documents_val": totals["documents_val"],
        "tokens_train": n_train,
        "tokens_val": n_val,
        "bytes_train": totals["bytes_train"],
        "bytes_val": totals["bytes_val"],
        "bytes_per_token": round((totals["bytes_train"] + totals["bytes_val"]) / max(1, n_train + n_val - report.kept), 4),
        "report": report.to_dict(),
        "seconds": round(seconds, 3),
        "inputs": inputs,
    }
    write_json_atomic(meta_path, meta)
    mb = (totals["bytes_train"] + totals["bytes_val"]) / 1e6
    log("tokenize", f"{report.kept:,} documents, {n_train + n_val:,} tokens, {mb:,.1f} MB in {seconds:.1f} s -> {out}")
    return meta


def _count_rows(files: list[Path]) -> int:
    """Rows in the shards, from the Parquet footers (the progress display's total)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _choose_moved(totals: dict, candidates: list[tuple[int, int]], min_val_tokens: int) -> frozenset:
    """Split keys of the train documents that must move to val to reach the minimum (module docstring)."""
    if not min_val_tokens:
        return frozenset()
    need_tokens = min_val_tokens - totals["tokens_val"]
    need_docs = 0 if totals["documents_val"] else 1
    moved: set[int] = set()
    left_in_train = totals["documents_train"]
    for key, n in _prune_candidates(candidates, min_val_tokens):
        if need_tokens <= 0 and need_docs <= 0:
            break
        if left_in_train <= 1:
            break  # train keeps one document
        moved.add(key)
        left_in_train -= 1
        need_tokens -= n
        need_docs -= 1
    return frozenset(moved)


def _encode_all(tasks, tok, out: Path, val_permille: int, moved: frozenset, min_tokens: int,
                workers: int, n_rows: int) -> tuple[dict, StageReport, list]:
    """One encoding pass over every row group into out/train.bin and out/val.bin (written under
    temporary names, renamed at the end); returns the totals, the report and the move candidates."""
    report = StageReport("tokenize")
    totals = {"documents_train": 0, "documents_val": 0, "bytes_train": 0, "bytes_val": 0}
    candidates: list[tuple[int, int]] = []
    tmp_train = out / f".train.bin.tmp-{os.getpid()}"
    tmp_val = out / f".val.bin.tmp-{os.getpid()}"
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    initargs = (tok, val_permille, moved, min_tokens)
    try:
        with open(tmp_train, "wb") as ftrain, open(tmp_val, "wb") as fval, \
                Progress("tokenize", unit="documents", total=n_rows) as prog:
            if workers == 1:
                _init_worker(*initargs)
                results = map(_encode_task, tasks)
                pool = None
            else:
                pool = ctx.Pool(workers, initializer=_init_worker, initargs=initargs)
                results = pool.imap(_encode_task, tasks, chunksize=1)
            try:
                for train_bytes, val_bytes, st in results:
                    ftrain.write(train_bytes)
                    fval.write(val_bytes)
                    for k in totals:
                        totals[k] += st[k]
                    report.keep(st["documents_train"] + st["documents_val"])
                    if st["empty"]:
                        report.drop("empty text", st["empty_example"], n=st["empty"])
                    if st["candidates"]:
                        candidates = _prune_candidates(candidates + st["candidates"], min_tokens)
                    prog.update(st["documents_train"] + st["documents_val"] + st["empty"])
            finally:
                if pool is not None:
                    pool.close()
                    pool.join()
        report.check()
        totals["tokens_train"] = tmp_train.stat().st_size // 2
        totals["tokens_val"] = tmp_val.stat().st_size // 2
        os.replace(tmp_train, out / "train.bin")
        os.replace(tmp_val, out / "val.bin")
    finally:
        for p in (tmp_train, tmp_val):
            if p.exists():
                p.unlink()
    return totals, report, candidates
