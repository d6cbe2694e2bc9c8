"""The extract stage: fetched pages in, the documents table out; one bad page never stops the run.

`extract_html(html, url)` runs both extractors and the combination rule (combine.py) on one page;
`document_from_page(link, final_url, html)` makes the documents-table row (../shared/DESIGN.md)
or names why there is none; `extract_pages(pages, out_dir)` runs a whole input and writes
`out_dir/documents/part-00000.parquet` and `out_dir/report.json` (a StageReport).

**Guards.** Each page goes through cheap checks before any extractor sees it, and each failure
is a counted drop with its reason (never an exception out of the stage):

| reason | when |
|---|---|
| `empty_html` | no bytes, or only whitespace |
| `html_too_large` | more than `MAX_HTML_BYTES` (8 MiB): no article is that big; such pages are feeds, dumps or traps and would take the extractors minutes |
| `binary_content` | NUL bytes or mostly control characters in the first 8 KiB: an image, PDF or archive served as HTML |
| `unparseable_html` | lxml cannot build a tree from it |
| `html_too_deep` | elements nested `MAX_DEPTH` (255) deep or more. libxml2 stops descending at depth 256 and silently drops what is below, so a page that deep would be extracted wrong rather than fail |
| `timeout` | the extractors took more than `timeout` seconds of CPU time (default `PAGE_TIMEOUT_S`) |
| `extractor_error` | an extractor raised (the exception type is in the report samples) |
| `no_text` | both extractors returned nothing (or the cleaned page has under `MIN_VISIBLE_WORDS` words and declares no article, so they are not run) |

The timeout counts the process's CPU time (an `ITIMER_PROF` timer, `SIGPROF`), not the clock: a
page that times out does so on a busy machine and on an idle one alike, so the corpus does not
depend on the load (a wall-clock limit dropped pages as `timeout` on a loaded 2-core machine).
Being a signal, it applies where extraction runs in a process's main thread:
the CLI, and each worker process of `--workers N`. Elsewhere (a thread pool) the guards still
apply but a page is not interrupted. The size and depth guards bound what one page can cost.

**Rows.** `url` is the link's URL (as harvested), `final_url` the URL the page was served from
after redirects, `domain` is `domain_of(final_url)` (the site the text came from), `title` is
Newspaper's title, `text` the combined text, `extractor` says where the text came from
(`combined`: both; `newspaper` or `dragnet`: one alone; `declared`: the page's JSON-LD
`articleBody` or `<noscript>`/template markup, used when the visible extraction was tiny or a fragment of it), `text_sha1` the SHA-1 of the UTF-8
text, `n_chars` its length in characters and `n_words` its whitespace-separated words. The Reddit
fields of the link row (`REDDIT_FIELDS`) are carried over unchanged (null when the input had no
links table). `source` and `capture_time` (Unix seconds) come from the fetch-log row (`--fetch` and
the Beam pipeline): where the page was fetched from (`live`, `wayback`, `commoncrawl`, `replay`)
and when it was captured (null for other inputs). Output rows are sorted by (url, final_url), so the same input gives the same file.

**Inputs.** `--warc` reads WARC response records: a 2xx HTML record is a page at its
`WARC-Target-URI`; a 3xx record is followed through the archive (up to `MAX_REDIRECTS` hops) to
the page it leads to, and becomes a document with its own URL and the page's final URL (so exact
dedup sees both, as it should); other statuses are drops (`http_404`, ...), as are redirects that
lead nowhere in the archive (`redirect_unresolved`) and non-HTML records (`not_html`). `--html`
reads a folder of `*.html` / `*.html.gz` files. `--fetch` follows a fetch stage's log: each row
the fetch kept (no error) is a page, read from the WARC record the row points at (`warc_path`,
`warc_offset`), with the row's final URL; rows with an error were already counted as drops by the
fetch stage and are not read again. This is what the Beam pipeline does, and it works for a
replayed fetch too, whose rows point into the replayed archives. A WARC written by `webtext
fetch` marks each URL's set of records (docs/fetch.md): `--warc` then reads one page per logged
URL, from the set's final record, under the logged URL, with the fetch's outcome (an error class
is a drop), so it yields exactly the documents `--fetch` does; earlier hops and robots.txt
records are not pages. An empty, unreadable or non-WARC file is an error naming it (exit 2).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from webtext.errors import InputError
from webtext.report import StageReport
from webtext.urls import domain_of

MAX_HTML_BYTES = 8 * 2**20
MAX_DEPTH = 255
PAGE_TIMEOUT_S = 30.0
MAX_REDIRECTS = 10
MIN_VISIBLE_WORDS = 5  # a cleaned page with fewer words of text cannot hold an article
TINY_WORDS = 60  # an extraction this short makes the page's declared article worth a look
DECLARED_RATIO = 3  # ... as does one that holds under a third of the words of the page's JSON-LD articleBody
REDDIT_FIELDS = ("subreddits", "reddit_ids", "first_created_utc", "score", "score_sum", "n_submissions")
DOCUMENT_COLUMNS = ("url", "final_url", "domain", "title", "text", "extractor", "text_sha1", "n_chars", "n_words")


@dataclass(frozen=True)
class Extraction:
    text: str
    title: str
    extractor: str  # "combined" | "dragnet" | "newspaper" | "declared"


class ExtractionFailed(Exception):
    """A page that gives no document; `reason` is the drop reason (snake_case)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ---- guards ---------------------------------------------------------------------------------

