# The two commands a user needs: `make run` and `make test`. Each sets up .venv on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE := examples/v6-iron-fly

.PHONY: setup run test lint bench killtest clean

$(STAMP): pyproject.toml $(EXAMPLE)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The example plugin is installed like any third-party package: not editable, from its own pyproject.
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps ./$(EXAMPLE)
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/v6 run --config config/sim.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-only -p no:cacheprovider

# Kill `v6 run` at order-table commit boundaries and at random instants, 50 times in sim
# (every fifth stopped by SIGTERM: no cycle may be lost) and 50 times in paper mode
# against the fake gateway (each restarted and checked against the broker); every store
# is audited for orphan rows (docs/RECOVERY.md).
killtest: $(STAMP)
	$(BIN)/python tests/kill_harness.py --kills 50
	$(BIN)/python tests/kill_harness.py --gateway --kills 50

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
