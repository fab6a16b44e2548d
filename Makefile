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

# `make bench`: every suite at the default scale (0.05 unless OPTIMSPEC_BENCH_SCALE says otherwise),
# the optimizer suites again at full scale (the schedules do not depend on the scale), then one
# table per scale and the targets of benchmarks/targets.toml (exit 1 when one is missed).
BENCH_OUT := reports/bench
bench: $(STAMP)
	mkdir -p $(BENCH_OUT)
	$(BIN)/python -m pytest benchmarks -q --benchmark-quiet --benchmark-json $(BENCH_OUT)/default-scale.json
	OPTIMSPEC_BENCH_SCALE=1.0 OPTIMSPEC_BENCH_WARMUP=2 \
		$(BIN)/python -m pytest benchmarks/test_optimizers.py -q --benchmark-quiet --benchmark-json $(BENCH_OUT)/full-scale.json
	$(BIN)/python benchmarks/ratios.py $(BENCH_OUT)/default-scale.json $(BENCH_OUT)/full-scale.json --json $(BENCH_OUT)/ratios.json

# The suite's mutation score (several minutes; not part of `make test`): README, "Mutation score".
mutate: $(STAMP)
	$(BIN)/optimspec mutate --jobs 2 --report reports/mutation.json

golden: $(STAMP)
	$(BIN)/optimspec golden generate

docs: $(STAMP)
	$(BIN)/python -m optimspec.conformance.docs docs

clean:
	rm -rf $(VENV) build *.egg-info
