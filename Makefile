# Tongbu: `make demo` and `make test` work on a fresh clone. Both create .venv if it is missing
# and install the locked requirements once (again only when a requirements file changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tongbu-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: help install demo test lint format bench clean

help:
	@echo "make demo    set up and run the demo on the embedded SQLite database"
	@echo "make test    set up, lint and run the whole test suite"
	@echo "make lint    ruff, mypy and the import contracts"
	@echo "make format  format the code with ruff"
	@echo "make bench   run the benchmarks in bench/ (slow)"
	@echo "make clean   remove the virtual environment and caches"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tongbu needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-airflow.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(PIP) install -r requirements-dev.txt
	$(PIP) install --no-deps -e .
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tongbu demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# One pytest worker more than there are cores: much of the suite waits on subprocesses, servers
# and emulators (about 60 % of two cores busy with one worker per core).
WORKERS := $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

test: lint
	$(BIN)/pytest -n $(WORKERS)

bench: $(STAMP)
	$(BIN)/python bench/core_bulk.py
	$(BIN)/python bench/sync_kingdee.py
	$(BIN)/python bench/migrate.py
	$(BIN)/python bench/airflow_dags.py
	$(BIN)/python bench/pool_recycle.py
	$(BIN)/python bench/funnel.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache *.egg-info build
