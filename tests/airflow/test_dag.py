"""The Airflow DAG with real Airflow 3, in its own environment (.venv-airflow; `make test` creates it).

Airflow runs in a subprocess with `.venv-airflow/bin/python` (its pins clash with Beam's), against
a SQLite metadata database in a temporary AIRFLOW_HOME after `airflow db migrate`. The DAG's tasks
call this checkout's `webtext` CLI (`.venv/bin/webtext`, or the `webtext` next to this interpreter).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(
        not AIRFLOW_PY.exists(),
        reason=".venv-airflow is missing: run `bash scripts/install-airflow.sh` (`make test` does it)",
    ),
]


def _webtext_cli() -> str:
    cli = REPO / ".venv" / "bin" / "webtext"
    if cli.exists():
        return str(cli)
    found = shutil.which("webtext", path=str(Path(sys.executable).parent))
    assert found, "no webtext command next to the test interpreter"
    return found


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "WEBTEXT_CLI": _webtext_cli(),
        "WEBTEXT_QUIET": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    migrate = subprocess.run([str(AIRFLOW_PY), "-m", "airflow", "db", "migrate"], env=env, cwd=home,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    # the fetch task's pool, created once as the DAG's docstring tells users to
    pool = subprocess.run([str(AIRFLOW_PY), "-m", "airflow", "pools", "set", "webtext_fetch", "1", "webtext: one crawl at a time"],
                          env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert pool.returncode == 0, pool.stderr[-3000:]
    return env


def run_dag(env, confs: list[dict]) -> dict:
    proc = subprocess.run(
        [str(AIRFLOW_PY), str(REPO / "tests" / "airflow" / "run_dag.py"), str(REPO / "dags"), json.dumps(confs)],
        env=env, cwd=env["AIRFLOW_HOME"], capture_output=True, text=True, timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (proc.stdout[-3000:], proc.stderr[-5000:])
    return json.loads(lines[-1][len("RESULT "):])


def test_dagbag_has_no_import_errors(airflow_env):
    result = run_dag(airflow_env, [])
    assert result["import_errors"] == {}
    assert result["dags"] == ["webtext"]


def test_dagbag_retries_timeouts_pool_and_assets(airflow_env):
    """Issue 15 point 9, as the DagBag loads the DAG: every task retried with exponential backoff and
    bounded by a timeout, the fetch in its pool, shards and tokens declared as Assets."""
    tasks = run_dag(airflow_env, [])["tasks"]
    assert set(tasks) == {"harvest", "fetch", "build_shards", "train_tokenizer", "tokenize", "train_gpt2"}
    for name, t in tasks.items():
        assert t["retries"] >= 2 and t["backoff"] and t["retry_delay"] > 0 and t["max_retry_delay"] > t["retry_delay"], name
        assert t["timeout"] and t["timeout"] > 0, name
    assert tasks["fetch"]["pool"] == "webtext_fetch" and tasks["fetch"]["pool_slots"] == 1
    assert {n: t["pool"] for n, t in tasks.items() if n != "fetch"} == {n: "default_pool" for n in tasks if n != "fetch"}
    assert tasks["build_shards"]["outlets"] == ["webtext_shards"]
    assert tasks["tokenize"]["outlets"] == ["webtext_tokens"]
    assert tasks["train_gpt2"]["timeout"] > tasks["tokenize"]["timeout"]


def test_dag_runs_on_the_embedded_sample(airflow_env, tmp_path):
    out = tmp_path / "out"
    # val_permille is left at its default: a 9-document corpus must still get a validation split
    base = {"until": "2017-12", "output": str(out), "workers": 2, "vocab_size": 400}
    train = {**base, "train_gpt2": True, "gpt2_model": "gpt2-tiny", "gpt2_max_steps": 2,
             "gpt2_args": "--block-size 64 --batch-size 4 --total-batch-tokens 256 --eval-interval 2 --eval-iters 1 "
                          "--warmup-steps 1 --no-compile --device cpu"}
    result = run_dag(airflow_env, [base, train])
    assert result["edges"] == [
        ["build_shards", "train_tokenizer"], ["fetch", "build_shards"], ["harvest", "fetch"],
        ["tokenize", "train_gpt2"], ["train_tokenizer", "tokenize"],
    ]
    assert {"until", "inputs", "output", "train_gpt2"} <= set(result["params"])
    first, second = result["runs"]
    build_tasks = ["harvest", "fetch", "build_shards", "train_tokenizer", "tokenize"]
    assert first["state"] == "success", first
    assert first["tasks"] == {**{t: "success" for t in build_tasks}, "train_gpt2": "skipped"}
    assert second["state"] == "success", second
    assert second["tasks"] == {**{t: "success" for t in build_tasks}, "train_gpt2": "success"}
    assert first["assets"] == [["webtext_shards", str(out / "shards")], ["webtext_tokens", str(out / "tokens")]]

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["documents"] == 9
    assert (out / "README.md").is_file()
    assert (out / "tokenizer" / "encoder.json").is_file()
    assert (out / "tokens" / "meta.json").is_file()
    assert (out / "tokens" / "train.bin").stat().st_size > 0 and (out / "tokens" / "val.bin").stat().st_size > 0
    assert (out / "gpt2" / "ckpt.pt").is_file()
