#!/usr/bin/env python
"""The whole build on the embedded sample, and the cost per core of each stage; prints figures.

    .venv/bin/python benchmarks/build_e2e.py [--workers 2] [--skip-e2e] [--repeat 3]

1. End to end: `webtext build --until 2017-12` (the Beam pipeline, `--workers` local processes) in
   a fresh folder, timed from the outside, with each stage's wall time from its completion marker,
   then the same command again (every stage reused).
2. Per core: each stage's element work - the library calls its Beam DoFn makes - timed in this one
   process on inputs larger than the sample, so start-up costs do not hide the steady rate:
     harvest   iter_records + classify over the real 2005 dumps, the mixed-years file and the sample
     fetch     fetch_urls in replay mode over all 121 benchmark pages (one Scrapy process; includes
               its start-up, ~1.5 s, so it is a lower bound on the crawler's rate)
     extract   document_from_page (Dragnet + Newspaper, combined) on the 121 benchmark pages
     clean     clean_document on those documents
     dedup     MinHash signature + LSH band keys per document (the per-document work; the
               GroupByKeys are shuffles, the union-find runs over edges only)
     shards    write_shards (zstd Parquet) of the documents
3. The projection of the full WebText build (45 M links, ~8 M documents) on Dataflow from those
   rates, with the assumptions printed next to it (docs/pipeline.md explains them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WEBTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

# The full build, as WebText describes it, and what we assume between its two ends.
FULL = {
    "submissions_read": 500e6,   # Pushshift submissions created 2005-06 .. 2017-12 (order of magnitude)
    "links": 45e6,               # unique URLs with karma >= 3 (WebText)
    "html_pages": 0.55 * 45e6,   # links that still answer with an HTML page (dead links, non-HTML)
    "documents_clean": 11e6,     # pages left after extraction and cleaning
    "documents": 8e6,            # after dedup (WebText: "slightly over 8 million documents")
}


def timed(fn, *args, min_seconds: float = 1.0, **kw):
    """(result, seconds per call): repeats fn until min_seconds of CPU time have passed."""
    n, t0 = 0, time.process_time()
    while True:
        result = fn(*args, **kw)
        n += 1
        if time.process_time() - t0 >= min_seconds:
            return result, (time.process_time() - t0) / n


def e2e(workers: int) -> dict:
    from webtext.config import STAGES

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WEBTEXT_QUIET": "1"}
        cmd = [sys.executable, "-m", "webtext.cli", "build", "--until", "2017-12", "--workers", str(workers)]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        first = time.monotonic() - t0
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        t0 = time.monotonic()
        subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, check=True)
        rerun = time.monotonic() - t0
        out = Path(tmp) / "webtext-out"
        stages = {}
        for s in STAGES:
            m = json.loads((out / "stages" / s / "_SUCCESS.json").read_text())
            stages[s] = {"seconds": m["seconds"], "read": m["report"]["read"], "kept": m["report"]["kept"]}
        docs = json.loads((out / "manifest.json").read_text())["totals"]["documents"]
    return {"seconds": first, "rerun_seconds": rerun, "stages": stages, "documents": docs}


def per_core() -> dict:
    from make_sample import Exchange, _html_headers, write_warc  # the sample generator's WARC writer

    from webtext.config import SAMPLE_DUMP
    from webtext.dedup import DedupOptions, clusters, minhash
    from webtext.extract import document_from_page
    from webtext.fetch import FetchOptions, fetch_urls
    from webtext.filters import CleanOptions, clean_document
    from webtext.reddit.dumps import iter_records
    from webtext.reddit.links import HarvestOptions, classify
    from webtext.shards import write_shards

    rates = {}
    # harvest
    dumps = [SHARED / "data/reddit/RS_v2_2005-06.xz", SHARED / "data/reddit/RS_v2_2005-07.xz",
             SHARED / "data/reddit/mixed-years/test_submissions.json", SAMPLE_DUMP]
    opts = HarvestOptions("2017-12")

    def harvest_all():
        n = 0
        for d in dumps:
            for rec in iter_records(d):
                classify(rec, opts)
                n += 1
        return n

    n, sec = timed(harvest_all, min_seconds=2.0)
    rates["harvest"] = {"unit": "records", "n": n, "per_s": n / sec}

    # the 121 benchmark pages, as an archive to replay and as pages to extract
    truth = json.loads((SHARED / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for pid, v in sorted(truth.items()):
        html = gzip.decompress((SHARED / f"data/extraction/html/{pid}.html.gz").read_bytes())
        pages.append((v["url"], html))
    with tempfile.TemporaryDirectory() as tmp:
        from datetime import datetime, timezone

        when = datetime(2019, 11, 20, tzinfo=timezone.utc)
        warc = Path(tmp) / "bench.warc.gz"
        write_warc(warc, [Exchange(u, 200, "OK", _html_headers(h, when), h) for u, h in pages])
        urls = [u for u, _ in pages]
        t0 = time.monotonic()
        rows = fetch_urls(urls, Path(tmp) / "fetch", FetchOptions(replay=[str(warc)], autothrottle=False))
        sec = time.monotonic() - t0  # wall time of one crawl process (about one core)
        ok = sum(1 for r in rows if not r["error"])
    rates["fetch"] = {"unit": "pages (replay, incl. ~1.5 s start-up)", "n": ok, "per_s": ok / sec}

    link = {"subreddits": ["x"], "reddit_ids": ["x"], "first_created_utc": 1_500_000_000, "score": 5,
            "score_sum": 5, "n_submissions": 1}

    def extract_all():
        out = []
        for u, h in pages:
            doc, _ = document_from_page({**link, "url": u}, u, h)
            if doc:
                out.append(doc)
        return out

    docs, sec = timed(extract_all, min_seconds=1.0)
    rates["extract"] = {"unit": "pages", "n": len(pages), "per_s": len(pages) / sec}

    copts = CleanOptions()
    cleaned, sec = timed(lambda: [d for d in (clean_document(x, copts)[0] for x in docs) if d], min_seconds=1.0)
    rates["clean"] = {"unit": "documents", "n": len(docs), "per_s": len(docs) / sec}

    dopts = DedupOptions()
    bands, rows_ = dopts.lsh()

    def sign_all():
        for d in cleaned:
            sig = minhash.signature(d["text"], dopts.num_perm, dopts.seed, dopts.ngram, dopts.hash)
            clusters.band_pairs(d["url"], sig, bands, rows_)

    _, sec = timed(sign_all, min_seconds=1.0)
    rates["dedup"] = {"unit": "documents", "n": len(cleaned), "per_s": len(cleaned) / sec}

    with tempfile.TemporaryDirectory() as tmp:
        _, sec = timed(write_shards, cleaned, tmp, min_seconds=1.0)
    rates["shards"] = {"unit": "documents", "n": len(cleaned), "per_s": len(cleaned) / sec}
    return rates


def projection(rates: dict, workers: int, cores_per_worker: int) -> list[tuple]:
    """(stage, elements, core-hours) for the full build, and wall hours on `workers` machines."""
    elements = {
        "harvest": FULL["submissions_read"],
        "fetch": FULL["links"],
        "extract": FULL["html_pages"],
        "clean": FULL["html_pages"],
        "dedup": FULL["documents_clean"],
        "shards": FULL["documents"],
    }
    out = []
    for stage, n in elements.items():
        core_h = n / rates[stage]["per_s"] / 3600
        out.append((stage, n, core_h))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--dataflow-workers", type=int, default=100, help="workers in the projection")
    ap.add_argument("--cores-per-worker", type=int, default=4, help="vCPUs per Dataflow worker (n2-standard-4)")
    args = ap.parse_args()
    os.environ.setdefault("WEBTEXT_QUIET", "1")
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    if not args.skip_e2e:
        r = e2e(args.workers)
        print(f"\nend to end on the sample (`webtext build --until 2017-12 --workers {args.workers}`): "
              f"{r['seconds']:.1f} s wall, {r['documents']} documents; rerun (all stages reused): {r['rerun_seconds']:.1f} s")
        print(f"{'stage':<8} {'wall s':>7} {'read':>5} {'kept':>5} {'elements/s per core (incl. Beam start-up)':>42}")
        for s, v in r["stages"].items():
            rate = v["read"] / (v["seconds"] * args.workers) if v["seconds"] else 0
            print(f"{s:<8} {v['seconds']:>7.1f} {v['read']:>5} {v['kept']:>5} {rate:>42.2f}")
    rates = per_core()
    print("\nsteady-state work per core (one process, the library calls each DoFn makes):")
    for s, v in rates.items():
        print(f"{s:<8} {v['per_s']:>10,.1f} {v['unit']}/s per core   (n={v['n']})")
    proj = projection(rates, args.dataflow_workers, args.cores_per_worker)
    total = sum(c for _, _, c in proj)
    cores = args.dataflow_workers * args.cores_per_worker
    print(f"\nprojection, full WebText (assumptions: {json.dumps({k: f'{v:,.0f}' for k, v in FULL.items()})}):")
    print(f"{'stage':<8} {'elements':>14} {'core-hours':>11} {'share':>6}")
    for stage, n, core_h in proj:
        print(f"{stage:<8} {n:>14,.0f} {core_h:>11,.1f} {core_h / total:>6.0%}")
    print(f"total CPU: {total:,.0f} core-hours = {total / args.cores_per_worker:,.0f} worker-hours "
          f"({args.cores_per_worker} vCPU workers); on {args.dataflow_workers} workers ({cores} cores): "
          f"{total / cores:.1f} h of CPU-bound wall time, before fetch politeness")
    return 0


if __name__ == "__main__":
    sys.exit(main())
