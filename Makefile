# One environment, .venv/, made from this project's own files.
# `make demo` runs the main job on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install install-gpu demo demo-cluster test test-cluster test-demo test-long test-gpu lint bench

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,test]'
	touch $(STAMP)

install: $(STAMP)

# GPU nodes: the same .venv/ with setup.py's `gpu` extra instead of `cpu` (README "Install"). flash-attn, pinned
# by verl[fsdp], ships only as a source archive whose build imports torch, which pip's build isolation hides:
# torch goes in first, flash-attn is compiled against it without build isolation (needs CUDA 13's nvcc;
# MAX_JOBS caps the parallel compile), then the extra finds both satisfied. Both pins equal the `gpu` extra's
# (tests/recipes/test_install_gpu_on_cpu.py). The CPU stamp is touched too, so `make test` keeps this stack.
GPU_TORCH := torch==2.11.0
GPU_FLASH_ATTN := flash-attn==2.8.3
GPU_STAMP := $(VENV)/.installed-gpu

$(GPU_STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(GPU_TORCH)' setuptools wheel packaging psutil ninja
	$(PY) -m pip install -q --no-build-isolation '$(GPU_FLASH_ATTN)'
	$(PY) -m pip install -q -e '.[gpu,test]'
	touch $(GPU_STAMP) $(STAMP)

install-gpu: $(GPU_STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash recipes/demo_cpu

# The same job on a 2-node Ray cluster started on this machine, every stage submitted through RAY_ADDRESS.
demo-cluster: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash recipes/demo_cluster

# Everything but the runs marked `long` (pyproject.toml), which `make test-long` runs.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest tests -m "not long"

# The 2-node Ray cluster pipeline test alone (part of `make test` too).
test-cluster: $(STAMP)
	$(PY) -m pytest tests/recipes/test_cluster_pipeline_on_cpu.py -v

# `make demo`, shortened, with checks on what it wrote (a `long` run).
test-demo: $(STAMP)
	$(PY) -m pytest tests/recipes/test_demo_pipeline_on_cpu.py -v

test-long: $(STAMP)
	$(PY) -m pytest tests -m long -v

# On a GPU node after `make install-gpu`: only the checks that need CUDA (they skip elsewhere).
test-gpu: $(GPU_STAMP)
	$(PY) -m pytest $(wildcard tests/*/*_on_gpu.py) -v

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done
