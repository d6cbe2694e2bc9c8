"""Harvest throughput and peak memory on a generated 1,000,000-record Pushshift-style .zst dump.

    .venv/bin/python benchmarks/harvest_throughput.py [--records 1000000] [--repeat 3] [--no-tracemalloc] [--keep DIR]

1. Generates, in a temporary folder, `RS_2017-12.zst`: `--records` submission records in the
   Pushshift layout (about 30 fields, ~700 bytes each), compressed the way real dumps are (`zstd
   --long=31`: a 2**31 window with long-distance matching, streamed without a content size).
   The mix is fixed by a seed: ~45% below the karma bar, self posts, NSFW, image hosts, links into
   Reddit and Wikipedia, a tail after the `--until` month, and URLs repeated across submissions.
2. Runs `webtext.reddit.harvest` on it in a fresh child process and prints records/s (by wall
   time and per CPU second of that process, which is the per-core figure on a shared machine) and
   its peak resident memory (`ru_maxrss`). Side by side, in fresh children over the same stream:
   the floors - the zstd decoder alone, decoder + `json.loads` of every line (plain Python),
   decoder + `orjson.loads` (if installed), and decoder + msgspec into a typed struct of only the
   fields the harvest reads. The harvest and the floors run `--repeat` times, interleaved; each
   figure printed is the median of its runs (every run is printed too).
   For comparison it also runs the zstd decoder alone: a `--long=31` stream may refer back 2 GiB,
   so the decoder holds up to 2 GiB of history, and resident memory grows with the decompressed
   bytes until that window is full, whatever reads them.
3. Runs it again in a child under `tracemalloc` and prints the peak of Python allocations (slower:
   tracemalloc costs time, so its run is not used for the speed figure).
4. Runs the plain harvest once more on a quarter of the records, for how the figures scale: the
   harvest's own memory (tracemalloc) is bounded by `max_urls_in_memory` (spilled beyond).

Figures only; nothing here asserts on time.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, tracemalloc

def peak_rss_kib():
    # VmHWM is this process's own high-water mark; ru_maxrss can carry the parent's peak across fork+exec.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from webtext.reddit import harvest
dump, out, trace, max_urls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if trace in ("decode", "json", "orjson", "msgspec"):  # the floors: the decoder, then each parser alone
    from webtext.reddit.dumps import _zstd_chunks
    from webtext.reddit.links import RecordFields
    if trace == "json":
        parse = json.loads
    elif trace == "orjson":
        import orjson
        parse = orjson.loads
    elif trace == "msgspec":
        import msgspec
        parse = msgspec.json.Decoder(RecordFields).decode
    t, c = time.perf_counter(), time.process_time()
    n = lines = 0
    pending = b""
    with open(dump, "rb") as f:
        for chunk in _zstd_chunks(f):
            n += len(chunk)
            if trace == "decode":
                continue
            data = pending + chunk
            cut = data.rfind(b"\n")
            pending = data[cut + 1 :]
            for line in data[:cut].split(b"\n"):
                parse(line)
                lines += 1
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "bytes": n,
                      "lines": lines, "maxrss_kib": peak_rss_kib()}))
    sys.exit(0)
trace = trace == "1"
import pyarrow.parquet, zstandard  # imported before tracing: the figure is the harvest's own allocations
if trace:
    tracemalloc.start()
t, c = time.perf_counter(), time.process_time()
report = harvest([dump], "2017-12", out, max_urls_in_memory=max_urls)
seconds, cpu = time.perf_counter() - t, time.process_time() - c
peak_traced = tracemalloc.get_traced_memory()[1] if trace else None
print(json.dumps({
    "seconds": seconds, "cpu": cpu, "read": report.read, "kept": report.kept, "links": report.links,
    "dropped": dict(report.dropped), "maxrss_kib": peak_rss_kib(),
    "tracemalloc_peak": peak_traced,
}))
"""


