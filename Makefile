# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
# Every target below depends on the stamps it needs, so a second run reinstalls nothing.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD_STAMP := .build/stamp
PROTOS := $(shell find protos -name '*.proto')
EXT_SOURCES := $(wildcard ext/*.pyx ext/*.pxi ext/*.pxd ext/*.h)

.PHONY: serve test quicktest check lint build migrate bench soak clean lock firmware firmware-deps

serve: build
	$(PY) -m server serve

test: build firmware
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Unit, contract and property tests, and domain rules run in this process on the embedded parts
# (a SQLite file, the in-memory cache, the embedded broker): no HTTP or gRPC listener, child process,
# fresh clone or real service (those are marked `integration`).
quicktest: build
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

# Everything CI checks: lint, formatting, types, the protos, then the whole test suite.
check: lint test

# The firmware's host build (firmware/CMakeLists.txt): protocol core, its vector tests, hxtp-device.
# Incremental: cmake configures once, make rebuilds what changed. Needs libssl-dev and
# libmosquitto-dev, which firmware-deps installs from Debian packages when they are missing.
FIRMWARE_BUILD := .build/firmware

# Configured again when an earlier configure ran before the -dev packages were there (a NOTFOUND in
# the cache for libmosquitto), so that hxtp-device appears once it is installed.
firmware: firmware-deps
	@test -f $(FIRMWARE_BUILD)/Makefile && ! grep -q 'MOSQUITTO_[A-Z_]*-NOTFOUND' $(FIRMWARE_BUILD)/CMakeCache.txt || \
	  cmake -S firmware -B $(FIRMWARE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(FIRMWARE_BUILD) -j2 -- --no-print-directory >/dev/null

firmware-deps:
	@dpkg -s libssl-dev libmosquitto-dev >/dev/null 2>&1 || { \
	  echo "installing libssl-dev libmosquitto-dev (firmware host build)"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libssl-dev libmosquitto-dev >/dev/null; }

lint: build
	$(VENV)/bin/ruff check server gateway contract ext tests bench setup.py
	# ext/'s pure-Python twin keeps the .pyx's hand layout line for line, so it is linted, not reformatted.
	$(VENV)/bin/ruff format --check server gateway contract tests bench setup.py
	$(VENV)/bin/mypy server gateway contract ext
	rm -rf .build/protodeps && mkdir -p .build/protodeps/google/api
	cp $$($(PY) -c 'import os, google.api.annotations_pb2 as a; print(os.path.dirname(a.__file__))')/{annotations,http,httpbody}.proto \
	  .build/protodeps/google/api/
	$(VENV)/bin/buf lint

build: $(BUILD_STAMP)

migrate: build
	$(PY) -m server migrate

bench: build
	$(PY) bench/run_all.py

# 10 minutes of mixed load (SOAK_SECONDS to change it); figures appended to bench/RESULTS.md.
soak: build
	$(PY) bench/soak.py

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

$(BUILD_STAMP): $(VENV)/.installed setup.py $(PROTOS) $(EXT_SOURCES)
	rm -rf hxtp
	$(PY) setup.py --quiet build_protos
	$(PY) setup.py --quiet build_ext --inplace
	PYTHONWARNINGS=ignore HXTP_EDITABLE_INSTALL=1 $(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	mkdir -p .build && touch $@

lock:
	rm -rf .build/lockvenv && $(PYTHON) -m venv .build/lockvenv
	.build/lockvenv/bin/pip install --quiet -r requirements.in -r requirements-dev.in
	{ echo "# Every dependency pinned (runtime and development). Regenerate with 'make lock' after editing requirements*.in."; \
	  .build/lockvenv/bin/pip freeze; } > requirements.lock

clean:
	rm -rf .build build hxtp ext/*.c ext/*.so firmware/esp32/.pio
