# Two entry points: `make run` (install + default workflow + its report) and `make test` (install + tests).
# `make report RUN=<folder> CONFIG=<file>` builds the report of a run started elsewhere.
# torch is installed first and pinned, so pip never resolves an unpinned torch (which would pull
# several GB of CUDA wheels where a CPU build is available); set TORCH to choose another build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= all
# The folder a run was started in and its config file (empty: the default run's, embedded).
RUN ?= .
CONFIG ?=
BIN = $(VENV)/bin
# Keeps tall figures (the consensus heatmaps) scrollable in the report; an absolute path, since
# Snakemake reads it after changing into the run's folder.
STYLESHEET = $(CURDIR)/workflow/report/report.css

.PHONY: install run report test

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
	$(MAKE) --no-print-directory report
	@echo
	@echo "Done. Open first: $(RUN)/results/verdict.html (what the run found, in sentences)."
	@echo "Then: $(RUN)/results/report.html (every figure and table); every file is under $(RUN)/results/."

report: install
	$(BIN)/snakemake --directory $(RUN) $(if $(CONFIG),--configfile $(abspath $(CONFIG))) \
		--report $(abspath $(RUN))/results/report.html --report-stylesheet $(STYLESHEET)

test: install
	$(BIN)/python -m pytest -q
