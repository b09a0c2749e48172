# The two set-up commands: `make run` (gateway on 127.0.0.1:8000, embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test`: more than the 2 cores of CI, because most tests wait on processes and
# sockets rather than compute (docs: README, "Tests").
TEST_WORKERS ?= 3

.PHONY: run test test-fast lint unit openapi bench bench-peers screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/mcp-gateway serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint  ## the parallel part (a test file stays on one worker), then the few tests that must run alone
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS)
	$(BIN)/pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: nothing selected (e.g. PYTEST_ARGS=tests/unit)

test-fast: $(VENV)/.installed-dev  ## unit tests and the in-process data plane and tool router, no backends
	$(BIN)/pytest -n 2 -m "not slow and not k8s and not cosmos" $(PYTEST_ARGS)

unit: $(VENV)/.installed-dev
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

openapi: $(VENV)/.installed-dev
	$(BIN)/python -m gateway.openapi > openapi/mcp-gateway.openapi.json

screenshots: $(VENV)/.installed-dev  ## the portal's pictures in docs/images, made by its browser tests (needs chromium)
	MCPGW_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser -p no:cacheprovider $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev  ## gateway vs direct (docs/benchmarks.md); BENCH_ARGS=--quick for a smoke run
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-peers: $(VENV)/.installed-dev  ## the gateway next to ContextForge and fastmcp (installed under .cache/bench-peers)
	$(BIN)/python -m bench.peers $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mcp-gateway .pytest_cache .mypy_cache .ruff_cache
