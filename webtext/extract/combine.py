"""The combination rule: which text to keep from Dragnet and Newspaper, paragraph by paragraph.

The two extractors fail differently. Newspaper picks one DOM node (the densest in stopwords) and
its siblings: what it returns is nearly always article text, including the short lines of the
article (list items, sub-headings) but on pages whose article is split over several containers
it stops early and misses whole sections. Dragnet classifies every text block of the page on its
own: it rarely misses a paragraph of body text, but lets through headings, captions, bylines and
teasers, and drops short lines of the article.

**The rule.** Both outputs are cut into units (Newspaper: its paragraphs, one per line; Dragnet:
its content blocks).

1. Every Newspaper paragraph is kept, in Newspaper's order. This includes everything both
   extractors agree on (a Dragnet block is *agreed* when at least half of its 4-token shingles
   are in Newspaper's text, or, under 4 tokens, when its tokens appear in order in Newspaper's
   text), so **the combination never returns less than both extractors agree on**.
2. A Dragnet block that Newspaper did not return (*one-sided*) is added when it is **prose**: at
   least `MIN_WORDS` word tokens, ending like a sentence (`.`, `!`, `?`, `…`, possibly followed
   by closing quotes or a bracket), and not a near-duplicate (`DUPLICATE_FRACTION` of its
   shingles) of a unit already kept. Headings, bylines, dates, photo credits, share bars and
   "Related:" teasers fail this test (and the same caption repeated under every slide of a
   gallery fails the duplicate test); a paragraph of the article that Newspaper missed passes.
   It is inserted after the Newspaper paragraph matched by the nearest agreed Dragnet block
   before it, so the output keeps page order.
3. If Newspaper returns nothing, Dragnet's blocks are the output (and the other way round): one
   extractor failing on a page is no evidence against the other.

Units are joined with newlines.

**Why.** Chosen on the benchmark's 40 `dev` pages only (Dragnet was trained on the 81 `train`
pages; `dev` was never trained on), comparing variants with `webtext eval-extract`:

* Newspaper is the more precise extractor, and its one-sided paragraphs are mostly real short
  lines of the article: dropping the non-prose ones raised precision a little but lowered recall
  much more (lists of short items are article text in the gold). So Newspaper is the base.
* Dragnet's one-sided *prose* blocks are where Newspaper's misses are (whole sections of long
  articles); its one-sided *non-prose* blocks are where its own false positives are. Adding only
  the prose raises recall by about 3 points at a cost of about 0.3 points of precision.
* `MIN_WORDS` = 8: 4 to 8 score the same on dev; longer thresholds lose real short paragraphs.
  8 was kept as the more conservative end of the flat region.
* Requiring one-sided prose to be *attached* to agreed blocks (to cut runs of teasers) was tried
  and rejected: it cut real sections separated from the rest by a sub-heading more often than
  teasers.

`webtext eval-extract` prints the figures; docs/extract.md has them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from webtext.extract.text import shingles, tokenize

# Chosen on the dev split (see the module docstring); tests do not depend on their exact values.
MIN_WORDS = 8
AGREE_FRACTION = 0.5
DUPLICATE_FRACTION = 0.8
INTERIOR_SHORT_LINES = False

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*\s*$")
_LINE_SPLIT = re.compile(r"\s*\n\s*")

# Lines that are never article text, whoever returned them (rule 0). Each pattern names a class of
# page furniture, not a site; a line must also be short (BOILERPLATE_MAX_WORDS) to be dropped, so
# an article paragraph that merely mentions a newsletter or a copyright is kept.
BOILERPLATE_MAX_WORDS = 30
_BOILERPLATE = [
    re.compile(p, re.I)
    for p in (
        # advertising slots and "continue reading" breaks
        r"^\W*(advertisements?|advertising|ad|sponsored( content)?|paid content|story continues below( this)?( advertisement| ad)?"
        r"|article continues (below|after)( this)?( advertisement| ad)?|continue reading( below| the main story)?"
        r"|scroll (down )?to continue( with content)?|skip (this )?ad)\W*$",
        # time stamps standing alone
        r"^\W*(updated|published|posted|last updated|last modified|first published)\b[^.!?]{0,60}\d[^.!?]{0,30}$",
        r"^\W*(updated|published|posted)\W*$",
        # newsletter, subscription and sign-up prompts
        r"\bnewsletters?\b|\b(sign(ing)? up|subscribe|register)( now)? (for|to) (our|the|a|free|daily|weekly)\b"
        r"|\bsubscribe now\b|\balready a subscriber\b|\b(delivered|straight|directly) to your inbox\b"
        r"|\bto (view|read|continue reading) the (full|whole|rest of the) (story|article)\b|\be-?mail alerts?\b",
        # tip lines
        r"\b(have|got|send( us)?)( a| your)?( news)? tips?\b|\btips?@|\bsend us (a )?(tip|story)\b",
        # footer: copyright and reuse notices
        r"^\W*(©|\(c\)|copyright\b)|all rights reserved|(may|must) not be (re)?(published|reproduced|redistributed|rewritten|broadcast)"
        r"|permission must be obtained|copyrighted property",
        # comment-section notices
        r"\bcomments? (are|is) (closed|disabled)|\bleave a (comment|reply)\b|\bpost a comment\b|^\W*\d+\s+comments?\W*$"
        r"|\bbe the first to comment\b|\bjoin the (conversation|discussion)\b|\bmust be logged in to (post|comment)"
        r"|\bcomment(ing)? (policy|guidelines)\b|^\W*(comments?|replies|reply|responses)\W*$"
        r"|\bsubmit (your|a) (letter|comment)\b",
        # share bars and navigation crumbs standing alone
        r"^\W*(share( this( article| story| post)?)?( on)?|tweet|email|print|facebook|twitter|whatsapp|linkedin|pinterest|reddit)(\W+(share|tweet|email|print|facebook|twitter|whatsapp|linkedin|pinterest|reddit))*\W*$",
        r"^\W*(next|previous|prev|older|newer) (post|article|story|page)\b",
        r"\bprotected by recaptcha\b|\bpowered by (wordpress|nikola|blogger|ghost|hugo|jekyll)\b|\benable javascript\b",
    )
]


@dataclass(frozen=True)
class Unit:
    text: str
    tokens: tuple[str, ...]
    shingles: Counter

    @classmethod
    def of(cls, text: str) -> "Unit":
        toks = tuple(tokenize(text))
        return cls(text, toks, shingles(text))


def split_paragraphs(text: str) -> list[str]:
    """Newspaper's text as paragraphs: one per non-empty line."""
    return [p for p in _LINE_SPLIT.split(text or "") if p.strip()]


