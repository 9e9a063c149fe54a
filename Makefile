# Vroegsignaal. `make help` lists the targets; the README explains the flow.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# PostgreSQL for the store tests (the production store): VSV_TEST_POSTGRES_URL when set (empty: SQLite only);
# else the local server below when it answers; else the tests start a throwaway server from the PostgreSQL
# binaries on the machine or the pgserver wheel, or skip those cases with one line saying why
# (tests/conftest.py). Under CI=true nothing skips.
LOCAL_POSTGRES_URL := postgresql+psycopg://postgres@127.0.0.1:5432/test
ifeq ($(origin VSV_TEST_POSTGRES_URL),undefined)
ifeq ($(shell $(PYTHON) -c "import socket; s = socket.socket(); s.settimeout(1); print(s.connect_ex(('127.0.0.1', 5432)))" 2>/dev/null),0)
export VSV_TEST_POSTGRES_URL := $(LOCAL_POSTGRES_URL)
endif
endif

.DEFAULT_GOAL := help
.PHONY: help install run data model test test-fast lint format bench clean

help: ## Show this menu
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create the virtual environment and install everything (once, or after pyproject changes)

run: model ## Main job on the embedded default: data, model, this week's scores, demo logins, a questionnaire round, the service
	$(BIN)/vsv score --with-previous
	$(BIN)/vsv monitor
	$(BIN)/vsv effect --measure all
	$(BIN)/vsv users demo
	$(BIN)/vsv rounds open --out var/rounds/links.csv
	$(BIN)/vsv serve

model: data ## Train on the store, register as challenger, promote to champion (demo)
	$(BIN)/vsv train --generator-config var/data/demo
	$(BIN)/vsv promote --yes --by "make run" --reason "demo: model trained on the generated school"

data: install ## Migrate the store, generate the demo school and import it
	$(BIN)/vsv db upgrade
	$(BIN)/vsv generate --out var/data/demo
	$(BIN)/vsv import var/data/demo
	$(BIN)/vsv import var/data/demo/identities
	$(BIN)/vsv import-history var/data/demo/staff

test: install ## Run the whole test suite (slow and browser tests included; a missing prerequisite skips)
	$(BIN)/pytest

test-fast: install ## Run the tests without the slow and browser (e2e) ones
	$(BIN)/pytest -m "not slow and not e2e"

lint: install ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Benchmarks: print tables, write JSON under var/bench/
	$(BIN)/python bench/run.py

clean: ## Remove runtime state (var/) and caches, keep the virtual environment
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
