import json
import subprocess
import sys

import pytest

from webtext.cli import main
from webtext.report import StageReport


def test_report_invariant_and_roundtrip(tmp_path):
    r = StageReport("demo")
    r.keep(3)
    for i in range(8):
        r.drop("too_short", example=f"u{i}")
    r.drop("wikipedia", example="w")
    r.check()
    assert r.read == 12 and r.samples["too_short"] == ["u0", "u1", "u2", "u3", "u4"]
    r.write(tmp_path / "report.json")
    back = StageReport.from_dict(json.loads((tmp_path / "report.json").read_text()))
    assert back.to_dict() == r.to_dict()
    r.read += 1
    with pytest.raises(AssertionError):
        r.check()


def test_report_with_a_lone_surrogate_writes_and_reads_back(tmp_path):
    """A drop example from bytes that were not UTF-8 (a surrogate-escaped URL) must not crash the
    report write; it reads back as the same string."""
    r = StageReport("demo")
    r.drop("http_404", example="http://example.com/\udc80x")
    r.write(tmp_path / "report.json")
    raw = (tmp_path / "report.json").read_bytes()
    raw.decode("utf-8")  # valid UTF-8 on disk
    assert StageReport.from_dict(json.loads(raw)).samples["http_404"] == ["http://example.com/\udc80x"]


def test_report_merge():
    a, b = StageReport("s"), StageReport("s")
    a.keep(2)
    b.drop("x", example=1)
    a.merge(b)
    a.check()
    assert a.read == 3 and a.dropped["x"] == 1


def test_cli_help_and_version(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "webtext" in out
    proc = subprocess.run([sys.executable, "-m", "webtext.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("webtext ")
