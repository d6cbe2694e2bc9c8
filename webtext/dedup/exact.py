"""Exact-duplicate keys: the same page reached twice, and the same text published twice.

- `url_key(doc)`: the normalised final URL (`webtext.urls.normalize_url` of `final_url`, falling back
  to `url` when the fetch log had no final URL). Two links that redirected to one page share it.
- `text_key(doc)`: SHA-1 (hex) of the normalised text (`minhash.normalize_text`: case-folded `\\w+`
  words joined by single spaces), so copies differing only in whitespace, case or punctuation share
  it. The near-duplicate step would catch them too; hashing first keeps them out of the LSH buckets.

Both are plain functions of one row, so the Beam pipeline keys a PCollection by them and keeps the
survivor (`clusters.survivor_key`) per key, exactly as `dedup_documents` does in memory.
"""

from __future__ import annotations

import hashlib

from webtext.dedup.minhash import normalize_text
from webtext.urls import normalize_url


def url_key(doc: dict) -> str:
    """The normalised final URL of a document (its submitted URL if it has no final URL)."""
    url = doc.get("final_url") or doc.get("url") or ""
    try:
        return normalize_url(url)
    except ValueError:
        return url.strip()  # not an http(s) URL: compare it as written rather than fail


def text_key(doc: dict) -> str:
    """SHA-1 hex digest of the normalised text of a document."""
    return hashlib.sha1(normalize_text(doc.get("text") or "").encode("utf-8")).hexdigest()
