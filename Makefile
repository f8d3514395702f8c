# Verbs for the whole lifecycle. `make run` and `make test` are the two the README starts with.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: help setup system-deps run serve pipeline bench test lint format clean

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a plain `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[pipeline,serve,postgres,dev]'
	touch $@

setup: $(VENV)/.installed  ## create .venv with the pipeline, serving, PostgreSQL and dev extras

system-deps:  ## Debian packages the tests and benchmark use: Chromium + driver (browser test), wrk (load)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v wrk >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver wrk; }

run: setup  ## set up, get HASYv2, run the pipeline with the quick profile
	@test -d .git || { echo "run from a git checkout of farga (DVC needs git)"; exit 1; }
	$(BIN)/farga data check symbols
	@# DVC records experiments as git objects: give git an identity if it has none
	git config user.email >/dev/null || git config user.email "farga@localhost"
	git config user.name >/dev/null || git config user.name "farga"
	$(BIN)/dvc exp run -S symbols.profile=quick
	$(BIN)/dvc metrics show
	$(MAKE) serve

serve: setup  ## serve the registry's champion at http://127.0.0.1:8000 (the page is at /)
	$(BIN)/farga serve --host 127.0.0.1 --port 8000 --workers 2

pipeline: setup  ## dvc repro with params.yaml as it is (full profile: ~40 min on 2 cores)
	$(BIN)/dvc repro

bench: setup system-deps  ## serving benchmark: writes docs/performance.md
	$(BIN)/farga bench symbols --out docs/performance.md

test: setup system-deps lint  ## static analysis, then every test layer with coverage (fails under 85%)
	$(PY) -m pytest --cov=farga --cov-report=term:skip-covered --cov-fail-under=85 -q

lint: setup  ## the pre-commit checks on every file: ruff (incl. security rules), mypy --strict, secrets, large files
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

format:  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format src tests && $(BIN)/ruff check --fix src tests

clean:  ## remove caches (not data, models or the MLflow store)
	rm -rf .pytest_cache .ruff_cache .mypy_cache .coverage htmlcov
