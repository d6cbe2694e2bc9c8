"""`webtext build`'s progress: the board's two forms (a fake terminal, a fake clock) and the
workers' count files. The real build's progress lines are checked in test_build_e2e.py."""

from __future__ import annotations

import pickle
import re

import pytest

STAGES = [("harvest", "submissions"), ("fetch", "links"), ("extract", "pages")]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def loud(monkeypatch):
    monkeypatch.delenv("WEBTEXT_QUIET", raising=False)
    monkeypatch.delenv("WEBTEXT_PROGRESS", raising=False)


def _board(clock, **kw):
    from webtext.progress import StageBoard

    return StageBoard("build", STAGES, clock=clock, **kw)


def test_live_table_on_a_fake_terminal(loud):
    """One row per stage: state, done/total, percent, rate, ETA (running stage only), elapsed."""
    from rich.console import Console

    clock = Clock()
    console = Console(force_terminal=True, record=True, width=120, color_system="standard")
    board = _board(clock, live=True, console=console)
    with board:
        board.start("harvest")  # total unknown until the harvest ends
        clock.t = 10.0
        board.update("harvest", 400)
        board.finish("harvest", 500, total=500)  # 10 s
        board.start("fetch", total=1000)
        clock.t = 30.0
        board.update("fetch", 250)  # 20 s in: 12.5/s, 750 left -> ETA 60 s
        console.print(board.table())
    text = console.export_text(styles=False, clear=False)
    frame = text[text.rindex("build: 30 s"):]  # the table printed mid-fetch (the live frames come before it)
    rows = {line.split()[0]: line for line in frame.splitlines()[2:] if line.strip()}
    assert re.search(r"harvest\s+done\s.*100%\s+500/500\s+submissions\s+50/s\s+10 s", rows["harvest"]), rows["harvest"]
    assert re.search(r"fetch\s+running\s.*25%\s+250/1,000\s+links\s+12/s\s+1 min 00 s\s+20 s", rows["fetch"]), rows["fetch"]
    assert re.search(r"^\s*extract\s+waiting\s*$", rows["extract"]), rows["extract"]
    assert "ETA" in frame.splitlines()[1] and "done/total" in frame.splitlines()[1]
    assert "\x1b[" in console.export_text(styles=True)  # drawn with terminal styles


def test_line_form_a_line_per_interval_and_one_per_stage_end(loud, capsys):
    clock = Clock()
    board = _board(clock, live=False, every=5.0)
    with board:
        board.finish("harvest", 20, total=20, seconds=4.0, reused=True)
        board.start("fetch", total=13)
        clock.t = 3.0
        board.update("fetch", 2)
        board.tick()  # under 5 s: no line
        clock.t = 6.0
        board.update("fetch", 6)
        board.tick()  # a line: 6/13 at 1/s -> ETA 7 s
        clock.t = 13.0
        board.finish("fetch", 13)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "[build] harvest: done (reused) 20/20 submissions, 5.0/s, 4.0 s",
        "[build] fetch: running 6/13 links (46%), 1.0/s, ETA 7 s, 6.0 s",
        "[build] fetch: done 13/13 links, 1.0/s, 13.0 s",
    ]


def test_quiet_board_prints_nothing(monkeypatch, capsys):
    monkeypatch.setenv("WEBTEXT_QUIET", "1")
    clock = Clock()
    with _board(clock, live=True) as board:
        board.start("harvest")
        board.finish("harvest", 3)
        board.tick()
    assert board._live is None and capsys.readouterr().err == ""


def test_worker_tallies_sum_per_measure_and_survive_pickling(tmp_path):
    """Each unpickled copy (a worker's DoFn) writes its own file; the launcher sums them."""
    from pipelines.progress import DONE, READ, Tally, done_count, progress_dir, read_counts

    sdir = str(tmp_path / "stages" / "fetch")
    template = Tally(sdir, DONE)
    a, b = pickle.loads(pickle.dumps(template)), pickle.loads(pickle.dumps(template))
    r = pickle.loads(pickle.dumps(Tally(sdir, READ)))
    assert read_counts(sdir) == {}  # no folder yet
    a.add(3)
    b.add(4)
    b.add()
    r.add(10)
    for t in (a, b, r):
        t.flush()
    assert read_counts(sdir) == {DONE: 8, READ: 10}
    assert done_count(read_counts(sdir)) == 10  # the larger measure
    a.add(5)
    a.flush()
    assert read_counts(sdir)[DONE] == 13  # a file holds its writer's running total, replaced whole
    names = sorted(p.name for p in (tmp_path / "stages" / "fetch" / "progress").iterdir())
    assert len(names) == 3 and all(n.endswith(".json") for n in names)
    assert progress_dir(sdir).endswith("progress")


def test_watch_polls_the_running_stage_and_removes_its_folder(tmp_path, loud, capsys):
    from pipelines.progress import BuildWatch, Tally

    out = str(tmp_path)
    clock = Clock()
    board = _board(clock, live=False, every=0.0)
    watch = BuildWatch(out, ["harvest", "fetch", "extract"], board=board)
    watch.poll_s = 0.05
    with watch:
        watch.reused("harvest", 20, 4.0)
        watch.start("fetch", 13)
        t = Tally(str(tmp_path / "stages" / "fetch"))
        t.add(5)
        t.flush()
        import time

        deadline = time.monotonic() + 10
        while board.stages["fetch"]["done"] != 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert board.stages["fetch"]["done"] == 5
        t.add(8)
        t.flush()
        assert watch.finish("fetch", 13) == 13
    assert not (tmp_path / "stages" / "fetch" / "progress").exists()
    err = capsys.readouterr().err
    assert "[build] fetch: running 5/13 links" in err and "[build] fetch: done 13/13 links" in err
