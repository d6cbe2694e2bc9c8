"""Benchmark: encoding speed (MB/s of UTF-8 input) of the project's pure-Python GPT-2 encoder and
of tiktoken's GPT-2 encoding (built offline from shared/data/gpt2), one thread each, on the same
text; plus `webtext tokenize` (tiktoken in worker processes) end to end on Parquet shards.

    .venv/bin/python benchmarks/tokenize_speed.py [--mb 20] [--cores 2]

The text is the synthetic English-like corpus of `tokenizer_train.py` (a long tail of novel
words, so the encoder's per-word cache sees realistic misses). Both encoders must return the same
ids (checked), so the comparison is of speed alone. Each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_train import REPO, SHARED, write_corpus, synthetic_docs  # noqa: E402

sys.path.insert(0, str(REPO))


def best_of(n: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("WEBTEXT_QUIET", "1")

    from webtext.tokenizer import load
    from webtext.tokenizer.export import tiktoken_encoding
    from webtext.tokenizer.tokenize import tokenize_corpus

    gpt2 = SHARED / "data" / "gpt2"
    docs = list(synthetic_docs(int(args.mb * 1e6), seed=1))
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    print(f"text: {len(docs):,} synthetic documents, {mb:.1f} MB")

    def ours_run():
        enc = load(gpt2)  # fresh encoder: an empty per-word cache each run
        return [enc.encode_ordinary(d) for d in docs]

    tk = tiktoken_encoding(gpt2)
    t_ours, ids_ours = best_of(args.repeat, ours_run)
    t_tk, ids_tk = best_of(args.repeat, lambda: [tk.encode_ordinary(d) for d in docs])
    assert ids_ours == ids_tk, "the two encoders disagree"
    n_tokens = sum(map(len, ids_tk))
    print(f"project encoder (pure Python, 1 thread): {mb / t_ours:7.2f} MB/s  ({t_ours:.2f} s)")
    print(f"tiktoken gpt2   (Rust, 1 thread)       : {mb / t_tk:7.2f} MB/s  ({t_tk:.2f} s)")
    print(f"ratio tiktoken / project: {t_ours / t_tk:.1f}x; {n_tokens:,} tokens, {mb * 1e6 / n_tokens:.3f} bytes/token")

    with tempfile.TemporaryDirectory(prefix="webtext-tokenize-") as tmp:
        shards = write_corpus(Path(tmp) / "shards", int(args.mb * 1e6))
        t = time.perf_counter()
        meta = tokenize_corpus(shards, gpt2, Path(tmp) / "tokens", workers=args.cores)
        wall = time.perf_counter() - t
        total_mb = (meta["bytes_train"] + meta["bytes_val"]) / 1e6
        print(f"webtext tokenize ({args.cores} processes, tiktoken, Parquet in, uint16 out): {total_mb / wall:7.2f} MB/s "
              f"({total_mb:.1f} MB, {meta['tokens_train'] + meta['tokens_val']:,} tokens in {wall:.2f} s)")


if __name__ == "__main__":
    main()
