# One entry point for the README's commands. Each target creates or reuses the
# virtual environment first (tools/setup_env.sh; a second run installs nothing).
# MMSEG_CSL_WHEEL_DIR=<folder> makes the set-up take mmcv from a prebuilt wheel there.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# The test suite runs on one pytest-xdist worker per core (PYTEST_WORKERS=0: in
# one process), each test file on one worker, as a file's tests share its module
# fixtures (a training run, a compiled kernel).
PYTEST_WORKERS ?= logical

.PHONY: env demo test lint

env:
	@VENV=$(VENV) tools/setup_env.sh

demo: env
	$(PYTHON) tools/demo.py $(DEMO_ARGS)

lint: env
	$(VENV)/bin/ruff check .

test: lint
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
