# MediaWiki Collab: the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what is missing first (Debian packages, the Python venv, npm packages, the bundle).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMPS := .stamps
DEMO_DIR ?= $(CURDIR)/.demo
DEMO_WIKI_PORT ?= 8181
DEMO_PORT ?= 8765
# Debian packages the project runs against: MediaWiki 1.39 + PHP SQLite (dev wiki), Chromium (browser
# tests), Redis (cluster mode), nginx (load-balancer example), diff3 (MediaWiki's edit-conflict merge).
APT_PACKAGES := mediawiki php-sqlite3 php-cli php-intl php-mbstring php-xml chromium redis-server nginx-light diffutils

.PHONY: deps system-deps test lint lint-js typecheck test-js test-py demo demo-stop bundle clean bench
.PHONY: cluster-demo cluster-demo-stop

deps: $(STAMPS)/system $(STAMPS)/venv bundle

$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	@touch $@

client-js/node_modules/.package-lock.json: client-js/package.json client-js/package-lock.json
	cd client-js && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bundle: client-js/node_modules/.package-lock.json
	cd client-js && node build.mjs

lint: $(STAMPS)/venv lint-js
	$(VENV)/bin/ruff check collab tests bench examples
	$(VENV)/bin/ruff format --check collab tests bench examples
	$(VENV)/bin/lint-imports

# The browser client is plain JavaScript with JSDoc types, checked by tsc (client-js/tsconfig.json).
lint-js: client-js/node_modules/.package-lock.json
	cd client-js && npx tsc --noEmit -p .

typecheck: $(STAMPS)/venv
	$(VENV)/bin/mypy

test-js: bundle
	cd client-js && node --test test/

# The suite drives real processes (wiki, servers, browsers, Redis) on a shared 2-core machine: a test that
# fails is run again up to twice, and pytest's summary lists every rerun so flakiness stays visible.
PYTEST_ARGS ?= --reruns 2 --reruns-delay 2
test-py: deps
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test: deps lint typecheck test-js test-py

demo: deps
	@$(VENV)/bin/collab demo --dir $(DEMO_DIR) --wiki-port $(DEMO_WIKI_PORT) --port $(DEMO_PORT)

demo-stop:
	@$(VENV)/bin/collab demo --dir $(DEMO_DIR) --wiki-port $(DEMO_WIKI_PORT) --port $(DEMO_PORT) --stop

# Redis, three cluster nodes (8801-8803), nginx in front (8800) and the dev wiki (docs/scaling.md).
cluster-demo: deps
	@$(PY) -m collab.dev.clusterdemo --dir $(DEMO_DIR)/cluster --wiki-port $(DEMO_WIKI_PORT)

cluster-demo-stop:
	@$(PY) -m collab.dev.clusterdemo --dir $(DEMO_DIR)/cluster --wiki-port $(DEMO_WIKI_PORT) --stop

bench: deps
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(STAMPS) $(VENV) client-js/node_modules collab/static/collab.js collab/static/collab.js.map collab/static/admin.js
