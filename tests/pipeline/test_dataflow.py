"""Ready for Dataflow, checked as far as this machine allows (no GCP here).

- The checks made before launching: one line and exit 2 for a local output, a missing or local
  temp location, inputs the workers cannot read, and a missing `apache-beam[gcp]`.
- Every stage's pipeline is constructed for `DataflowRunner` by the build's own functions and
  turned into the portable job graph Dataflow (Runner v2) is sent, with the custom worker
  container as the environment; the graph round-trips (every DoFn unpickles) and ends in one
  terminal PCollection (what the Dask runner needs too).
- The worker package: the wheel the Dockerfile's install puts into the worker image builds and
  holds the pipeline, the worker entry point, the sample and the retrained Dragnet model.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from webtext.config import STAGES, BuildConfig

REPO = Path(__file__).resolve().parents[2]
IMAGE = "us-central1-docker.pkg.dev/webtext-test/webtext/worker:0.1.0"
DATAFLOW_OPTIONS = ["--project=webtext-test", "--region=us-central1", "--temp_location=gs://webtext-test/tmp",
                    f"--sdk_container_image={IMAGE}"]


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webtext.cli", "build", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


GS_INPUTS = ["--dumps", "gs://b/RS_2017-01.zst", "--live-fetch"]  # as the launch command in docs/pipeline.md


@pytest.mark.parametrize("args, message", [
    (["--out", "/tmp/x"], "--out must be gs://bucket/path"),
    (["--out", "gs://b/o", "--beam-option=--temp_location=/tmp/t"], "Dataflow needs a gs:// location"),
    (["--out", "gs://b/o"], "needs --beam-option=--temp_location=gs://"),
])
def test_dataflow_launch_checks_are_one_line(tmp_path, args, message):
    proc = cli("--runner", "DataflowRunner", *GS_INPUTS, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_replay_of_remote_archives_is_refused_before_anything_runs(tmp_path):
    # The replay reads WARC files from local disk: on gs:// it would fail deep inside the fetch.
    proc = cli("--runner", "DataflowRunner", "--dumps", "gs://b/RS_2017-01.zst", "--replay", "gs://b/crawl.warc.gz",
               "--out", "gs://b/o", "--beam-option=--temp_location=gs://b/t", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--replay gs://b/crawl.warc.gz: archives are replayed from local files only" in proc.stderr


def test_dataflow_refuses_inputs_the_workers_cannot_read(tmp_path):
    proc = cli("--runner", "DataflowRunner", "--out", "gs://b/o", "--beam-option=--temp_location=gs://b/t", cwd=tmp_path)
    assert proc.returncode == 2 and "the workers cannot read" in proc.stderr and "sample" in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("apitools") is not None, reason="apache-beam[gcp] is installed here")
def test_dataflow_without_the_gcp_extra_says_which_extra_to_install(tmp_path):
    proc = cli("--runner", "DataflowRunner", *GS_INPUTS, "--out", "gs://b/o",
               "--beam-option=--temp_location=gs://b/t", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "apache-beam[gcp]" in line and "pip install -e '.[dataflow]'" in line and "WEBTEXT_EXTRAS=dev,dataflow" in line


def _primitive_leaves(proto) -> list[str]:
    """PCollections produced by a primitive transform and consumed by none: the graph's ends."""
    transforms = proto.components.transforms
    primitives = [t for t in transforms.values() if not t.subtransforms]
    consumed = {pc for t in primitives for pc in t.inputs.values()}
    return sorted({pc for t in primitives for pc in t.outputs.values()} - consumed)


def test_every_stage_builds_a_dataflow_job_graph_for_the_worker_container(tmp_path):
    import apache_beam as beam
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
    from apache_beam.transforms import environments

    from pipelines.build import build_shards_pipeline, build_stage_pipeline

    # A local folder stands in for gs:// (listing gs:// needs the gcp extra); the graphs do not
    # depend on it. The upstream file lists are empty, which still builds every transform.
    config = BuildConfig(out=str(tmp_path), runner="DataflowRunner", beam_args=DATAFLOW_OPTIONS, workers=4)
    env = environments.DockerEnvironment.from_container_image(IMAGE)
    for stage in STAGES:
        if stage == "shards":
            p = build_shards_pipeline(config, [f"{tmp_path}/stages/dedup/data-00000-of-00008.parquet"], 3)
        else:
            p = build_stage_pipeline(config, stage)
        assert isinstance(p.runner, DataflowRunner), stage
        proto = p.to_runner_api(default_environment=env)
        images = {e.urn: environments.Environment.from_runner_api(e, None).container_image
                  for e in proto.components.environments.values()}
        assert set(images.values()) == {IMAGE}, (stage, images)
        labels = {t.unique_name for t in proto.components.transforms.values()}
        assert not any("WriteToText" in x or "ReadFromText" in x or "WriteToParquet" in x for x in labels), stage
        assert len(_primitive_leaves(proto)) == 1, (stage, _primitive_leaves(proto))
        beam.Pipeline.from_runner_api(proto, p.runner, p._options)  # every DoFn unpickles


def test_worker_package_builds_with_the_pipeline_sample_and_model(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("webtext-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("pipelines/build.py", "pipelines/transforms.py", "pipelines/worker.py", "webtext/shards.py",
                     "webtext/sample/RS_sample.zst", "webtext/sample/sample.warc.gz",
                     "webtext/extract/models/dragnet_content.joblib.gz"):
        assert required in names, required
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM webtext AS worker" in dockerfile and 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile
    assert "bash scripts/install.sh" in dockerfile and "WEBTEXT_EXTRAS" in dockerfile