def is_boilerplate(text: str) -> bool:
    """A short line of page furniture (rule 0): ads, lone time stamps, newsletter, tip, footer,
    comment and share lines."""
    if len(text.split()) > BOILERPLATE_MAX_WORDS:
        return False
    return any(p.search(text) for p in _BOILERPLATE)


def is_prose(unit: Unit, min_words: int = MIN_WORDS) -> bool:
    return len(unit.tokens) >= min_words and bool(_SENTENCE_END.search(unit.text))


def _covered(unit: Unit, other_shingles: Counter, other_joined: str, fraction: float) -> bool:
    """Is `unit` also in the other extractor's text?"""
    if not unit.tokens:
        return False
    if len(unit.tokens) < 4:
        return f" {' '.join(unit.tokens)} " in other_joined
    total = sum(unit.shingles.values())
    shared = sum((unit.shingles & other_shingles).values())
    return shared >= fraction * total


def _overlap(a: Unit, b: Unit) -> int:
    return sum((a.shingles & b.shingles).values())


@dataclass
class Combination:
    text: str
    agreed: int  # Dragnet blocks that Newspaper also returned
    newspaper: int  # Newspaper paragraphs kept (all of them)
    dragnet_only: int  # one-sided Dragnet blocks added
    rejected: int  # one-sided Dragnet blocks left out
    boilerplate: int = 0  # lines of either extractor dropped by rule 0

    @property
    def source(self) -> str:
        """Which extractor(s) the text came from: "combined", "newspaper" or "dragnet"."""
        if self.newspaper and self.dragnet_only:
            return "combined"
        if self.newspaper:
            return "newspaper"
        return "dragnet" if self.dragnet_only else "combined"


