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
   slots ("ADVERTISEMENT", "Story continues below"), lone time stamps ("Updated at 1:23 p.m.") and
   datelines (a date alone on its line: "11 Jan 2019"),
   newsletter / subscription prompts, tip lines, copyright and reuse notices, comment-section
   notices, share bars, next/previous links. Each pattern names a kind of furniture, not a site.
   Furniture that announces itself in its opening words (`_BOILERPLATE_LEAD`: a line opening with
   "©"/"Copyright 2022", a "Sign up ... newsletter/email" box, "Follow us on Twitter", "To view
   the full story", "This entry was posted in") is dropped up to `BOILERPLATE_LEAD_MAX_WORDS`
   words: such boxes run on for a paragraph, and article paragraphs do not open that way; so is
   a line saying something is "delivered to your inbox", and a line of any length with
   `HOMOGLYPH_WORDS` or more words that mix Latin and Cyrillic letters ("Аdvеrtіѕе wіth uѕ"
   spelled with Cyrillic "А", "е", "і", "ѕ"): text obfuscated to slip past filters is an ad.
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

4. **The article's container, read back from the page.** Both extractors drop short lines of the
   article that sit between its paragraphs: sub-headings, list items, short quotes,
   code lines (Newspaper's cleaner and Dragnet's classifier both judge them "not content", and no
   rule over their two outputs can bring back what neither returned). So the page's own text
   blocks are read once, before Newspaper touches the tree (`page_blocks`: each block's text, its
   kind, its element's path, and whether an element around it names page furniture), and the
   output is located on the page: its *anchors* are the blocks of `ANCHOR_WORDS`+ tokens found in
   the output. The *container* is the deepest element holding `CONTAINER_SHARE` of the anchors'
   words, and the *span* runs from its first anchor to its last. Every block of the span that is
   not already in the output is added after the output line of the anchor before it, unless it
   is a table cell (tables are data: one number per line is not text), or it
   sits in furniture *inside* the container (an element whose tag is `nav`/`aside`/`footer`/
   `figure`/`figcaption` or whose class/id names share bars, related links, newsletters, comments,
   bylines and author boxes, tags, widgets, ads, captions/credits/galleries, ...: `_FURNITURE_NAME`),
   is furniture by rule 0, or is mostly link text. What is above the container (a page-wide
   "widget" or "tag-..." class) does not count: the article's own wrapper often carries such names.
   Nothing before the first anchor (title, byline, share bar) or after the last (author box,
   comments, related stories) is added, and a page with fewer than two anchors is left alone.
   The same reading of the page repairs two kinds of damage in the output: a line that is one
   block of the page token for token takes the page's spacing (Newspaper writes "Northern
   Ireland , call" where a link ends before punctuation); a line that is a run of several
   consecutive blocks of the page (Dragnet's blockifier runs on across elements where markup is
   broken: a last paragraph, the pager and the footer in one block) is cut back into those
   blocks, less the ones that are furniture.

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

* Rule 4 (dev splits, one run each): snippet F1 0.870 -> 0.886, article F1 0.9715 -> 0.9725.
  Without the furniture exclusion inside the container, photo captions, gallery controls and
  credits came in (article F1 0.966); judging furniture on every ancestor instead of only those
  below the container cut real articles whose wrapper is a Blogger "widget" or a WordPress
  `<article class="... tag-...">`. Each kind alone (headings, list items, quotes, code, other
  short lines) adds recall at little cost; the titles (`<h1>` before the first anchor) are left
  out: the article benchmark's gold never holds them. Short blocks (under 4 tokens) count as
  already present only in an output line of about their size ("Monday" in a table is not found
  in "on Monday" in a sentence).
* The opening-words furniture of rule 0 raised snippet precision 0.869 -> 0.896 (footers,
  newsletter boxes and paywall notices longer than 20 words), article F1 unchanged.
* The opening-words tier, datelines, app prompts, "to your inbox" and mixed-script (homoglyph)
  ads: snippet F1 0.886 -> 0.907, article unchanged. The page's spacing for one-block lines and
  the cutting of glued lines: 0.907 -> 0.922 (five `without` snippets out, one `with` in),
  article unchanged. `CONTAINER_SHARE` 0.8-0.95 and `ANCHOR_WORDS` 5-12 give the same figures
  within one snippet.
* Table cells are not added by rule 4: they changed nothing on either dev split, and on the
  article benchmark's `train` pages (never used to choose anything else in this rule) a
  standings table added one number per line, taking rule 4 from +0.000 to -0.003 F1 there;
  without cells rule 4 is +0.0004 on `train` (0.9707 -> 0.9711).
* Tried and rejected for rule 4: removing the output lines that are furniture blocks on the page
  (snippet precision +0.01, but article recall 0.994 -> 0.944: whole articles sit under wrappers
  named "media"/"widget"); adding a heading just above the container or the lines just after
  the last anchor (no change on the snippet split); capping the length of added blocks (within
  one snippet either way).

`webtext eval-extract` prints the figures; docs/extract.md has them.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass

from webtext.extract.text import shingles_of, tokenize

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
        r"^\W*(\w+day,? )?(\d{1,2}(st|nd|rd|th)? )?(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
        r"( \d{1,2}(st|nd|rd|th)?,?)? \d{4}\W*$",  # a date alone: the article's dateline
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
        r"\bsign up\W*$",
        # app download prompts
        r"\bdownload (the|our)\b.{0,40}\bapps?\b|\b(available|get it) on (the )?(app store|google play)\b",
    )
]
# Furniture that announces itself (in its first words, or by a phrase only a newsletter box uses): dropped up to
# BOILERPLATE_LEAD_MAX_WORDS words (a copyright footer or a newsletter box runs on for a paragraph,
# and an article paragraph does not open with "© 2022" or "Sign up to").
BOILERPLATE_LEAD_MAX_WORDS = 80
HOMOGLYPH_WORDS = 3
_HOMOGLYPH_WORD = re.compile(r"\b(?=[^\W\d_]*[a-zA-Z])(?=[^\W\d_]*[\u0400-\u04ff])[^\W\d_]+")
_BOILERPLATE_LEAD = re.compile(
    r"^\W*(?:©|\(c\)|copyright\s*(?:©|\(c\)|\d{4}))"  # copyright footer
    r"|^\W*(?:sign up|subscribe|register)\b.*\b(?:newsletters?|inbox|e-?mails?|deals|offers|alerts)\b"  # newsletter box
    r"|^\W*follow (?:us|[\w@.]+(?: [\w@.]+){0,3}) on (?:twitter|facebook|instagram|linkedin|youtube|tiktok)\b"  # social
    r"|^\W*to (?:view|read|continue reading) (?:the|this) (?:full|whole|entire|rest of the) (?:story|article)\b"  # paywall
    r"|^\W*this (?:entry|post|article) was (?:posted|filed)\b"  # post metadata
    r"|\b(?:delivered|sent|direct|directly|straight) to your inbox\b",  # a newsletter box, wherever it says so
    re.I,
)


