"""Progress on stderr for long work: a live display on a terminal, a line every few seconds elsewhere.

    with Progress("tokenize", unit="documents", total=n) as p:
        p.update(k)

- **On a terminal** (stderr is a TTY): a live `rich` progress bar per stage with done/total, rate and
  ETA (rate and elapsed time when the total is unknown). `rich` is a maintained library already in
  the environment (transformers and Beam pull it in); the display redraws at most 10 times a second
  from our own updates, so a stage calling `update` a million times a second pays a clock read per call.
- **In logs and CI** (not a TTY, or `WEBTEXT_PROGRESS=lines`): one line per interval (5 s) and a
  final line, e.g. `[tokenize] 1,200/9,000 documents, 410/s, ETA 19 s, 2.9 s`.
- **Several stages** (`StageBoard`, what `webtext build` shows): one line per stage, waiting,
  running or done, with the same figures; the counts come from whoever runs the stages.

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
        # "off": a Beam worker under `webtext build`'s live display, which shows the stage's counts itself
        self.quiet = verbosity() == QUIET or os.environ.get("WEBTEXT_PROGRESS") == "off"
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


# ----------------------------------------------------------------------------------- several stages


def _rate(per_s: float) -> str:
    return f"{per_s:,.1f}/s" if per_s < 10 else f"{per_s:,.0f}/s"


class StageBoard:
    """Progress of a run of several stages, one line each: state (waiting, running, done, or reused
    from an earlier run), done/total elements, rate, ETA of the running stage, elapsed time.

        board = StageBoard("build", [("harvest", "submissions"), ("fetch", "links"), ...])
        with board:
            board.start("fetch", total=13); board.update("fetch", 5); board.finish("fetch", 13)

    Whoever runs the stages feeds it counts (`webtext build`: pipelines/progress.py, from files the
    Beam workers write); the board only shows them, from any thread:
    - on a terminal, a live table redrawn 4 times a second (rich `Live`); lines printed to stderr
      meanwhile go above it, and it stays on screen at the end with every stage's final figures;
    - in logs and CI, a line for the running stage every `every` seconds (`tick`) and one when a
      stage ends, e.g. `[build] fetch: running 5/13 links (38%), 0.9/s, ETA 9 s, 5.5 s`.
    `clock` and `console` are there for tests (a fake clock; a recording rich Console)."""

    def __init__(self, title: str, stages: list[tuple[str, str]], every: float = 5.0, live: bool | None = None,
                 console=None, clock=time.monotonic):
        import threading

        self.title, self.every, self.clock = title, every, clock
        self.quiet = verbosity() == QUIET
        self.live = (live_display() if live is None else live) and not self.quiet
        self.stages = {name: {"unit": unit, "state": "waiting", "done": 0, "total": None, "start": None, "seconds": None}
                       for name, unit in stages}
        self._lock = threading.Lock()
        self._started = clock()
        self._last_line = self._started
        self._console = console
        self._live = None

    # -- what the runner tells it

    def start(self, name: str, total: int | None = None) -> None:
        with self._lock:
            self.stages[name].update(state="running", done=0, total=total, start=self.clock())
            self._last_line = self.clock()

    def update(self, name: str, done: int) -> None:
        with self._lock:
            if self.stages[name]["state"] == "running":
                self.stages[name]["done"] = done

    def finish(self, name: str, done: int, total: int | None = None, seconds: float | None = None,
               reused: bool = False) -> None:
        with self._lock:
            s = self.stages[name]
            if seconds is None:
                seconds = self.clock() - s["start"] if s["start"] is not None else 0.0
            s.update(state="reused" if reused else "done", done=done, seconds=seconds,
                     total=total if total is not None else (s["total"] if s["total"] is not None else done))
        if not self.live and not self.quiet:
            self._print(self.line(name))

    # -- what it shows

    def figures(self, name: str) -> dict:
        """done, total, percent, rate (per second: the stage's average since it started), eta (seconds,
        running stages only: what is left at that rate), elapsed."""
        with self._lock:
            s = dict(self.stages[name])
        if s["state"] == "running":
            elapsed = max(self.clock() - s["start"], 1e-9)
        else:
            elapsed = s["seconds"] or 0.0
        rate = s["done"] / elapsed if elapsed > 0 else 0.0
        eta = None
        if s["state"] == "running" and s["total"] and rate > 0 and s["done"] < s["total"]:
            eta = (s["total"] - s["done"]) / rate
        pct = 100.0 * s["done"] / s["total"] if s["total"] else None
        return {"state": s["state"], "unit": s["unit"], "done": s["done"], "total": s["total"], "percent": pct,
                "rate": rate, "eta": eta, "elapsed": elapsed if s["state"] != "waiting" else None}

    def line(self, name: str) -> str:
        """The line form: `[build] dedup: done 11/11 documents, 2.1/s, 5.3 s`."""
        f = self.figures(name)
        if f["state"] == "waiting":
            return f"[{self.title}] {name}: waiting"
        total = f"/{f['total']:,}" if f["total"] is not None else ""
        pct = f" ({f['percent']:.0f}%)" if f["state"] == "running" and f["percent"] is not None else ""
        eta = f", ETA {_duration(f['eta'])}" if f["eta"] is not None else ""
        state = "done (reused)" if f["state"] == "reused" else f["state"]
        return (f"[{self.title}] {name}: {state} {f['done']:,}{total} {f['unit']}{pct}, "
                f"{_rate(f['rate'])}{eta}, {f['elapsed']:.1f} s")

    def table(self):
        """The terminal form: a rich Table, one row per stage."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        styles = {"waiting": "dim", "running": "bold yellow", "done": "green", "reused": "green"}
        elapsed = self.clock() - self._started
        t = Table(box=None, padding=(0, 1), show_edge=False,
                  title=f"{self.title}: {_duration(elapsed)}", title_justify="left", title_style="bold")
        for col, justify in (("stage", "left"), ("state", "left"), ("", "left"), ("%", "right"), ("done/total", "right"),
                             ("", "left"), ("rate", "right"), ("ETA", "right"), ("elapsed", "right")):
            t.add_column(col, justify=justify, no_wrap=True)
        for name in self.stages:
            f = self.figures(name)
            state = "done (reused)" if f["state"] == "reused" else f["state"]
            if f["state"] == "waiting":
                t.add_row(Text(name, style="dim"), Text(state, style="dim"), "", "", "", "", "", "", "")
                continue
            total = f"{f['total']:,}" if f["total"] is not None else "?"
            bar = ProgressBar(total=f["total"], completed=min(f["done"], f["total"]), width=24) if f["total"] else ""
            pct = f"{f['percent']:.0f}%" if f["percent"] is not None else ""
            t.add_row(Text(name, style="bold"), Text(state, style=styles[f["state"]]), bar, pct,
                      f"{f['done']:,}/{total}", f["unit"], _rate(f["rate"]),
                      _duration(f["eta"]) if f["eta"] is not None else ("-" if f["state"] == "running" else ""),
                      _duration(f["elapsed"]))
        return t

    # -- display

    def tick(self) -> None:
        """In the line form, a line for the running stage(s) once `every` seconds have passed."""
        if self.live or self.quiet:
            return
        now = self.clock()
        if now - self._last_line < self.every:
            return
        self._last_line = now
        for name, s in list(self.stages.items()):
            if s["state"] == "running":
                self._print(self.line(name))

    def _print(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def __enter__(self) -> "StageBoard":
        if self.live:
            from rich.console import Console
            from rich.live import Live

            console = self._console or Console(stderr=True)
            self._live = Live(get_renderable=self.table, console=console, refresh_per_second=4,
                              redirect_stdout=False, redirect_stderr=True)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
