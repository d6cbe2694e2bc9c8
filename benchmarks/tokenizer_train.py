"""Benchmark: the project's BPE trainer against Hugging Face tokenizers' BPE trainer.

Same corpus (Parquet shards), same vocabulary size, same number of cores, both reading the shards
themselves. Prints each wall time, their ratio (target: project / HF <= 3) and the bytes per token
each tokenizer gets on held-out text (the 40 `dev` article bodies of shared/data/extraction, real
pages never used for training).

    .venv/bin/python benchmarks/tokenizer_train.py                     # 100 MB synthetic corpus
    .venv/bin/python benchmarks/tokenizer_train.py --shards OUT/shards # a real corpus instead

Without `--shards`, the corpus is generated deterministically: word sequences from a bigram model of
the 81 `train` article bodies, with 4 % novel words from a character trigram model of the same
text (a long tail of rare words, as web text has), 1 % numbers and paragraph breaks.
HF is run in a subprocess with RAYON_NUM_THREADS = --cores, so both use the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WEBTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))


def articles() -> dict[str, list[str]]:
    g = json.loads((SHARED / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    split = json.loads((SHARED / "data/extraction/split.json").read_text(encoding="utf-8"))
    return {name: [g[i]["articleBody"] for i in ids] for name, ids in split.items()}


def synthetic_docs(n_bytes: int, seed: int = 0):
    """Deterministic English-like documents (see the module docstring)."""
    rng = random.Random(seed)
    train = articles()["train"]
    follow: dict[str, list[str]] = defaultdict(list)
    starts: list[str] = []
    chars: dict[str, list[str]] = defaultdict(list)
    for t in train:
        toks = t.split()
        if not toks:
            continue
        starts.append(toks[0])
        for a, b in zip(toks, toks[1:]):
            follow[a].append(b)
        for w in toks:
            w = "^^" + w + "$"
            for i in range(len(w) - 2):
                chars[w[i : i + 2]].append(w[i + 2])

    def novel() -> str:
        out = "^^"
        while len(out) < 22:
            c = rng.choice(chars.get(out[-2:]) or ["$"])
            if c == "$":
                break
            out += c
        return out[2:] or "x"

    total = 0
    while total < n_bytes:
        w = rng.choice(starts)
        words = [w]
        for _ in range(rng.randint(50, 1500)):
            r = rng.random()
            if r < 0.04:
                w = novel()
            elif r < 0.05:
                w = str(rng.randint(0, 10 ** rng.randint(1, 6)))
            else:
                w = rng.choice(follow.get(w) or starts)
            words.append(w)
            if r > 0.985:
                words.append("\n\n")
        doc = " ".join(words).replace(" \n\n ", "\n\n")
        total += len(doc.encode("utf-8"))
        yield doc


def write_corpus(folder: Path, n_bytes: int, n_files: int = 8) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    docs = list(synthetic_docs(n_bytes))
    for i in range(n_files):
        part = docs[i::n_files]
        pq.write_table(pa.table({"text": part}), folder / f"webtext-{i:05d}-of-{n_files:05d}.parquet", row_group_size=256, compression="zstd")
    return folder


HF_SCRIPT = r"""
import json, sys, time
from pathlib import Path
import pyarrow.parquet as pq
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
shards, vocab_size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sorted(Path(shards).glob("webtext-*.parquet")) or sorted(Path(shards).rglob("*.parquet"))
def texts():
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=2048, columns=["text"]):
            for t in batch.column(0).to_pylist():
                if t:
                    yield t
t0 = time.perf_counter()
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              special_tokens=[AddedToken("<|endoftext|>", special=True)], show_progress=False)
tok.train_from_iterator(texts(), trainer=trainer)
tok.save(out)
print(json.dumps({"seconds": time.perf_counter() - t0, "vocab": tok.get_vocab_size()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", help="train on these shards instead of the synthetic corpus")
    ap.add_argument("--mb", type=float, default=100, help="size of the synthetic corpus in MB (default %(default)s)")
    ap.add_argument("--vocab-size", type=int, default=50257)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--workdir", help="keep corpus and outputs here (default: a temporary folder)")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="webtext-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.shards:
        shards = Path(args.shards)
    else:
        shards = work / "shards"
        if not list(shards.glob("webtext-*.parquet")):
            t = time.perf_counter()
            write_corpus(shards, int(args.mb * 1e6))
            print(f"generated {args.mb:g} MB synthetic corpus in {time.perf_counter() - t:.1f} s -> {shards}")
    import pyarrow.parquet as pq

    n_docs = sum(pq.ParquetFile(f).metadata.num_rows for f in shards.rglob("*.parquet"))
    print(f"corpus: {shards}, {n_docs:,} documents; vocab {args.vocab_size}; cores {args.cores}")

    # Hugging Face tokenizers, in its own process pinned to the same number of threads
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.cores), RAYON_RS_NUM_CPUS=str(args.cores), TOKENIZERS_PARALLELISM="true")
    hf_json = work / "hf-tokenizer.json"
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", HF_SCRIPT, str(shards), str(args.vocab_size), str(hf_json)],
                         env=env, capture_output=True, text=True, check=True)
    hf_wall = time.perf_counter() - t
    hf = json.loads(res.stdout.strip().splitlines()[-1])

    # the project's trainer (counting processes = cores), in-process as `webtext tokenizer train` runs
    os.environ.setdefault("WEBTEXT_QUIET", "1")
    from webtext.tokenizer import bpe, load

    ours_dir = work / "webtext-tokenizer"
    shutil.rmtree(ours_dir, ignore_errors=True)  # train from scratch: a finished run would be skipped
    t = time.perf_counter()
    result = bpe.train(shards, ours_dir, vocab_size=args.vocab_size, workers=args.cores)
    ours_wall = time.perf_counter() - t

    # bytes per token on held-out real text
    from tokenizers import Tokenizer

    dev = articles()["dev"]
    # two of the 40 dev pages are mostly non-Latin script (Cyrillic), where GPT-2's vocabulary is weak
    english = [t for t in dev if sum(ord(ch) > 127 for ch in t) <= 0.05 * max(1, len(t))]
    hf_tok = Tokenizer.from_file(str(hf_json))
    ours_enc, gpt2_enc = load(ours_dir), load(SHARED / "data" / "gpt2")

    def bpt(texts: list[str]) -> tuple[int, float, float, float]:
        held = "\n\n".join(texts)
        n = len(held.encode("utf-8"))
        return (n, n / len(ours_enc.encode_ordinary(held)), n / len(hf_tok.encode(held).ids),
                n / len(gpt2_enc.encode_ordinary(held)))

    print(f"project trainer: {ours_wall:8.2f} s wall  (count {result.seconds['count']:.2f} s, merge {result.seconds['merge']:.2f} s, "
          f"write {result.seconds['write']:.2f} s), vocab {result.vocab_size}")
    print(f"HF tokenizers  : {hf_wall:8.2f} s wall  (in-process {hf['seconds']:.2f} s), vocab {hf['vocab']}")
    print(f"ratio project / HF (wall): {ours_wall / hf_wall:.2f}  (target <= 3)")
    for label, texts in (("all 40 dev pages", dev), (f"{len(english)} mostly-ASCII dev pages", english)):
        n, ours_bpt, hf_bpt, gpt2_bpt = bpt(texts)
        print(f"held-out bytes/token, {label} ({n:,} bytes): project {ours_bpt:.3f}, HF {hf_bpt:.3f}  "
              f"(OpenAI's GPT-2 vocabulary, for scale: {gpt2_bpt:.3f})")


if __name__ == "__main__":
    main()
