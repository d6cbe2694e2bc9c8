# Two entry points do all the set-up on a fresh clone:
#   make sample   -> installs, then runs the main job on the embedded sample data
#   make test     -> installs (main env, .venv-airflow, .venv-pywb), then runs the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install airflow-env pywb-env sample test bench clean
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt scripts/install.sh
	bash scripts/install.sh
	touch $@

airflow-env: .venv-airflow/.installed
.venv-airflow/.installed: scripts/install-airflow.sh
	bash scripts/install-airflow.sh
	touch $@

pywb-env: .venv-pywb/.installed
.venv-pywb/.installed: scripts/install-pywb.sh scripts/pywb-constraints.txt
	bash scripts/install-pywb.sh
	touch $@

sample: install
	$(VENV)/bin/webtext build --until 2017-12

test: install airflow-env pywb-env
	$(VENV)/bin/python -m pytest

clean:
	rm -rf webtext-out .pytest_cache
