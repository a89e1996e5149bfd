# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates (or refreshes, when pyproject.toml changes) the local virtual environment .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stylex-installed
# The exact torch build installed first, so no dependency resolves a different one.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: test demo lint venv clean mutation

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

# Mutation testing (mutmut, pinned; installed into .venv by this target only, not a dev extra).
# Modules and the tests run against them: the [mutmut] section of setup.cfg. MUTANTS narrows the
# run to mutant names matching a pattern, e.g. make mutation MUTANTS='stylex.training.losses*'.
MUTMUT_SPEC ?= mutmut==3.8.1
MUTANTS ?=
mutation: $(STAMP)
	$(PY) -m pip install -q $(MUTMUT_SPEC)
	rm -rf mutants
	OMP_NUM_THREADS=1 $(PY) -m mutmut run --max-children 2 $(MUTANTS)
	$(PY) -m mutmut results

clean:
	rm -rf $(VENV) .pytest_cache mutants
