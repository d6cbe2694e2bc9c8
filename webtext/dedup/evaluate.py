"""A labelled near-duplicate evaluation set built from the shared article pages, and its scoring.

`build_eval_set(extraction_dir)` reads `ground-truth.json` (the gold `articleBody` of each page)
and the pages' HTML, and builds pairs of texts labelled duplicate or not. Each article becomes a
*base* document: a little of its own page's boilerplate (the first and last lines of page text that
are not part of the article body: navigation, bylines, related links, footers, up to
`boilerplate_words` words each side, the kind of leftovers an extractor lets through), then the
article, then the footer. Articles under `min_words` words are left out (the clean stage drops them
before dedup).

Near-duplicates of a base document (label 1), one of each kind per article:

- `boilerplate`: the same article inside another page's boilerplate (a syndicated copy);
- `edits`: the article with `edit_rate` of its words substituted, deleted or duplicated;
- `truncated`: the article cut after `truncate_keep` of its words (a teaser or a paywalled copy);
- `reordered`: the article's paragraphs shuffled.

Non-duplicates (label 0):

- `same_domain`: the two base documents of two different articles from the same site (the shared
  pages hold a few sites twice);
- `same_site_chrome`: a different article placed inside *this* article's page boilerplate, which is
  exactly what two articles of one site look like after extraction.

Everything is seeded, so the set is the same on every run. `score_pairs` returns precision, recall
and the per-kind detection rates for a decision function over pairs.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from webtext.errors import InputError


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    duplicate: bool
    kind: str
    page: str  # the page id of the base article


def _page_lines(html: bytes) -> list[str]:
    """Visible text lines of a page body (scripts, styles and comments left out)."""
    import lxml.html

    doc = lxml.html.document_fromstring(html.decode("utf-8", errors="replace"))
    for bad in doc.xpath("//script|//style|//noscript|//template|//head"):
        bad.drop_tree()
    lines = []
    for el in doc.iter():
        if not isinstance(el.tag, str):  # comments, processing instructions
            continue
        for text in (el.text, el.tail):
            if text and text.strip():
                lines.append(" ".join(text.split()))
    return lines


def _boilerplate(lines: list[str], body: str, words: int) -> tuple[str, str]:
    """(header, footer): page lines of 3+ words not in the article, about `words` words each."""
    outside = [ln for ln in lines if len(ln.split()) >= 3 and ln not in body]

    def take(seq: list[str]) -> list[str]:
        out, n = [], 0
        for ln in seq:
            if n >= words:
                break
            out.append(ln)
            n += len(ln.split())
        return out

    return "\n".join(take(outside)), "\n".join(reversed(take(list(reversed(outside)))))


def _compose(header: str, article: str, footer: str) -> str:
    return "\n\n".join(part for part in (header, article, footer) if part)


def _edit(article: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    paragraphs = []
    for para in article.split("\n"):
        out = []
        for word in para.split(" "):
            r = rng.random()
            if r < rate / 3:
                out.append(rng.choice(vocab))  # substitution
            elif r < 2 * rate / 3:
                continue  # deletion
            elif r < rate:
                out.extend([word, word])  # duplication
            else:
                out.append(word)
        paragraphs.append(" ".join(out))
    return "\n".join(paragraphs)


def build_eval_set(
    extraction_dir: str | Path,
    *,
    seed: int = 0,
    min_words: int = 100,
    boilerplate_words: int = 60,
    edit_rate: float = 0.03,
    truncate_keep: float = 0.8,
) -> list[Pair]:
    """The labelled pairs (see the module docstring), from `extraction_dir` (ground-truth.json, html/)."""
    root = Path(extraction_dir)
    truth_path = root / "ground-truth.json"
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the ground truth: {exc}", path=str(truth_path)) from None
    rng = random.Random(seed)
    pages = {}
    for page_id in sorted(truth):
        body = (truth[page_id].get("articleBody") or "").strip()
        if len(body.split()) < min_words:
            continue
        html_path = root / "html" / f"{page_id}.html.gz"
        try:
            html = gzip.decompress(html_path.read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read the page: {exc}", path=str(html_path)) from None
        header, footer = _boilerplate(_page_lines(html), body, boilerplate_words)
        pages[page_id] = {
            "body": body,
            "header": header,
            "footer": footer,
            "domain": (urlsplit(truth[page_id].get("url", "")).hostname or "").removeprefix("www."),
        }
    ids = sorted(pages)
    if len(ids) < 3:
        raise InputError(f"need at least 3 articles of {min_words}+ words, found {len(ids)}", path=str(root))
    vocab = sorted({w for p in pages.values() for w in p["body"].split()})

    def base(pid: str) -> str:
        p = pages[pid]
        return _compose(p["header"], p["body"], p["footer"])

    pairs: list[Pair] = []
    for i, pid in enumerate(ids):
        p = pages[pid]
        other = pages[ids[(i + 1 + rng.randrange(len(ids) - 1)) % len(ids)]]  # any other page
        words = p["body"].split(" ")
        paragraphs = p["body"].split("\n")
        shuffled = paragraphs[:]
        while len(paragraphs) > 1 and shuffled == paragraphs:
            rng.shuffle(shuffled)
        near = {
            "boilerplate": _compose(other["header"], p["body"], other["footer"]),
            "edits": _compose(p["header"], _edit(p["body"], edit_rate, rng, vocab), p["footer"]),
            "truncated": _compose(p["header"], " ".join(words[: int(len(words) * truncate_keep)]), p["footer"]),
            "reordered": _compose(p["header"], "\n".join(shuffled), p["footer"]),
        }
        for kind, text in near.items():
            pairs.append(Pair(base(pid), text, True, kind, pid))
        # A different article inside this page's boilerplate.
        other_id = ids[(i + 1 + rng.randrange(len(ids) - 1)) % len(ids)]
        pairs.append(Pair(base(pid), _compose(p["header"], pages[other_id]["body"], p["footer"]), False, "same_site_chrome", pid))
    by_domain: dict[str, list[str]] = defaultdict(list)
    for pid in ids:
        by_domain[pages[pid]["domain"]].append(pid)
    for domain, members in sorted(by_domain.items()):
        for j in range(len(members)):
            for k in range(j + 1, len(members)):
                pairs.append(Pair(base(members[j]), base(members[k]), False, "same_domain", members[j]))
    return pairs


def score_pairs(pairs: list[Pair], is_duplicate: Callable[[str, str], bool]) -> dict:
    """Precision and recall of `is_duplicate` over the pairs, and the rate per kind of pair
    (for duplicate kinds: found; for non-duplicate kinds: wrongly flagged)."""
    tp = fp = fn = 0
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pair in pairs:
        said = bool(is_duplicate(pair.a, pair.b))
        tp += said and pair.duplicate
        fp += said and not pair.duplicate
        fn += (not said) and pair.duplicate
        per_kind[pair.kind][0] += said
        per_kind[pair.kind][1] += 1
    return {
        "pairs": len(pairs),
        "duplicates": sum(p.duplicate for p in pairs),
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "flagged_by_kind": {k: {"flagged": v[0], "of": v[1]} for k, v in sorted(per_kind.items())},
    }
