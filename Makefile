# gan-cli: `make` lists the targets. The first target that needs the environment creates it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    ?= $(shell ls -td outputs/20*/*/ 2>/dev/null | head -1)

.DEFAULT_GOAL := help
.PHONY: help install test test-all lint docs train sample tb bench bench-sweep clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install gan-cli (editable) with its test tools

test: $(STAMP) ## run the test suite (CPU, offline; slow tests excluded; 2 worker processes)
	$(BIN)/pytest -n 2

test-all: $(STAMP) ## run every test, slow ones included
	$(BIN)/pytest -n 2 -m ''

lint: $(STAMP) ## check the code with ruff
	$(BIN)/ruff check gan_cli tests benchmarks

docs: $(STAMP) ## build the documentation site into site/ (strict: a broken link or a missing page fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

train: $(STAMP) ## train the main job: DCGAN on MNIST
	$(BIN)/gan train model=dcgan data=mnist

sample: $(STAMP) ## sample 64 images from the newest run (or RUN=<run dir>)
	$(BIN)/gan sample checkpoint=$(RUN)

tb: $(STAMP) ## open TensorBoard on outputs/
	$(BIN)/tensorboard --logdir outputs

bench: $(STAMP) ## images/s against plain PyTorch loops (per speed option, DataLoader feeding, DDP); eval cost
	$(BIN)/python benchmarks/bench_train.py --options fp32,bf16,channels_last,compile
	$(BIN)/python benchmarks/bench_feeding.py
	$(BIN)/python benchmarks/bench_ddp.py
	$(BIN)/python benchmarks/bench_eval.py

bench-sweep: $(STAMP) ## a 4-job ring8 sweep: basic launcher against joblib
	$(BIN)/python benchmarks/bench_sweep.py

clean: ## delete runs in outputs/, build files and caches (keeps .venv and data/)
	rm -rf outputs/2* outputs/multirun build dist site *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
