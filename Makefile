# Every target creates or reuses .venv and installs the project into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck bench scenarios soak test-slow serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python setup.cfg setup.py pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

## make test: the whole default suite, the memory-bound tests under memray, then ruff, mypy
## and the import contract (.importlinter: the layers, and private modules kept private)
# pytest-memray enforces limit_memory only under --memray, which slows every test it tracks:
# so those tests run on their own, tracked.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not limit_memory"
	$(BIN)/python -m pytest -q --memray -m "limit_memory and not slow" tests
	$(BIN)/ruff check rxspike tests benchmarks docs/recipes tools examples
	$(BIN)/ruff format --check rxspike tests benchmarks docs/recipes tools examples
	$(BIN)/mypy
	$(BIN)/lint-imports

## make test-slow: comparison runs too long for the default suite
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

## make bench: throughput side by side with plain reactivex / raw aiohttp
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## make scenarios: rxspike's designs and the peers side by side, memray-instrumented, and the report
scenarios: $(STAMP)
	$(BIN)/rxspike scenarios run

## make soak: streams coming and going for 10 minutes per approach (not in make scenarios)
soak: $(STAMP)
	$(BIN)/rxspike scenarios run --soak

serve: $(STAMP)
	$(BIN)/rxspike serve

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
