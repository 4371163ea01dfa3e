# sopflow: the two commands that matter are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit test-unit test-workflow test-e2e bench bench-workflow bench-metrics \
	bench-audit bench-api bench-console soak clean

install: $(STAMP)

# Reinstall only when the project's metadata changes, so `make test` stays fast.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole dev stack: lint the library, then the Temporal dev server, setup and the worker.
run: install
	$(BIN)/sopflow lint
	$(BIN)/sopflow dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Every test (`unit` is what `make test` runs, despite its name).
# Tests run on every core (pytest-xdist): each starts its own servers on free ports.
unit: install
	$(BIN)/pytest -q -n auto

# One layer of the suite each (the markers in pyproject.toml; every test module has one).
test-unit: install  # no Temporal server (under a minute; hypothesis takes most of it)
	$(BIN)/pytest -q -n auto -m unit

test-workflow: install  # the interpreter on the time-skipping test server
	$(BIN)/pytest -q -n auto -m workflow

test-e2e: install  # the real dev server, the CLI or the worker as processes
	$(BIN)/pytest -q -n auto -m e2e

test: lint typecheck unit

bench: install
	$(BIN)/python bench/lint.py

# Execution benchmarks against the real dev server (several minutes; see bench/README.md).
bench-workflow: install
	$(BIN)/python bench/events.py
	$(BIN)/python bench/update_latency.py
	$(BIN)/python bench/incidents.py
	$(BIN)/python bench/worker_memory.py

# Audit and rehearsal benchmarks: replay rate against hand-written histories, and the wall
# time of rehearsing a week-long SOP (a minute or two; see bench/README.md).
bench-audit: install
	$(BIN)/python bench/rehearsal.py
	$(BIN)/python bench/replay.py

# Action latency through the HTTP API (`sopflow serve` as a subprocess) against the incident
# service called directly, on the dev server (about a minute; see bench/README.md).
bench-api: install
	$(BIN)/python bench/api_latency.py

# The console with 2,000 open incidents: inbox (200 loads) and incident page on the server,
# and an action through the API until another person's open page hears of it, each against
# the same Temporal work done directly (about 7 minutes; see bench/README.md).
bench-console: install
	$(BIN)/python bench/console_latency.py

# Load and faults: 1,000 incidents through the API with a worker, the API and the Temporal
# server each SIGKILLed once, every incident and side effect checked against the oracle
# (about 10 minutes; see bench/README.md, "Soak"). Exits 1 on anything lost, doubled or
# mismatched. `make test` runs a 100-incident version (tests/test_soak.py).
soak: install
	$(BIN)/python -m bench.soak --incidents 1000

# `sopflow metrics` reading 1,000 closed incidents, cold and cached, against a hand-written
# read of the same runs (a few minutes; see bench/README.md, "Programme metrics").
bench-metrics: install
	$(BIN)/python bench/metrics.py --incidents 1000 --check

clean:
	rm -rf $(VENV) .sopflow .pytest_cache .mypy_cache .ruff_cache
