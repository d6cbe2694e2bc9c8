"""The extraction score: the article-extraction-benchmark's own metric, and the benchmark's data.

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

`score_pages` is what `webtext eval-extract` prints; the tests check it on hand-made cases whose
answers are worked out by hand.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from webtext.errors import InputError

SHINGLE_N = 4
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str | None) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def shingles(text: str | None, n: int = SHINGLE_N) -> Counter:
    """The multiset of n-token shingles of `text` (a Counter of token tuples)."""
    tokens = tokenize(text)
    out: Counter = Counter()
    for i in range(max(1, len(tokens) - n + 1)):
        shingle = tuple(tokens[i : i + n])
        if shingle:
            out[shingle] += 1
    return out


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

    def read_html(self) -> str:
        with gzip.open(self.html_path, "rt", encoding="utf-8") if self.html_path.suffix == ".gz" else open(
            self.html_path, encoding="utf-8", errors="replace"
        ) as f:
            return f.read()


def load_gold(gold_json: str | Path, html_dir: str | Path, ids: Iterable[str] | None = None) -> list[GoldPage]:
    """Pages of a ground-truth file (`{id: {"articleBody", "url"}}`) with their HTML (`<id>.html[.gz]`).

    `ids` restricts (and orders) the pages; an id missing from the gold file or without HTML is an
    InputError naming it.
    """
    gold_json, html_dir = Path(gold_json), Path(html_dir)
    try:
        gold = json.loads(gold_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read gold file: {exc}", path=str(gold_json)) from None
    if not isinstance(gold, dict):
        raise InputError("expected a JSON object {id: {articleBody, url}}", path=str(gold_json))
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


# ---- the three extractors on gold pages (what `webtext eval-extract` prints) ---------------


def evaluate_extractors(pages: list[GoldPage]) -> dict:
    """Score Dragnet alone, Newspaper alone and the combination on `pages`, and time each.

    Speed is pages per CPU-second of this process (`time.process_time`), i.e. pages/s per core:
    Dragnet's and Newspaper's times are their own extraction calls; the combination's is the whole
    `extract_html` path (guards, both extractors, the rule), which is what the stage pays per page.
    """
    import time

    from webtext.extract import dragnet, newspaper
    from webtext.extract.documents import ExtractionFailed, extract_html

    dragnet.load_model()  # not timed: loaded once per process
    htmls = {p.id: p.read_html() for p in pages}
    gold = {p.id: p.text for p in pages}
    preds: dict[str, dict[str, str]] = {"dragnet": {}, "newspaper": {}, "combined": {}}
    cpu = {name: 0.0 for name in preds}
    failures: dict[str, str] = {}
    for p in pages:
        html = htmls[p.id]
        t0 = time.process_time()
        try:
            preds["dragnet"][p.id] = dragnet.extract_text(html)
        except Exception:
            preds["dragnet"][p.id] = ""
        t1 = time.process_time()
        try:
            preds["newspaper"][p.id] = newspaper.extract(html, p.url).text
        except Exception:
            preds["newspaper"][p.id] = ""
        t2 = time.process_time()
        try:
            preds["combined"][p.id] = extract_html(html, p.url, timeout=None).text
        except ExtractionFailed as exc:
            preds["combined"][p.id] = ""
            failures[p.id] = exc.reason
        t3 = time.process_time()
        cpu["dragnet"] += t1 - t0
        cpu["newspaper"] += t2 - t1
        cpu["combined"] += t3 - t2
    out = {"pages": len(pages), "extractors": {}, "failures": failures}
    for name, pred in preds.items():
        score = score_pages(gold, pred).to_dict()
        score["pages_per_cpu_s"] = len(pages) / cpu[name] if cpu[name] > 0 else None
        out["extractors"][name] = score
    return out
