PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test peer lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[plot]"
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,plot]"
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	$(VENV)/bin/hydrograd demo

test: $(STAMP_TEST)
	$(PY) -m ruff check hydrograd tests benchmarks examples
	HYDROGRAD_STRICT_SKIPS=1 $(PY) -m pytest

# smash's own test suite against hydrograd, one line per test (make test runs it at the light level,
# in tests/peer/test_smash_suite.py); SMASH_TEST_LEVEL=light|full (smash's default: full)
peer: $(STAMP_TEST)
	$(PY) -m tests.peer

lint: $(STAMP_TEST)
	$(PY) -m ruff check hydrograd tests benchmarks examples
	$(PY) -m ruff format --check hydrograd tests benchmarks examples

bench: $(STAMP_TEST)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
