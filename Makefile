# ntkbook — every target bootstraps .venv from scratch on a fresh machine (Python 3.11+ and nothing else).
#   make test   package tests, book-consistency tests, nbval (fast scale), fast site build, browser check
#   make book   execute every notebook at book scale (cached) and build the website into _build/html
#   make lab    JupyterLab on notebooks/
#   make bench SUITE=kernels   run a benchmark suite
#   make clean  remove builds and caches (keeps .venv); make distclean also removes .venv

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2
FAST_OUT := _build/fast
export PYTHONHASHSEED := 0
export NTKBOOK_PROGRESS := 0
export JAX_PLATFORMS ?= cpu

.PHONY: test book lab bench clean distclean venv chromium test-package test-notebooks site-fast test-browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ntkbook)" >/dev/null
	@touch $@

# Debian's Chromium and its driver, for the browser check (installed when missing).
chromium:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "installing chromium + chromium-driver (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

test: test-package test-notebooks site-fast test-browser

test-package: $(STAMP)
	NTKBOOK_SCALE=fast $(BIN)/python -m pytest -n $(JOBS) -m "not browser" tests --doctest-modules ntkbook -q -p no:cacheprovider

# nbval executes every notebook once (fast scale) and keeps the executed copies for the site build.
test-notebooks: $(STAMP)
	rm -rf $(FAST_OUT)/executed
	NTKBOOK_SCALE=fast $(BIN)/python -m pytest -p tools.nbcapture --nb-save-executed $(FAST_OUT)/executed \
	  --nbval-lax --nbval-cell-timeout=300 -n $(JOBS) --dist loadfile notebooks -q -p no:cacheprovider
	$(BIN)/python tools/bookexec.py timings $(FAST_OUT)/executed --budget 10

site-fast: $(STAMP)
	$(BIN)/python tools/bookexec.py fast-config $(FAST_OUT)/_config.yml
	$(BIN)/python tools/bookexec.py import-cache $(FAST_OUT)/executed _build/.jupyter_cache_fast
	NTKBOOK_SCALE=fast $(BIN)/jupyter-book build . --config $(FAST_OUT)/_config.yml --path-output $(FAST_OUT) \
	  -n -W --keep-going --all -q

test-browser: $(STAMP) chromium
	$(BIN)/python -m pytest -m browser tests/book/test_site.py --site $(FAST_OUT)/_build/html -q -p no:cacheprovider

book: $(STAMP)
	NTKBOOK_SCALE=book $(BIN)/jupyter-book build . -n -W --keep-going -q
	@echo "website: _build/html/index.html"

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

SUITE ?= kernels
bench: $(STAMP)
	$(BIN)/python -m ntkbook.bench $(SUITE)

clean:
	rm -rf _build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