@dataclass(frozen=True)
class Unit:
    text: str
    tokens: tuple[str, ...]
    shingles: Counter

    @classmethod
    def of(cls, text: str) -> "Unit":
        toks = tuple(tokenize(text))
        return cls(text, toks, shingles_of(toks))


def split_paragraphs(text: str) -> list[str]:
    """Newspaper's text as paragraphs: one per non-empty line."""
    return [p for p in _LINE_SPLIT.split(text or "") if p.strip()]


def is_boilerplate(text: str) -> bool:
    """A short line of page furniture (rule 0): ads, lone time stamps, newsletter, tip, footer,
    comment and share lines."""
    if len(_HOMOGLYPH_WORD.findall(text)) >= HOMOGLYPH_WORDS:
        return True
    n = len(text.split())
    if n > BOILERPLATE_LEAD_MAX_WORDS:
        return False
    if _BOILERPLATE_LEAD.search(text):
        return True
    return n <= BOILERPLATE_MAX_WORDS and any(p.search(text) for p in _BOILERPLATE)


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
    x, y = a.shingles, b.shingles
    return sum(min(x[k], y[k]) for k in x.keys() & y.keys())


@dataclass
class Combination:
    text: str
    agreed: int  # Dragnet blocks that Newspaper also returned
    newspaper: int  # Newspaper paragraphs kept (all of them)
    dragnet_only: int  # one-sided Dragnet blocks added
    rejected: int  # one-sided Dragnet blocks left out
    boilerplate: int = 0  # lines of either extractor dropped by rule 0
    page_only: int = 0  # blocks of the article's container added by rule 4

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
    page: list[Block] | None = None,
) -> Combination:
    """Combine Dragnet's content blocks and Newspaper's text by the rule in the module docstring;
    with `page` (the page's blocks, `page_blocks`), rule 4 adds the article container's short
    blocks that neither extractor returned."""
    out = _combine_pair(dragnet_blocks, newspaper_text, min_words=min_words, agree_fraction=agree_fraction)
    if page:
        out.text, out.page_only = expand(out.text, page)
    return out