def generate(path: Path, n: int, seed: int = 1) -> int:
    import zstandard

    rng = random.Random(seed)
    start, end = 1483228800, 1522540800  # 2017-01-01 .. 2018-04-01: the last three months are after --until
    popular = [f"https://www.site{rng.randrange(5000)}.com/news/{i}/story-{rng.randrange(10**6)}" for i in range(50_000)]
    subreddits = [f"sub{i}" for i in range(2000)]
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    cctx = zstandard.ZstdCompressor(compression_params=params)
    raw = 0
    with open(path, "wb") as f, cctx.stream_writer(f, closefd=False) as w:
        lines = []
        for i in range(n):
            kind = rng.random()
            sub = rng.choice(subreddits)
            is_self = over_18 = False
            if kind < 0.08:
                is_self, url = True, f"https://www.reddit.com/r/{sub}/comments/{i:x}/post/"
            elif kind < 0.12:
                url = f"https://i.imgur.com/{i:x}.jpg"
            elif kind < 0.14:
                url = f"https://i.redd.it/{i:x}.png"
            elif kind < 0.15:
                url = f"https://en.wikipedia.org/wiki/Article_{rng.randrange(10**5)}"
            elif kind < 0.45:
                url = rng.choice(popular) + ("?utm_source=reddit" if rng.random() < 0.2 else "")
            else:
                url = f"https://blog{rng.randrange(20000)}.example.net/{2017}/{rng.randrange(1, 13):02d}/post-{i}.html"
            if rng.random() < 0.03:
                over_18 = True
            score = int(rng.paretovariate(0.9)) - 1 if rng.random() < 0.7 else rng.randrange(0, 3)
            rec = {
                "archived": False, "author": f"user{rng.randrange(300000)}", "author_flair_css_class": None,
                "author_flair_text": None, "brand_safe": True, "contest_mode": False,
                "created_utc": rng.randrange(start, end), "distinguished": None,
                "domain": f"self.{sub}" if is_self else url.split("/")[2], "edited": False, "gilded": 0,
                "hidden": False, "hide_score": False, "id": f"{i + 10**8:x}", "is_self": is_self, "is_video": False,
                "link_flair_css_class": None, "link_flair_text": None, "locked": False, "media": None,
                "num_comments": rng.randrange(50), "over_18": over_18,
                "permalink": f"/r/{sub}/comments/{i + 10**8:x}/a_title_slug_for_this_post/", "retrieved_on": end + 86400,
                "score": score, "selftext": "Some text of a self post." * 3 if is_self else "", "spoiler": False,
                "stickied": False, "subreddit": sub, "subreddit_id": f"t5_{rng.randrange(10**6):x}",
                "thumbnail": "default", "title": f"An interesting headline about topic number {rng.randrange(10**6)}",
                "url": url,
            }  # fmt: skip
            lines.append(json.dumps(rec, separators=(",", ":")))
            if len(lines) == 10_000:
                data = ("\n".join(lines) + "\n").encode()
                raw += len(data)
                w.write(data)
                lines = []
        if lines:
            data = ("\n".join(lines) + "\n").encode()
            raw += len(data)
            w.write(data)
    return raw


