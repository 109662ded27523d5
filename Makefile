# Two commands do all the set-up on a fresh Debian machine:
#   make demo   creates .venv, installs cgraph, runs the tutorial example
#   make test   creates .venv, installs cgraph with its test extras, runs the tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench graphviz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) graphviz
	$(BIN)/cgraph eval samples/intro.cg --x 1 --y 3 --z -3

test: $(STAMP) graphviz
	$(BIN)/python -m pytest -q

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

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
