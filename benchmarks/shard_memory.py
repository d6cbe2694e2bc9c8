"""Peak memory of `webtext shard` (streaming, one shard in memory) against the whole corpus held in
memory (`read_documents` + `write_shards`, what the command did before), on the same documents table.

    .venv/bin/python benchmarks/shard_memory.py [--docs 20000] [--target-mb 16]

Documents as in benchmarks/intermediate_format.py (real article sentences, 2-8 KB each). Each
variant runs in its own process; its peak RSS (ru_maxrss of the child) is printed, with the
shards' sha256s, which must be the same. `webtext shard` also writes the card, from the statistics
taken as each shard is written (webtext/card.py `shard_stats`), so it adds little to the peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STREAM = """
import json, sys
from webtext.shards import document_files, stream_shards
infos = stream_shards(document_files(sys.argv[1]), sys.argv[2], target_bytes=int(float(sys.argv[3]) * 1024 * 1024))
print(json.dumps([i["sha256"] for i in infos]))
"""
IN_MEMORY = """
import json, sys
from webtext.shards import read_documents, write_shards
infos = write_shards(read_documents(sys.argv[1]), sys.argv[2], target_bytes=int(float(sys.argv[3]) * 1024 * 1024))
print(json.dumps([i["sha256"] for i in infos]))
"""


# Runs `cmd` in a child and prints the child's own peak RSS (ru_maxrss of its children, in a
# fresh wrapper process, so the variants do not mix).
WRAP = """
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stdout
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(out, end="")
"""


def child_peak_mb(cmd: list[str]) -> tuple[float, str]:
    proc = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True, check=True,
                          env={"WEBTEXT_QUIET": "1", "PATH": "/usr/bin:/bin"})
    peak, _, out = proc.stdout.partition("\n")
    return int(peak) / 1024, out


def main() -> None:
    from benchmarks.intermediate_format import make_docs
    from webtext.shards import write_documents

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--target-mb", type=float, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs = make_docs(args.docs)
        text_mb = sum(len(d["text"].encode()) for d in docs) / 1e6
        write_documents(docs, Path(tmp, "docs"), rows_per_file=2_000)
        del docs
        streamed, _ = child_peak_mb([sys.executable, "-m", "webtext.cli", "shard", "--docs", str(Path(tmp, "docs")),
                                     "--out", str(Path(tmp, "a")), "--target-mb", str(args.target_mb)])
        alone, out_s = child_peak_mb([sys.executable, "-c", STREAM, str(Path(tmp, "docs")), str(Path(tmp, "c")), str(args.target_mb)])
        held, out = child_peak_mb([sys.executable, "-c", IN_MEMORY, str(Path(tmp, "docs")), str(Path(tmp, "b")), str(args.target_mb)])
        a = [i["sha256"] for i in json.loads(Path(tmp, "a", "manifest.json").read_text())["shards"]]
        same = a == json.loads(out) == json.loads(out_s)
    print(f"{args.docs:,} documents, {text_mb:,.1f} MB of text, shards of {args.target_mb} MiB ({len(a)} shards)")
    print(f"stream_shards (the shards only):  peak RSS {alone:,.0f} MB")
    print(f"webtext shard (+ manifest, card): peak RSS {streamed:,.0f} MB")
    print(f"corpus in memory (before):        peak RSS {held:,.0f} MB")
    print(f"same shards, byte for byte: {same}")


if __name__ == "__main__":
    main()
