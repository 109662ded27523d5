# Two commands do all the set-up on a fresh Debian machine:
#   make demo   creates .venv, installs cgraph, runs the tutorial example
#   make test   creates .venv, installs cgraph with its test extras, type-checks it (mypy),
#               runs the tests and a 60 s fuzz run
#   make test-frameworks   installs torch and jax, checks `cgraph export --to torch|jax` with them
#   make fuzz   the property tests with many more examples, then FUZZ_SECONDS of fuzzing
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-frameworks fuzz bench graphviz system-packages clean

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

# `cgraph export --to torch|jax` checked against the frameworks themselves: installs CPU
# builds of torch and jax from PyPI into the venv (some GB with torch's CUDA libraries on
# Linux; PyTorch's own CPU-only index, if reachable: TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu),
# then runs tests/frameworks, which `make test` leaves out.
TORCH_INDEX ?=
test-frameworks: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_INDEX) torch
	$(BIN)/python -m pip install --quiet --disable-pip-version-check jax jaxlib
	$(BIN)/python -m pytest -q tests/frameworks

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
	$(BIN)/python bench/bench_grad.py
	$(BIN)/python bench/bench_export.py

# A Debian package a target needs: installed with apt-get when run as root and the command
# is missing, else a note saying how. $(call apt_install,COMMAND,PACKAGE,WHAT NEEDS IT)
define apt_install
	@command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) with apt-get"; \
	    apt-get update -qq >/dev/null && apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "note: $(1) is not installed; $(3) need it: sudo apt-get install $(2)"; \
	  fi; }
endef

# Graphviz's `dot` turns diagrams into images; text formats work without it.
graphviz:
	$(call apt_install,dot,graphviz,images (svg/png/pdf))

# The tests also run the README's `... | jq` examples, so they need jq beside Graphviz,
# render explain's LaTeX with KaTeX, so node and the npm package katex (installed into
# .cache/node, which git ignores), and drive the interactive page (render --format html) in
# Debian's headless Chromium through its chromedriver. Without its recommended packages:
# those (fonts-liberation among them) would change the fonts Graphviz lays diagrams out with.
KATEX_VERSION ?= 0.16.22
system-packages: graphviz
	$(call apt_install,jq,jq,the README example tests)
	$(call apt_install,node,nodejs,the LaTeX tests (KaTeX))
	$(call apt_install,npm,npm,the LaTeX tests (KaTeX))
	$(call apt_install,chromium,--no-install-recommends chromium,the interactive page's browser tests)
	$(call apt_install,chromedriver,--no-install-recommends chromium-driver,the interactive page's browser tests)
	@test -f .cache/node/node_modules/katex/package.json || ! command -v npm >/dev/null 2>&1 || { \
	  echo "installing katex $(KATEX_VERSION) with npm into .cache/node"; \
	  mkdir -p .cache/node && npm install --prefix .cache/node --no-audit --no-fund --silent katex@$(KATEX_VERSION); }

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
