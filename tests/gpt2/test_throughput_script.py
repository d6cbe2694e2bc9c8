"""benchmarks/train_throughput.py runs end to end on the CPU (a tiny config), so that a session with a
GPU can run it once: nanoGPT's model.py loaded from ../shared, this trainer, a switch, the loss check,
the table and the JSON. Speed figures are not asserted (tests never assert on time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_side_by_side_script_runs_on_cpu(repo, shared, tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "train_throughput.py"), "--device", "cpu", "--mode", "both",
         "--nanogpt", str(shared / "anchors" / "nanogpt"), "--options", "chunked-ce,attn-cudnn",
         "--block-size", "32", "--batch-size", "2", "--warmup", "0", "--steps", "1", "--loss-steps", "3",
         "--out-dir", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "device: CPU" in proc.stdout and "torch " in proc.stdout and "x nanoGPT" in proc.stdout
    assert "attn-cudnn" in proc.stdout and "needs a CUDA GPU" in proc.stdout  # skipped, said so
    [path] = list(out.glob("train_throughput-cpu-*.json"))
    doc = json.loads(path.read_text())
    rows = {r["row"]: r for r in doc["rows"]}
    assert set(rows) == {"nanogpt", "webtext", "chunked-ce"}
    assert all(r["tokens_per_s"] > 0 and r["tokens_per_step"] == 64 for r in rows.values())
    assert rows["nanogpt"]["x_nanogpt"] == 1.0 and rows["webtext"]["x_nanogpt"] > 0
    assert rows["chunked-ce"]["switches"] == {"loss_chunk": 48}
    assert doc["torch"] and doc["model"] == "gpt2-tiny" and doc["flops_per_token"] > 0
    runs = doc["loss_check"]["runs"]
    assert len(runs["webtext"]["curve"]) == 3 and runs["webtext-rerun"]["curve"] == runs["webtext"]["curve"]
    assert runs["chunked-ce"]["within_noise"] is True and runs["chunked-ce"]["max_abs_diff"] < 1e-4
