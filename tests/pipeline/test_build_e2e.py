"""End to end: `webtext build --until 2017-12` on the embedded sample, through the real CLI.

One build (the Beam pipeline with two local worker processes, the real Scrapy replay of the
sample's WARC, Dragnet + Newspaper, the real filters and dedup) is shared by the tests below; they
check the shards, the manifest's accounting of every planted submission (webtext/sample/cases.json),
and that reruns reuse finished stages and give byte-identical shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from webtext.config import SAMPLE_DIR, STAGES
from webtext.urls import is_wikipedia, normalize_url

CAP_UTC = 1514764800  # 2018-01-01T00:00:00Z: nothing created after 2017


def webtext(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WEBTEXT_QUIET": "0"}  # the progress lines are part of what we check
    return subprocess.run(
        [sys.executable, "-m", "webtext.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """`webtext build --until 2017-12` with no other flag, run in an empty folder."""
    cwd = tmp_path_factory.mktemp("build")
    proc = webtext("build", "--until", "2017-12", "--workers", "2", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = cwd / "webtext-out"
    return {"out": out, "cwd": cwd, "proc": proc}


@pytest.fixture(scope="module")
def cases():
    return json.loads((SAMPLE_DIR / "cases.json").read_text(encoding="utf-8"))["submissions"]


@pytest.fixture(scope="module")
def manifest(build):
    return json.loads((build["out"] / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def docs(build):
    from webtext.shards import read_shards

    return read_shards(build["out"]).to_pylist()  # verifies each shard's sha256 and row count


def assert_progress_reached_totals(stderr: str, out: Path) -> None:
    """The build's progress, line form (not a terminal): each stage ends on `done N/N`, N the
    stage's `read` - counted live by the workers (pipelines/progress.py), not copied from the
    report - and its progress folder is gone."""
    import re

    for stage in STAGES:
        read = json.loads((out / "stages" / stage / "_SUCCESS.json").read_text())["report"]["read"]
        m = re.search(rf"^\[build\] {stage}: done ([\d,]+)/([\d,]+) \w+, [\d.,]+/s, [\d.]+ s$", stderr, re.M)
        assert m, (stage, stderr[-3000:])
        done, total = (int(g.replace(",", "")) for g in m.groups())
        assert done == total == read, (stage, done, total, read)
        assert not (out / "stages" / stage / "progress").exists(), stage


def test_default_output_layout_and_progress(build):
    out = build["out"]
    assert (out / "manifest.json").is_file() and (out / "README.md").is_file()
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["webtext-00000-of-00001.parquet"]
    for stage in STAGES:
        assert (out / "stages" / stage / "_SUCCESS.json").is_file(), stage
        assert f"{stage}: read" in build["proc"].stderr  # one progress line per stage
    assert_progress_reached_totals(build["proc"].stderr, out)
    assert "wrote 9 documents" in build["proc"].stdout


def test_shards_hold_exactly_the_expected_documents(docs, cases):
    kept = {normalize_url(c["url"]) for c in cases if c["expect"] == "kept"}
    assert sorted(d["url"] for d in docs) == sorted(kept)
    for d in docs:
        assert d["text"] and d["n_words"] >= 100
        assert not is_wikipedia(d["url"]) and not is_wikipedia(d["final_url"])
        assert d["first_created_utc"].timestamp() < CAP_UTC  # a UTC timestamp column
    # the earliest submission of each URL, to the second (a seconds-as-milliseconds slip gives 1970)
    first: dict[str, int] = {}
    for c in cases:
        if c["expect"] in ("kept", "merged"):  # merged: the same URL spelled otherwise
            url = normalize_url(c["url"])
            first[url] = min(first.get(url, c["created_utc"]), int(c["created_utc"]))
    assert {d["url"]: int(d["first_created_utc"].timestamp()) for d in docs} == first


def test_no_duplicates_in_the_shards(docs):
    from webtext.dedup import exact, minhash

    assert len({exact.url_key(d) for d in docs}) == len(docs)
    assert len({exact.text_key(d) for d in docs}) == len(docs)
    sigs = [minhash.signature(d["text"]) for d in docs]
    for i in range(len(docs)):
        for j in range(i + 1, len(docs)):
            assert minhash.jaccard(sigs[i], sigs[j]) < 0.5, (docs[i]["url"], docs[j]["url"])


def test_same_url_with_tracking_params_is_merged(docs, cases):
    by_case = {c["case"]: c for c in cases}
    utm = by_case["same_url_tracking_params"]
    row = next(d for d in docs if d["url"] == normalize_url(utm["url"]))
    assert utm["id"] in row["reddit_ids"] and row["n_submissions"] == 2
    assert row["score"] == max(c["score"] for c in cases if normalize_url(c["url"]) == row["url"])


def _in_samples(samples: list, case: dict) -> bool:
    """A manifest sample names a submission by `id url` (harvest) or by its normalised URL (later stages)."""
    norm = normalize_url(case["url"]) if case["url"].startswith("http") else case["url"]
    for s in samples:
        key = s["key"] if isinstance(s, dict) else s
        if key.split(" ")[0] == case["id"] or key == norm:
            return True
    return False


def test_every_sample_submission_is_accounted_for_in_the_manifest(manifest, cases, docs):
    stages = {s["stage"]: s for s in manifest["stages"]}
    kept_urls = {d["url"] for d in docs}
    expected_drops: dict[tuple[str, str], int] = {}
    for c in cases:
        if c["expect"] in ("kept", "merged"):
            assert normalize_url(c["url"]) in kept_urls, c
            continue
        stage, reason = c["stage"], c["reason"]
        expected_drops[(stage, reason)] = expected_drops.get((stage, reason), 0) + 1
        assert reason in stages[stage]["dropped"], (c["case"], stages[stage]["dropped"])
        assert _in_samples(stages[stage]["samples"][reason], c), (c["case"], stages[stage]["samples"][reason])
    # ... and nothing else was dropped: the counts are exactly the planted cases.
    actual = {(s, r): n for s, reasons in manifest["drop_reasons"].items() for r, n in reasons.items()}
    assert actual == expected_drops
    # The harvest counts submissions: every record of the dump is read once.
    assert stages["harvest"]["read"] == len(cases)
    assert stages["harvest"]["kept"] + sum(stages["harvest"]["dropped"].values()) == len(cases)


def test_manifest_counts_chain_from_stage_to_stage(manifest):
    stages = {s["stage"]: s for s in manifest["stages"]}
    for s in stages.values():
        assert s["read"] == s["kept"] + sum(s["dropped"].values()), s["stage"]
    for prev, nxt in zip(("fetch", "extract", "clean", "dedup"), ("extract", "clean", "dedup", "shards")):
        assert stages[nxt]["read"] == stages[prev]["kept"], (prev, nxt)
    assert manifest["totals"]["documents"] == stages["dedup"]["kept"] == 9
    assert manifest["config"]["pipeline"]["engine"] == "apache_beam"
    assert manifest["config"]["input"] == "sample" and manifest["config"]["until"] == "2017-12"


def test_dedup_keeps_the_earliest_post(manifest):
    dedup = {s["stage"]: s for s in manifest["stages"]}["dedup"]["samples"]
    (near,) = dedup["near_duplicate"]
    assert "example.com" in near["key"] and "slashgear.com" in near["duplicate_of"]
    (dup,) = dedup["duplicate_url"]
    assert dup["key"].startswith("http://detroitnews.com/") and dup["duplicate_of"].startswith("https://www.detroitnews.com/")


def test_rerun_reuses_every_stage_and_gives_identical_shards(build):
    out = build["out"]
    markers = {s: (out / "stages" / s / "_SUCCESS.json").read_bytes() for s in STAGES}
    shard = out / "shards" / "webtext-00000-of-00001.parquet"
    before = sha256(shard)
    proc = webtext("build", "--until", "2017-12", "--workers", "2", cwd=build["cwd"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("finished earlier, reusing") == len(STAGES)
    assert proc.stderr.count(": done (reused) ") == len(STAGES)  # the progress form says so too
    assert {s: (out / "stages" / s / "_SUCCESS.json").read_bytes() for s in STAGES} == markers
    assert sha256(shard) == before


def test_interrupted_build_resumes_at_the_first_unfinished_stage(build, tmp_path):
    """A build killed during dedup (its marker and the shards never written) reruns dedup and the
    shards only, and gives the same shards as the uninterrupted build."""
    import shutil

    out = tmp_path / "webtext-out"
    shutil.copytree(build["out"], out)
    before = sha256(out / "shards" / "webtext-00000-of-00001.parquet")
    (out / "stages" / "dedup" / "_SUCCESS.json").unlink()
    (out / "stages" / "shards" / "_SUCCESS.json").unlink()
    for f in (out / "stages" / "dedup").glob("data-*"):
        f.write_bytes(b"partial garbage")  # what a killed run may leave: must be cleared, not read
    shutil.rmtree(out / "shards")
    (out / "manifest.json").unlink()
    proc = webtext("build", "--until", "2017-12", "--workers", "2", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reused = [s for s in STAGES if f"{s}: finished earlier, reusing" in proc.stderr]
    assert reused == ["harvest", "fetch", "extract", "clean"]
    assert sha256(out / "shards" / "webtext-00000-of-00001.parquet") == before


def test_changed_settings_invalidate_the_stages_they_affect(build, tmp_path):
    """A stricter clean setting reruns clean and everything after it, never the harvest or fetch."""
    import shutil

    out = tmp_path / "webtext-out"
    shutil.copytree(build["out"], out)
    proc = webtext("build", "--until", "2017-12", "--workers", "1", "--out", str(out),
                   "--clean-option", "min_words=600", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reused = [s for s in STAGES if f"{s}: finished earlier, reusing" in proc.stderr]
    assert reused == ["harvest", "fetch", "extract"]
    manifest = json.loads((out / "manifest.json").read_text())
    clean = {s["stage"]: s for s in manifest["stages"]}["clean"]
    assert clean["dropped"].get("too_few_words", 0) >= 1
    assert manifest["config"]["clean_options"] == {"min_words": 600}


def test_build_on_a_two_worker_dask_cluster_gives_the_local_runners_shards(build, manifest, tmp_path):
    """The same build on Beam's Dask runner (a dask.distributed LocalCluster of two worker
    processes, started for the run): same shards byte for byte, same counts - taken from the
    stages' outputs, since the Dask runner has no metrics."""
    proc = webtext("build", "--until", "2017-12", "--workers", "2", "--runner", "DaskRunner", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Dask: local cluster of 2 worker processes" in proc.stderr
    out = tmp_path / "webtext-out"
    shard = "shards/webtext-00000-of-00001.parquet"
    assert sha256(out / shard) == sha256(build["out"] / shard)
    dask_manifest = json.loads((out / "manifest.json").read_text())
    assert dask_manifest["stages"] == manifest["stages"]
    assert_progress_reached_totals(proc.stderr, out)  # the Dask workers' counts reach the launcher too
    assert dask_manifest["config"]["pipeline"]["runner"] == "DaskRunner"
    for stage in ("harvest", "fetch", "extract", "clean", "dedup"):
        checks = json.loads((out / "stages" / stage / "_SUCCESS.json").read_text())["checks"]
        assert checks == {"counts": "outputs", "metrics": "not available on this runner"}, stage
        local = json.loads((build["out"] / "stages" / stage / "_SUCCESS.json").read_text())["checks"]
        assert local["metrics"] == "matched", stage  # the local runner cross-checks with its metrics


def test_ctrl_c_stops_with_one_line_and_exit_130(build, tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during a stage: one line
    saying what finished and how to resume, exit 130, no worker tracebacks; finished stages stay.
    Empty beam-temp folders a killed earlier build left in dead_letter/ are removed, nothing else."""
    import shutil
    import signal
    import time

    out = tmp_path / "webtext-out"
    shutil.copytree(build["out"], out)
    for stage in ("extract", "clean", "dedup", "shards"):
        (out / "stages" / stage / "_SUCCESS.json").unlink()
    leftover = out / "dead_letter" / "beam-temp-clean-5d41402abc4b"
    leftover.mkdir(parents=True)
    (out / "dead_letter" / "my-notes.txt").write_text("not the build's")
    env = {**os.environ, "WEBTEXT_QUIET": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "webtext.cli", "build", "--until", "2017-12", "--workers", "2",
                             "--out", str(out)], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in proc.stderr:
            if "extract: running" in line:
                break
        time.sleep(2)  # the extract pipeline and its worker processes are starting or running
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.stderr.read()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 130, (rc, rest[-3000:])
    lines = [x for x in rest.splitlines() if x.strip() and not x.startswith("[")]
    assert len(lines) == 1 and "Traceback" not in rest, rest[-3000:]
    assert lines[0].startswith("webtext build: interrupted during extract; finished: harvest, fetch")
    assert "rerun the same command to resume" in lines[0]
    assert (out / "stages" / "fetch" / "_SUCCESS.json").is_file()
    assert not (out / "stages" / "extract" / "_SUCCESS.json").exists()
    assert not leftover.exists() and (out / "dead_letter" / "my-notes.txt").read_text() == "not the build's"


def _words(text: str) -> list[str]:
    """The paper's normalisation, written out here independently of webtext.checks: lower-cased
    alphanumeric words."""
    import re

    return re.findall(r"[^\W_]+", text.lower())


def _ngrams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _occurrences(text: str, grams: set | None, n: int = 8) -> int:
    """The n-gram occurrences of `text` that are in `grams` (None: all of them)."""
    words = _words(text)
    return sum(1 for i in range(len(words) - n + 1) if grams is None or tuple(words[i : i + n]) in grams)


def test_decontaminate_drops_exactly_the_planted_documents(build, docs, manifest, tmp_path):
    """`--decontaminate FILE` (here through --config build.toml, its path relative to the file): an
    evaluation file made of a passage of one sample document (other case, punctuation, spacing), the
    whole text of another, and a text found nowhere. The clean stage drops exactly those two as
    `contaminated`, the manifest counts them, nothing else changes; without the flag (the shared
    build) no stage drops anything as `contaminated`."""
    import shutil

    import pyarrow.parquet as pq

    assert all("contaminated" not in s["dropped"] for s in manifest["stages"])
    out = tmp_path / "webtext-out"
    shutil.copytree(build["out"], out)
    cleaned = [r for f in sorted((out / "stages" / "clean").glob("data-*.parquet")) for r in pq.read_table(f).to_pylist()]
    grams = {r["url"]: _ngrams(r["text"]) for r in cleaned}
    # two documents of the shards none of whose 8-grams occurs in any other document the clean stage kept
    planted = [d for d in sorted(docs, key=lambda d: d["url"])
               if not any(grams[d["url"]] & g for u, g in grams.items() if u != d["url"])][:2]
    assert len(planted) == 2
    words = planted[0]["text"].split()
    passage = ",  ".join(words[len(words) // 2 : len(words) // 2 + 40]).upper()  # 40 words: 33 shared 8-grams
    unrelated = "Zebras quietly audit seventeen porcelain lighthouses every other leap year before dawn breaks"
    assert not any(_ngrams(unrelated) & g for g in grams.values())
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "test.jsonl").write_text(
        "".join(json.dumps({"sentence": t}) + "\n" for t in (passage, unrelated, planted[1]["text"])), encoding="utf-8")
    (tmp_path / "build.toml").write_text('decontaminate = ["eval/test.jsonl"]\ndecontaminate_field = "sentence"\n')
    proc = webtext("build", "--config", str(tmp_path / "build.toml"), "--until", "2017-12", "--workers", "2",
                   "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reused = [s for s in STAGES if f"{s}: finished earlier, reusing" in proc.stderr]
    assert reused == ["harvest", "fetch", "extract"]
    new = json.loads((out / "manifest.json").read_text())
    stages, before = {s["stage"]: s for s in new["stages"]}, {s["stage"]: s for s in manifest["stages"]}
    urls = sorted(d["url"] for d in planted)
    assert stages["clean"]["dropped"]["contaminated"] == 2
    # each with the n-gram occurrences it shares, counted here: at least the passage's, and all of the whole text's
    evalgrams = _ngrams(passage) | _ngrams(planted[1]["text"])
    shared = {d["url"]: _occurrences(d["text"], evalgrams) for d in planted}
    assert shared[planted[0]["url"]] >= len(_words(passage)) - 7 > 0
    assert shared[planted[1]["url"]] == _occurrences(planted[1]["text"], None)
    assert stages["clean"]["samples"]["contaminated"] == [{"key": u, "shared_ngrams": shared[u]} for u in urls]
    assert new["drop_reasons"]["clean"] == {**manifest["drop_reasons"]["clean"], "contaminated": 2}
    assert {k: v for k, v in new["drop_reasons"].items() if k != "clean"} == \
        {k: v for k, v in manifest["drop_reasons"].items() if k != "clean"}
    for s in stages.values():
        assert s["read"] == s["kept"] + sum(s["dropped"].values()), s["stage"]
    assert stages["clean"]["read"] == before["clean"]["read"] and stages["dedup"]["read"] == before["dedup"]["read"] - 2
    from webtext.shards import read_shards

    assert sorted(read_shards(out).column("url").to_pylist()) == sorted(d["url"] for d in docs if d["url"] not in urls)
    assert new["totals"]["documents"] == manifest["totals"]["documents"] - 2
    assert new["config"]["decontaminate"] == [str(tmp_path / "eval" / "test.jsonl")]
    marker = json.loads((out / "stages" / "clean" / "_SUCCESS.json").read_text())
    expected = _ngrams(passage) | _ngrams(unrelated) | _ngrams(planted[1]["text"])
    assert marker["decontamination"]["eval_ngrams"] == len(expected)  # the launcher's distinct 8-grams


def test_live_progress_table_on_a_terminal(build, tmp_path, run_in_pty):
    """Under a pseudo-terminal `webtext build` draws its table (rich, control sequences), one row
    per stage; here the first five stages are reused from the shared build and the shards run."""
    import re
    import shutil

    out = tmp_path / "webtext-out"
    shutil.copytree(build["out"], out)
    (out / "stages" / "shards" / "_SUCCESS.json").unlink()
    rc, raw = run_in_pty([sys.executable, "-m", "webtext.cli", "build", "--until", "2017-12", "--workers", "2",
                          "--out", str(out)], cwd=tmp_path)
    assert rc == 0, raw[-3000:]
    assert "\x1b[" in raw  # drawn with terminal control sequences
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    for stage in ("harvest", "fetch", "extract", "clean", "dedup"):
        assert re.search(rf"{stage}\s+done \(reused\)", screen), stage
    assert re.search(r"shards\s+running", screen)
    assert re.search(r"shards\s+done\s.*100%\s+9/9\s+documents", screen), screen[-2000:]
    assert "[build] [6/6] shards: read 9, kept 9" in screen and "shards: running" not in screen
    assert not (out / "stages" / "shards" / "progress").exists()
