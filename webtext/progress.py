"""Progress on stderr for long work: a live display on a terminal, a line every few seconds elsewhere.

    with Progress("tokenize", unit="documents", total=n) as p:
        p.update(k)

- **On a terminal** (stderr is a TTY): a live `rich` progress bar per stage with done/total, rate and
  ETA (rate and elapsed time when the total is unknown). `rich` is a maintained library already in
  the environment (transformers and Beam pull it in); the display redraws at most 10 times a second
  from our own updates, so a stage calling `update` a million times a second pays a clock read per call.
- **In logs and CI** (not a TTY, or `WEBTEXT_PROGRESS=lines`): one line per interval (5 s) and a
  final line, e.g. `[tokenize] 1,200/9,000 documents, 410/s, ETA 19 s, 2.9 s`.

Verbosity is process-wide and inherited by subprocesses (Scrapy crawls, Beam workers) through the
environment: `WEBTEXT_QUIET=1` silences progress and `log` lines (tests set it; `--quiet` on any
command sets it), `WEBTEXT_VERBOSE=1` (`--verbose`) also shows `debug` lines and the INFO logs of
the libraries underneath (Beam, Scrapy). `set_verbosity` is what the CLI calls.
"""

from __future__ import annotations

import logging
import os
import sys
import time

QUIET, NORMAL, VERBOSE = -1, 0, 1
_REDRAW_S = 0.1  # live display: push counts to rich at most this often


def set_verbosity(level: int) -> None:
    """QUIET, NORMAL or VERBOSE for this process and the processes it starts."""
    os.environ.pop("WEBTEXT_QUIET", None)
    os.environ.pop("WEBTEXT_VERBOSE", None)
    if level <= QUIET:
        os.environ["WEBTEXT_QUIET"] = "1"
    elif level >= VERBOSE:
        os.environ["WEBTEXT_VERBOSE"] = "1"
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def verbosity() -> int:
    if os.environ.get("WEBTEXT_QUIET") == "1":
        return QUIET
    return VERBOSE if os.environ.get("WEBTEXT_VERBOSE") == "1" else NORMAL


def live_display() -> bool:
    """Whether progress is drawn live (a terminal) rather than written as lines."""
    mode = os.environ.get("WEBTEXT_PROGRESS", "auto")
    if mode in ("lines", "live"):
        return mode == "live"
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


class Progress:
    def __init__(self, name: str, unit: str = "items", total: int | None = None, every: float = 5.0):
        self.name, self.unit, self.total, self.every = name, unit, total, every
        self.count = 0
        self.quiet = verbosity() == QUIET
        self._start = self._last = time.monotonic()
        self._live = None
        if not self.quiet and live_display():
            self._live = _LiveBar(name, unit, total)

    def update(self, n: int = 1, **extra) -> None:
        self.count += n
        now = time.monotonic()
        if self._live is not None:
            if now - self._last >= _REDRAW_S:
                self._last = now
                self._live.show(self.count, extra)
        elif now - self._last >= self.every:
            self._last = now
            self._emit(now, extra)

    def line(self, now: float, extra: dict, final: bool = False) -> str:
        """The line form: done[/total] unit, rate, ETA (with a total), elapsed, extras."""
        elapsed = max(now - self._start, 1e-9)
        rate = self.count / elapsed
        total = f"/{self.total:,}" if self.total else ""
        eta = ""
        if self.total and not final and rate > 0 and self.count < self.total:
            eta = f", ETA {_duration((self.total - self.count) / rate)}"
        tail = "".join(f", {k}={v}" for k, v in extra.items())
        done = " done" if final else ""
        return f"[{self.name}]{done} {self.count:,}{total} {self.unit}, {rate:,.0f}/s{eta}, {elapsed:.1f} s{tail}"

    def _emit(self, now: float, extra: dict, final: bool = False) -> None:
        if self.quiet:
            return
        print(self.line(now, extra, final), file=sys.stderr, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.close(self.count)
            self._live = None
        self._emit(time.monotonic(), {}, final=True)


class _LiveBar:
    """One rich progress bar on stderr: stage, bar, done/total unit, rate, elapsed, ETA."""

    def __init__(self, name: str, unit: str, total: int | None):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TaskProgressColumn,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)

        columns = [TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[extra]}")]
        self._start = time.monotonic()
        self._bar = RichProgress(*columns, console=Console(stderr=True), transient=True, refresh_per_second=10)
        self._task = self._bar.add_task(name, total=total, rate="", extra="")
        self._bar.start()

    def show(self, count: int, extra: dict) -> None:
        rate = count / max(time.monotonic() - self._start, 1e-9)
        tail = " ".join(f"{k}={v}" for k, v in extra.items())
        self._bar.update(self._task, completed=count, rate=f"{rate:,.0f}/s", extra=tail)

    def close(self, count: int) -> None:
        self._bar.update(self._task, completed=count)
        self._bar.stop()


def log(stage: str, message: str) -> None:
    """One progress line on stderr, prefixed with the stage name."""
    if verbosity() != QUIET:
        print(f"[{stage}] {message}", file=sys.stderr, flush=True)


def debug(stage: str, message: str) -> None:
    """A line shown only with --verbose."""
    if verbosity() == VERBOSE:
        print(f"[{stage}] {message}", file=sys.stderr, flush=True)
