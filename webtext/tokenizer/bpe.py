"""The byte-level BPE trainer: Parquet shards in, GPT-2-style merges out.

Reading top to bottom, training is three steps:

1. **Count words** (`count_words`). The Parquet shards (`webtext-*.parquet` in the folder, else
   every `*.parquet` under it, in sorted order) are read one row group at a time, `text` column
   only, by `workers` processes. Each process cuts every document into pre-tokens with GPT-2's
   regex (`encoder.GPT2_PATTERN`) and counts them. Nothing but the counts ever stays in memory, so
   the corpus itself can be far larger than RAM.
2. **Merge** (`learn_merges`). Every distinct pre-token ("word") starts as its UTF-8 bytes, the
   256 byte symbols. The most frequent adjacent pair of symbols, weighted by word counts, is
   merged into a new symbol; repeat until the vocabulary is full.
3. **Write** (`train`): `encoder.json` + `vocab.bpe` (GPT-2 format), `tokenizer.json` (Hugging
   Face) and `tokenizer.tiktoken` (tiktoken ranks), via `export.py`, plus `train_report.json`.

Rules (the brute-force reference in `tests/tokenizer/test_bpe.py` implements the same ones):

* **Vocabulary layout, as GPT-2's.** Ids 0..255 are the 256 bytes in the order of GPT-2's
  `bytes_to_unicode` (printable bytes first), id 256 + k is the k-th merge, and `<|endoftext|>`
  takes the last id (`vocab_size - 1`, 50256 at the default 50257). So `vocab_size - 257` merges.
* **Merges never cross pre-token boundaries.** BPE runs inside each pre-token, so a token never
  spans two of GPT-2's regex pieces: letters, digits, other symbols and whitespace never merge
  with one another, except that a single leading space belongs to the letter/digit/symbol run
  after it (`" the"` is one token, `"the."` never is). This is a property of GPT-2's
  pre-tokenization, and the encoder relies on it.
* **Tie-break.** Among pairs with the same count, the pair whose left token's bytes are smallest
  (bytewise) wins, then the smallest right token's bytes. Deterministic and independent of ids,
  worker count and input order.
* **A pair whose concatenation is already a token** (the same bytes reached by another split,
  `"a"+"bc"` after `"ab"+"c"`) is never merged: it is left out of the choice. This is a guard that
  keeps exactly one merge per token, so `vocab.bpe` has one line per id and tiktoken's
  rank-by-token rule sees the same ranks as GPT-2's rank-by-pair rule; `train_report.json` counts
  it (`skipped_duplicates`). It has not fired in any of our runs (tens of thousands of random
  small corpora, the benchmark corpus): merges only ever join neighbouring symbols of the same
  deterministic segmentation, which makes a second split of the same bytes at least very rare.
* If no pair with count >= `min_pair_count` is left, training stops early with a smaller vocabulary
  (reported); `<|endoftext|>` still takes the last id.

**Speed.** The merge loop is incremental, never a recount: `pair_counts` holds the weighted count of
every adjacent pair, `pair_words` indexes pair -> words that contain it, and a heap holds
`(-count, left bytes, right bytes, pair)`. Merging a pair visits only the words in its index; in
each word only the pairs around a merged position change (old ones decremented, new ones with the
new symbol incremented). Counts only ever *decrease* except for pairs with the newly made symbol,
which are pushed once after the merge, so heap entries are checked lazily on pop: an entry whose
count is stale is pushed back with the current count. The index is lazy too (a word whose pair
went away stays listed and is skipped when visited). Initial pair counts are built with numpy,
word scans use C-speed `list.count`/`list.index`, and Python's cyclic garbage collector is paused
during the merges (the state is millions of cycle-free lists and sets that every collection would
walk; pausing it halves the merge time).

**Bounded memory** (a corpus larger than RAM). Text is streamed; what grows is the word-count
table. Each counting process keeps at most `max_words / workers` distinct words; when its table
overflows, it prunes the rarest words (those at or below the count that keeps the table at half
its cap), in the manner of lossy counting. The merged table is capped at `max_words` the same way.
Frequent words are never lost (a word's count is only ever under-counted, by at most the sum of
the pruning thresholds, which `train_report.json` records with the number of pruned words and
occurrences); the dropped tail is rare words, whose pairs matter mostly to the last, rarest
merges. The merge phase peaks at about 1.5 KB per distinct word (symbol lists, the pair -> words
index, the heap), so the default cap of 2 M words keeps it near 3 GB whatever the corpus size;
raise `--max-words` on a bigger machine.
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing as mp
import os
import queue as queue_module
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from webtext.errors import InputError
from webtext.progress import Progress, log
from webtext.tokenizer.encoder import ENDOFTEXT, GPT2_PATTERN, bytes_to_unicode

DEFAULT_VOCAB_SIZE = 50257
DEFAULT_MAX_WORDS = 2_000_000
_SHIFT = 1 << 20  # pair key = left * _SHIFT + right = left << 20 | right (ids stay below 2**20)


# ---------------------------------------------------------------------------------------------
# Step 1: find the shards and count pre-tokens
# ---------------------------------------------------------------------------------------------


def find_parquet_files(folder: str | Path) -> list[Path]:
    """`webtext-*.parquet` directly in `folder` (the shard stage's output), else any `*.parquet`
    below it; sorted by path so every run reads the same order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("shards folder not found", path=str(folder))
    files = sorted(folder.glob("webtext-*.parquet")) or sorted(p for p in folder.rglob("*.parquet") if p.is_file())
    if not files:
        raise InputError("no Parquet shards (webtext-*.parquet or *.parquet) in the folder", path=str(folder))
    return files


def iter_tasks(files: list[Path]) -> list[tuple[str, int]]:
    """One task per (file, row group): the unit of parallel work, a bounded amount of text."""
    import pyarrow.parquet as pq

    tasks = []
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise InputError(f"not a readable Parquet file: {exc}", path=str(f)) from None
        if "text" not in pf.schema_arrow.names:
            raise InputError(f"no 'text' column (columns: {', '.join(pf.schema_arrow.names)})", path=str(f))
        tasks.extend((str(f), i) for i in range(pf.num_row_groups))
    return tasks


def iter_texts(path: str, row_group: int, batch_size: int = 2048) -> Iterator[str | None]:
    """The `text` values of one row group (None for a null), streamed in record batches."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=[row_group], columns=["text"]):
            yield from batch.column(0).to_pylist()
    except OSError as exc:
        raise InputError(f"cannot read row group {row_group}: {exc}", path=path) from None


@dataclass
class CountStats:
    documents: int = 0  # documents with text
    empty_documents: int = 0  # null or empty `text`, skipped
    bytes: int = 0
    pretokens: int = 0
    pruned_words: int = 0
    pruned_occurrences: int = 0
    prune_threshold_sum: int = 0  # upper bound on how much any kept word's count is under-counted

    def add(self, other: "CountStats") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


def prune(counts: Counter, cap: int, stats: CountStats) -> None:
    """Shrink `counts` to at most cap/2 words by dropping every word at or below a count threshold.

    The threshold is the count of the (cap/2)-th most frequent word, so ties are dropped together
    and the result never depends on dict order.
    """
    import numpy as np

    values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    keep = max(cap // 2, 1)
    if len(values) <= keep:
        return
    threshold = int(np.partition(values, len(values) - keep)[len(values) - keep])
    # Everything at or below the threshold goes (keeps strictly fewer than `keep` words).
    dropped = [w for w, c in counts.items() if c <= threshold]
    stats.pruned_words += len(dropped)
    stats.pruned_occurrences += int(values[values <= threshold].sum())
    stats.prune_threshold_sum += threshold
    for w in dropped:
        del counts[w]


def _count_worker(tasks: list[tuple[str, int]], cap: int, queue) -> None:
    """Count pre-tokens of the given row groups; send (progress...)* then the final counts."""
    import regex

    pat = regex.compile(GPT2_PATTERN)
    counts: Counter = Counter()
    stats = CountStats()
    try:
        for path, rg in tasks:
            done = CountStats()
            for text in iter_texts(path, rg):
                if not text:  # nothing to learn from; counted so the report adds up
                    done.empty_documents += 1
                    continue
                pieces = pat.findall(text)
                counts.update(pieces)
                done.documents += 1
                done.bytes += len(text.encode("utf-8"))
                done.pretokens += len(pieces)
                if len(counts) > cap:
                    prune(counts, cap, stats)
            stats.add(done)
            queue.put(("progress", done.documents, done.bytes))
        queue.put(("done", counts, stats))
    except Exception as exc:  # hand the error to the parent, which raises it with its message
        queue.put(("error", f"{type(exc).__name__}: {exc}", None))


def count_words(
    folder: str | Path, workers: int | None = None, max_words: int = DEFAULT_MAX_WORDS
) -> tuple[dict[str, int], CountStats]:
    """Stream every shard under `folder` and count GPT-2 pre-tokens, in `workers` processes."""
    files = find_parquet_files(folder)
    tasks = iter_tasks(files)
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    log("tokenizer", f"counting words in {len(files)} file(s), {len(tasks)} row group(s), {workers} process(es)")
    # Round-robin split: each process gets every `workers`-th row group.
    shares = [tasks[i::workers] for i in range(workers)]
    per_worker_cap = max(max_words // workers, 1000)
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    queue = ctx.Queue()
    procs = [ctx.Process(target=_count_worker, args=(share, per_worker_cap, queue), daemon=True) for share in shares]
    for p in procs:
        p.start()
    total: Counter = Counter()
    stats = CountStats()
    first = True
    try:
        with Progress("tokenizer", unit="documents") as progress:
            finished = 0
            mb = 0.0
            while finished < workers:
                try:
                    kind, a, b = queue.get(timeout=2.0)
                except queue_module.Empty:
                    # a process killed from outside (e.g. out of memory) sends nothing: notice it
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise InputError(
                            f"a counting process died (exit code {dead[0].exitcode}); if it ran out of memory, lower --max-words",
                            path=str(folder),
                        ) from None
                    continue
                if kind == "progress":
                    mb += b / 1e6
                    progress.update(a, MB=f"{mb:,.0f}")
                elif kind == "error":
                    raise InputError(f"counting words failed: {a}", path=str(folder))
                else:
                    finished += 1
                    stats.add(b)
                    if first:  # dict.update is C speed; only later tables need adding
                        total.update(a)
                        first = False
                    else:
                        get = total.get
                        for w, c in a.items():
                            total[w] = get(w, 0) + c
                    del a
                    if len(total) > max_words:
                        prune(total, max_words, stats)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return dict(total), stats


# ---------------------------------------------------------------------------------------------
# Step 2: merges
# ---------------------------------------------------------------------------------------------


def byte_order() -> list[int]:
    """Byte value of token ids 0..255: GPT-2's `bytes_to_unicode` order (printable bytes first)."""
    return list(bytes_to_unicode().keys())


@dataclass
class MergeResult:
    merges: list[tuple[int, int]]  # (left id, right id) -> id 256 + index
    token_bytes: list[bytes]  # id -> bytes, for ids 0 .. 255 + len(merges)
    skipped_duplicates: int = 0
    stopped_early: bool = False
    counts: list[int] = field(default_factory=list)  # the count of each merge when it was made


def learn_merges(
    word_counts: dict[str, int] | Iterable[tuple[str, int]],
    n_merges: int,
    min_pair_count: int = 1,
    progress_name: str = "tokenizer",
) -> MergeResult:
    """Learn up to `n_merges` merges from word counts with the rules in the module docstring.

    Python's cyclic garbage collector is paused meanwhile: the merge state is millions of lists
    and sets without a single reference cycle, and every collection would walk all of it (it
    roughly halves the merge time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _learn_merges(word_counts, n_merges, min_pair_count, progress_name)
    finally:
        if was_enabled:
            gc.enable()


def _learn_merges(word_counts, n_merges: int, min_pair_count: int, progress_name: str) -> MergeResult:
    import numpy as np

    order = byte_order()
    id_of_byte = bytes(order.index(b) for b in range(256))  # bytes.translate table: byte -> id
    token_bytes: list[bytes] = [bytes([b]) for b in order]
    known: set[bytes] = set(token_bytes)

    # Words as lists of symbol ids. Sorted so that everything downstream is order-independent.
    items = sorted(word_counts.items() if isinstance(word_counts, dict) else word_counts)
    words: list[list[int]] = []
    counts: list[int] = []
    for w, c in items:
        if c <= 0:
            continue
        sym = list(w.encode("utf-8").translate(id_of_byte))
        if len(sym) > 1:  # a one-byte word has no pair to contribute
            words.append(sym)
            counts.append(c)

    # Initial pair counts and pair -> words index, vectorised.
    pair_counts: dict[int, int] = {}
    pair_words: dict[int, set[int]] = {}
    if words:
        lens = np.fromiter((len(s) for s in words), dtype=np.int64, count=len(words))
        flat = np.fromiter((x for s in words for x in s), dtype=np.int64, count=int(lens.sum()))
        # a pair starts at every flat position except the last symbol of each word
        valid = np.ones(len(flat), dtype=bool)
        valid[np.cumsum(lens) - 1] = False
        pos = np.flatnonzero(valid)
        del valid
        keys = flat[pos] * _SHIFT + flat[pos + 1]
        del flat
        wid = np.repeat(np.arange(len(words), dtype=np.int32), lens - 1)  # word of each pair
        del pos, lens
        order_ = np.argsort(keys, kind="stable")  # stable: word ids stay ascending within a pair
        keys = keys[order_]
        wid = wid[order_]
        del order_
        weights = np.asarray(counts, dtype=np.int64)[wid]
        uniq, starts = np.unique(keys, return_index=True)
        sums = np.add.reduceat(weights, starts).tolist()
        del keys, weights
        bounds = starts.tolist() + [len(wid)]
        wid_list = wid.tolist()
        del wid
        for k, key in enumerate(uniq.tolist()):
            pair_counts[key] = sums[k]
            pair_words[key] = set(wid_list[bounds[k] : bounds[k + 1]])
        del wid_list

    heap = [(-c, token_bytes[k // _SHIFT], token_bytes[k % _SHIFT], k) for k, c in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    merge_counts: list[int] = []
    skipped = 0
    stopped_early = False
    heappush, heappop = heapq.heappush, heapq.heappop
    progress = Progress(progress_name, unit="merges", total=n_merges)
    while len(merges) < n_merges:
        # Pop the best live pair (lazy deletion: re-push entries whose count went down).
        best = None
        while heap:
            negc, lb, rb, key = heappop(heap)
            cur = pair_counts.get(key, 0)
            if cur != -negc:
                if cur > 0:
                    heappush(heap, (-cur, lb, rb, key))
                continue
            if lb + rb in known:  # same bytes as an existing token: never merged (see docstring)
                skipped += 1
                del pair_counts[key]
                pair_words.pop(key, None)
                continue
            best = key
            break
        if best is None or pair_counts[best] < min_pair_count:
            stopped_early = True
            break
        a, b = divmod(best, _SHIFT)
        c = len(token_bytes)
        new_bytes = token_bytes[a] + token_bytes[b]
        token_bytes.append(new_bytes)
        known.add(new_bytes)
        merges.append((a, b))
        merge_counts.append(pair_counts[best])

        # Apply the merge in every word that (may) contain the pair; collect count changes.
        delta: dict[int, int] = {}
        new_pairs: dict[int, None] = {}
        same = a == b
        for w in pair_words.pop(best):
            sym = words[w]
            n = len(sym)
            # Occurrences, left to right and non-overlapping (as the encoder merges them). The
            # scans run at C speed (list.count / list.index) and raise no exception when a != b.
            na = sym.count(a)
            if not na:  # stale index entry: the word lost the pair to an earlier merge
                continue
            hits = []
            i = 0
            if not same:
                for _ in range(na):
                    i = sym.index(a, i)
                    if i + 1 < n and sym[i + 1] == b:
                        hits.append(i)
                        i += 2
                    else:
                        i += 1
            else:  # "a a a": a hit swallows the next a, so the count of a's is only an upper bound
                while i < n - 1:
                    if sym[i] == a and sym[i + 1] == a:
                        hits.append(i)
                        i += 2
                    else:
                        i += 1
            if not hits:
                continue
            cnt = counts[w]
            # Old pairs touching a merged position start at i-1, i, i+1 for each hit i (i-1 is
            # skipped when the previous hit already counted it as its i+1). The pair itself is
            # not tracked: its count is dropped after the merge.
            prev = -3
            for i in hits:
                if i > 0 and prev != i - 2:
                    k = sym[i - 1] * _SHIFT + a
                    delta[k] = delta.get(k, 0) - cnt
                if i + 2 < n:
                    k = b * _SHIFT + sym[i + 2]
                    delta[k] = delta.get(k, 0) - cnt
                prev = i
            # the new word; hit number h of old index i lands at new index i - h
            if len(hits) == 1:
                i = hits[0]
                new = sym[:i]
                new.append(c)
                new.extend(sym[i + 2 :])
            else:
                new = []
                j = 0
                for i in hits:
                    new.extend(sym[j:i])
                    new.append(c)
                    j = i + 2
                new.extend(sym[j:])
            words[w] = new
            m = len(new)
            # New pairs: those with the new symbol, each counted once ("c c" is one pair).
            for h, i in enumerate(hits):
                j = i - h
                if j > 0 and new[j - 1] != c:
                    k = new[j - 1] * _SHIFT + c
                    delta[k] = delta.get(k, 0) + cnt
                    pws = pair_words.get(k)
                    if pws is None:
                        pair_words[k] = {w}
                    else:
                        pws.add(w)
                    new_pairs[k] = None
                if j < m - 1:
                    k = c * _SHIFT + new[j + 1]
                    delta[k] = delta.get(k, 0) + cnt
                    pws = pair_words.get(k)
                    if pws is None:
                        pair_words[k] = {w}
                    else:
                        pws.add(w)
                    new_pairs[k] = None
        for k, d in delta.items():
            if d:
                v = pair_counts.get(k, 0) + d
                if v > 0:
                    pair_counts[k] = v
                else:
                    pair_counts.pop(k, None)
                    if k not in new_pairs:
                        pair_words.pop(k, None)
        pair_counts.pop(best, None)
        get = pair_counts.get
        tb = token_bytes
        fresh = [(-v, tb[k >> 20], tb[k & 0xFFFFF], k) for k in new_pairs if (v := get(k, 0)) > 0]
        if len(fresh) > len(heap) >> 4:  # many at once: re-heapify (linear) beats pushing one by one
            heap.extend(fresh)
            heapq.heapify(heap)
        else:
            for e in fresh:
                heappush(heap, e)
        progress.update(1)
    progress.__exit__(None, None, None)
    return MergeResult(merges, token_bytes, skipped, stopped_early, merge_counts)


# ---------------------------------------------------------------------------------------------
# Step 3: the whole training run
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    merges: list[tuple[int, int]]
    token_bytes: list[bytes]  # id -> bytes for every mergeable token; <|endoftext|> is id len()
    vocab_size: int
    stats: CountStats
    skipped_duplicates: int
    stopped_early: bool
    seconds: dict[str, float]

    @property
    def eot_id(self) -> int:
        return len(self.token_bytes)


def train_from_counts(word_counts: dict[str, int], vocab_size: int = DEFAULT_VOCAB_SIZE, min_pair_count: int = 1) -> MergeResult:
    if vocab_size < 257:
        raise ValueError(f"vocab_size must be at least 257 (256 bytes + {ENDOFTEXT}), got {vocab_size}")
    return learn_merges(word_counts, vocab_size - 257, min_pair_count=min_pair_count)


def train(
    shards: str | Path,
    out: str | Path,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    workers: int | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
    min_pair_count: int = 2,
) -> TrainResult:
    """Train on the shards in `shards` and write every tokenizer file into `out`."""
    from webtext.report import write_json_atomic
    from webtext.tokenizer import export

    if vocab_size < 257 or vocab_size > _SHIFT:
        raise InputError(f"--vocab-size must be between 257 and {_SHIFT}, got {vocab_size}")
    out = Path(out)
    files = find_parquet_files(shards)
    inputs = {
        "shards": [{"name": str(f.relative_to(Path(shards))), "bytes": f.stat().st_size} for f in files],
        "vocab_size": vocab_size,
        "max_words": max_words,
        "min_pair_count": min_pair_count,
    }
    done = _finished_run(out, inputs)
    if done is not None:
        log("tokenizer", f"{out} is up to date (same shards and settings); nothing to do")
        return done
    t0 = time.monotonic()
    word_counts, stats = count_words(shards, workers=workers, max_words=max_words)
    t1 = time.monotonic()
    log("tokenizer", f"{stats.documents:,} documents, {stats.bytes / 1e6:,.1f} MB, {len(word_counts):,} distinct words; merging")
    n_words = len(word_counts)
    result = learn_merges(word_counts, vocab_size - 257, min_pair_count=min_pair_count)
    t2 = time.monotonic()
    del word_counts
    export.write_all(out, result.token_bytes, result.merges)
    t3 = time.monotonic()
    seconds = {"count": round(t1 - t0, 3), "merge": round(t2 - t1, 3), "write": round(t3 - t2, 3)}
    trained = TrainResult(
        result.merges, result.token_bytes, len(result.token_bytes) + 1, stats, result.skipped_duplicates, result.stopped_early, seconds
    )
    write_json_atomic(
        Path(out) / "train_report.json",
        {
            "stage": "tokenizer",
            "shards": str(shards),
            "vocab_size_requested": vocab_size,
            "vocab_size": trained.vocab_size,
            "merges": len(result.merges),
            "endoftext_id": trained.eot_id,
            "stopped_early": result.stopped_early,
            "min_pair_count": min_pair_count,
            "skipped_duplicates": result.skipped_duplicates,
            "documents": stats.documents,
            "empty_documents": stats.empty_documents,
            "bytes": stats.bytes,
            "distinct_words": n_words,
            "pretokens": stats.pretokens,
            "max_words": max_words,
            "pruned_words": stats.pruned_words,
            "pruned_occurrences": stats.pruned_occurrences,
            "max_undercount": stats.prune_threshold_sum,
            "last_merge_count": result.counts[-1] if result.counts else None,
            "seconds": seconds,
            "inputs": inputs,
        },
    )
    if result.stopped_early:
        log("tokenizer", f"stopped early: no pair left with count >= {min_pair_count}; vocabulary {trained.vocab_size}")
    log("tokenizer", f"wrote {out} ({trained.vocab_size:,} tokens) in {t3 - t0:.1f} s")
    return trained


def _finished_run(out: Path, inputs: dict) -> TrainResult | None:
    """The result of an earlier complete run into `out` with the same inputs, else None.

    `train_report.json` is written last, so its presence with matching inputs means every other
    file was written (each by rename) by that run.
    """
    import json

    from webtext.tokenizer.encoder import load as load_encoder

    report_path = out / "train_report.json"
    names = ("encoder.json", "vocab.bpe", "tokenizer.json", "tokenizer.tiktoken")
    if not report_path.is_file() or not all((out / n).is_file() for n in names):
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if report.get("inputs") != inputs:
        return None
    enc = load_encoder(out)
    by_id = sorted(enc.token_bytes().items(), key=lambda kv: kv[1])
    token_bytes = [b for b, _ in by_id]
    index = {enc_tok: i for i, enc_tok in enumerate(token_bytes)}
    from webtext.tokenizer.encoder import token_to_bytes

    merges = [(index[token_to_bytes(a)], index[token_to_bytes(b)]) for a, b in enc.merges]
    stats = CountStats(
        documents=report.get("documents", 0),
        empty_documents=report.get("empty_documents", 0),
        bytes=report.get("bytes", 0),
        pretokens=report.get("pretokens", 0),
        pruned_words=report.get("pruned_words", 0),
        pruned_occurrences=report.get("pruned_occurrences", 0),
        prune_threshold_sum=report.get("max_undercount", 0),
    )
    return TrainResult(
        merges, token_bytes, len(token_bytes) + 1, stats, report.get("skipped_duplicates", 0),
        bool(report.get("stopped_early")), dict(report.get("seconds", {})),
    )
