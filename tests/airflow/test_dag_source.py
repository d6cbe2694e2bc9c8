"""The DAG passes the fetch source (web archives, issue 12) to `webtext build`, in Airflow's own environment."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(not AIRFLOW_PY.exists(), reason=".venv-airflow is missing: run `bash scripts/install-airflow.sh` (`make test` does it)"),
]

CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from webtext_dag import build_command, dag
base = {"until": "2017-12", "output": "/tmp/o", "webtext_cli": "webtext"}
print(json.dumps({
    "wayback": build_command({**base, "source": "wayback", "archive_endpoint": "http://127.0.0.1:8080/coll"}, "fetch"),
    "cc": build_command({**base, "source": "commoncrawl:CC-MAIN-2017-47,CC-MAIN-2017-51"}),
    "default": build_command(base),
    "decon": build_command({**base, "decontaminate": ["/e/wiki.test.raw", "/e/lambada.jsonl"], "decontaminate_threshold": 2}),
    "params": sorted(dag.params.keys()),
}))
"""


def test_dag_passes_the_fetch_source_to_the_build(tmp_path):
    proc = subprocess.run([str(AIRFLOW_PY), "-c", CODE, str(REPO / "dags")], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert shlex.split(out["wayback"])[-6:] == ["--source", "wayback", "--archive-endpoint", "http://127.0.0.1:8080/coll",
                                                "--stop-after", "fetch"]
    assert "--source commoncrawl:CC-MAIN-2017-47,CC-MAIN-2017-51" in out["cc"]
    assert "--source" not in out["default"] and "--archive-endpoint" not in out["default"]
    assert {"source", "archive_endpoint"} <= set(out["params"])
    # decontamination (issue 16): the evaluation files and the threshold go to the build
    assert shlex.split(out["decon"])[-7:] == ["--decontaminate", "/e/wiki.test.raw", "/e/lambada.jsonl",
                                               "--decontaminate-threshold", "2", "--decontaminate-ngram", "8"]
    assert "--decontaminate" not in out["default"]
    assert {"decontaminate", "decontaminate_threshold", "decontaminate_ngram"} <= set(out["params"])
