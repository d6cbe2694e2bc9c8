"""Fixtures for the Reddit stage's tests: the real dumps and the Reddit-shaped test server."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("webtext_tests_fake_reddit", Path(__file__).with_name("fake_reddit.py"))
fake_reddit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_reddit)


@pytest.fixture(scope="session")
def reddit_dumps(shared) -> Path:
    return shared / "data" / "reddit"


@pytest.fixture
def FakeReddit():
    return fake_reddit.FakeReddit
