#!/usr/bin/env bash
# Creates ./.venv from nothing: the package, its dependencies, and Dragnet's special build.
# Works against the package registries only; safe to rerun (it reuses an existing .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
pip install -q --upgrade pip wheel "setuptools<81"
# torch first, pinned: 2.13.0 is the CPU build this project is tested with (a plain `torch` pulls GBs of CUDA).
pip install -q "${TORCH_SPEC:-torch==2.13.0}"
# Dragnet 2.0.4 pins scikit-learn<0.21 and needs Cython 2 to build its extensions against the installed numpy:
# install its build dependencies first, then Dragnet itself without build isolation and without its pins.
pip install -q -c constraints.txt "cython<3" numpy lxml scipy scikit-learn ftfy
if ! "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('dragnet') is None)"; then
  echo "[install] building dragnet 2.0.4"
  pip install -q --no-build-isolation --no-deps "dragnet==2.0.4"
fi
echo "[install] installing webtext and its dependencies"
pip install -q -c constraints.txt -e ".[${WEBTEXT_EXTRAS:-dev}]"
"$VENV/bin/webtext" --version
echo "[install] done: $VENV"
