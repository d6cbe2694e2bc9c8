"""Fixtures for the clean/dedup/shard tests: documents-table rows made from the shared articles."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest


def articles(shared: Path, min_words: int = 150) -> list[tuple[str, str]]:
    """(url, article text) of the shared gold articles with at least `min_words` words, by id."""
    truth = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    out = []
    for page_id in sorted(truth):
        body = truth[page_id]["articleBody"].strip()
        if len(body.split()) >= min_words:
            out.append((truth[page_id]["url"], body))
    return out


def doc(url: str, text, *, final_url: str | None = None, created: int | None = 1_120_000_000, score: int = 5, **extra) -> dict:
    from webtext.urls import domain_of

    row = {
        "url": url,
        "final_url": final_url or url,
        "domain": domain_of(final_url or url),
        "title": "t " + url[-20:],
        "text": text,
        "extractor": "combined",
        "text_sha1": None,
        "n_chars": len(text) if isinstance(text, str) else None,
        "n_words": len(text.split()) if isinstance(text, str) else None,
        "subreddits": ["reddit.com"],
        "reddit_ids": ["t3_" + format(zlib.crc32(url.encode()), "x")],
        "first_created_utc": created,
        "score": score,
        "score_sum": score,
        "n_submissions": 1,
        "source": "live",  # where the page was fetched from, and when (webtext.shards)
        "capture_time": created,
        "language": None,  # set by the clean stage
        "language_score": None,
    }
    row.update(extra)
    return row


@pytest.fixture(scope="session")
def gold(shared) -> list[tuple[str, str]]:
    return articles(shared)


@pytest.fixture
def make_doc():
    return doc
