# Two commands on a fresh machine with Python 3.11+ and make:  `make drop`  and  `make test`.
# Each one builds .venv in the checkout and installs the pinned dependencies only when they changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup drop cluster test lint typecheck pytest system-deps bench clean

help:
	@echo "make drop   start the drop box (ARGS='--allow-downloads ...')"
	@echo "make cluster  SeaweedFS + PostgreSQL + 3 drop nodes behind haproxy (ARGS go to every node)"
	@echo "make test   pre-commit checks on all files, then the whole test suite"
	@echo "make bench  benchmarks (long)"

$(STAMP): pyproject.toml requirements-lock.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c requirements-lock.txt hatchling editables
	$(BIN)/python -m pip install -q -c requirements-lock.txt --no-build-isolation -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

drop: $(STAMP)
	$(BIN)/calamity drop $(ARGS)

cluster: $(STAMP) system-deps
	$(BIN)/calamity drop cluster $(ARGS)

system-deps:
	@bash scripts/system-deps.sh

lint: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest $(ARGS)

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c requirements-lock.txt --no-build-isolation -e '.[dev,bench]'
	@bash scripts/system-deps.sh --bench
	@for b in images cpu_paint upload soak; do [ -f benchmarks/$$b.py ] || continue; \
		echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
