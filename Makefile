# The two commands a user needs: `make run` and `make test`. Each sets up .venv on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE := examples/v6-iron-fly

.PHONY: setup run test lint bench clean

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

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
