# The book's commands. `make book` and `make test` each set everything up from scratch.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONUNBUFFERED := 1
# matplotlib's font cache lives with the environment: a cache shared across checkouts can
# list fonts of an environment that no longer exists, and every figure then warns on stderr.
export MPLCONFIGDIR := $(CURDIR)/$(VENV)/matplotlib

.PHONY: help setup data book html test unit smoke notebooks site browser bench gpu-check sweep clean mathjax lab student coursework

help:
	@echo "make book   set up, fetch CIFAR-10, build the website into _build/html"
	@echo "make test   set up, fetch CIFAR-10, run the unit tests, the notebooks (nbval) and the site build"
	@echo "make data   fetch and verify CIFAR-10 only"
	@echo "make bench  run the benchmarks (printed as ratios) and write BENCHMARKS.md"
	@echo "make gpu-check  on a CUDA machine: the CUDA tests, the smoke run, one full epoch, attacks beside peers (_build/gpu-check.md)"
	@echo "make sweep  train every network of the book on Ray (SWEEP_ARGS=\"--profile full --address HOST:PORT --cache DIR\")"
	@echo "make mathjax  fetch the MathJax the website serves itself"
	@echo "make lab    open the chapters in JupyterLab, in the project's environment"
	@echo "make student  write the coursework's student edition (solutions stripped by nbgrader) into _build/student"

MATHJAX_VERSION := 3.2.2
MATHJAX_SHA256  := 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
MATHJAX         := _site_static/mathjax/tex-mml-chtml.js

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	# test oracles only: torchattacks pins an old requests, so it comes without its dependencies
	# (importing it needs only torch, numpy and scipy, which the test extra brings)
	$(BIN)/python -m pip install --quiet --no-deps torchattacks==3.5.1
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (freqlens)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

data: $(STAMP)
	$(BIN)/freqlens-data

# MathJax served by the site itself, so that equations render without a network: the
# registry's package, fetched with npm pack (never installed) and checked against its SHA-256.
$(MATHJAX):
	@command -v npm >/dev/null || { echo "npm is needed to fetch MathJax for the site (Debian: apt-get install npm)"; exit 1; }
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null); \
	echo "$(MATHJAX_SHA256)  $$tmp/mathjax-$(MATHJAX_VERSION).tgz" | sha256sum --check --quiet -; \
	tar xzf "$$tmp/mathjax-$(MATHJAX_VERSION).tgz" -C "$$tmp"; \
	rm -rf _site_static/mathjax.part; mkdir -p _site_static/mathjax.part; \
	cp -r "$$tmp"/package/es5/{tex-mml-chtml.js,input,output,ui,a11y,sre} _site_static/mathjax.part/; \
	rm -rf _site_static/mathjax; mv _site_static/mathjax.part _site_static/mathjax

mathjax: $(MATHJAX)

html: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build . --path-output . -W --keep-going

book: data html
	@echo "The book is in _build/html/index.html"

unit: data
	$(BIN)/python -m pytest tests helpers/freqlens --doctest-modules --ignore=tests/site --ignore=tests/coursework -m "not smoke"

# The full profile's code (ResNet-18, its optimisers, schedules and adversarial steps) at
# the smoke profile's size: every training code path and every public function, in minutes.
smoke: data
	$(BIN)/python -m pytest tests/test_smoke.py

# nbval reads a cell's messages only once the cell has finished, and the kernel drops
# messages beyond ZeroMQ's queue limit: a cell that trains a dozen networks with live
# progress bars can lose its final "idle" message and fail on a 5-second wait. The
# training bars are off under nbval (the site build and JupyterLab still show them).
# Every network the notebooks ask for is logged, and must be in the grid that `make sweep`
# trains (freqlens/grid.py): otherwise a sweep would leave the notebooks training. Every
# claim of the page of verdicts must have been judged by its chapter in this run.
REQUEST_LOG := _build/requests.jsonl
notebooks: data
	mkdir -p _build && rm -f $(REQUEST_LOG)
	FREQLENS_PROGRESS=0 FREQLENS_REQUEST_LOG=$(CURDIR)/$(REQUEST_LOG) $(BIN)/python -m pytest --nbval-lax --nbval-current-env --durations=15 book
	$(BIN)/freqlens-grid check $(REQUEST_LOG)
	$(BIN)/python -m freqlens.verdicts check

# Debian's Chromium for the browser test of the site; installed only where we are root.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "No Chromium: the browser test of the site will be skipped (install Debian's chromium)"; fi; }

site: $(STAMP) browser
	$(BIN)/python -m pytest tests/site

lab: data
	$(BIN)/jupyter lab book/

# The coursework: every chapter whose notebook has nbgrader cells is an assignment of its own
# name; nbgrader (settings in nbgrader_config.py) strips its solutions and hidden tests. It
# runs alembic for its gradebook, which it looks for on PATH.
COURSE := _build/course
student: $(STAMP)
	rm -rf $(COURSE)/source $(COURSE)/release _build/student
	for nb in $$(grep -l '"nbgrader"' book/[0-9]*.ipynb); do \
	  name=$$(basename $$nb .ipynb); mkdir -p $(COURSE)/source/$$name; cp $$nb $(COURSE)/source/$$name/; \
	  PATH="$(abspath $(BIN)):$$PATH" $(BIN)/nbgrader generate_assignment $$name --force --log-level=WARN; \
	done
	cp -r $(COURSE)/release _build/student
	@echo "The student edition is in _build/student/<chapter>/<chapter>.ipynb"

# The round trip with nbgrader itself: student edition, then autograding it blank, with a
# typical slip and solved (chapter 1 executed; every chapter generated and checked).
coursework: data
	$(BIN)/python -m pytest tests/coursework

test: unit smoke notebooks coursework html site

# The book's whole grid as Ray tasks, into the experiment cache; the notebooks then run warm.
# Local Ray by default; SWEEP_ARGS="--address HOST:PORT --cache /shared/cache" joins a cluster.
SWEEP_ARGS ?=
sweep: data
	$(BIN)/freqlens-sweep $(SWEEP_ARGS)

# Every benchmark in one run; BENCHMARKS.md is written from that run's records.
BENCH_RESULTS := _build/bench.jsonl
bench: data
	mkdir -p _build && rm -f $(BENCH_RESULTS)
	start=$$(date +%s); \
	for b in benchmarks/bench_*.py; do echo "== $$b"; BENCH_RESULTS=$(CURDIR)/$(BENCH_RESULTS) $(BIN)/python $$b; done; \
	$(BIN)/python benchmarks/sidebyside.py $(BENCH_RESULTS) BENCHMARKS.md --seconds $$(( $$(date +%s) - start ))

# On a machine with a CUDA GPU, about eight minutes: the report goes to _build/gpu-check.md.
gpu-check: data
	mkdir -p _build
	$(BIN)/python benchmarks/gpu_check.py --report _build/gpu-check.md

clean:
	rm -rf _build
