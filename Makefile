# The book's commands. `make book` and `make test` each set everything up from scratch.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONUNBUFFERED := 1
export MPLBACKEND := Agg

.PHONY: help setup data book html test unit notebooks bench clean

help:
	@echo "make book   set up, fetch CIFAR-10, build the website into _build/html"
	@echo "make test   set up, fetch CIFAR-10, run the unit tests, the notebooks (nbval) and the site build"
	@echo "make data   fetch and verify CIFAR-10 only"
	@echo "make bench  run the benchmarks (printed as ratios)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (freqlens)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

data: $(STAMP)
	$(BIN)/freqlens-data

html: $(STAMP)
	$(BIN)/jupyter-book build . --path-output . -W --keep-going

book: data html
	@echo "The book is in _build/html/index.html"

unit: data
	$(BIN)/python -m pytest tests

notebooks: data
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env book

test: unit notebooks html

bench: data
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf _build
