# Two commands matter: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint typecheck check migrate demo clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependencies (or this recipe) change. Editable, so `.venv/bin/python -m
# bot` runs the code in this tree from any directory, never a copy left from an older install.
$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable ".[test]"
	@touch $(STAMP)

## run: start the service (the bot with TELEGRAM_BOT_TOKEN, otherwise the terminal demo)
run: $(STAMP)
	$(BIN)/python -m bot migrate
	$(BIN)/python -m bot start --no-migrate

## demo: the terminal demo, even when a token is configured
demo: $(STAMP)
	$(BIN)/python -m bot demo

## migrate: bring the database schema up to date
migrate: $(STAMP)
	$(BIN)/python -m bot migrate

## test: lint, type-check, then the whole suite (PostgreSQL tests skip when no server is
## reachable, unless CI=true), in TEST_WORKERS processes: much of the suite waits on
## subprocesses, SMTP and PostgreSQL, so two workers take half the time on two cores
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check bot storage tests tools bench
	$(BIN)/ruff format --check bot storage tests tools bench
	$(BIN)/mypy bot storage
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

## fuzz: the whole-bot fuzz test (tests/chat/test_fuzz.py) with a larger, random budget:
## FUZZ_EXAMPLES runs of up to FUZZ_STEPS steps each (CI runs 25 of 60, always the same ones)
FUZZ_EXAMPLES ?= 300
FUZZ_STEPS ?= 150
fuzz: $(STAMP)
	VEILEDER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) VEILEDER_FUZZ_STEPS=$(FUZZ_STEPS) \
		$(BIN)/python -m pytest -s -p no:cacheprovider tests/chat/test_fuzz.py

## bench: run the benchmarks (bench/) and write bench/RESULTS.md
bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check bot storage tests tools bench
	$(BIN)/ruff format --check bot storage tests tools bench

typecheck: $(STAMP)
	$(BIN)/mypy bot storage

check: test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build