def _combine_pair(dragnet_blocks: list[str], newspaper_text: str, *, min_words: int | None, agree_fraction: float | None) -> Combination:
    """Rules 0-3: the two extractors' outputs alone."""
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


# ---- rule 4: the article's container, read back from the page -------------------------------

# Tags that start a new block of text (as a browser lays them out); everything else is inline.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body br caption center dd details div dl dt fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_KIND = {
    **{f"h{i}": "heading" for i in range(1, 7)},
    "li": "item", "dt": "item", "dd": "item",
    "td": "cell", "th": "cell",
    "figcaption": "caption", "caption": "caption",
    "blockquote": "quote",
    "pre": "pre",
}
# Elements that hold page furniture, by tag or by a class/id token naming it.
_FURNITURE_TAGS = frozenset(("nav", "aside", "footer", "figure", "figcaption"))
_FURNITURE_NAME = re.compile(
    r"(?:^|[\s_-])(share|sharing|social|related|newsletter|subscribe|subscription|signup|sign-up|comments?|commentlist|"
    r"respond|reply|nav|navbar|navigation|menu|footer|sidebar|widget|breadcrumbs?|promo|advert|advertisement|ads?|"
    r"sponsored|byline|author|tags|tagcloud|categories|meta|cookie|popular|recommended|trending|more-stories|"
    r"read-more|readmore|disqus|toolbar|pagination|pager|"
    r"caption|credits?|gallery|photo|image|img|thumbnail|media|video|embed|figure|wp-caption)(?:$|[\s_-])",
    re.I,
)


@dataclass(frozen=True)
class Block:
    """One block of the page's text, as a browser lays it out, before the extractors ran."""

    text: str
    kind: str  # heading | item | cell | caption | quote | pre | text
    path: tuple[int, ...]  # child indices from <body> to the block's element: shared prefix = common container
    furniture: int  # depth of the deepest element around it naming page furniture (share, related, nav, ...), -1: none
    link_chars: int  # characters inside links


def page_blocks(root) -> list[Block]:
    """The page's text blocks in page order (read before Newspaper annotates the tree)."""
    body = root.find("body")
    body = root if body is None else body
    blocks: list[Block] = []
    buf: list[str] = []
    links = [0]

    def flush(ctx) -> None:
        if buf:
            text = " ".join("".join(buf).split())
            if text:
                blocks.append(Block(text, ctx[0], ctx[1], ctx[2], links[0]))
            buf.clear()
        links[0] = 0

    def visit(el, path, ctx, in_link):
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _BLOCK_TAGS:
            flush(ctx)
            names = f"{el.get('class') or ''} {el.get('id') or ''}"
            named = tag in _FURNITURE_TAGS or bool(names.strip() and _FURNITURE_NAME.search(names))
            furniture = len(path) if named else ctx[2]
            inner = (_KIND.get(tag, ctx[0] if tag in ("p", "div", "span") else "text"), path, furniture)
        else:
            inner = ctx
        link = in_link or tag == "a"
        if tag and el.text:
            buf.append(el.text)
            if link:
                links[0] += len(el.text)
        for i, child in enumerate(el):
            visit(child, path + (i,), inner, link)
        if inner is not ctx:
            flush(inner)
        if el.tail:
            buf.append(el.tail)
            if in_link:
                links[0] += len(el.tail)

    visit(body, (), ("text", (), -1), False)
    flush(("text", (), -1))
    return blocks


CONTAINER_SHARE = 0.9  # the container holds this share of the anchors' words
ANCHOR_WORDS = 8  # a block of the page this long, found in the output, locates the article


