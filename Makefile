# One environment, .venv/, made from this project's own files.
# `make demo` runs the main job on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash recipes/demo_cpu

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest tests

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done
