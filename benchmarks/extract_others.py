"""Run third-party extractors (trafilatura, readability-lxml) on a list of pages; print JSON.

Runs inside the benchmark-only venv `.venv-bench` (made by benchmarks/extract_compare.py); the
webtext package never imports these libraries. Input on stdin: {"pages": [{"id", "path", "url"}],
"extractors": [...]}. Output on stdout: {"texts": {extractor: {id: text}}, "cpu_s": {extractor: s},
"versions": {...}}. Each extractor gets the page's raw bytes, as a user would give them, with the
settings of trafilatura's own evaluation (comments excluded, tables included).
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import warnings


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    return gzip.decompress(raw) if path.endswith(".gz") else raw


def _trafilatura():
    import trafilatura

    def run(raw: bytes, url: str) -> str:
        return trafilatura.extract(raw, url=url or None, include_comments=False, include_tables=True) or ""

    return run, trafilatura.__version__


def _readability():
    from importlib.metadata import version

    import lxml.html
    from readability import Document

    def run(raw: bytes, url: str) -> str:
        summary = Document(raw, url=url or None).summary(html_partial=True)
        root = lxml.html.fromstring(summary)
        for el in root.iter("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote", "tr", "div", "br"):
            el.tail = "\n" + (el.tail or "")  # block ends are line ends
        lines = (" ".join(line.split()) for line in root.text_content().splitlines())
        return "\n".join(line for line in lines if line)

    return run, version("readability-lxml")


def main() -> None:
    request = json.load(sys.stdin)
    makers = {"trafilatura": _trafilatura, "readability": _readability}
    pages = [(p["id"], _read(p["path"]), p.get("url") or "") for p in request["pages"]]
    out = {"texts": {}, "cpu_s": {}, "versions": {}}
    warnings.simplefilter("ignore")
    for name in request["extractors"]:
        run, ver = makers[name]()
        out["versions"][name] = ver
        run(pages[0][1], pages[0][2]) if pages else None  # warm-up: first-call imports are not per page
        texts, cpu = {}, 0.0
        for page_id, raw, url in pages:
            t0 = time.process_time()
            try:
                texts[page_id] = run(raw, url)
            except Exception:
                texts[page_id] = ""
            cpu += time.process_time() - t0
        out["texts"][name], out["cpu_s"][name] = texts, cpu
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
