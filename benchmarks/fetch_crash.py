"""Crash test at a larger size: SIGKILL a fetch at random moments, rerun until done, check everything.

    .venv/bin/python benchmarks/fetch_crash.py [--urls 400] [--kills 10] [--seed 7] [--hosts 4] [--no-extract]

The scenario is tests/fetch/crash.py (the test suite runs it with 160 URLs and 6 kill points):
URLs on local hosts 127.0.0.60+, a mix of plain pages, chains of 1-3 slow redirect hops, slow
pages (0.2-0.8 s), identical payloads (revisits), a 503-then-200 retry, 404s and redirects.
The crawl process is started and killed with SIGKILL, `--kills` times: 3 in 4 a random 0-0.5 s
after it committed a random 1-4 more log parts (mid-crawl), 1 in 4 a random 0-1.5 s from its
start (start-up, recovery); then `fetch_urls` is rerun until every URL has a row.

Then it checks, from the raw files: one log row per URL; exactly one set of WARC records per
logged URL (contiguous hops, one final record that the row points at, with the row's outcome)
and no record of a URL without a row; `warcio check` on every file; and the pages
`extract --warc` reads equal the pages `extract --fetch` reads. Unless `--no-extract`, it also
runs the real `webtext extract --warc OUT/warc` and `webtext extract --fetch OUT` (Dragnet +
Newspaper, 2 workers) and prints both document counts. Any failed check raises.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fetch"))

import crash  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--urls", type=int, default=400)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--no-extract", action="store_true", help="skip the real extractors (the page check still runs)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="webtext-crash-") as tmp:
        out = Path(tmp) / "fetch"
        figures = crash.run(out, args.urls, args.kills, args.seed, hosts=args.hosts)
        if not args.no_extract:
            webtext = str(Path(sys.executable).with_name("webtext"))
            for name, source in (("warc", ["--warc", str(out / "warc")]), ("fetch", ["--fetch", str(out)])):
                t0 = time.monotonic()
                subprocess.run([webtext, "extract", *source, "--out", f"{tmp}/ex-{name}", "--workers", "2"],
                               check=True, capture_output=True)
                report = json.loads(Path(f"{tmp}/ex-{name}/report.json").read_text())
                figures[f"documents_extract_{name}"] = report["kept"]
                figures[f"extract_{name}_s"] = round(time.monotonic() - t0, 1)
            assert figures["documents_extract_warc"] == figures["documents_extract_fetch"], figures
    print(json.dumps(figures, indent=1))
    print(f"crash test: {figures['kill_points']} kill points ({figures['kills_landed']} landed), {figures['urls']} URLs: "
          f"one row and one WARC set per URL, warcio check clean, extract --warc = --fetch "
          f"({figures.get('documents_extract_warc', figures['pages_warc'])} documents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
