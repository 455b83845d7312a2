# The two commands a user needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast check lint typecheck unit bench reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## start the daemon on the shipped config.yaml (sandbox account, example drafts)
	$(BIN)/publisher -c config.yaml run

test: check

check: lint typecheck unit  ## what CI runs: ruff, mypy --strict, pytest

lint: $(STAMP)
	$(BIN)/ruff check publisher tests bench
	$(BIN)/ruff format --check publisher tests bench

typecheck: $(STAMP)
	$(BIN)/mypy publisher

unit: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)  ## the unit tests only (tests/unit), in under a minute
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

reliability: $(STAMP)  ## the faults users meet, counted: writes docs/reliability.md (5-12 min on 2 cores; root for the full-disk rows)
	$(BIN)/python -m bench.reliability

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
