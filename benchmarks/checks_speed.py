"""Speed of the paper's checks: the n-gram Bloom filter (build, query) and `webtext eval` on a CPU.

    .venv/bin/python benchmarks/checks_speed.py [--mb 100] [--workers 0] [--eval-tokens 50000]

1. Writes about `--mb` MiB of documents (5 KB windows of the shared gold articles) as shards with a
   manifest, then builds the 8-gram filter at FP rate <= 1e-8 twice: with one process (n-grams per
   CPU-second of that one core: the per-core figure, robust to other load) and with `--workers`
   (default: every core; wall-clock n-grams/s).
2. Queries the filter with 1 MB of other windows of the same text and with 1 MB of random words
   (n-grams/s, one process; the found shares show the filter at work).
3. Scores `--eval-tokens` tokens of article text with a randomly initialised gpt2-tiny (GPT-2's
   vocabulary, context 128) on the CPU: `webtext eval`'s tokens/s at batch 8, fp32.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_speed import SHARED, make_docs  # noqa: E402


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--eval-tokens", type=int, default=50_000)
    ap.add_argument("--skip-single", action="store_true", help="skip the one-process build")
    args = ap.parse_args()
    os.environ.setdefault("WEBTEXT_QUIET", "1")
    from webtext.checks.overlap import build_filter, overlap_report
    from webtext.report import StageReport
    from webtext.shards import write_manifest, write_shards

    workers = args.workers or os.cpu_count() or 1
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="checks-bench-") as tmp:
        tmp = Path(tmp)
        texts = make_docs(int(args.mb * 1024 * 1024 / 5000), seed=1)
        docs = [{"url": f"https://s.example/{i}", "text": t} for i, t in enumerate(texts)]
        infos = write_shards(docs, tmp / "corpus", target_bytes=16 << 20)
        report = StageReport("shard")
        report.keep(len(docs))
        write_manifest(tmp / "corpus", config={}, reports=[report], shards=infos)
        mb = sum(len(t.encode()) for t in texts) / 1e6
        del docs
        runs = ([1] if not args.skip_single else []) + ([workers] if workers > 1 or args.skip_single else [])
        for w in runs:
            c0, t0 = cpu_seconds(), time.monotonic()
            flt = build_filter(tmp / "corpus", workers=w, force=True)
            wall, cpu = time.monotonic() - t0, cpu_seconds() - c0
            p = flt.params
            print(f"build, {w} process(es): {mb:.1f} MB, {p['ngrams']:,} 8-grams, {p['bytes'] / 1e6:.1f} MB filter, "
                  f"{p['hashes']} hashes, FP <= {p['fp_rate_bound']:.2g}: {wall:.1f} s wall "
                  f"(count {p['seconds']['count']:.1f} s + hash/insert {p['seconds']['build']:.1f} s), "
                  f"{p['ngrams'] / wall:,.0f} n-grams/s wall, {p['ngrams'] / cpu:,.0f} n-grams per CPU-second")
        other = make_docs(200, seed=99)
        rng = random.Random(5)
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(180_000)]
        (tmp / "same.txt").write_text("\n".join(t.replace("\n", " ") for t in other), encoding="utf-8")
        (tmp / "random.txt").write_text("\n".join(" ".join(words[i : i + 900]) for i in range(0, len(words), 900)), encoding="utf-8")
        for name in ("same.txt", "random.txt"):
            t0 = time.monotonic()
            r = overlap_report(flt, tmp / name)
            dt = time.monotonic() - t0
            print(f"query {name}: {r['ngrams']:,} n-grams, {100 * r['share']:.2f}% found, {r['ngrams'] / dt:,.0f} n-grams/s "
                  f"(hashing included; bit lookups alone {r['lookup_ngrams_per_s']:,}/s)")
    eval_speed(args.eval_tokens)


def eval_speed(n_tokens: int) -> None:
    import torch

    from webtext.gpt2.eval import perplexity
    from webtext.gpt2.model import GPT, config_for
    from webtext.gpt2.sample import load_tokenizer

    enc = load_tokenizer(SHARED / "data/gpt2")
    truth = json.loads((SHARED / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    text = "\n\n".join(v["articleBody"] for _, v in sorted(truth.items()))
    ids = enc.encode_ordinary(text)[:n_tokens]
    text = enc.decode(ids)
    torch.manual_seed(0)
    model = GPT(config_for("gpt2-tiny", vocab_size=50257)).eval()
    c0 = cpu_seconds()
    r = perplexity(model, enc, [text], batch_size=8, device="cpu")
    cpu = cpu_seconds() - c0
    print(f"eval, gpt2-tiny (context 128, vocabulary 50,257), CPU, {torch.get_num_threads()} threads, batch 8: "
          f"{r['tokens']:,} tokens in {r['seconds']:.1f} s = {r['tokens_per_s']:,.0f} tokens/s wall, "
          f"{r['tokens'] / cpu:,.0f} tokens per CPU-second")


if __name__ == "__main__":
    main()
