# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow smoke-install typecheck lint bench gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/recast demo --workspace demo_workspace

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# The slow end-to-end tests (multi-process training, the studio in Chromium, the whole studio walk); CI runs them too.
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# Build the wheel, install it with no extras into a fresh venv, run every command once (a few minutes).
smoke-install:
	.ci/smoke-install

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# The CUDA tests and GPU timings in one short run (prints "no CUDA device" and exits 0 without one).
gpu-check: $(STAMP)
	$(PY) benchmarks/gpu.py

clean:
	rm -rf $(VENV) demo_workspace .peer-venvs