_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f]")


def to_text(html: bytes | str, content_type: str | None = None) -> str:
    """Check the raw page and decode it; raises ExtractionFailed for empty, huge or binary input."""
    raw = html.encode("utf-8", errors="surrogatepass") if isinstance(html, str) else bytes(html or b"")
    if not raw.strip():
        raise ExtractionFailed("empty_html")
    if len(raw) > MAX_HTML_BYTES:
        raise ExtractionFailed("html_too_large", f"{len(raw):,} bytes")
    head = raw[:8192]
    if b"\x00" in head or len(_CONTROL.findall(head)) > len(head) // 20:
        raise ExtractionFailed("binary_content")
    if isinstance(html, str):
        return html
    try:
        from webtext.fetch.charset import decode_html
    except ImportError:  # the fetch stage is optional for extraction
        from w3lib.encoding import html_to_unicode

        return html_to_unicode(content_type, raw)[1]
    return decode_html(raw, content_type)[0]


_TOO_DEEP = None


def _too_deep(root) -> bool:
    """Is any node (element, comment, processing instruction) at depth `MAX_DEPTH` or deeper,
    the root being at depth 1? One XPath in C: a non-text child of an element at depth
    `MAX_DEPTH - 1`."""
    global _TOO_DEEP
    if _TOO_DEEP is None:
        import lxml.etree

        _TOO_DEEP = lxml.etree.XPath("boolean(/" + "/".join(["*"] * (MAX_DEPTH - 1)) + "/node()[not(self::text())])")
    return bool(_TOO_DEEP(root))


