"""`webtext publish` against a Hub-shaped server on 127.0.0.1 (tests/publish/hub_server.py).

The real Hub cannot be reached here, so the server implements the HTTP endpoints huggingface_hub
calls for create_repo / create_branch / upload_folder; uploads take the library's LFS path
(HF_HUB_DISABLE_XET=1: Xet storage needs the Hub's CAS service). The command runs as a user runs it,
in a subprocess, and the test then loads what the server stored with `datasets.load_dataset`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from webtext.card import write_card
from webtext.report import StageReport
from webtext.shards import write_manifest, write_shards

from .hub_server import TOKEN, HubServer

REPO = Path(__file__).resolve().parents[2]


def _build(out: Path, docs: list[dict], target: int) -> dict:
    infos = write_shards(docs, out / "shards", target_bytes=target)
    for info in infos:
        info["file"] = f"shards/{info['file']}"
    report = StageReport("shards")
    report.keep(len(docs))
    manifest = write_manifest(out, config={}, reports=[report], shards=infos)
    write_card(out, manifest)
    return manifest


@pytest.fixture
def build(tmp_path, shared):
    import zlib

    g = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    docs = [{"url": f"http://s{i % 4}.example/{i}", "final_url": None, "domain": f"s{i % 4}.example", "title": "t",
             "text": g[k]["articleBody"], "extractor": "combined", "text_sha1": None, "n_chars": 1, "n_words": 1,
             "subreddits": ["science"], "reddit_ids": [format(zlib.crc32(k.encode()), "x")],
             "first_created_utc": 1_400_000_000 + i, "score": 3, "score_sum": 3, "n_submissions": 1}
            for i, k in enumerate(sorted(g)[:10])]
    out = tmp_path / "out"
    manifest = _build(out, docs, target=15_000)
    (out / "stages" / "dedup").mkdir(parents=True)
    (out / "stages" / "dedup" / "part-0.parquet").write_bytes(b"not for upload")
    (out / "tokens").mkdir()
    (out / "tokens" / "train.bin").write_bytes(b"\0\0")
    return out, docs, manifest


def _publish(out: Path, url: str, *extra: str, token: str = TOKEN):
    env = {**os.environ, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(out.parent / "hf_home")}
    env.pop("HF_HUB_OFFLINE", None)  # the one command that talks to a hub (huggingface_hub reads both)
    env.pop("TRANSFORMERS_OFFLINE", None)
    return subprocess.run([sys.executable, "-m", "webtext.cli", "publish", "--out", str(out), "--repo", "org/webtext-test",
                           "--endpoint", url, "--token", token, *extra], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def test_publish_uploads_the_dataset_and_nothing_else(build, tmp_path):
    import datasets

    out, docs, manifest = build
    with HubServer(tmp_path / "hub") as hub:
        proc = _publish(out, hub.url)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert hub.unknown == []
        stored = hub.files("dataset", "org/webtext-test")
        shard_files = [s["file"] for s in manifest["shards"]]
        assert len(shard_files) >= 2
        plots = [f"card/{p.name}" for p in (out / "card").glob("*.png")]
        assert {"card/domains.png", "card/drops.png", "card/lengths.png"} <= set(plots)
        assert sorted(stored) == sorted(["README.md", "manifest.json", *plots, *shard_files])
        for name, data in stored.items():
            assert data == (out / name).read_bytes(), name
        assert len(hub.commits) == 1 and "10 documents" in hub.commits[0]["summary"]
        assert hub.validated and hub.validated[0]["configs"][0]["data_files"][0]["path"] == "shards/webtext-*.parquet"

        # the repository, as stored, is a dataset datasets can load (offline, from the folder)
        ds = datasets.load_dataset(str(hub.repo_dir("dataset", "org/webtext-test")), cache_dir=str(tmp_path / f"hf-cache-{len(hub.commits)}"))
        assert ds["train"].num_rows == len(docs)

        # a rebuild with another shard count: the stale shards go in the same commit
        new_manifest = _build(out, docs, target=10**9)
        assert len(new_manifest["shards"]) == 1
        proc = _publish(out, hub.url, "--message", "rebuild")
        assert proc.returncode == 0, proc.stderr[-3000:]
        stored = hub.files("dataset", "org/webtext-test")
        assert sorted(n for n in stored if n.startswith("shards/")) == [new_manifest["shards"][0]["file"]]
        assert datasets.load_dataset(str(hub.repo_dir("dataset", "org/webtext-test")), cache_dir=str(tmp_path / f"hf-cache-{len(hub.commits)}"))["train"].num_rows == len(docs)

        # a branch
        proc = _publish(out, hub.url, "--revision", "v1")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "README.md" in hub.files("dataset", "org/webtext-test", "v1")
        assert hub.unknown == []


def test_publish_errors_are_one_line(build, tmp_path):
    out, _, manifest = build
    with HubServer(tmp_path / "hub") as hub:
        proc = _publish(out, hub.url, token="hf_wrong")
        assert proc.returncode == 2 and "401" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    # a damaged shard is refused before anything is sent
    shard = out / manifest["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-10])
    with HubServer(tmp_path / "hub2") as hub:
        proc = _publish(out, hub.url)
        assert proc.returncode == 2 and "sha256" in proc.stderr and str(shard) in proc.stderr
        assert hub.commits == [] and not (tmp_path / "hub2" / "datasets").exists()
    proc = _publish(out, "http://127.0.0.1:9")  # nothing listens there
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
