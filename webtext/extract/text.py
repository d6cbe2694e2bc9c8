"""Text helpers shared by the extractors, the combination rule and the evaluation.

Kept apart so that `evaluate.py` (which runs the extractors) and `combine.py` (which the
extractors use) both import from here and never from each other.
"""

from __future__ import annotations

import re
from collections import Counter

SHINGLE_N = 4
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
_WHITESPACE = re.compile(r"\s+")


def tokenize(text: str | None) -> list[str]:
    """The `\\w+` tokens of a text (Unicode word characters): the article benchmark's tokens."""
    return _TOKEN_RE.findall(text or "")


def shingles(text: str | None, n: int = SHINGLE_N) -> Counter:
    """The multiset of n-token shingles of `text` (a Counter of token tuples). A text with fewer
    than n tokens has one shorter shingle (all of its tokens); an empty text has none."""
    return shingles_of(tokenize(text), n)


def shingles_of(tokens, n: int = SHINGLE_N) -> Counter:
    tokens = list(tokens)
    if len(tokens) < n:  # one shorter shingle, or none for no tokens
        return Counter([tuple(tokens)]) if tokens else Counter()
    # the n-token windows, in order: zip of the list shifted 0..n-1 places
    return Counter(zip(*(tokens[i:] for i in range(n))))


def squash_whitespace(text: str | None) -> str:
    """Runs of whitespace to one space, stripped: the snippet benchmark's normalisation."""
    return _WHITESPACE.sub(" ", text or "").strip()