def run_child(dump: Path, out: Path, trace: bool | str, max_urls: int = 200_000) -> dict:
    env = {**os.environ, "WEBTEXT_QUIET": "1", "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(dump), str(out), trace if isinstance(trace, str) else str(int(trace)), str(max_urls)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if res.returncode != 0:
        sys.exit(f"harvest child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the harvest and of each floor, interleaved (median printed)")
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--max-urls", type=int, default=200_000, help="the harvest's max_urls_in_memory")
    ap.add_argument("--no-scale-check", action="store_true")
    ap.add_argument("--dump", metavar="ZST", help="reuse a dump this script generated earlier (skips generating)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="webtext-bench-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        dump = work / "RS_2017-12.zst"
        t = time.perf_counter()
        if args.dump:  # a dump this script generated before (same records and seed)
            dump = Path(args.dump)
            raw = 0
        else:
            raw = generate(dump, args.records)
        print(
            f"generated {args.records:,} records: {raw / 2**20:,.0f} MiB NDJSON -> {dump.stat().st_size / 2**20:,.1f} MiB "
            f"zstd (window 2**31, long-distance matching) in {time.perf_counter() - t:.1f} s"
        )
        # The harvest and each floor, `--repeat` times, interleaved (harvest, floors, harvest, ...):
        # on a shared machine one run can land in a busy moment, so each figure is the median of
        # its runs, printed with all of them.
        floors = [("decode", "zstd decoder alone"), ("json", "json.loads (plain Python)"),
                  ("orjson", "orjson.loads"), ("msgspec", "msgspec, typed struct of the 11 fields used")]
        try:
            import orjson  # noqa: F401
        except ImportError:
            floors = [f for f in floors if f[0] != "orjson"]
            print("  (orjson not installed: its floor is left out)")
        runs: dict[str, list[dict]] = {"harvest": [], **{kind: [] for kind, _ in floors}}
        loads = []
        for i in range(args.repeat):
            loads.append(os.getloadavg()[0])
            out = work / f"out-{i}"  # a fresh folder each time: a rerun into a finished one returns at once
            shutil.rmtree(out, ignore_errors=True)
            runs["harvest"].append(run_child(dump, out, trace=False, max_urls=args.max_urls))
            for kind, _ in floors:
                runs[kind].append(run_child(dump, work / "unused", trace=kind))
        loads.append(os.getloadavg()[0])
        harvests = runs["harvest"]
        r = sorted(harvests, key=lambda x: x["cpu"])[len(harvests) // 2]  # the median run by CPU time
        print(f"load average: {', '.join(f'{x:.1f}' for x in loads)} (at each round's start and at the end) on "
              f"{os.cpu_count()} CPUs (per CPU-second figures are the per-core rate; wall figures move with the load)")
        print(
            f"harvest (webtext), median of {len(harvests)} runs: {r['read']:,} records in {r['seconds']:.1f} s wall = "
            f"{r['read'] / r['seconds']:,.0f} records/s; {r['cpu']:.1f} CPU s = {r['read'] / r['cpu']:,.0f} records per "
            f"CPU-second; kept {r['kept']:,} submissions -> {r['links']:,} links"
        )
        print(f"side by side over the same stream (median of {args.repeat} runs each, interleaved; every run in brackets):")
        print(f"  {'':<52} {'wall s':>6} {'CPU s':>6}   records per CPU-second")
        for kind, what in [*floors, ("harvest", "the harvest (all filters, aggregation, Parquet)")]:
            got = runs[kind]
            med = sorted(got, key=lambda x: x["cpu"])[len(got) // 2]
            n = med.get("lines") or r["read"]
            each = ", ".join(f"{n / x['cpu']:,.0f}" for x in got)
            label = what if kind == "harvest" else what + " (floor)"
            print(f"  {label:<52} {med['seconds']:6.1f} {med['cpu']:6.1f}   {n / med['cpu']:>9,.0f}  [{each}]")
        print(f"  dropped: {json.dumps(r['dropped'], sort_keys=True)}")
        print(f"peak memory (resident high-water mark of the harvest process, VmHWM/ru_maxrss): {r['maxrss_kib'] / 1024:,.0f} MiB")
        d = max(runs["decode"], key=lambda x: x["maxrss_kib"])
        print(
            f"  of which the zstd decoder alone (decompressing {d['bytes'] / 2**20:,.0f} MiB, no parsing): "
            f"{d['maxrss_kib'] / 1024:,.0f} MiB: a --long=31 stream keeps up to 2 GiB of history"
        )
        if not args.no_tracemalloc:
            rt = run_child(dump, work / "out-traced", trace=True, max_urls=args.max_urls)
            print(
                f"peak Python allocations (tracemalloc): {rt['tracemalloc_peak'] / 2**20:,.1f} MiB "
                f"(max_urls_in_memory={args.max_urls:,})"
            )
        if not args.no_scale_check:
            small = work / "RS_2017-11.zst"
            generate(small, args.records // 4)
            rs = run_child(small, work / "out-small", trace=True, max_urls=args.max_urls)
            print(
                f"scale check: {rs['read']:,} records -> tracemalloc peak {rs['tracemalloc_peak'] / 2**20:,.1f} MiB, "
                f"resident {rs['maxrss_kib'] / 1024:,.0f} MiB"
            )


if __name__ == "__main__":
    main()
