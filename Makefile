# Vector payload flight software — developer entry points (see README.md).
# Every target that needs the toolchain depends on `setup`, so each works first on a
# fresh clone.

PYTHON ?= python3
PY     := .venv/bin/python
PORT   ?=
BAUD   ?= 115200

VENV_STAMP    := .venv/.installed
MPYVM_STAMP   := tools/mpyvm/node_modules/.installed
TYPINGS_STAMP := .typings/.installed

# Pytest workers: the 2-core CI machine runs two; test modules stay whole on one worker
# so each MicroPython module boots its VM once.
TEST_JOBS ?= 2

.PHONY: setup test test-fast sim bench mpy deploy deploy-dry hil typecheck lint clean help

help:
	@echo "make setup      create .venv (pinned deps), MicroPython VM runtime, stubs"
	@echo "make sim        fly the nominal pass in closed loop -> out/"
	@echo "make test       all suites (CPython, MicroPython VM, HIL on the simulated payload)"
	@echo "make bench      performance figures -> out/bench.json"
	@echo "make mpy        mpy-cross build of flight/ hal/ board/ -> build/"
	@echo "make deploy PORT=/dev/ttyACM0   copy build/ to the board with mpremote, reset"
	@echo "make deploy-dry print the mpremote commands deploy would run"
	@echo "make hil PORT=/dev/ttyUSB0      HIL suite against a real payload computer"
	@echo "make typecheck  mypy over flight/ hal/ against the MicroPython stubs"
	@echo "make lint       ruff"

setup: $(VENV_STAMP) $(MPYVM_STAMP) $(TYPINGS_STAMP)

$(VENV_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (need Python >= 3.10)"; exit 1; }
	$(PYTHON) -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

$(MPYVM_STAMP): tools/mpyvm/package.json tools/mpyvm/package-lock.json
	@command -v node >/dev/null || { echo "error: Node.js not found: the MicroPython test runtime needs node >= 18 and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm not found: needed to install the MicroPython WebAssembly runtime (Debian: apt-get install npm)"; exit 1; }
	cd tools/mpyvm && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(TYPINGS_STAMP): pyproject.toml | $(VENV_STAMP)
	$(PY) -m pip install -q --disable-pip-version-check --target .typings \
		micropython-stdlib-stubs==1.27.0.post2 micropython-stm32-stubs==1.27.0.post1
	@touch $@

test: setup
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

# Skip the slow property/robustness campaigns (developer loop only; CI runs `test`).
test-fast: setup
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile -m "not slow"

sim: setup
	$(PY) -m sim --scenario nominal --json out/metrics.json --plots out --report out/report.md

bench: setup
	$(PY) -m bench --out out/bench.json

mpy: setup
	$(PY) -m tools.build_mpy --out build

deploy: mpy
	@test -n "$(PORT)" || { echo "error: give the board's port: make deploy PORT=/dev/ttyACM0"; exit 2; }
	$(PY) -m tools.deploy --port $(PORT)

deploy-dry: mpy
	$(PY) -m tools.deploy --port $(or $(PORT),/dev/ttyACM0) --dry-run

hil: setup
	@test -n "$(PORT)" || echo "note: no PORT given: the HIL suite runs against the simulated payload on a pty"
	$(PY) -m pytest tests/hil $(if $(PORT),--port $(PORT) --baud $(BAUD),)

typecheck: setup
	$(PY) tools/typecheck.py

lint: setup
	$(PY) -m ruff check flight hal sim ground_tools tools tests bench

clean:
	rm -rf build out .pytest_cache .mypy_cache .ruff_cache
