# Two commands do all the set-up on a fresh Debian machine:
#   make demo   creates .venv, installs cgraph, runs the tutorial example
#   make test   creates .venv, installs cgraph with its test extras, type-checks it (mypy),
#               runs the tests and a 60 s fuzz run
#   make fuzz   the property tests with many more examples, then FUZZ_SECONDS of fuzzing
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test fuzz bench graphviz system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) graphviz
	$(BIN)/cgraph eval samples/intro.cg --x 1 --y 3 --z -3

test: $(STAMP) system-packages
	$(BIN)/python -m mypy cgraph
	$(BIN)/python -m pytest -q
	$(BIN)/python fuzz/fuzz_cgraph.py --engine random --seconds $(CI_FUZZ_SECONDS) --seed $(CI_FUZZ_SEED) --quiet

# Longer: the property tests with many more examples, then the fuzzer (atheris, if the
# fuzz extra installs, else the built-in random mutation) for FUZZ_SECONDS.
FUZZ_SECONDS ?= 600
CI_FUZZ_SECONDS ?= 60
# `make test` fuzzes (and draws hypothesis examples) the same way every run, so that CI
# judges the change, not the luck of a new seed; `make fuzz` explores with fresh ones.
CI_FUZZ_SEED ?= 1
fuzz: $(STAMP) system-packages
	-$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,fuzz]'
	CGRAPH_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_properties.py --hypothesis-show-statistics
	$(BIN)/python fuzz/fuzz_cgraph.py --seconds $(FUZZ_SECONDS)

bench: $(STAMP)
	$(BIN)/python bench/bench_core.py

# Graphviz's `dot` turns diagrams into images; text formats work without it.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot) with apt-get"; \
	    apt-get update -qq >/dev/null && apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "note: Graphviz 'dot' is not installed; image output needs it: sudo apt-get install graphviz"; \
	  fi; }

# The tests also run the README's `... | jq` examples, so they need jq beside Graphviz.
system-packages: graphviz
	@command -v jq >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing jq with apt-get"; \
	    apt-get update -qq >/dev/null && apt-get install -y -qq jq >/dev/null; \
	  else \
	    echo "note: jq is not installed; the README example tests need it: sudo apt-get install jq"; \
	  fi; }

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
