#!/usr/bin/env bash
# Airflow lives in its own environment (.venv-airflow): its pins clash with Beam's, and the webtext
# library never imports it. The DAG calls the webtext CLI of the main environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${AIRFLOW_VENV:-.venv-airflow}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "apache-airflow==3.3.2" pytest
"$VENV/bin/airflow" version
