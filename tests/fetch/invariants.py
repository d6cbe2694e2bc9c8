"""The archive invariants of issue 11, checked on a fetch output folder (tests and benchmarks/fetch_crash.py).

`check_fetch_folder(out, urls)` asserts, from the raw files (not through the readers' dedup):

- every URL has exactly one row in the log parts;
- the WARC files hold exactly one set of records per logged URL that has one: its responses
  are contiguous, marked `hop`...`hop`, `final`, and the row points at the `final` one, whose
  outcome is the row's; no record belongs to a URL without a row; every response or revisit has
  its request record; robots.txt records are the only ones without a `WebText-URL`;
- `warcio check` passes on every file;
- `extract --warc` reads exactly the pages `extract --fetch` reads (same URLs, same bodies).

Returns a small dict of counts for reports.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from webtext.fetch.log import log_parts
from webtext.fetch.warc import warc_files

WARCIO = str(Path(sys.executable).with_name("warcio"))


def _warc_sets(out: Path):
    """[(relative path, offset, type, WebText-URL, role, outcome)] of every record, in file order."""
    recs = []
    for path in warc_files(out):
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh)
            for rec in it:
                rec.content_stream().read()
                h = rec.rec_headers
                recs.append((f"warc/{path.name}", it.get_record_offset(), rec.rec_type,
                             h.get_header("WebText-URL"), h.get_header("WebText-Role"), h.get_header("WebText-Outcome")))
    return recs


def check_fetch_folder(out, urls) -> dict:
    out = Path(out)
    raw = []
    for part in log_parts(out):
        raw.extend(pq.read_table(part, columns=["url", "error", "warc_path", "warc_offset"]).to_pylist())
    counts = Counter(r["url"] for r in raw)
    assert sorted(counts) == sorted(set(urls)), "log URLs differ from the input"
    assert max(counts.values()) == 1, [u for u, n in counts.items() if n > 1][:5]
    rows = {r["url"]: r for r in raw}

    recs = _warc_sets(out)
    responses = [r for r in recs if r[2] in ("response", "revisit")]
    assert sum(r[2] == "request" for r in recs) == len(responses), "a response without its request record"
    finals: dict[str, tuple] = {}
    sets = Counter()
    previous = None
    for path, offset, _kind, url, role, outcome in responses:
        if role == "robots":
            previous = None
            continue
        assert url is not None and role in ("hop", "final"), (path, offset, role)
        assert url in rows, f"a WARC record for {url}, which has no log row"
        if previous != url:  # a new set starts: the URL must not have had one already
            sets[url] += 1
        if role == "final":
            assert url not in finals, f"two final records for {url}"
            finals[url] = (path, offset, outcome)
            previous = None  # the set is closed
        else:
            previous = url
    assert previous is None, "a set without its final record"
    assert not [u for u, n in sets.items() if n > 1], "a URL with more than one set of records"
    for url, row in rows.items():
        if row["warc_path"] is None:
            assert url not in finals, f"{url}: records but the row points at none"
            continue
        assert finals.get(url, (None, None))[:2] == (row["warc_path"], row["warc_offset"]), url
        assert finals[url][2] == (row["error"] or "kept"), (url, finals[url][2], row["error"])

    files = [str(p) for p in warc_files(out)]
    if files:
        check = subprocess.run([WARCIO, "check", *files], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]

    from webtext.extract.documents import iter_fetch_pages, iter_warc_pages

    by_fetch = sorted((p.url, p.final_url, bytes(p.html)) for p in iter_fetch_pages(out))
    by_warc = sorted((p.url, p.final_url, bytes(p.html)) for p in iter_warc_pages([out / "warc"]) if not p.reason)
    assert by_warc == by_fetch, (len(by_warc), len(by_fetch))
    return {
        "urls": len(rows),
        "kept": sum(r["error"] is None for r in rows.values()),
        "sets": len(finals),
        "records": len(recs),
        "revisits": sum(r[2] == "revisit" for r in recs),
        "warc_files": len(files),
        "pages_fetch": len(by_fetch),
        "pages_warc": len(by_warc),
    }
