# Two commands do everything on a fresh machine:
#   make demo   set up, train the default character LSTM, print validation bits-per-char and samples
#   make test   set up and run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On CPU machines pip finds a local CPU wheel for this pin; on a GPU machine the same pin takes
# PyPI's CUDA build. Never leave torch unpinned here (see docs/distributed.md, "Installing on a GPU machine").
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-fast lint bench clean-runs

$(BIN)/seqlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev,tune,export]" "$(TORCH_SPEC)"
	touch $(BIN)/seqlab

setup: $(BIN)/seqlab

demo: setup
	$(BIN)/seqlab fit --config configs/generation/char_lstm.yaml
	$(BIN)/seqlab generate --ckpt_path runs/char_lstm/latest --prompt "def " --max_new_tokens 400 \
		--temperature 0.8 --top_k 40 --num_samples 3 --seed 1

test: setup
	$(BIN)/ruff check seqlab tests benchmarks
	$(BIN)/python -m pytest -q -ra

test-fast: setup
	$(BIN)/python -m pytest -q -ra -m "not slow"

lint: setup
	$(BIN)/ruff check seqlab tests benchmarks
	$(BIN)/ruff format --check seqlab tests benchmarks

bench: setup
	$(BIN)/python benchmarks/tbptt_throughput.py

# GPU check (benchmarks/README.md, "GPU check"). `make gpu-wheels` here (needs pip and the registry)
# fills the ignored .whl/ with what the lent GPU machine lacks; there, `make gpu-check` (or plain
# `python3 benchmarks/gpu_check.py`) installs .whl/ into a temporary folder if seqlab cannot be
# imported, then runs every section and prints one table. It uses no .venv: PYTHON is whatever python
# has torch (default python3). Extra options: make gpu-check GPU_CHECK_ARGS="--only fits --out runs/gpu".
GPU_CHECK_ARGS ?=
.PHONY: gpu-wheels gpu-check

gpu-wheels: setup
	$(BIN)/python benchmarks/gpu_wheels.py

gpu-check:
	$(PYTHON) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)
