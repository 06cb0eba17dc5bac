# Penny: the README's two commands are `make lab` and `make test` (and `make bench`).
# Every target sets up what it needs from a fresh clone, and is quick the second time.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
JLPM   := $(VENV)/bin/jlpm
DATA_DIR ?= $(CURDIR)/.penny
SCALE  ?= 1
PORT   ?= 8888
JS_SRC := $(wildcard labextension/src/*.ts labextension/src/*.tsx labextension/src/renderer/*.ts labextension/style/*) labextension/package.json

.PHONY: install lab test bench demo-data system-packages clean

install: $(VENV)/.stamp-install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# jlpm comes from jupyter-builder. The labextension is built here, once, when its sources change; the
# editable installs below skip hatch-jupyter-builder's hook, which would rebuild it on every install.
$(VENV)/.stamp-js-tools: | $(PY)
	$(PIP) install --quiet "jupyter-builder>=1.2.0,<2"
	touch $@

penny_jupyter/labextension/package.json: $(JS_SRC) labextension/yarn.lock | $(VENV)/.stamp-js-tools
	cd labextension && PATH=$(CURDIR)/$(VENV)/bin:$$PATH jlpm install --immutable && PATH=$(CURDIR)/$(VENV)/bin:$$PATH jlpm run build
	touch $@

$(VENV)/.stamp-install: pyproject.toml penny_jupyter/labextension/package.json | $(PY)
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[lab]"
	$(VENV)/bin/jupyter-builder develop --overwrite . > /dev/null
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[test]"
	touch $@

# Debian packages the tests need: a real browser for the UI tests, bubblewrap and libseccomp for the sandbox.
system-packages:
	@if ! command -v chromium > /dev/null || ! command -v bwrap > /dev/null || ! ldconfig -p | grep -q libseccomp.so.2; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium bubblewrap libseccomp2 > /dev/null; \
	fi

$(DATA_DIR)/warehouses/demo.duckdb: | $(VENV)/.stamp-install
	$(PY) -m penny_jupyter.data.generator --tenant demo --scale $(SCALE) --data-dir $(DATA_DIR)

demo-data: $(DATA_DIR)/warehouses/demo.duckdb

lab: install demo-data
	PENNY_DATA_DIR=$(DATA_DIR) $(VENV)/bin/jupyter lab --port=$(PORT) --notebook-dir=notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

test: system-packages $(VENV)/.stamp-test
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.stamp-test
	@for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib penny_jupyter/labextension $(DATA_DIR)
