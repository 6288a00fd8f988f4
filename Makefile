# rnnstream: every target sets up first, so each is one command on a fresh Debian machine with Python 3.11.
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup test lint typecheck unit chaos demo services-up services-down train-models loso loso-lstm-v2 loso-gru-v2 synth-digits compare-cells clean

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

LOSO := runs/fsdd-digits-gru-loso
LOSO_LSTM_V2 := runs/fsdd-digits-lstm-v2-loso
LOSO_GRU_V2 := runs/fsdd-digits-gru-v2-loso
SYNTH := runs/synth-digits
# The recipe of fsdd-digits-gru/1 (docs/models.md).
GRU_RECIPE := --cell gru --hidden 256 --dropout 0.3 --norm cepstral --augment --epochs 15
# The recipe of fsdd-digits-gru/2, the default audio model: the same plus a moving average of the weights,
# weight decay, and the synthetic voices of `make synth-digits` in the training split.
GRU2_RECIPE := $(GRU_RECIPE) --weight-decay 0.05 --ema-decay 0.995 --extra-audio $(SYNTH)
FOLDS_A := --fold george --fold jackson --fold lucas
FOLDS_B := --fold nicolas --fold theo --fold yweweler
# $(call loso_folds,RECIPE,RUN_DIR): the six leave-one-speaker-out folds of RECIPE in two processes of one
# thread each (three folds each), then their scores per held-out speaker into RUN_DIR/loso.json.
define loso_folds
	$(BIN)/rnnstream train --data ../shared/data/fsdd --loso $(1) --threads 1 --quiet --run-dir $(2) $(FOLDS_A) & a=$$!; \
	$(BIN)/rnnstream train --data ../shared/data/fsdd --loso $(1) --threads 1 --quiet --run-dir $(2) $(FOLDS_B) & b=$$!; \
	wait $$a && wait $$b
	$(BIN)/rnnstream eval $(2)/folds --loso --data ../shared/data/fsdd --json > $(2)/loso.json
endef

# Retrain and republish the committed models (needs ../shared/data). Versions 1 take a few minutes on 2 CPU
# cores; fsdd-digits-lstm/2 and fsdd-digits-gru/1 and /2 need their leave-one-speaker-out folds first (six
# trainings each, `make loso-lstm-v2 loso loso-gru-v2`), whose figures go into their model cards. See
# docs/models.md.
train-models: setup loso-lstm-v2 loso loso-gru-v2
	$(BIN)/rnnstream train --data ../shared/data/fsdd --version 1 --force
	$(BIN)/rnnstream train --data ../shared/data/sms_spam_collection --version 1 --force
	$(BIN)/rnnstream train --data ../shared/data/fsdd --augment --augment-preset v2 --epochs 30 --threads 1 \
		--no-publish --run-dir runs/fsdd-digits-lstm-v2
	$(BIN)/rnnstream export runs/fsdd-digits-lstm-v2/checkpoint.pt --version 2 --force \
		--loso-report $(LOSO_LSTM_V2)/loso.json $(AUDIO_V2_REPRODUCE)
	$(BIN)/rnnstream train --data ../shared/data/sms_spam_collection --hash-buckets 0 --spam-weight 2.5 \
		--epochs 12 --threads 1 --version 2 --force
	$(BIN)/rnnstream train --data ../shared/data/fsdd $(GRU_RECIPE) --threads 2 --no-publish \
		--run-dir runs/fsdd-digits-gru
	$(BIN)/rnnstream export runs/fsdd-digits-gru/checkpoint.pt --version 1 --force \
		--loso-report $(LOSO)/loso.json $(AUDIO_GRU_REPRODUCE)
	$(BIN)/rnnstream train --data ../shared/data/fsdd $(GRU2_RECIPE) --threads 2 --no-publish \
		--run-dir runs/fsdd-digits-gru-v2
	$(BIN)/rnnstream export runs/fsdd-digits-gru-v2/checkpoint.pt --version 2 --force \
		--loso-report $(LOSO_GRU_V2)/loso.json $(AUDIO_GRU2_REPRODUCE)

# The synthetic training voices of fsdd-digits-gru/2 (espeak-ng; 1,680 recordings, about 15 s).
synth-digits: setup
	$(BIN)/rnnstream synth-digits --out $(SYNTH)

# Leave-one-speaker-out folds of the fsdd-digits-gru/2 recipe (six trainings of about 2.5 CPU-minutes).
loso-gru-v2: setup synth-digits
	$(call loso_folds,$(GRU2_RECIPE),$(LOSO_GRU_V2))

# Leave-one-speaker-out folds of the fsdd-digits-gru/1 recipe: six trainings of about 2.5 CPU-minutes, in two
# processes of one thread each; scored per held-out speaker into $(LOSO)/loso.json.
loso: setup
	$(call loso_folds,$(GRU_RECIPE),$(LOSO))

# The same for the fsdd-digits-lstm/2 recipe (30 epochs of LSTM 1x128, augmentation v2).
loso-lstm-v2: setup
	$(BIN)/rnnstream train --data ../shared/data/fsdd --loso --augment --augment-preset v2 --epochs 30 \
		--threads 1 --quiet --run-dir $(LOSO_LSTM_V2)
	$(BIN)/rnnstream eval $(LOSO_LSTM_V2)/folds --loso --data ../shared/data/fsdd --json > $(LOSO_LSTM_V2)/loso.json

# The RNN/GRU/LSTM x 1/2-layer comparison of docs/models.md: twelve trainings, plus six leave-one-speaker-out
# folds for each audio cell (--loso; 48 trainings in all, a few hours on 2 cores).
compare-cells: setup
	$(BIN)/python -m rnnstream_offline.compare --data ../shared/data --out runs/compare --loso

AUDIO_V2_REPRODUCE := --reproduce "make loso-lstm-v2 train-models" \
	--reproduce "rnnstream eval fsdd-digits-lstm:2 --data ../shared/data/fsdd --json" \
	--reproduce "rnnstream eval $(LOSO_LSTM_V2)/folds --loso --data ../shared/data/fsdd"
AUDIO_GRU2_REPRODUCE := --reproduce "make synth-digits loso-gru-v2 train-models" \
	--reproduce "rnnstream synth-digits --out $(SYNTH) && rnnstream train --data ../shared/data/fsdd $(GRU2_RECIPE)" \
	--reproduce "rnnstream eval fsdd-digits-gru:2 --data ../shared/data/fsdd --json" \
	--reproduce "rnnstream eval $(LOSO_GRU_V2)/folds --loso --data ../shared/data/fsdd"
AUDIO_GRU_REPRODUCE := --reproduce "make loso train-models" \
	--reproduce "rnnstream train --data ../shared/data/fsdd $(GRU_RECIPE)" \
	--reproduce "rnnstream eval fsdd-digits-gru:1 --data ../shared/data/fsdd --json" \
	--reproduce "rnnstream eval $(LOSO)/folds --loso --data ../shared/data/fsdd"

clean:
	rm -rf $(VENV) var runs .pytest_cache .mypy_cache .ruff_cache
