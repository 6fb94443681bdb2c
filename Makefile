# Rapport: `make run` shows it working, `make test` proves it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e clean install

run: $(STAMP) ## start all three services in one process with demo data
	$(BIN)/rapport dev

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The broker-outage test stops RabbitMQ, so it runs alone first; every other test has its own
# vhost and databases, so test files then run in parallel (a module's fixtures stay on one worker).
test: $(STAMP) ## lint, type-check, then every test against real RabbitMQ and PostgreSQL
	scripts/ensure-services.sh
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/pytest -p no:cacheprovider -q -ra -m broker_outage
	$(BIN)/pytest -p no:cacheprovider -q -ra --durations=15 -n 3 --dist loadfile -m "not broker_outage"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared services tests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	scripts/ensure-services.sh
	$(BIN)/pytest -q tests/integration

e2e: $(STAMP)
	scripts/ensure-services.sh
	$(BIN)/pytest -q tests/e2e

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