def check_tree(text: str):
    """Parse once with lxml (page.parse_html) and return the tree; unparseable or too deeply
    nested pages raise ExtractionFailed."""
    import lxml.etree

    from webtext.extract.page import parse_html

    try:
        root = parse_html(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ExtractionFailed("unparseable_html", str(exc)[:200]) from None
    if _too_deep(root):
        raise ExtractionFailed("html_too_deep", f"depth >= {MAX_DEPTH}")
    return root


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float | None):
    """Raise _Timeout after `seconds` of this process's CPU time (ITIMER_PROF / SIGPROF: the
    same pages time out whatever the machine's load); only in the main thread, else no limit."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# ---- one page -------------------------------------------------------------------------------


def _extract_tree(root, url: str):
    """Both extractors and the rule on a prepared tree: (Combination, NewspaperResult)."""
    from webtext.extract import combine as combine_mod
    from webtext.extract import dragnet, newspaper
    from webtext.extract.page import to_html

    page = combine_mod.page_blocks(root)  # read before Newspaper annotates the tree
    try:
        blocks = dragnet.extract_blocks(to_html(root))  # serialised before Newspaper annotates the tree
    except dragnet.blockify_error():
        blocks = []  # Dragnet found no blocks; Newspaper may still find text
    paper = newspaper.extract_tree(root, url)
    return combine_mod.combine(blocks, paper.text, page=page), paper


def _declared_fallback(text: str, declared, url: str) -> tuple[str, str] | None:
    """When the visible extraction is empty or tiny: the page's own declaration of its article
    (JSON-LD articleBody, or the markup in <noscript> / templates), if it says more."""
    from webtext.extract.page import parse_html, prepare, visible_words

    best: tuple[str, str] | None = None
    words = len(text.split())
    for body in declared.article_bodies:
        if len(body.split()) > max(words, TINY_WORDS // 2):
            best, words = (body, "declared"), len(body.split())
    if declared.hidden_markup:
        try:
            root = parse_html("<html><body>" + "\n".join(declared.hidden_markup) + "</body></html>")
        except Exception:
            return best
        prepare(root)
        if visible_words(root) > words:
            result, _ = _extract_tree(root, url)
            if len(result.text.split()) > words:
                best = (result.text, "declared")
    return best


def extract_html(
    html: bytes | str, url: str, *, content_type: str | None = None, timeout: float | None = PAGE_TIMEOUT_S
) -> Extraction:
    """Run the guards, Dragnet, Newspaper and the combination rule on one page.

    The page is parsed once (`page.parse_html`); unseen elements are removed from that tree
    (`page.prepare`); Dragnet reads it serialised, Newspaper reads the tree. A page whose cleaned
    body has fewer than `MIN_VISIBLE_WORDS` words, and declares no article body, is `no_text`
    without running the extractors. When the result is under `TINY_WORDS` words (or under a third
    of the page's JSON-LD `articleBody`: the visible page shows a fragment), what the page
    declares as its article (JSON-LD `articleBody`, `<noscript>`/template markup) is used if it
    says more (`extractor="declared"`).

    Raises ExtractionFailed(reason) when the page gives no text (reasons in the module docstring).
    """
    from webtext.extract.page import prepare, visible_words

    text = to_text(html, content_type)
    try:
        with _time_limit(timeout):
            root = check_tree(text)
            declared = prepare(root)
            if visible_words(root, MIN_VISIBLE_WORDS) < MIN_VISIBLE_WORDS and not declared.article_bodies and not declared.hidden_markup:
                raise ExtractionFailed("no_text", "no visible text")
            result, paper = _extract_tree(root, url)
            out_text, source = result.text, result.source
            words = len(out_text.split())
            if words < TINY_WORDS or any(len(b.split()) >= DECLARED_RATIO * words for b in declared.article_bodies):
                better = _declared_fallback(out_text, declared, url)
                if better:
                    out_text, source = better
    except _Timeout:
        raise ExtractionFailed("timeout", f"> {timeout} s") from None
    except ExtractionFailed:
        raise
    except RecursionError:
        raise ExtractionFailed("html_too_deep", "recursion limit") from None
    except Exception as exc:  # one page's extractor bug must not stop the run
        raise ExtractionFailed("extractor_error", f"{type(exc).__name__}: {exc}"[:200]) from None
    if not out_text.strip():
        raise ExtractionFailed("no_text")
    return Extraction(out_text, paper.title, source)


def document_from_page(
    link: dict,
    final_url: str,
    html: bytes | str,
    *,
    content_type: str | None = None,
    timeout: float | None = PAGE_TIMEOUT_S,
    fetch: dict | None = None,
) -> tuple[dict | None, str | None]:
    """The documents-table row for one fetched page, or (None, drop reason). `fetch` is the page's
    fetch-log row (or any dict with its `source` and `capture_time`), carried into the row."""
    url = link.get("url") or final_url
    final_url = final_url or url
    try:
        ex = extract_html(html, final_url, content_type=content_type, timeout=timeout)
    except ExtractionFailed as exc:
        return None, exc.reason
    row = {
        "url": url,
        "final_url": final_url,
        "domain": domain_of(final_url),
        "title": ex.title,
        "text": ex.text,
        "extractor": ex.extractor,
        "text_sha1": hashlib.sha1(ex.text.encode("utf-8")).hexdigest(),
        "n_chars": len(ex.text),
        "n_words": len(ex.text.split()),
    }
    for key in REDDIT_FIELDS:
        row[key] = link.get(key)
    row["source"], row["capture_time"] = fetch_origin(fetch)
    return row, None


def fetch_origin(fetch: dict | None) -> tuple[str | None, int | None]:
    """(source, capture time in Unix seconds) of a fetch-log row: where the page came from (live,
    wayback, commoncrawl, replay) and when it was captured; the time may be a datetime or ISO text."""
    if not fetch:
        return None, None
    when = fetch.get("capture_time")
    if isinstance(when, str):
        from datetime import datetime

        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if hasattr(when, "timestamp"):
        when = when.timestamp()
    return fetch.get("source"), (int(when) if when is not None else None)


# ---- inputs ---------------------------------------------------------------------------------


@dataclass
class Page:
    """One input record: a page to extract, or an input that is already a drop (`reason`)."""

    url: str
    final_url: str = ""
    html: bytes | str | None = None
    content_type: str | None = None
    reason: str | None = None  # set: this record is dropped for that reason, not extracted
    source: str = ""  # where it came from, for the report samples
    fetch: dict | None = None  # the fetch-log row (--fetch): its source and capture_time go into the document


def iter_html_dir(folder: str | os.PathLike, urls: dict[str, str] | None = None) -> Iterator[Page]:
    """`*.html`, `*.htm` and `*.html.gz` files of `folder` (sorted). `urls` maps a file's id (its
    name without the extensions) to its URL; otherwise the URL is the file's `file://` URI."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder", path=str(folder))
    for path in sorted(folder.iterdir()):
        name = path.name
        if not (name.endswith((".html", ".htm", ".html.gz", ".htm.gz"))):
            continue
        page_id = name.split(".", 1)[0]
        url = (urls or {}).get(page_id) or path.resolve().as_uri()
        try:
            data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            yield Page(url, url, reason="unreadable_file", source=f"{path}: {exc}")
            continue
        yield Page(url, url, data, "text/html", source=str(path))


