"""The combination rule: which text to keep from Dragnet and Newspaper, paragraph by paragraph.

The two extractors fail differently. Newspaper picks one DOM node (the densest in stopwords) and
its siblings: what it returns is nearly always article text, including the short lines of the
article (list items, sub-headings) but on pages whose article is split over several containers
it stops early and misses whole sections. Dragnet classifies every text block of the page on its
own: it rarely misses a paragraph of body text, but lets through headings, captions, bylines and
teasers, and drops short lines of the article.

**The rule.** Both outputs are cut into units (Newspaper: its paragraphs, one per line; Dragnet:
its content blocks).

0. Page furniture is dropped from both, whoever returned it: short lines (at most
   `BOILERPLATE_MAX_WORDS` words) that match one of the classes in `_BOILERPLATE`: advertising
   slots ("ADVERTISEMENT", "Story continues below"), lone time stamps ("Updated at 1:23 p.m."),
   newsletter / subscription prompts, tip lines, copyright and reuse notices, comment-section
   notices, share bars, next/previous links. Each pattern names a kind of furniture, not a site.
1. Every other Newspaper paragraph is kept, in Newspaper's order. This includes everything both
   extractors agree on (a Dragnet block is *agreed* when at least half of its 4-token shingles
   are in Newspaper's text, or, under 4 tokens, when its tokens appear in order in Newspaper's
   text), so **the combination never returns less than both extractors agree on** (rule 0 aside).
2. A Dragnet block that Newspaper did not return (*one-sided*) is added when it is **prose** and
   not a near-duplicate (`DUPLICATE_FRACTION` of its shingles) of a unit already kept. Prose: at
   least `MIN_WORDS` word tokens ending like a sentence (`.`, `!`, `?`, `…`, possibly followed by
   closing quotes or a bracket), or at least `LONG_WORDS` tokens whatever the ending (an embedded
   post ending in its t.co link or its date, a paragraph ending in an ornament such as "❖").
   Headings, bylines, dates, photo credits, share bars and "Related:" teasers fail this test (and
   the same caption repeated under every slide of a gallery fails the duplicate test); a
   paragraph of the article that Newspaper missed passes. It is inserted after the Newspaper
   paragraph matched by the nearest agreed Dragnet block before it, so the output keeps page
   order.
3. If Dragnet returns nothing, Newspaper's paragraphs are the output. If Newspaper returns
   nothing (a post whose text is `<br>`-separated inside one container, for example), the output
   is Dragnet's *article span*: its blocks from the first prose block to the last, so the share
   bar above the article and the comment thread or notices below it are left out (all blocks if
   none is prose).

Units are joined with newlines.

**Why.** Chosen on the dev splits only: the article benchmark's 40 `dev` pages (Dragnet was
trained on the 81 `train` pages; `dev` was never trained on) and the snippet benchmark's 85 dev
pages, comparing variants with `webtext eval-extract` / `benchmarks/extract_compare.py`:

* Newspaper is the more precise extractor, and its one-sided paragraphs are mostly real short
  lines of the article: dropping the non-prose ones raised precision a little but lowered recall
  much more (lists of short items are article text in the gold). So Newspaper is the base.
* Dragnet's one-sided *prose* blocks are where Newspaper's misses are (whole sections of long
  articles); its one-sided *non-prose* blocks are where its own false positives are. Adding only
  the prose raises recall by about 3 points at a cost of about 0.3 points of precision.
* `MIN_WORDS` = 8: 4 to 8 score the same on dev; longer thresholds lose real short paragraphs.
  8 was kept as the more conservative end of the flat region.
* `LONG_WORDS` = 25: long one-sided blocks without a sentence end are mostly embedded posts and
  list paragraphs; admitting them raised snippet F1 0.865 -> 0.872 and cost article F1
  0.975 -> 0.972 (15 gave 0.872 / 0.968).
* Rule 0 raised snippet precision 0.870 -> 0.899 with article F1 unchanged or better.
* Tried and rejected: requiring one-sided prose to be *attached* to agreed blocks (cut real
  sections after sub-headings); admitting every one-sided short block between two agreed blocks
  (captions came in: snippet 0.865 -> 0.863, article 0.975 -> 0.970); adding the leaf blocks
  (headings, list items) of Newspaper's top node that Newspaper's cleaner removed (snippet recall
  +4 points, precision -4: no gain, and article F1 0.975 -> 0.970).

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
LONG_WORDS = 25

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*\s*$")
_LINE_SPLIT = re.compile(r"\s*\n\s*")

# Lines that are never article text, whoever returned them (rule 0). Each pattern names a class of
# page furniture, not a site; a line must also be short (BOILERPLATE_MAX_WORDS) to be dropped, so
# an article paragraph that merely mentions a newsletter or a copyright is kept.
BOILERPLATE_MAX_WORDS = 20
_BOILERPLATE = [
    re.compile(p, re.I)
    for p in (
        # advertising slots and "continue reading" breaks
        r"^\W*(advertisements?|advertising|ad|sponsored( content)?|paid content|story continues below( this)?( advertisement| ad)?"
        r"|article continues (below|after)( this)?( advertisement| ad)?|continue reading( below| the main story)?"
        r"|scroll (down )?to continue( with content)?|skip (this )?ad)\W*$",
        # time stamps standing alone
        r"^\W*(updated|published|posted|last updated|last modified|first published)\b(?=.*\d)[\w\s,.:/|()+-]{0,70}$",
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
    """A paragraph of running text: `min_words` words ending like a sentence, or `LONG_WORDS`
    words whatever its end (an embedded post ending in its link or date, a paragraph ending in an
    ornament)."""
    n = len(unit.tokens)
    return n >= min_words and (bool(_SENTENCE_END.search(unit.text)) or n >= LONG_WORDS)


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
    """Shared shingles of two units, as a multiset (what `sum((a & b).values())` counts, without
    building the intersection)."""
    small, large = (a.shingles, b.shingles) if len(a.shingles) <= len(b.shingles) else (b.shingles, a.shingles)
    return sum(min(n, large[k]) for k, n in small.items() if k in large)


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
) -> Combination:
    """Combine Dragnet's content blocks and Newspaper's text by the rule in the module docstring."""
    min_words = MIN_WORDS if min_words is None else min_words
    agree_fraction = AGREE_FRACTION if agree_fraction is None else agree_fraction
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
        elif is_prose(unit, min_words) and not is_duplicate(unit):
            kept.append(unit)  # rule 2: one-sided prose, in page order
            dragnet_only += 1
        else:
            rejected += 1
    kept.extend(n_units[next_n:])
    return Combination("\n".join(u.text for u in kept), agreed, len(n_units), dragnet_only, rejected, furniture)
