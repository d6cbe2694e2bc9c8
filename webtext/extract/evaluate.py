"""The extraction scores of two benchmarks, each with its own metric, and their data.

**The article benchmark** (`../shared/data/extraction`: gold article bodies):

The definition (scrapinghub/article-extraction-benchmark, `evaluate.py`; ../shared/README.md):

* tokens are the `\\w+` matches of a text (Unicode word characters);
* a text is the *multiset* of its 4-token shingles (consecutive 4-grams). A text with fewer than
  four tokens has one shorter shingle (all of its tokens); an empty text has none;
* per page, TP = sum over shingles of min(gold count, predicted count), FP = predicted surplus,
  FN = gold surplus; the three are divided by their sum, so that long pages weigh no more than
  short ones;
* precision is averaged over the pages that have TP + FP > 0 (an empty prediction does not count
  towards precision, only towards recall), recall over the pages with TP + FN > 0; a page with
  FP = FN = 0 scores 1 on both;
* F1 is the harmonic mean of the two *averages* (not the average of per-page F1s).

**The snippet benchmark** (`../shared/data/extraction-snippets`, trafilatura's evaluation set):
each page has `with` snippets that must appear in the extracted text and `without` snippets that
must not. Whitespace runs are squashed to one space in the text and in each snippet; a snippet
appears when it is a case-sensitive substring. A `with` found is a true positive, missed a false
negative; a `without` found is a false positive. Precision, recall and F1 are computed over all
snippets of all pages *pooled* (not averaged per page). An empty extraction misses every `with`.

`score_pages` and `score_snippets` are what `webtext eval-extract` prints; the tests check them on
hand-made cases whose answers are worked out by hand.
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from webtext.errors import InputError
from webtext.extract.text import SHINGLE_N, shingles, squash_whitespace, tokenize

__all__ = ["SHINGLE_N", "shingles", "tokenize", "score_pages", "score_snippets", "load_gold", "load_snippets"]


def tp_fp_fn(gold: str | None, predicted: str | None, n: int = SHINGLE_N) -> tuple[float, float, float]:
    """Per-page true positives, false positives and false negatives, normalised by their sum."""
    g, p = shingles(gold, n), shingles(predicted, n)
    tp = float(sum((g & p).values()))
    fp = float(sum((p - g).values()))
    fn = float(sum((g - p).values()))
    total = tp + fp + fn
    if total > 0:
        return tp / total, fp / total, fn / total
    return tp, fp, fn


def precision_score(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def recall_score(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    pages: int

    def to_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "pages": self.pages}


def score_counts(counts: list[tuple[float, float, float]]) -> Score:
    """Precision and recall averaged over pages, F1 from the two averages."""
    precisions = [precision_score(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [recall_score(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.mean(precisions) if precisions else 0.0
    recall = statistics.mean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Score(precision, recall, f1, len(counts))


def score_pages(gold: Mapping[str, str], predicted: Mapping[str, str]) -> Score:
    """Score predicted texts against gold texts, page by page (same keys; a missing prediction is "")."""
    keys = sorted(gold)
    return score_counts([tp_fp_fn(gold[k], predicted.get(k, "")) for k in keys])


# ---- the benchmark's files -------------------------------------------------------------------


@dataclass(frozen=True)
class GoldPage:
    id: str
    url: str
    text: str
    html_path: Path

    def read_bytes(self) -> bytes:
        raw = self.html_path.read_bytes()
        return gzip.decompress(raw) if self.html_path.suffix == ".gz" else raw

    def read_html(self) -> str:
        with gzip.open(self.html_path, "rt", encoding="utf-8") if self.html_path.suffix == ".gz" else open(
            self.html_path, encoding="utf-8", errors="replace"
        ) as f:
            return f.read()


def _read_json_object(path: Path, what: str, shape: str) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what}: {exc}", path=str(path)) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object {shape}", path=str(path))
    return obj


def load_gold(gold_json: str | Path, html_dir: str | Path, ids: Iterable[str] | None = None) -> list[GoldPage]:
    """Pages of a ground-truth file (`{id: {"articleBody", "url"}}`) with their HTML (`<id>.html[.gz]`).

    `ids` restricts (and orders) the pages; an id missing from the gold file or without HTML is an
    InputError naming it.
    """
    gold_json, html_dir = Path(gold_json), Path(html_dir)
    gold = _read_json_object(gold_json, "gold file", "{id: {articleBody, url}}")
    wanted = sorted(gold) if ids is None else list(ids)
    pages = []
    for key in wanted:
        if key not in gold:
            raise InputError(f"id {key!r} is not in the gold file", path=str(gold_json))
        entry = gold[key]
        for candidate in (html_dir / f"{key}.html.gz", html_dir / f"{key}.html"):
            if candidate.exists():
                break
        else:
            raise InputError(f"no HTML for id {key!r} ({key}.html.gz or {key}.html)", path=str(html_dir))
        pages.append(GoldPage(key, entry.get("url", ""), entry.get("articleBody", "") or "", candidate))
    return pages


def read_ids(path: str | Path) -> list[str]:
    """Ids from a file: one per line (blank lines and `#` comments ignored), or a JSON list, or a
    JSON object of lists such as the benchmark's split.json (`{"dev": [...]}`: pass `split.json:dev`)."""
    spec = str(path)
    split = None
    if ":" in spec and not Path(spec).exists():
        spec, split = spec.rsplit(":", 1)
    p = Path(spec)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read ids: {exc}", path=spec) from None
    stripped = raw.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"bad JSON: {exc}", path=spec) from None
        if isinstance(obj, dict):
            if split is None or split not in obj:
                raise InputError(f"a JSON object of id lists needs FILE:KEY, one of {sorted(obj)}", path=spec)
            obj = obj[split]
        return [str(x) for x in obj]
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# ---- the snippet benchmark -------------------------------------------------------------------


