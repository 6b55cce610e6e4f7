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

# Firmware (issue 11): MicroPython v1.27.0 from the trimmed archive beside the repository
# (../shared/micropython/), or MICROPY_ARCHIVE=/path/to/archive, or MICROPY_DIR=/path/to/tree.
export MICROPY_ARCHIVE MICROPY_DIR
TARGET_DEBS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm

.PHONY: setup browser test test-fast sim bench mpy deploy deploy-dry hil typecheck lint clean help \
	setup-target firmware target-test target-bench

help:
	@echo "make setup      create .venv (pinned deps), MicroPython VM runtime, stubs"
	@echo "make sim        fly the nominal pass in closed loop -> out/"
	@echo "make test       all suites (CPython, MicroPython VM, HIL on the simulated payload)"
	@echo "make bench      performance figures -> out/bench.json"
	@echo "make mpy        mpy-cross build of the board manifest (board/manifest.py) -> build/"
	@echo "make deploy PORT=/dev/ttyACM0   copy build/ to the board with mpremote, reset"
	@echo "     [KEY_FILE=keys.txt] provision TC keys (checked first) | [DEV_KEY=1] bench: dev key"
	@echo "make deploy-dry print the mpremote commands deploy would run"
	@echo "make hil PORT=/dev/ttyUSB0      HIL suite against a real payload computer"
	@echo "make setup-target  Arm toolchain + QEMU (Debian packages, apt-get as root)"
	@echo "make firmware   MicroPython firmware: QEMU Cortex-M7 image + the payload computer's (STM32H743, board/stm32/VECTOR_PCU)"
	@echo "make target-test  tests/mpy on the QEMU Cortex-M7 image ([m7] items)"
	@echo "make target-bench flight budget on the QEMU image -> out/target.json"
	@echo "make typecheck  mypy over flight/ hal/ against the MicroPython stubs"
	@echo "make lint       ruff"

setup: $(VENV_STAMP) $(MPYVM_STAMP) $(TYPINGS_STAMP) browser

# The web operator page is tested in the system's headless Chromium (no browser download):
# installed from Debian when missing and we are root (CI, a fresh machine); elsewhere the
# web tests are skipped with this hint.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium + chromium-driver (web page tests)"; \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) >/dev/null; \
	else echo "note: chromium/chromium-driver missing: the web page tests will be skipped" \
		"(apt-get install chromium chromium-driver)"; fi

$(VENV_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (need Python >= 3.10)"; exit 1; }
	$(PYTHON) -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@echo "vector-tc is installed in .venv/bin: run '. .venv/bin/activate' to have it on your PATH"
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
	$(PY) -m tools.deploy --port $(PORT) $(if $(KEY_FILE),--key-file $(KEY_FILE)) $(if $(DEV_KEY),--dev-key)

deploy-dry: mpy
	$(PY) -m tools.deploy --port $(or $(PORT),/dev/ttyACM0) --dry-run $(if $(KEY_FILE),--key-file $(KEY_FILE)) $(if $(DEV_KEY),--dev-key)

# TARGET=qemu: against the firmware (QEMU Cortex-M7 image, its UART on a pty).
hil: setup
	@test -n "$(PORT)$(TARGET)" || echo "note: no PORT given: the HIL suite runs against the simulated payload on a pty"
	$(if $(TARGET),$(PY) -m tools.firmware --only qemu,)
	$(PY) -m pytest tests/hil $(if $(PORT),--port $(PORT) --baud $(BAUD),) $(if $(TARGET),--target $(TARGET),)

typecheck: setup
	$(PY) tools/typecheck.py

lint: setup
	$(PY) -m ruff check flight hal sim ground_tools tools tests bench

# The firmware toolchain: installed only where missing; a clear error where it cannot be.
setup-target:
	@missing=""; \
	command -v arm-none-eabi-gcc >/dev/null || missing="$$missing gcc-arm-none-eabi"; \
	test -e /usr/lib/arm-none-eabi/include/stdlib.h || missing="$$missing libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null || missing="$$missing qemu-system-arm"; \
	command -v cc >/dev/null || missing="$$missing build-essential"; \
	if [ -z "$$missing" ]; then echo "setup-target: Arm toolchain and QEMU present"; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "error: missing$$missing and no apt-get here: install the Arm GNU toolchain (arm-none-eabi-gcc + newlib) and qemu-system-arm by hand"; exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "error: missing$$missing: run as root, or: sudo apt-get install$$missing"; exit 1; fi; \
	echo "setup-target: apt-get install$$missing"; \
	apt-get -o DPkg::Lock::Timeout=300 update -q && \
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
		--no-install-recommends $$missing || \
		{ echo "error: apt-get could not install$$missing"; exit 1; }

firmware: setup setup-target
	$(PY) -m tools.firmware

# The flight budget on the QEMU image (guest instructions under -icount) -> out/target.json.
target-bench: setup setup-target
	$(PY) -m tools.firmware --only qemu
	$(PY) -m tools.target_bench --out out/target.json

# tests/mpy on the QEMU Cortex-M7 image only (the [m7] items of `make test`).
target-test: setup setup-target
	$(PY) -m tools.firmware --only qemu
	CI=$${CI:-1} $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile tests/mpy -k m7

clean:
	rm -rf build out .pytest_cache .mypy_cache .ruff_cache
