# Two entry points: `make run` (install + default workflow) and `make test` (install + tests).
# torch is installed first and pinned, so pip never resolves an unpinned torch (which would pull
# several GB of CUDA wheels where a CPU build is available); set TORCH to choose another build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= all
BIN = $(VENV)/bin

.PHONY: install run test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,reference,cluster]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES)

test: install
	$(BIN)/python -m pytest -q
