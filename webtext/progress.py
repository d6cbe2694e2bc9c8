"""Progress lines on stderr for long work, at most one every few seconds.

A tiny dependency-free ticker: `with Progress("harvest", unit="records") as p: p.update(n)`.
Lines look like `[harvest] 1,200,000 records, 410,221/s, 2.9 s` and a final line when the block ends.
Silenced with WEBTEXT_QUIET=1 (tests set it when they capture output).
"""

from __future__ import annotations

import os
import sys
import time


class Progress:
    def __init__(self, name: str, unit: str = "items", total: int | None = None, every: float = 5.0):
        self.name, self.unit, self.total, self.every = name, unit, total, every
        self.count = 0
        self.quiet = os.environ.get("WEBTEXT_QUIET") == "1"
        self._start = self._last = time.monotonic()

    def update(self, n: int = 1, **extra) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._emit(now, extra)

    def _emit(self, now: float, extra: dict, final: bool = False) -> None:
        if self.quiet:
            return
        elapsed = max(now - self._start, 1e-9)
        total = f"/{self.total:,}" if self.total else ""
        tail = "".join(f", {k}={v}" for k, v in extra.items())
        done = " done" if final else ""
        print(
            f"[{self.name}]{done} {self.count:,}{total} {self.unit}, {self.count / elapsed:,.0f}/s, "
            f"{elapsed:.1f} s{tail}",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self._emit(time.monotonic(), {}, final=True)


def log(stage: str, message: str) -> None:
    """One progress line on stderr, prefixed with the stage name."""
    if os.environ.get("WEBTEXT_QUIET") != "1":
        print(f"[{stage}] {message}", file=sys.stderr, flush=True)
