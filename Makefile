# Two commands for a newcomer (README.md): `make demo` and `make test`.
# Everything is installed into .venv from the package registries.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STUBS_VERSION := 1.29.0.post1
STDLIB_STUBS_VERSION := 1.29.0.post2
TYPINGS := .typings
SCENARIO ?= sim_harness/scenarios/nominal-flat.toml
# the emulated Pico's engine (rp2040js, pinned in emulator/package-lock.json)
EMULATOR_DEPS := emulator/node_modules/.package-lock.json

.PHONY: setup demo test lint typecheck pytest bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# rp2 MicroPython stubs for the Pico and the Pico 2, laid out as a typeshed for mypy
$(TYPINGS)/.installed: $(VENV)/.installed
	rm -rf $(TYPINGS)
	$(PY) -m pip install --quiet --no-deps --target $(TYPINGS)/pico \
		micropython-rp2-rpi-pico-stubs==$(STUBS_VERSION) micropython-stdlib-stubs==$(STDLIB_STUBS_VERSION)
	$(PY) -m pip install --quiet --no-deps --target $(TYPINGS)/pico2 \
		micropython-rp2-rpi-pico2-stubs==$(STUBS_VERSION) micropython-stdlib-stubs==$(STDLIB_STUBS_VERSION)
	$(PY) tools/typeshed_layout.py $(TYPINGS)
	touch $@

$(EMULATOR_DEPS): emulator/package.json emulator/package-lock.json
	npm ci --prefix emulator --no-audit --no-fund --loglevel=error

setup: $(VENV)/.installed $(TYPINGS)/.installed $(EMULATOR_DEPS)

demo: setup
	$(VENV)/bin/lander sim $(SCENARIO) --out out/demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the host side's layers (pyproject.toml, docs/architecture.md)

typecheck: setup
	$(VENV)/bin/mypy --config-file tools/mypy-pico.ini firmware/main.py firmware/flight $(wildcard boards/pico.py boards/rp2board.py) boards/virtual.py
	$(VENV)/bin/mypy --config-file tools/mypy-pico2.ini firmware/main.py firmware/flight $(wildcard boards/pico2.py boards/rp2board.py)

pytest: setup
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadgroup

test: lint typecheck pytest

bench: setup
	$(VENV)/bin/lander bench

clean:
	rm -rf $(VENV) $(TYPINGS) emulator/node_modules out .pytest_cache .mypy_cache .ruff_cache
