# rnnstream: every target sets up first, so each is one command on a fresh Debian machine with Python 3.11.
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup test lint typecheck unit chaos demo services-up services-down train-models clean

setup:
	@bash scripts/setup.sh

lint: setup
	$(BIN)/ruff check services models tests examples
	$(BIN)/ruff format --check services models tests examples

typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# The fast loop: the pure unit tests, then the components with the committed models (no services, ~1 min).
unit: setup
	$(BIN)/pytest tests/unit tests/component $(PYTEST_ARGS)

# The long fault-injection run (about 5 minutes): 3 workers, its own broker and Redis (with AOF), 24 SIGKILLs,
# 2 worker freezes, a Redis restart and a broker freeze; prints the oracle's one-line summary. Needs ../shared/data.
chaos: setup
	$(BIN)/python -m tests.chaos long

demo: setup
	$(BIN)/rnnstream demo

services-up: setup
	$(BIN)/rnnstream services up

services-down: setup
	$(BIN)/rnnstream services down

# Retrain and republish the committed models (a few minutes on 2 CPU cores; needs ../shared/data).
train-models: setup
	$(BIN)/rnnstream train --data ../shared/data/fsdd --version 1 --force
	$(BIN)/rnnstream train --data ../shared/data/sms_spam_collection --version 1 --force

clean:
	rm -rf $(VENV) var runs .pytest_cache .mypy_cache .ruff_cache
