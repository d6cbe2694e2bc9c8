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


@pytest.fixture(scope="session")
def run_in_pty():
    """run(args, cwd, **env) -> (exit status, all it wrote): a command under a pseudo-terminal, as in a
    user's terminal (so progress is drawn live: WEBTEXT_PROGRESS=live, TERM=xterm, 120 columns)."""
    import pty
    import subprocess

    def run(args: list[str], cwd, timeout: float = 300, **extra_env) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("WEBTEXT_QUIET", "WEBTEXT_PROGRESS")}
        env.update(TERM="xterm", COLUMNS="120", WEBTEXT_PROGRESS="live", **extra_env)
        master, slave = pty.openpty()
        proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal's other end closed: the command has exited
                break
            if not data:
                break
            chunks.append(data)
        rc = proc.wait(timeout=timeout)
        os.close(master)
        return rc, b"".join(chunks).decode("utf-8", "replace")

    return run