def _warc_records(paths) -> Iterator[tuple[str, int, dict, str, str, int, tuple | None]]:
    """(url, status, headers, content_type, warc_path, offset, fetched) of every WARC response record;
    `fetched` is (logged URL, role, outcome) for records written by `webtext fetch`, else None.
    Uses the fetch stage's reader when it is installed, else warcio directly."""
    try:
        from webtext.fetch.replay import iter_warc_responses
    except ImportError:
        iter_warc_responses = None
    if iter_warc_responses is not None:
        for r in iter_warc_responses(paths):
            fetched = (r.fetch_url, r.role, r.outcome) if r.role else None
            yield r.url, r.status, r.headers, r.content_type, r.warc_path, r.warc_offset, fetched
        return
    from warcio.archiveiterator import ArchiveIterator

    for path in _expand_warcs(paths):
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh)
                for rec in it:
                    if rec.rec_type != "response" or rec.http_headers is None:
                        continue
                    headers = {k.lower(): v for k, v in rec.http_headers.headers}
                    yield (
                        rec.rec_headers.get_header("WARC-Target-URI"),
                        int(rec.http_headers.get_statuscode() or 0),
                        headers,
                        headers.get("content-type", ""),
                        str(path),
                        it.get_record_offset(),
                        None,
                    )
        except OSError as exc:
            raise InputError(f"cannot read WARC file: {exc}", path=str(path)) from None


def _expand_warcs(paths) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.glob("*.warc.gz")) + sorted(p.glob("*.warc")))
        elif p.exists():
            out.append(p)
        else:
            raise InputError("no such WARC file", path=str(p))
    return out


def _warc_body(warc_path: str, offset: int) -> bytes:
    try:
        from webtext.fetch.replay import read_response
    except ImportError:
        read_response = None
    if read_response is not None:
        return read_response(warc_path, offset).body
    from warcio.archiveiterator import ArchiveIterator

    with open(warc_path, "rb") as fh:
        fh.seek(offset)
        rec = next(iter(ArchiveIterator(fh)))
        return rec.content_stream().read()


def _is_html(content_type: str) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime in ("", "text/html", "application/xhtml+xml")


def iter_warc_pages(paths) -> Iterator[Page]:
    """Every WARC response record as a Page (see "Inputs" in the module docstring)."""
    records = list(_warc_records(paths))
    by_url: dict[str, tuple] = {}
    for rec in records:
        by_url[rec[0]] = rec  # the last record archived for a URL wins, as in replay
    for url, status, headers, content_type, warc_path, offset, fetched in records:
        source = f"{warc_path}@{offset}"
        if fetched is not None:  # a `webtext fetch` set: one page per logged URL, from its final record
            fetch_url, role, outcome = fetched
            if role != "final":
                continue  # an earlier hop or attempt of a set, or robots.txt: not a page of its own
            if outcome != "kept":
                yield Page(fetch_url or url, reason=outcome or "unknown_outcome", source=source)
            else:
                yield Page(fetch_url or url, url, _warc_body(warc_path, offset), content_type, source=source)
            continue
        hops, target = 0, (url, status, headers, content_type, warc_path, offset, fetched)
        while 300 <= target[1] < 400 and hops < MAX_REDIRECTS:
            location = target[2].get("location")
            nxt = by_url.get(urljoin(target[0], location)) if location else None
            if nxt is None:
                break
            target, hops = nxt, hops + 1
        t_url, t_status, _, t_type, t_path, t_offset, _ = target
        if 300 <= t_status < 400:
            yield Page(url, reason="redirect_unresolved", source=source)
        elif not 200 <= t_status < 300:
            yield Page(url, reason=f"http_{t_status}", source=source)
        elif not _is_html(t_type):
            yield Page(url, reason="not_html", source=source)
        else:
            yield Page(url, t_url, _warc_body(t_path, t_offset), t_type, source=source)