def _find_line(hay: str, starts: list[int], sizes: list[int], toks: list[str]) -> int | None:
    """The output line holding the block `toks`, or None. A short block (under 4 tokens) counts only
    in a line of about its size: "Monday" alone in a table is not found by a sentence "on Monday"."""
    if not toks:
        return None
    needle = f" {' '.join(toks)} "
    pos = hay.find(needle)
    while pos >= 0:
        line = bisect.bisect_right(starts, pos + 1) - 1
        if len(toks) >= 4 or sizes[line] <= 3 * len(toks) + 2:
            return line
        pos = hay.find(needle, pos + 1)
    return None


def expand(text: str, blocks: list[Block]) -> tuple[str, int]:
    """Rule 4: locate the output on the page (`blocks`, from `page_blocks`) and add the blocks of
    the article's container that lie between its first and last anchor and that neither extractor
    returned; furniture below the container, furniture lines and link lists excepted. Returns the
    text and the number of blocks added."""
    lines = split_paragraphs(text)
    if not lines or not blocks:
        return text, 0
    # the output as one token string, and where each line starts in it
    starts, parts, offset = [], [], 1
    for line in lines:
        joined = " ".join(tokenize(line))
        starts.append(offset)
        parts.append(joined)
        offset += len(joined) + 1
    hay = " " + " ".join(parts) + " "
    sizes = [len(p.split()) for p in parts]
    toks_of = [tokenize(b.text) for b in blocks]
    found = [_find_line(hay, starts, sizes, toks) for toks in toks_of]  # output line of each block, or None
    repaired = 0
    for i, j in enumerate(found):
        # a line that is exactly one block of the page, token for token: the page's own spacing
        # (Newspaper writes "Northern Ireland , call" where a link ends before punctuation)
        if j is not None and lines[j] != blocks[i].text and parts[j] == " ".join(toks_of[i]):
            lines[j] = blocks[i].text
            repaired += 1

    anchors = [i for i, line in enumerate(found) if line is not None and len(toks_of[i]) >= ANCHOR_WORDS]
    if len(anchors) < 2:
        return ("\n".join(lines) if repaired else text), 0
    weight: Counter = Counter()  # anchor words under each element (a path prefix)
    total = 0
    for i in anchors:
        n, path = len(toks_of[i]), blocks[i].path
        total += n
        for k in range(len(path) + 1):
            weight[path[:k]] += n
    container = max((p for p, w in weight.items() if w >= CONTAINER_SHARE * total), key=len)
    depth = len(container)
    inside = [i for i in anchors if blocks[i].path[:depth] == container]

    inserts: dict[int, list[str]] = {}  # output line -> blocks to add after it
    added = 0
    line = found[inside[0]]
    for i in range(inside[0], inside[-1] + 1):
        b = blocks[i]
        if found[i] is not None:
            if len(toks_of[i]) >= ANCHOR_WORDS:
                line = max(line, found[i])
            continue
        if (not toks_of[i] or b.kind == "cell" or b.path[:depth] != container or b.furniture > depth
                or is_boilerplate(b.text) or b.link_chars > 0.5 * len(b.text)):
            continue
        inserts.setdefault(line, []).append(b.text)
        added += 1
    # a line glued from several blocks of the page (Dragnet's blockifier runs on across elements
    # when markup is broken): cut it back into those blocks, without the ones that are furniture
    recut: dict[int, list[str]] = {}
    first_of: dict[int, int] = {}  # output line -> the first block found in it
    for i, j in enumerate(found):
        if j is not None and len(toks_of[i]) >= 4:
            first_of.setdefault(j, i)
    for j, i0 in first_of.items():
        run, joined, k = [], "", i0  # consecutive blocks of the page from i0 that spell the line
        while k < len(blocks) and len(joined) < len(parts[j]):
            if toks_of[k]:
                joined = f"{joined} {' '.join(toks_of[k])}".strip()
                run.append(k)
                if not parts[j].startswith(joined):
                    break
            k += 1
        if joined != parts[j] or len(run) < 2:
            continue
        furniture = [(blocks[i].furniture > depth if blocks[i].path[:depth] == container else blocks[i].furniture >= 0)
                     for i in run]
        if any(furniture):
            recut[j] = [blocks[i].text for i, f in zip(run, furniture) if not f]
    if not added and not repaired and not recut:
        return text, 0
    out = []
    for j, kept in enumerate(lines):
        out.extend(recut.get(j, (kept,)))
        out.extend(inserts.get(j, ()))
    return "\n".join(out), added
