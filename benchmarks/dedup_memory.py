#!/usr/bin/env python
"""Peak memory of standalone `webtext dedup` against the number of documents, before and after streaming.

    .venv/bin/python benchmarks/dedup_memory.py [--docs 20000 --docs 100000] [--keep DIR]

For each size, a documents table of N documents of ~2 KB (paragraphs of sentences drawn from the
gold article texts of ../shared/data/extraction, read at run time; 5% exact copies and 5% near
copies planted) is written as Parquet, then deduplicated twice, each in a fresh child process
whose own peak resident memory (`ru_maxrss` from `wait4`) is printed:

- `in memory` - what `webtext dedup` did before it streamed: `read_documents` (every document
  in one list), `dedup_documents`, `write_documents`;
- `webtext dedup` - the command as it is now (`webtext.dedup.stream.dedup_folder`: keys and
  signatures in memory, documents streamed).

It also checks that both write the same documents in the same order and the same report.
Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WEBTEXT_SHARED", REPO.parent / "shared"))

# Each measured child reports its own resident high-water mark (VmHWM) at exit: `ru_maxrss` of a
# forked child can carry its parent's peak across fork+exec.
HWM = r"""
import atexit, sys
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(sys.argv[-1], "w").write(line.split()[1])
atexit.register(_hwm)
"""
IN_MEMORY = HWM + r"""
from pathlib import Path
from webtext.dedup import DedupOptions, dedup_documents
from webtext.shards import read_documents, write_documents
kept, report = dedup_documents(read_documents(sys.argv[1]), DedupOptions())
write_documents(kept, sys.argv[2])
report.write(Path(sys.argv[2]) / "report.json")
"""
COMMAND = HWM + r"""
from webtext.cli import main
main(["dedup", "--docs", sys.argv[1], "--out", sys.argv[2]])
"""
GENERATE = r"""
import sys
sys.path.insert(0, sys.argv[3])
from dedup_memory import make_docs
from webtext.shards import write_documents
write_documents(make_docs(int(sys.argv[1])), sys.argv[2], rows_per_file=10_000)
"""


def make_docs(n: int, seed: int = 5) -> list[dict]:
    truth = json.loads((SHARED / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    sentences = [s for v in truth.values() for s in re.split(r"(?<=[.!?])\s+", v["articleBody"].replace("\n", " "))
                 if 30 <= len(s) <= 400]  # fmt: skip
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        kind = rng.random()
        if docs and kind < 0.05:  # an exact copy at another URL
            text = rng.choice(docs)["text"]
        elif docs and kind < 0.10:  # a near copy: one paragraph replaced
            paras = rng.choice(docs)["text"].split("\n\n")
            paras[rng.randrange(len(paras))] = " ".join(rng.choice(sentences) for _ in range(3))
            text = "\n\n".join(paras)
        else:
            paras, size = [], 0
            while size < 2000:
                p = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 4)))
                paras.append(p)
                size += len(p) + 2
            text = "\n\n".join(paras)
        url = f"https://site{rng.randrange(n // 20 + 1)}.example.com/story/{i}"
        docs.append({
            "url": url, "final_url": url, "domain": url.split("/")[2], "title": f"Story {i}", "text": text,
            "extractor": "combined", "text_sha1": None, "n_chars": len(text), "n_words": len(text.split()),
            "subreddits": ["news"], "reddit_ids": [f"{i:x}"], "first_created_utc": 1_400_000_000 + rng.randrange(10**8),
            "score": rng.randrange(3, 500), "score_sum": 10, "n_submissions": 1,
        })  # fmt: skip
    return docs


def run(script: str, *args: str) -> tuple[float, float]:
    """(peak resident MiB of that child alone, from its own VmHWM; wall seconds)."""
    env = {**os.environ, "WEBTEXT_QUIET": "1", "PYTHONPATH": str(REPO)}
    with tempfile.NamedTemporaryFile(suffix=".hwm") as hwm:
        t = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", script, *args, hwm.name], env=env, stderr=subprocess.PIPE)
        if proc.returncode:
            sys.exit(f"child failed:\n{proc.stderr.decode(errors='replace')[-3000:]}")
        return int(Path(hwm.name).read_text() or 0) / 1024, time.monotonic() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, action="append", help="documents (repeatable; default 20000 and 100000)")
    ap.add_argument("--keep", metavar="DIR")
    ap.add_argument("--skip-before", action="store_true", help="measure the command only, not the in-memory path")
    args = ap.parse_args()
    sizes = args.docs or [20_000, 100_000]
    import pyarrow.parquet as pq

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'documents':>10} {'text MiB':>9} {'in memory (before) MiB':>23} {'webtext dedup (now) MiB':>24} {'kept':>8}  same output")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="webtext-dedup-mem-") as tmp:
            work = Path(args.keep) / f"n{n}" if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            # Generated in a child: this process stays small (its children start as copies of it).
            subprocess.run([sys.executable, "-c", GENERATE, str(n), str(work / "in"), str(Path(__file__).parent)],
                           env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)  # fmt: skip
            text_mib = sum(pq.read_table(f, columns=["n_chars"]).column(0).to_numpy().sum()
                           for f in (work / "in/documents").glob("*.parquet")) / 2**20  # fmt: skip
            if args.skip_before:
                before, t_before = float("nan"), float("nan")
            else:
                before, t_before = run(IN_MEMORY, str(work / "in"), str(work / "before"))
            after, t_after = run(COMMAND, str(work / "in"), str(work / "after"))
            if args.skip_before:
                report_a = json.loads((work / "after/report.json").read_text())
                print(f"{n:>10,} {text_mib:>9,.0f} {'(not run)':>23} {after:>18,.0f} ({t_after:4.0f} s) {report_a['kept']:>8,}  -")
                continue

            def rows(folder: Path) -> list:
                files = sorted((folder / "documents").glob("part-*.parquet"))
                return [r for f in files for r in pq.read_table(f, columns=["url", "text_sha1", "text"]).to_pylist()]

            rb, ra = rows(work / "before"), rows(work / "after")
            report_b = json.loads((work / "before/report.json").read_text())
            report_a = json.loads((work / "after/report.json").read_text())
            same = rb == ra and report_b == report_a
            print(f"{n:>10,} {text_mib:>9,.0f} {before:>17,.0f} ({t_before:4.0f} s) {after:>18,.0f} ({t_after:4.0f} s) "
                  f"{report_a['kept']:>8,}  {'yes' if same else 'NO'}  dropped {report_a['dropped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
