# The two commands of the README's Quickstart:
#   make demo   - set up a virtualenv and run `botwatch demo` on the embedded journal
#   make test   - everything CI runs: lint, types, the real collector/Prometheus/Alertmanager, pytest
# And two for dependencies:
#   make lock             - regenerate requirements/dev.lock from pyproject.toml's dev extra (needs uv)
#   make try-latest-otel  - the SDK tests and the compatibility probe on the newest OpenTelemetry (weekly)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.lock
UV ?= uv

.PHONY: demo test lint typecheck stack-deps dashboards clean lock try-latest-otel

# The exact versions of the lock, then botwatch itself without resolving again: every machine tests the same set.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lock:
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--custom-compile-command "make lock" --quiet -o $(LOCK)

try-latest-otel:
	bash scripts/try-latest-otel.sh

demo: $(STAMP)
	$(BIN)/botwatch demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks dashboards
	$(BIN)/ruff format --check src tests benchmarks dashboards

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
