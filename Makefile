# weblog — two commands on a fresh machine: `make demo` and `make test`.
# Everything the tests need is installed here (Python packages into .venv, and the
# Debian packages for browser tests and the benchmark reference), never at run time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APT_PACKAGES := chromium
# to build the compiled line splitter (setup.py); Python's headers come with the interpreter
# (python3-dev for Debian's own)
BUILD_PACKAGES := gcc
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: help install build-deps system-deps demo test bench clean-data

help:
	@echo "make demo   - install, generate sample logs, run the nightly flow, show where to look"
	@echo "make test   - install everything the tests need and run the whole suite"
	@echo "make bench  - benchmark ingest + aggregate against GoAccess (bench/)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py pipelines/_fastsplit.c | $(BIN)/python build-deps
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

# A C compiler and Python's headers for pipelines/_fastsplit.c, only when missing.
build-deps:
	@missing=""; for p in $(BUILD_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	headers=$$($(PYTHON) -c "import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"); \
	if [ "$$headers" != True ]; then missing="$$missing python3-dev"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Debian packages (Chromium for the browser tests), only when missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

weblog.toml:
	cp weblog.example.toml weblog.toml

demo: install weblog.toml
	$(BIN)/weblog demo

# Browser tests run in a process of their own: Playwright's sync API leaves an asyncio loop
# "running" in its thread, which makes Prefect treat later flow calls there as async.
test: install system-deps
	$(BIN)/python -m pytest -n 2 -m "not browser" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

bench: install
	@dpkg -s goaccess >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq goaccess hyperfine >/dev/null; }
	$(BIN)/python bench/ingest.py

clean-data:
	rm -rf data/raw data/warehouse.duckdb data/warehouse.duckdb.wal data/audit data/reports data/sample data/geoip data/prefect
