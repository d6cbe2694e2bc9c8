"""`webtext build --until 2017-12 --source wayback --archive-endpoint http://127.0.0.1:PORT/COLL` on the
embedded sample gives the same documents as the replayed sample build.

The pywb collection is made here from the sample's own pages (webtext/sample/sample.warc.gz), each
response re-dated to a capture near its link's submission (two days before, or six hours after),
so the whole build - harvest, the archive fetch through pywb's CDX and `id_` playback, extract,
clean, dedup, shards, card - runs against a real Wayback-style archive on loopback.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

sys.path.insert(0, str(Path(__file__).parent))
from archives import Pywb, requires_pywb  # noqa: E402

from webtext.config import SAMPLE_DIR, SAMPLE_WARC  # noqa: E402
from webtext.urls import normalize_url  # noqa: E402

pytestmark = [requires_pywb, pytest.mark.slow]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sample_as_captured(path: Path) -> Path:
    """The sample's responses, each dated near its link's first submission (cases.json)."""
    from warcio.warcwriter import WARCWriter

    cases = json.loads((SAMPLE_DIR / "cases.json").read_text(encoding="utf-8"))["submissions"]
    created: dict[str, int] = {}
    for c in cases:
        url = normalize_url(c["url"]) if c["url"].startswith("http") else c["url"]
        created[url] = min(created.get(url, c["created_utc"]), c["created_utc"])
    with open(SAMPLE_WARC, "rb") as src, open(path, "wb") as out:
        w = WARCWriter(out, gzip=True)
        for i, rec in enumerate(r for r in ArchiveIterator(src) if r.rec_type == "response"):
            url = rec.rec_headers.get_header("WARC-Target-URI")
            t = created.get(url, 1496275200) + (-2 * 86400 if i % 2 else 6 * 3600)
            body = rec.raw_stream.read()
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                http_headers=rec.http_headers, warc_headers_dict={"WARC-Date": _iso(t)}))
    return path


def build(cwd: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WEBTEXT_QUIET": "1"}
    proc = subprocess.run([sys.executable, "-m", "webtext.cli", "build", "--until", "2017-12", "--workers", "2",
                           "--out", out, *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def docs(out: Path) -> list[dict]:
    from webtext.shards import read_shards

    return sorted(read_shards(out).to_pylist(), key=lambda d: d["url"])


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive-build")
    pywb = Pywb(root / "pywb")
    pywb.add_collection("sample", [sample_as_captured(root / "sample-captures.warc.gz")])
    with pywb:
        build(root, "wayback", "--source", "wayback", "--archive-endpoint", pywb.url("sample"),
              "--fetch-option", "allow_loopback=true", "--fetch-option", "archive_rate=100")
    build(root, "replayed")
    return root


def test_same_documents_as_the_replayed_sample_build(builds):
    archived, replayed = docs(builds / "wayback"), docs(builds / "replayed")
    assert len(archived) == 9
    key = ("url", "final_url", "title", "text", "text_sha1", "reddit_ids", "first_created_utc")
    assert [{k: d[k] for k in key} for d in archived] == [{k: d[k] for k in key} for d in replayed]


def test_documents_carry_source_and_capture_time(builds):
    for d in docs(builds / "wayback"):
        assert d["source"] == "wayback"
        # every capture was made two days before or six hours after the first submission
        age = (d["capture_time"] - d["first_created_utc"]).total_seconds()
        assert -2 * 86400 - 1 <= age <= 6 * 3600 + 1, d["url"]
    assert {d["source"] for d in docs(builds / "replayed")} == {"replay"}


def test_manifest_and_card_account_for_the_archive(builds):
    manifest = json.loads((builds / "wayback" / "manifest.json").read_text())
    fetch = manifest["drop_reasons"]["fetch"]
    assert fetch.get("archive_miss") == 1 and fetch.get("http_404") == 1  # never captured; archived 404
    assert manifest["config"]["fetch_source"] == "wayback"
    card = (builds / "wayback" / "README.md").read_text()  # the dataset card
    assert "| wayback | 9 | 100.0% |" in card
    assert (builds / "wayback" / "card" / "capture_age.png").stat().st_size > 1000
