"""Where the harvest's work goes, counted in CPU instructions (valgrind's callgrind), stage by stage.

    .venv/bin/python benchmarks/harvest_instructions.py [--records 100000] [--dump RS_2017-12.zst]

Time on a shared machine moves by 20-50% from one run to the next (other jobs, page faults, the
host's load), too much to see a 10% change or to split a 8-second run into its parts. An
instruction count does not move: this script runs the harvest's steps cumulatively, each in a
fresh process under `valgrind --tool=callgrind` (about 50x slower than native, hence 100,000
records by default), on a dump of `harvest_throughput.py`'s mix, and prints the difference each
step adds:

    imports only -> + reading (zstd, the run checks, the four keys decoded) -> + the early drops
    (date cap, karma bar) -> + the second-stage decode of the records left -> + classify ->
    the whole harvest (aggregation, Parquet, the report)

per record read, and per record left after the early drops (or per link written) where that is
the unit the step works on. Instructions are not time (C code runs more of them per cycle than the
interpreter), but they say which part of the work a change shrank. Needs valgrind; figures only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = r"""
import json, shutil, sys
from webtext.reddit.dumps import iter_records
from webtext.reddit.harvest import harvest
from webtext.reddit.links import HarvestOptions, RecordFields, RecordKeys, classify, drop_early_keys
from webtext.report import StageReport
import pyarrow.parquet, zstandard  # imported in every step, so the baseline holds them
dump, step, out = sys.argv[1], sys.argv[2], sys.argv[3]
opts = HarvestOptions("2017-12")
runs = lambda: iter_records(dump, report=StageReport("h"), fields=RecordFields, keys=RecordKeys, batches=True)
if step == "read":
    for run in runs():
        pass
elif step in ("early", "complete", "classify"):
    for run in runs():
        rest, _, _ = drop_early_keys(run.keys, opts)
        if step != "early":
            for record in run.complete(rest):
                if step == "classify":
                    classify(record, opts)
elif step == "harvest":
    shutil.rmtree(out, ignore_errors=True)
    r = harvest([dump], "2017-12", out)
    print(json.dumps({"read": r.read, "links": r.links, "dropped": r.dropped}))
"""

STEPS = [
    ("imports", "imports only (the baseline)"),
    ("read", "reading: zstd, run checks, 4-key decode"),
    ("early", "the early drops (date cap, karma bar)"),
    ("complete", "second-stage decode of the records left"),
    ("classify", "classify"),
    ("harvest", "aggregation, Parquet, report"),
]


def instructions(dump: Path, step: str, out: Path) -> tuple[int, str]:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", CHILD,
         str(dump), step, str(out)],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "WEBTEXT_QUIET": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not m:
        sys.exit(f"step {step} failed:\n{proc.stderr[-2000:]}")
    return int(m.group(1)), proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--dump", metavar="ZST", help="a dump harvest_throughput.py generated (skips generating)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="webtext-instr-") as tmp:
        dump = Path(args.dump) if args.dump else Path(tmp) / "RS_2017-12.zst"
        if not args.dump:
            from harvest_throughput import generate

            generate(dump, args.records)
        counts, report = {}, None
        for step, _ in STEPS:
            counts[step], stdout = instructions(dump, step, Path(tmp) / "out")
            if step == "harvest":
                report = json.loads(stdout.strip().splitlines()[-1])
        n, links = report["read"], report["links"]
        left = n - report["dropped"].get("after_until", 0) - report["dropped"].get("low_karma", 0)
        print(f"{n:,} records read, {left:,} left after the early drops ({left / n:.1%}), {links:,} links written")
        print(f"  {'step':<44} {'instructions':>14} {'per record':>11}   per unit of its work")
        previous = counts["imports"]
        for step, label in STEPS[1:]:
            added = counts[step] - previous
            previous = counts[step]
            unit = {"complete": (left, "record left"), "classify": (left, "record left"), "harvest": (links, "link")}.get(step)
            each = f"{added / unit[0]:>9,.0f} per {unit[1]}" if unit else ""
            print(f"  {label:<44} {added:>14,} {added / n:>11,.0f}   {each}")
        total = counts["harvest"] - counts["imports"]
        reading = counts["early"] - counts["imports"]
        print(f"  {'the harvest in all':<44} {total:>14,} {total / n:>11,.0f}")
        print(f"reading and the early drops are {reading / total:.0%} of the harvest's instructions")


if __name__ == "__main__":
    main()