def iter_fetch_pages(fetch_dir: str | os.PathLike) -> Iterator[Page]:
    """The pages a fetch stage kept, from its log (see "Inputs" in the module docstring)."""
    from webtext.fetch import read_fetch_log
    from webtext.fetch.replay import read_response

    rows = read_fetch_log(fetch_dir)
    if not rows:
        raise InputError("no fetch log here (expected log/*.parquet written by `webtext fetch`)", path=str(fetch_dir))
    for row in sorted(rows, key=lambda r: r["url"]):
        if row.get("error") is not None:
            continue
        source = f"{row['warc_path']}@{row['warc_offset']}"
        try:
            response = read_response(row["warc_path"], int(row["warc_offset"]))
        except Exception as exc:  # a missing or damaged archive: name it, do not crash the run
            raise InputError(f"cannot read the record for {row['url']}: {exc}", path=source) from None
        yield Page(row["url"], row.get("final_url") or row["url"], response.body, row.get("content_type"), source=source,
                   fetch=row)


def read_links(path: str | os.PathLike) -> dict[str, dict]:
    """Link rows by URL from a links table (a Parquet file or a folder of them); times as epoch seconds."""
    import pyarrow.parquet as pq

    from webtext.shards import timestamps_to_epoch

    p = Path(path)
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    if not files:
        raise InputError("no Parquet files", path=str(p))
    out = {}
    for f in files:
        try:
            for row in timestamps_to_epoch(pq.read_table(f)).to_pylist():
                out[row["url"]] = row
        except Exception as exc:
            raise InputError(f"cannot read links table: {exc}", path=str(f)) from None
    return out


# ---- the stage ------------------------------------------------------------------------------

_WORKER_TIMEOUT: float | None = PAGE_TIMEOUT_S


def _work(item: tuple[dict, Page]) -> tuple[dict | None, str | None, str]:
    link, page = item
    if page.reason:
        return None, page.reason, page.source or page.url
    row, reason = document_from_page(link, page.final_url, page.html, content_type=page.content_type,
                                     timeout=_WORKER_TIMEOUT, fetch=page.fetch)
    return row, reason, page.source or page.url


def _init_worker(timeout: float | None) -> None:
    global _WORKER_TIMEOUT
    _WORKER_TIMEOUT = timeout
    from webtext.extract import dragnet

    dragnet.load_model()  # once per worker, not per page


def write_documents(rows: list[dict], out_dir: str | os.PathLike) -> list[Path]:
    """Write rows, sorted by (url, final_url), as out_dir/documents/part-*.parquet, atomically, with
    the documents-table schema that `webtext.shards` owns for every stage."""
    from webtext.shards import write_documents as write_table

    rows = sorted(rows, key=lambda r: (r["url"], r["final_url"]))
    return write_table(rows, out_dir)


def extract_pages(
    pages: Iterable[Page],
    out_dir: str | os.PathLike,
    *,
    links: dict[str, dict] | None = None,
    workers: int = 1,
    timeout: float | None = PAGE_TIMEOUT_S,
) -> StageReport:
    """Extract every page, write the documents table and report.json; returns the report."""
    from webtext.progress import Progress
    from webtext.report import write_json_atomic

    report = StageReport("extract")
    rows: list[dict] = []
    items = (((links or {}).get(p.url) or {"url": p.url}, p) for p in pages)
    with Progress("extract", unit="pages") as progress:
        if workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            with ctx.Pool(workers, initializer=_init_worker, initargs=(timeout,)) as pool:
                results = pool.imap(_work, items, chunksize=4)
                for row, reason, source in results:
                    _account(report, rows, row, reason, source)
                    progress.update()
        else:
            _init_worker(timeout)
            for item in items:
                row, reason, source = _work(item)
                _account(report, rows, row, reason, source)
                progress.update()
    report.check()
    write_documents(rows, out_dir)
    write_json_atomic(Path(out_dir) / "report.json", report.to_dict())
    return report


def _account(report: StageReport, rows: list, row, reason, source) -> None:
    if row is not None:
        rows.append(row)
        report.keep()
    else:
        report.drop(reason or "unknown", source)


def load_url_map(path: str | os.PathLike) -> dict[str, str]:
    """`{id: url}` or `{id: {"url": ...}}` (the benchmark's ground-truth.json) from a JSON file."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read URL map: {exc}", path=str(path)) from None
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object {id: url}", path=str(path))
    return {k: (v.get("url", "") if isinstance(v, dict) else str(v)) for k, v in obj.items()}
