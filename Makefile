# casestore: `make demo` runs the bureau on the embedded SQLite default; `make test` runs
# every test tier (a throwaway PostgreSQL is started by the test harness).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo serve test test-fast lint types check bench system-deps clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

demo: install
	$(VENV)/bin/casestore demo

serve: install
	$(VENV)/bin/casestore serve

test: install system-deps
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: install
	$(PY) -m pytest -q -x -m "not slow and not browser"

lint: install
	$(VENV)/bin/ruff check src projections api tests bench
	$(VENV)/bin/ruff format --check src projections api

types: install
	MYPY=$(CURDIR)/$(VENV)/bin/mypy bash scripts/typecheck.sh

check: lint types test

bench: install
	PYTHONPATH=$(CURDIR) $(VENV)/bin/casestore bench --json bench/results/latest.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