@dataclass(frozen=True)
class SnippetScore:
    precision: float
    recall: float
    f1: float
    pages: int
    tp: int
    fp: int
    fn: int
    tn: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("precision", "recall", "f1", "pages", "tp", "fp", "fn", "tn")}


@dataclass(frozen=True)
class SnippetPage:
    id: str
    url: str
    with_: tuple[str, ...]
    without: tuple[str, ...]
    html_path: Path
    text: str = field(default="", repr=False)  # no gold body: the snippets are the judgement

    def read_bytes(self) -> bytes:
        raw = self.html_path.read_bytes()
        return gzip.decompress(raw) if self.html_path.suffix == ".gz" else raw

    def read_html(self) -> str:
        """The page decoded as the stage decodes it (the pages' encodings vary)."""
        from webtext.fetch.charset import decode_html

        return decode_html(self.read_bytes())[0]


def snippet_counts(text: str | None, with_: Iterable[str], without: Iterable[str]) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of one page: `with` snippets found / missed, `without` found / absent."""
    hay = squash_whitespace(text)
    tp = fn = fp = tn = 0
    for snippet in with_:
        if squash_whitespace(snippet) in hay and hay:
            tp += 1
        else:
            fn += 1
    for snippet in without:
        if squash_whitespace(snippet) in hay and hay:
            fp += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def score_snippets(pages: Iterable[SnippetPage], predicted: Mapping[str, str]) -> SnippetScore:
    """Pooled precision, recall and F1 over every snippet of every page (a missing prediction is "")."""
    tp = fp = fn = tn = n = 0
    for page in pages:
        a, b, c, d = snippet_counts(predicted.get(page.id, ""), page.with_, page.without)
        tp, fp, fn, tn, n = tp + a, fp + b, fn + c, tn + d, n + 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return SnippetScore(precision, recall, f1, n, tp, fp, fn, tn)


def load_snippets(eval_json: str | Path, html_dir: str | Path | None = None, ids: Iterable[str] | None = None) -> list[SnippetPage]:
    """Pages of a snippet file (`{key: {"file", "with", "without", ...}}`), HTML in `html_dir`
    (default: `html/` beside the file) as `<file>.gz` or `<file>`. The key is the page's id; it is
    its URL when it looks like one."""
    eval_json = Path(eval_json)
    html_dir = Path(html_dir) if html_dir else eval_json.parent / "html"
    data = _read_json_object(eval_json, "snippet file", "{page: {file, with, without}}")
    pages = []
    for key in sorted(data) if ids is None else list(ids):
        entry = data.get(key)
        if not isinstance(entry, dict) or "file" not in entry:
            raise InputError(f"page {key!r} is not in the snippet file (or has no 'file')", path=str(eval_json))
        for candidate in (html_dir / f"{entry['file']}.gz", html_dir / entry["file"]):
            if candidate.exists():
                break
        else:
            raise InputError(f"no HTML for page {key!r} ({entry['file']}[.gz])", path=str(html_dir))
        url = key if "://" in key else ""
        pages.append(SnippetPage(key, url, tuple(entry.get("with") or ()), tuple(entry.get("without") or ()), candidate))
    return pages


# ---- the extractors on a benchmark (what `webtext eval-extract` prints) ----------------------

EXTRACTORS = ("dragnet", "newspaper", "combined")


def run_extractors(pages: list, names: Iterable[str] = EXTRACTORS) -> tuple[dict[str, dict[str, str]], dict[str, float], dict[str, str]]:
    """Each extractor's text per page id, its CPU seconds, and the combination's drop reasons.

    Speed is CPU time of this process (`time.process_time`): Dragnet's and Newspaper's are their
    own calls on the decoded page; the combination's is the whole `extract_html` path from the
    page's bytes (decoding, guards, both extractors, the rule), which is what the stage pays."""
    import time

    from webtext.extract import dragnet, newspaper
    from webtext.extract.documents import ExtractionFailed, extract_html

    dragnet.load_model()  # not timed: loaded once per process
    names = list(names)
    raw = {p.id: (p.read_bytes() if hasattr(p, "read_bytes") else p.read_html().encode("utf-8")) for p in pages}
    decoded = {p.id: p.read_html() for p in pages}

    def run(name, page):
        if name == "dragnet":
            return dragnet.extract_text(decoded[page.id])
        if name == "newspaper":
            return newspaper.extract(decoded[page.id], page.url).text
        try:
            return extract_html(raw[page.id], page.url, timeout=None).text
        except ExtractionFailed as exc:
            failures[page.id] = exc.reason
            return ""

    preds: dict[str, dict[str, str]] = {name: {} for name in names}
    cpu = {name: 0.0 for name in names}
    failures: dict[str, str] = {}
    for page in pages:
        for name in names:
            t0 = time.process_time()
            try:
                preds[name][page.id] = run(name, page)
            except Exception:
                preds[name][page.id] = ""
            cpu[name] += time.process_time() - t0
    return preds, cpu, failures


def score_benchmark(pages: list, preds: Mapping[str, Mapping[str, str]], cpu: Mapping[str, float]) -> dict[str, dict]:
    """Scores (the benchmark's own metric) and pages per CPU-second of each extractor."""
    out = {}
    for name, pred in preds.items():
        if pages and isinstance(pages[0], SnippetPage):
            score = score_snippets(pages, pred).to_dict()
        else:
            score = score_pages({p.id: p.text for p in pages}, pred).to_dict()
        seconds = cpu.get(name) or 0.0
        score["pages_per_cpu_s"] = len(pages) / seconds if seconds > 0 else None
        out[name] = score
    return out


def evaluate_extractors(pages: list) -> dict:
    """Score Dragnet alone, Newspaper alone and the combination on `pages` (GoldPage or SnippetPage,
    each scored by its benchmark's metric), and time each."""
    preds, cpu, failures = run_extractors(pages)
    return {"pages": len(pages), "extractors": score_benchmark(pages, preds, cpu), "failures": failures}
