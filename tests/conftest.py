"""Shared fixtures: where the read-only shared data lives, and quiet progress output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WEBTEXT_SHARED", REPO.parent / "shared"))

os.environ.setdefault("WEBTEXT_QUIET", "1")
# Libraries that would reach out to a hub must never do so in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The read-only ../shared folder (see its README)."""
    if not SHARED.is_dir():
        pytest.fail(f"shared data not found at {SHARED}; set WEBTEXT_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