def _core(units: list[Unit], min_words: int) -> list[Unit]:
    """Dragnet's blocks from its first prose block to its last (rule 3): the article's span, without
    the share bar above it and the notices below it. All blocks when none is prose."""
    prose = [i for i, u in enumerate(units) if is_prose(u, min_words)]
    return units[prose[0] : prose[-1] + 1] if prose else units


def combine(
    dragnet_blocks: list[str],
    newspaper_text: str,
    *,
    min_words: int | None = None,
    agree_fraction: float | None = None,
    interior: bool | None = None,
) -> Combination:
    """Combine Dragnet's content blocks and Newspaper's text by the rule in the module docstring."""
    min_words = MIN_WORDS if min_words is None else min_words
    agree_fraction = AGREE_FRACTION if agree_fraction is None else agree_fraction
    interior = INTERIOR_SHORT_LINES if interior is None else interior
    n_units = [u for u in (Unit.of(p) for p in split_paragraphs(newspaper_text)) if u.tokens]
    d_units = [u for u in (Unit.of(b) for b in dragnet_blocks if b) if u.tokens]
    n_before, d_before = len(n_units), len(d_units)
    n_units = [u for u in n_units if not is_boilerplate(u.text)]  # rule 0
    d_units = [u for u in d_units if not is_boilerplate(u.text)]
    furniture = n_before - len(n_units) + d_before - len(d_units)

    if not n_units or not d_units:  # rule 3: one extractor has nothing
        if n_units:
            return Combination("\n".join(u.text for u in n_units), 0, len(n_units), 0, 0, furniture)
        core = _core(d_units, min_words)
        return Combination("\n".join(u.text for u in core), 0, 0, len(core), len(d_units) - len(core), furniture)

    n_all = Unit.of("\n".join(u.text for u in n_units))
    n_joined = f" {' '.join(n_all.tokens)} "
    kept: list[Unit] = []
    agreed = dragnet_only = rejected = 0

    def is_duplicate(unit: Unit) -> bool:
        if len(unit.tokens) < 4:
            return any(unit.tokens == k.tokens for k in kept)
        total = sum(unit.shingles.values())
        return any(_overlap(unit, k) >= DUPLICATE_FRACTION * total for k in kept)

    covered = [_covered(u, n_all.shingles, n_joined, agree_fraction) for u in d_units]
    agreed_at = [i for i, c in enumerate(covered) if c]
    first, last = (agreed_at[0], agreed_at[-1]) if agreed_at else (len(d_units), -1)

    next_n = 0  # the next Newspaper paragraph not yet emitted
    for i, unit in enumerate(d_units):
        if covered[i]:
            # rule 1: agreed; emit Newspaper's paragraphs up to the last one this block matches
            agreed += 1
            anchor = -1
            unit_joined = f" {' '.join(unit.tokens)} "
            for j in range(next_n, len(n_units)):
                para = n_units[j]
                if len(para.tokens) < 4:
                    if f" {' '.join(para.tokens)} " in unit_joined:
                        anchor = j
                    continue
                shared = _overlap(unit, para)
                if shared and 2 * shared >= min(sum(unit.shingles.values()), sum(para.shingles.values())):
                    anchor = j
            kept.extend(n_units[next_n : anchor + 1])
            next_n = max(next_n, anchor + 1)
        elif (is_prose(unit, min_words) or (interior and first < i < last)) and not is_duplicate(unit):
            kept.append(unit)  # rule 2: one-sided prose, or a short line inside the article
            dragnet_only += 1
        else:
            rejected += 1
    kept.extend(n_units[next_n:])
    return Combination("\n".join(u.text for u in kept), agreed, len(n_units), dragnet_only, rejected, furniture)
