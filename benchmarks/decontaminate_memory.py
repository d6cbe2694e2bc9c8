#!/usr/bin/env python
"""Peak memory of the decontaminated shard rebuild (`webtext overlap --decontaminate --out`) against
the corpus size, before and after it streamed.

    .venv/bin/python benchmarks/decontaminate_memory.py [--docs 5000 --docs 20000] [--shard-mb 4]

For each size, a corpus of N documents of ~2 KB (sentences of the shared gold articles, 5% exact
and 5% near copies; `dedup_memory.make_docs`) is written as shards of `--shard-mb` MB with a
manifest, and an evaluation file of 3 passages of its documents (their sentences recur across the
generated documents, so many are dropped). Then the rebuild runs twice, each in a fresh child
process whose own peak resident memory (VmHWM) is printed, both with one process:

- `in memory` - what the command did before it streamed: `read_shards` (the whole corpus as rows),
  `decontaminate_documents`, `write_shards`;
- `webtext overlap --decontaminate --out` - the command as it is now (row groups, spills, one
  output shard at a time), its peak up to the shards and manifest (`streamed`), and with the
  dataset card it then writes (`with card`: `webtext.card.write_card`, not part of this rebuild).

It checks that both write the same shards, byte for byte. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_memory import HWM, REPO, run  # noqa: E402  (one way to measure a child's peak)

GENERATE = r"""
import json, random, sys
sys.path.insert(0, sys.argv[4])
from dedup_memory import make_docs
from webtext.report import StageReport
from webtext.shards import write_manifest, write_shards
docs = make_docs(int(sys.argv[1]))
target = int(float(sys.argv[3]) * 1e6)
infos = write_shards(docs, sys.argv[2], target_bytes=target)
report = StageReport("shard")
report.keep(len(docs))
write_manifest(sys.argv[2], config={"target_bytes": target}, reports=[report], shards=infos)
rng = random.Random(3)
with open(sys.argv[2] + ".eval.jsonl", "w") as f:
    for d in rng.sample(docs, 3):
        words = d["text"].split()
        f.write(json.dumps({"text": " ".join(words[40:100])}) + "\n")
"""
IN_MEMORY = HWM + r"""
from webtext.checks.overlap import EvalNgrams, decontaminate_documents
from webtext.shards import read_manifest, read_shards, write_shards
target = read_manifest(sys.argv[1])["config"]["target_bytes"]
kept, report, _ = decontaminate_documents(read_shards(sys.argv[1]).to_pylist(), EvalNgrams([sys.argv[2]], 8), workers=1)
write_shards(kept, sys.argv[3], target_bytes=target)
"""
COMMAND = HWM + r"""
import os
import webtext.card
from webtext.cli import main
write_card = webtext.card.write_card
def before_card(*a, **k):  # the rebuild's own peak: everything up to the card
    open(sys.argv[-2], "w").write([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
    return write_card(*a, **k)
webtext.card.write_card = before_card
sys.stdout = open(os.devnull, "w")  # the command's summary line: not part of the table
main(["overlap", "--corpus", sys.argv[1], "--eval", sys.argv[2], "--decontaminate", "--out", sys.argv[3], "--workers", "1"])
"""


def shard_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("webtext-*.parquet"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, action="append", help="documents (repeatable; default 5000 and 20000)")
    ap.add_argument("--shard-mb", type=float, default=4)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'documents':>10} {'text MB':>8} {'shards':>7} {'in memory (before) MiB':>23} "
          f"{'streamed (now) MiB':>19} {'with card MiB':>14} {'dropped':>8}  same shards")
    for n in args.docs or [5_000, 20_000]:
        with tempfile.TemporaryDirectory(prefix="webtext-decon-mem-") as tmp:
            work = Path(tmp)
            subprocess.run([sys.executable, "-c", GENERATE, str(n), str(work / "corpus"), str(args.shard_mb),
                            str(Path(__file__).parent)], env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
            manifest = json.loads((work / "corpus" / "manifest.json").read_text())
            text_mb = manifest["totals"]["text_bytes"] / 1e6
            evalf = str(work / "corpus") + ".eval.jsonl"
            before, t_before = run(IN_MEMORY, str(work / "corpus"), evalf, str(work / "before"))
            pre_card = work / "pre-card.hwm"
            after, t_after = run(COMMAND, str(work / "corpus"), evalf, str(work / "after"), str(pre_card))
            streamed = int(pre_card.read_text()) / 1024
            new = json.loads((work / "after" / "manifest.json").read_text())
            dropped = new["drop_reasons"]["decontaminate"].get("contaminated", 0)
            same = shard_hashes(work / "before") == shard_hashes(work / "after") != {}
            print(f"{n:>10,} {text_mb:>8.1f} {len(manifest['shards']):>7} {before:>15,.0f} ({t_before:4.0f} s) "
                  f"{streamed:>19,.0f} {after:>8,.0f} ({t_after:3.0f} s) {dropped:>8,}  {'yes' if same else 'NO'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
