# Developer commands. Each target makes its own virtualenv, so it works on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PURE_VENV ?= .venv-pure
DIST_VENV ?= .venv-dist
NOCC_VENV ?= .venv-nocc
PYTEST_ARGS ?=

.PHONY: venv install run test lint test-pure bench dist dist-check nocompiler-check clean

venv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip

## install: ddfast (compiled) with its test, bench and lint tools
install: venv
	$(BIN)/python -m pip install -q ".[test,bench,lint]"

## run: install and run ddfast's main job (python -m ddfast)
run: install
	$(BIN)/python -m ddfast

## lint: ruff over the Python sources
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: install, lint, and run the test suite on the compiled build (both twins; no silent fallback)
test: lint
	DDFAST_REQUIRE_EXTENSIONS=1 $(BIN)/pytest $(PYTEST_ARGS)

## test-pure: build and install without extensions (DDFAST_NO_EXTENSIONS=1) and run the suite
test-pure:
	test -x $(PURE_VENV)/bin/python || $(PYTHON) -m venv $(PURE_VENV)
	$(PURE_VENV)/bin/python -m pip install -q -U pip
	DDFAST_NO_EXTENSIONS=1 $(PURE_VENV)/bin/python -m pip install -q --no-cache-dir ".[test]"
	DDFAST_NO_EXTENSIONS=1 DDFAST_REQUIRE_EXTENSIONS=0 $(PURE_VENV)/bin/pytest $(PYTEST_ARGS)

## bench: the benchmark suites, ddfast compiled vs pure vs ddtrace, saved as JSON under .benchmarks/
bench: install
	$(BIN)/pytest benches --benchmark-only \
		--benchmark-columns=median,iqr,ops --benchmark-sort=name --benchmark-autosave

## dist: an sdist and a wheel in dist/
dist: venv
	$(BIN)/python -m pip install -q build
	rm -rf dist && $(BIN)/python -m build -o dist .

## dist-check: the sdist from `make dist` installs in a fresh venv, with its compiled modules
dist-check: dist
	rm -rf $(DIST_VENV) && $(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install -q dist/ddfast-*.tar.gz
	cd / && $(CURDIR)/$(DIST_VENV)/bin/python -c "import ddfast; assert ddfast.implementation() == 'cython', ddfast.implementation(); print('sdist install:', ddfast.__version__, ddfast.implementation())"

## nocompiler-check: with no working C compiler the install still succeeds, in pure Python, saying so once
nocompiler-check:
	rm -rf $(NOCC_VENV) && $(PYTHON) -m venv $(NOCC_VENV)
	rm -rf build
	CC=false $(NOCC_VENV)/bin/python -m pip install -v . 2>&1 | grep -c "ddfast will run in pure Python" | grep -qx 1
	cd / && $(CURDIR)/$(NOCC_VENV)/bin/python -c "import ddfast; assert ddfast.implementation() == 'python'; print('no compiler: pure install ok')"
	rm -rf build

clean:
	rm -rf build dist *.egg-info src/*.c src/*.html ddfast/_ext/*.so ddfast/_version.py .pytest_cache .benchmarks
