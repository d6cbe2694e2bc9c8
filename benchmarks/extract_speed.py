"""Extraction speed: pages per CPU-second (per core) for Dragnet, Newspaper and the combination,
and wall-clock pages/s of the whole stage with 1 and N worker processes.

    .venv/bin/python benchmarks/extract_speed.py [--split dev] [--workers 2]

Prints figures; asserts nothing. Reads the benchmark pages from ../shared (never copied).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from webtext.extract import documents
from webtext.extract.evaluate import evaluate_extractors, load_gold, read_ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/extraction"))
    ap.add_argument("--split", default="dev")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    data = Path(args.data)
    pages = load_gold(data / "ground-truth.json", data / "html", read_ids(f"{data / 'split.json'}:{args.split}"))
    result = evaluate_extractors(pages)
    print(f"{len(pages)} {args.split} pages, single process")
    for name, s in result["extractors"].items():
        print(f"  {name:<10} {s['pages_per_cpu_s']:7.1f} pages/s per core   F1 {s['f1']:.4f}")
    urls = {p.id: p.url for p in pages}
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "html"
        html.mkdir()
        for p in pages:
            (html / p.html_path.name).write_bytes(p.html_path.read_bytes())
        for workers in sorted({1, args.workers}):
            t0 = time.perf_counter()
            documents.extract_pages(documents.iter_html_dir(html, urls), Path(tmp) / f"out{workers}", workers=workers)
            wall = time.perf_counter() - t0
            print(f"  stage, {workers} worker(s): {len(pages) / wall:6.1f} pages/s wall ({wall:.1f} s, includes model loading)")


if __name__ == "__main__":
    main()
