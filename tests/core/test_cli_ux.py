"""The command line as a user meets it (issue 15): help with examples (7), --quiet/--verbose on every
command and the progress display (6), --config with flag precedence (8)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from webtext.cli import _all_parsers, build_parser
from webtext.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, _all_parsers(sub)


def test_every_command_has_a_description_an_example_and_option_help():
    parser, commands = _commands()
    assert len(commands) >= 15
    for cmd in commands:
        text = cmd.format_help()
        assert cmd.description and len(cmd.description) > 30, f"{cmd.prog}: no description"
        assert "webtext " in (cmd.epilog or "") + cmd.description, f"{cmd.prog}: no example"
        for action in cmd._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert action.help, f"{cmd.prog} {action.option_strings}: no help"
        assert "--quiet" in text and "--verbose" in text, cmd.prog
    assert "examples:" in parser.format_help()


@pytest.mark.parametrize("name", ["clean", "dedup", "shard", "sample", "export-hf", "import-hf"])
def test_help_of_the_commands_the_issue_names(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    body = out.split("options:")[0]
    assert len(body.split("\n\n", 1)[1].strip()) > 40  # a description after the usage
    assert "examples:\n  webtext " + name in out


def _run(args, env_extra=None, tty=False):
    env = {**os.environ, **(env_extra or {})}
    env.pop("WEBTEXT_QUIET", None)
    return subprocess.run([sys.executable, "-m", "webtext.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def small_shards(tmp_path_factory, shared):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("shards")
    g = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    texts = [g[k]["articleBody"] for k in sorted(g)[:30]]
    pq.write_table(pa.table({"url": [f"u{i}" for i in range(30)], "text": texts}), folder / "webtext-00000-of-00001.parquet", row_group_size=3)
    return folder


def test_quiet_and_verbose_flags(small_shards, shared, tmp_path):
    args = ["tokenize", "--shards", str(small_shards), "--tokenizer", str(shared / "data/gpt2"), "--workers", "1"]
    normal = _run(args + ["--out", str(tmp_path / "a")], {"WEBTEXT_PROGRESS": "lines"})
    assert normal.returncode == 0, normal.stderr
    # the line form: done/total, rate; the final line says done
    assert "[tokenize] done 30/30 documents" in normal.stderr and "/s" in normal.stderr
    quiet = _run(args + ["--out", str(tmp_path / "b"), "--quiet"])
    assert quiet.returncode == 0 and quiet.stderr == ""
    before = _run(["-q", *args, "--out", str(tmp_path / "c")])  # the flag works before the command too
    assert before.returncode == 0 and before.stderr == ""
    verbose = _run(args + ["--out", str(tmp_path / "d"), "--verbose"], {"WEBTEXT_PROGRESS": "lines"})
    assert verbose.returncode == 0 and "[tokenize]" in verbose.stderr
    both = _run(["--verbose", *args, "--out", str(tmp_path / "e"), "--quiet"])
    assert both.returncode == 2 and "cannot be combined" in both.stderr


def test_progress_lines_carry_total_rate_and_eta(capsys, monkeypatch):
    from webtext import progress

    monkeypatch.setenv("WEBTEXT_PROGRESS", "lines")
    monkeypatch.delenv("WEBTEXT_QUIET", raising=False)
    clock = iter([0.0, 6.0, 12.0, 20.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with progress.Progress("stage", unit="docs", total=1000) as p:
        p.update(300)  # t=6: a line, 50/s, 700 left -> ETA 14 s
        p.update(300)  # t=12
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[stage] 300/1,000 docs, 50/s, ETA 14 s, 6.0 s"
    assert err[1] == "[stage] 600/1,000 docs, 50/s, ETA 8 s, 12.0 s"
    assert err[-1] == "[stage] done 600/1,000 docs, 30/s, 20.0 s"


def test_live_display_on_a_terminal(small_shards, shared, tmp_path, run_in_pty):
    """Under a pseudo-terminal the display is rich's live bar (done/total, rate, ETA), not lines."""
    args = [sys.executable, "-m", "webtext.cli", "tokenize", "--shards", str(small_shards), "--tokenizer",
            str(shared / "data/gpt2"), "--out", str(tmp_path / "t"), "--workers", "1"]
    rc, screen = run_in_pty(args, cwd=REPO)
    assert rc == 0
    assert "\x1b[" in screen  # drawn with terminal control sequences
    assert "tokenize" in screen and "30/30" in screen and "documents" in screen and "ETA" in screen


def test_config_file_and_flag_precedence(tmp_path):
    from webtext.build_cli import config_from_args

    (tmp_path / "dumps").mkdir()
    cfg = tmp_path / "build.toml"
    cfg.write_text(
        'until = "2016-06"\nworkers = 3\ndumps = ["dumps"]\nlive_fetch = true\nmin_karma = 5\n'
        '[dedup_options]\nthreshold = 0.8\nnum_perm = 64\n'
    )
    parse = lambda *a: config_from_args(build_parser().parse_args(["build", *a]))  # noqa: E731
    c = parse("--config", str(cfg), "--workers", "5", "--dedup-option", "threshold=0.7", "--min-karma", "3")
    assert c.until == "2016-06"                               # from the file
    assert c.workers == 5 and c.min_karma == 3                # flags override, even when equal to the default
    assert c.dumps == [str(tmp_path / "dumps")]               # relative to the file
    assert c.live_fetch is True and c.out == "webtext-out"    # file; untouched default
    assert c.dedup_options == {"threshold": 0.7, "num_perm": 64}  # a flag's option adds to the file's table
    c.validate()
    assert parse().until == "2017-12" and parse().workers == 0  # no file: BuildConfig's defaults

    bad = tmp_path / "bad.toml"
    bad.write_text('until = "2016-06"\nwokers = 3\n')
    assert cli_main(["build", "--config", str(bad)]) == 2
    bad.write_text('workers = "three"\n')
    assert cli_main(["build", "--config", str(bad)]) == 2
    bad.write_text('workers = \n')
    assert cli_main(["build", "--config", str(bad)]) == 2
    assert cli_main(["build", "--config", str(tmp_path / "missing.toml")]) == 2


def test_config_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('wokers = 3\n')
    assert cli_main(["build", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "wokers" in err and len(err.strip().splitlines()) == 1
