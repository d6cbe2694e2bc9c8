#!/usr/bin/env bash
# pywb (the open-source Wayback Machine; Common Crawl's index server runs it) lives in its own
# environment (.venv-pywb): its pins clash with the main env's (pyOpenSSL<26.2 vs Scrapy's 26.4,
# werkzeug==3.1.7, redis==2.10.6). Only the archive tests use it: they start `wayback` from here on
# 127.0.0.1 with collections built at test time. Versions are pinned by scripts/pywb-constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${PYWB_VENV:-.venv-pywb}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c scripts/pywb-constraints.txt "pywb==2.10.0"
"$VENV/bin/wayback" --version
