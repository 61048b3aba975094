# The two commands a user needs: `make run` and `make test`. Each sets up .venv on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE := examples/v6-iron-fly

.PHONY: setup run test lint bench fuzz killtest clean browser

# The dashboard's browser tests drive Debian's chromium through chromedriver. Installed
# when apt-get can (as root, or with sudo that needs no password); otherwise the browser
# tests skip with the reason locally (and fail under CI=true, where they must run).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make: cannot install chromium (not root, no sudo): browser tests will skip"; exit 0; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "make: no apt-get: install chromium and chromedriver for the browser tests"; exit 0; }; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null ) \
	    || echo "make: apt-get could not install chromium: browser tests will skip"; \
	}

# The example plugin is installed as a copy, not editable: any change to its files reinstalls it.
EXAMPLE_FILES := $(shell find $(EXAMPLE) -type f \( -name '*.py' -o -name '*.toml' \) -not -path '*/build/*')

$(STAMP): pyproject.toml $(EXAMPLE_FILES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The example plugin is installed like any third-party package: not editable, from its own pyproject.
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps ./$(EXAMPLE)
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@echo "Dashboard (another terminal, during or after the run): $(BIN)/v6 dashboard --config config/sim.yaml, then open http://127.0.0.1:8050/"
	$(BIN)/v6 run --config config/sim.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two processes (pytest-xdist), each taking a whole test file at a time: module-scoped
# sessions are built once, and the 2-core machine this runs on does twice the work
# (three took longer: 10 minutes against 8). The 25 slowest tests are listed at the end:
# the suite must stay under 15 minutes on a 2-core machine. It took 8-10 minutes on one
# with AVX-512 on 2026-12-02, 20 minutes on one without before that day's work on the
# store and the tests. Hundreds of `v6` processes start during the suite: the sources are
# compiled first, since PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise
# make every one of them compile V6 again.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m compileall -q v6 plugins dash_app > /dev/null
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

# The property and fuzz tests with the deep budget (tests/fuzz_budget.py): ten times the
# configs, mutated defaults and command lines `make test` draws (minutes: not in `make test`).
fuzz: $(STAMP)
	V6_FUZZ=deep $(BIN)/python -m pytest -n 2 tests/test_config_properties.py tests/test_cli_fuzz.py

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

# Production install (docs/OPERATIONS.md): a versioned release with its own virtualenv
# under PREFIX/releases, then PREFIX/current switched to it atomically; `make rollback`
# switches back to the release before it.
.PHONY: deploy rollback
deploy: $(STAMP)
	@test -n "$(PREFIX)" || { echo "make deploy needs PREFIX=DIR, e.g. make deploy PREFIX=/opt/v6"; exit 2; }
	deploy/release.sh deploy "$(PREFIX)"

rollback:
	@test -n "$(PREFIX)" || { echo "make rollback needs PREFIX=DIR, e.g. make rollback PREFIX=/opt/v6"; exit 2; }
	deploy/release.sh rollback "$(PREFIX)"

# A simulated quarter at full speed, sampled for memory, descriptors, threads, table
# files and cycle time; fails on unbounded growth (minutes: not part of `make test`).
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py
