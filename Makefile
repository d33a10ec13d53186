# flask-prodready developer commands. Every install comes from requirements.lock.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# make test-lowest's environments (under build/: ignored by git, removed by make clean).
LOWEST ?= build/venv-lowest
LOCK := requirements.lock
UV_VERSION := 0.13.8
# The dev lock plus the peers `make bench` measures (numpy and scipy come with them).
BENCH_LOCK := benchmarks/requirements.lock
# A venv of its own: the peers never end up in the one make test uses.
BENCH_VENV := build/venv-bench
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: help venv install lock run traffic screenshots references test lint lint-imports format typecheck docs pytest test-lowest system-deps bench clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'
	@echo "Variables: HOST=$(HOST) PORT=$(PORT) (make run, make traffic), PYTEST_ARGS (make pytest)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "flask-prodready needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

venv: $(VENV)/.installed ## Create .venv and install everything from the lock file.

install: venv ## Same as venv.

lock: ## Regenerate requirements.lock from pyproject.toml (needs the package registry).
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet uv==$(UV_VERSION)
	.lock-venv/bin/uv pip compile pyproject.toml --all-extras --group dev --universal \
		--python-version 3.11 --generate-hashes --no-header --no-emit-index-url -o $(LOCK)
	.lock-venv/bin/uv pip compile pyproject.toml --all-extras --group dev --group bench \
		--universal --python-version 3.11 --generate-hashes --no-header --no-emit-index-url \
		-c $(LOCK) -o $(BENCH_LOCK)
	rm -rf .lock-venv

run: venv ## Serve example_app (debug, no reloader) with the dashboard on http://127.0.0.1:5000/_prod
	FLASK_UPSTREAM_HEALTH_URL=http://$(HOST):$(PORT)/livez \
		$(BIN)/flask --app example_app run --debug --no-reload --host $(HOST) --port $(PORT)

traffic: venv ## Send good and failing requests to the example app of `make run` (live dashboard data).
	$(BIN)/python -m example_app.traffic --url http://$(HOST):$(PORT) $(TRAFFIC_ARGS)

screenshots: venv system-deps ## Write docs/screenshots/*.png with chromium (Playwright).
	$(BIN)/python scripts/screenshots.py

references: venv ## Regenerate docs/api.md and the settings reference of docs/configuration.md.
	$(BIN)/python scripts/api_reference.py
	$(BIN)/python scripts/config_reference.py

system-deps: ## Under CI=true as root: apt-get the servers the suite drives.
	@bash scripts/system-deps.sh

lint: venv ## ruff check and ruff format --check.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## Apply ruff's formatting and safe fixes.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lint-imports: venv ## The module boundaries (import-linter contracts in pyproject.toml).
	$(BIN)/lint-imports --no-cache

typecheck: venv ## mypy --strict on the package and the dashboard.
	$(BIN)/mypy --strict flask_prodready dashboard

docs: venv ## Build the documentation with mkdocs --strict.
	$(BIN)/mkdocs build --strict --quiet --site-dir build/site

pytest: venv system-deps ## Only the pytest suite.
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The floors of pyproject.toml, installed together and tested (scripts/test-lowest.sh): our
# runtime dependencies and extras resolved with `uv pip compile --resolution lowest-direct`,
# the test tools at their locked versions, in fresh environments under $(LOWEST). What runs
# there: an app with every extra but smorest (Flask 3.0.0, and no flask-smorest, marshmallow,
# apispec or webargs installed), then the in-process tests, `pytest -m "not slow"`, with
# every extra; the slow ones (real servers, browsers, builds) run in `make pytest` only.
# About 3 minutes on 2 cores, 1m45s of it pytest.
test-lowest: system-deps ## The in-process tests at the lowest versions pyproject.toml allows.
	PYTHON=$(PYTHON) bash scripts/test-lowest.sh $(UV_VERSION) $(LOWEST) -q -m "not slow"

test: lint lint-imports typecheck docs pytest test-lowest ## The whole suite: lint, types, docs, tests (also at the floors).

bench: ## Run the benchmarks and put the headline into README.md and docs/performance.md.
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(BENCH_LOCK)
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	$(BENCH_VENV)/bin/python -m benchmarks --write-docs

clean: ## Remove the venv and build output.
	rm -rf $(VENV) build dist site .lock-venv .mypy_cache .pytest_cache .ruff_cache *.egg-info
