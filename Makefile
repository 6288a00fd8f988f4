# rnnstream: every target sets up first, so each is one command on a fresh Debian machine with Python 3.11.
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup test lint typecheck unit chaos demo services-up services-down train-models loso compare-cells clean

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

LOSO := runs/fsdd-digits-lstm-v2-loso

# Retrain and republish the committed models (needs ../shared/data). Versions 1 take a few minutes on 2 CPU
# cores; fsdd-digits-lstm/2 needs its leave-one-speaker-out folds first (six trainings, `make loso`), whose
# figures go into its model card. See docs/models.md.
train-models: setup loso
	$(BIN)/rnnstream train --data ../shared/data/fsdd --version 1 --force
	$(BIN)/rnnstream train --data ../shared/data/sms_spam_collection --version 1 --force
	$(BIN)/rnnstream train --data ../shared/data/fsdd --augment --epochs 30 --threads 1 --no-publish \
		--run-dir runs/fsdd-digits-lstm-v2
	$(BIN)/rnnstream export runs/fsdd-digits-lstm-v2/checkpoint.pt --version 2 --force \
		--loso-report $(LOSO)/loso.json $(AUDIO_V2_REPRODUCE)
	$(BIN)/rnnstream train --data ../shared/data/sms_spam_collection --hash-buckets 0 --spam-weight 2.5 \
		--epochs 12 --threads 1 --version 2 --force

# Leave-one-speaker-out folds of the fsdd-digits-lstm/2 recipe (six trainings of a few minutes each on 2
# cores), scored per held-out speaker into $(LOSO)/loso.json.
loso: setup
	$(BIN)/rnnstream train --data ../shared/data/fsdd --loso --augment --epochs 30 --threads 1 --quiet \
		--run-dir $(LOSO)
	$(BIN)/rnnstream eval $(LOSO)/folds --loso --data ../shared/data/fsdd --json > $(LOSO)/loso.json

# The RNN/GRU/LSTM x 1/2-layer comparison of docs/models.md: twelve trainings, plus six leave-one-speaker-out
# folds for each audio cell (--loso; 48 trainings in all, a few hours on 2 cores).
compare-cells: setup
	$(BIN)/python -m rnnstream_offline.compare --data ../shared/data --out runs/compare --loso

AUDIO_V2_REPRODUCE := --reproduce "make loso train-models" \
	--reproduce "rnnstream eval fsdd-digits-lstm:2 --data ../shared/data/fsdd --json" \
	--reproduce "rnnstream eval $(LOSO)/folds --loso --data ../shared/data/fsdd"

clean:
	rm -rf $(VENV) var runs .pytest_cache .mypy_cache .ruff_cache
