# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates (or refreshes, when pyproject.toml changes) the local virtual environment .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stylex-installed
# The exact torch build installed first, so no dependency resolves a different one.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: test demo lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check stylex tests benchmarks

test: lint
	$(PY) -m pytest -q -n 2 --dist loadfile

demo: $(STAMP)
	$(PY) -m stylex demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
