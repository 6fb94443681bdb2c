# Rapport: `make run` shows it working, `make test` proves it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test instants lint typecheck unit integration e2e clean install bench

# `make run` checks its port before anything else and installs only what running needs; the
# test tools come with `make test`.
run: ## start all three services in one process with demo data
	@$(PYTHON) scripts/check-port.py
	@$(MAKE) --no-print-directory $(RUN_STAMP)
	$(BIN)/rapport dev

install: $(STAMP)

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The hard instants the clock-sensitive tests run at again (README, "Time in tests"): five
# minutes before New York springs forward, the last minutes of a year in New York (already
# January in UTC), a leap day, and 02:30 UTC (the evening before in the practice's zone).
INSTANTS ?= 2027-03-14T06:55:00Z 2027-01-01T04:52:00Z 2028-02-29T14:30:00Z 2026-12-03T02:30:00Z
PYTEST   := $(BIN)/pytest -p no:cacheprovider -q -ra

# The broker-outage test stops RabbitMQ, so it runs alone first; every other test has its own
# vhost and databases, so test files then run in parallel (a module's fixtures stay on one worker).
# Everything runs at RAPPORT_TEST_NOW when it is set, else at the real time; then the
# clock-sensitive tests run again at each of INSTANTS.
test: $(STAMP) ## lint, type-check, then every test against real RabbitMQ and PostgreSQL
	scripts/ensure-services.sh
	$(MAKE) --no-print-directory lint typecheck
	$(PYTEST) -m broker_outage
	$(PYTEST) --durations=15 -n 3 --dist loadfile -m "not broker_outage"
	$(MAKE) --no-print-directory instants

instants: $(STAMP) ## the clock-sensitive tests again at each of INSTANTS
	@for at in $(INSTANTS); do \
	  echo "== clock-sensitive tests at RAPPORT_TEST_NOW=$$at"; \
	  RAPPORT_TEST_NOW=$$at RAPPORT_TEST_NOW_ANCHOR= $(PYTEST) -n 3 --dist loadfile \
	    -m "clock and not broker_outage" || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared services tests bench

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

# A benchmark, not a test: it starts its own topology on fresh databases and a fresh vhost,
# measures Rapport beside the hardware floor in the same run, prints one table and writes
# bench/results/latest.json. `make bench SCALE=full`, or `BENCH_ARGS="--only feed"`.
SCALE ?= small
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## Rapport's throughput and latency beside the hardware floor
	scripts/ensure-services.sh
	$(BIN)/python -m bench.run --scale $(SCALE) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
