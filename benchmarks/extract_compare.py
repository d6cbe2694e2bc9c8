"""Side by side, in one run: webtext's extractors and trafilatura (and readability-lxml) on both
dev splits, each benchmark scored by its own metric, with pages per CPU-second.

    .venv/bin/python benchmarks/extract_compare.py [--json OUT.json] [--no-others]

* article benchmark: `../shared/data/extraction`, `split.json:dev` (40 pages); gold bodies,
  4-token shingles, precision/recall averaged over pages.
* snippet benchmark: `../shared/data/extraction-snippets/evaldata.dev.json` (85 pages);
  with/without snippets, P/R/F1 pooled over snippets.

trafilatura and readability-lxml run in a benchmark-only venv, `.venv-bench`, which this script
makes on first use (`python3 -m venv` + pip, pinned below); the webtext package never imports
them and CI does not need them. They run in a child process on the same page files (raw bytes,
trafilatura's own evaluation settings: no comments, tables kept); the child measures its own
CPU time per extractor the same way (`time.process_time`, model/import warm-up excluded).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"
BENCH_PINS = ("trafilatura==2.3.1", "readability-lxml==0.9")
OTHERS = ("trafilatura", "readability")

sys.path.insert(0, str(ROOT))
from webtext.extract.evaluate import (  # noqa: E402
    EXTRACTORS,
    load_gold,
    load_snippets,
    read_ids,
    run_extractors,
    score_benchmark,
)


def ensure_bench_venv(extra: tuple[str, ...] = ()) -> Path:
    """`.venv-bench/bin/python` with the pinned third-party extractors (made once, reused), and
    the `extra` pinned packages other benchmarks need."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        print(f"[bench] creating {BENCH_VENV}", file=sys.stderr)
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import trafilatura, readability; print(trafilatura.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != BENCH_PINS[0].split("==")[1]:
        print(f"[bench] installing {' '.join(BENCH_PINS)} into {BENCH_VENV}", file=sys.stderr)
        # one pin at a time: pip 23's resolver stops on the two packages' differently spelled
        # `lxml[html_clean]` / `lxml[html-clean]` extras when they are resolved together
        for pin in BENCH_PINS:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", pin], check=True)
    if extra:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *extra], check=True)
    return python


def run_others(python: Path, pages: list) -> dict:
    request = {"pages": [{"id": p.id, "path": str(p.html_path), "url": p.url} for p in pages], "extractors": list(OTHERS)}
    out = subprocess.run([str(python), str(ROOT / "benchmarks" / "extract_others.py")], input=json.dumps(request),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    ap.add_argument("--no-others", action="store_true", help="webtext's extractors only (no .venv-bench)")
    args = ap.parse_args()
    data = Path(args.shared)
    benchmarks = {
        "article": load_gold(data / "extraction" / "ground-truth.json", data / "extraction" / "html",
                             read_ids(f"{data / 'extraction' / 'split.json'}:dev")),
        "snippets": load_snippets(data / "extraction-snippets" / "evaldata.dev.json"),
    }
    python = None if args.no_others else ensure_bench_venv()
    results, versions = {}, {}
    for bench, pages in benchmarks.items():
        preds, cpu, _ = run_extractors(pages, EXTRACTORS)
        if python is not None:
            others = run_others(python, pages)
            preds.update(others["texts"])
            cpu.update(others["cpu_s"])
            versions.update(others["versions"])
        results[bench] = score_benchmark(pages, preds, cpu)
    names = list(results["article"])
    print(f"dev splits: article {len(benchmarks['article'])} pages, snippets {len(benchmarks['snippets'])} pages"
          + (f"; {', '.join(f'{k} {v}' for k, v in versions.items())}" if versions else ""))
    print(f"{'extractor':<12} {'article P':>9} {'R':>6} {'F1':>6}   {'snippet P':>9} {'R':>6} {'F1':>6}"
          f"   {'pages/CPU-s art.':>16} {'snip.':>6}")
    for name in names:
        a, s = results["article"][name], results["snippets"][name]
        print(f"{name:<12} {a['precision']:>9.4f} {a['recall']:>6.4f} {a['f1']:>6.4f}   {s['precision']:>9.4f} "
              f"{s['recall']:>6.4f} {s['f1']:>6.4f}   {a['pages_per_cpu_s'] or 0:>16.1f} {s['pages_per_cpu_s'] or 0:>6.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "versions": versions}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
