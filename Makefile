# The two README commands: `make check` (the conformance matrix) and `make test` (the test suite).
# Both build .venv from pinned constraints first, so they work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv check test bench golden docs mutate clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints/ci.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints/ci.txt -e '.[dev,torch,tf,peers,plot]'
	touch $(STAMP)

check: $(STAMP)
	$(BIN)/optimspec golden verify
	$(BIN)/optimspec catalogue
	$(BIN)/optimspec matrix

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks -q --benchmark-autosave && $(BIN)/python benchmarks/ratios.py

# The suite's mutation score (several minutes; not part of `make test`): README, "Mutation score".
mutate: $(STAMP)
	$(BIN)/optimspec mutate --jobs 2 --report reports/mutation.json

golden: $(STAMP)
	$(BIN)/optimspec golden generate

docs: $(STAMP)
	$(BIN)/python -m optimspec.conformance.docs docs

clean:
	rm -rf $(VENV) build *.egg-info
