"""Fixtures for the extract tests: benchmark pages read straight from ../shared (never copied)."""

from __future__ import annotations

import pytest

from webtext.extract.evaluate import load_gold, read_ids


@pytest.fixture(scope="session")
def bench(shared):
    return shared / "data" / "extraction"


@pytest.fixture(scope="session")
def dev_pages(bench):
    """The first 8 dev pages (sorted ids): enough to check behaviour, fast enough for CI."""
    ids = sorted(read_ids(f"{bench / 'split.json'}:dev"))[:8]
    return load_gold(bench / "ground-truth.json", bench / "html", ids)
