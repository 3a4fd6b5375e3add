# The two commands of the README's Quickstart:
#   make demo   - set up a virtualenv and run `botwatch demo` on the embedded journal
#   make test   - everything CI runs: lint, types, the real collector/Prometheus/Alertmanager, pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck stack-deps dashboards clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/botwatch demo

lint: $(STAMP)
	$(BIN)/ruff check instrumentation tests benchmarks dashboards
	$(BIN)/ruff format --check instrumentation tests benchmarks dashboards

typecheck: $(STAMP)
	$(BIN)/mypy

stack-deps:
	bash scripts/install-deps.sh

dashboards: $(STAMP)
	$(BIN)/python -m dashboards

test: $(STAMP) stack-deps lint typecheck
	$(BIN)/python -m dashboards --check
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) collector/dist
