# mailforge: `make demo` provisions a disposable local test host; `make test` runs every suite.
# Both bootstrap what they need (Debian packages, .venv) on a fresh Debian 12 machine, as root.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# Independent e2e modules each own a test host; xdist runs them side by side (one worker per core).
E2E_WORKERS ?= 2

.PHONY: bootstrap demo demo-down test lint unit dns e2e bench clean lock

bootstrap:
	@scripts/bootstrap.sh

# The demo's test hosts run Debian 13 unless DEMO_RELEASE names another supported release (bookworm).
DEMO_RELEASE ?= trixie
demo: bootstrap
	$(PY) -m lab.demo --release $(DEMO_RELEASE)

demo-down: bootstrap
	-$(VENV)/bin/mailforge testhost down demo
	-$(VENV)/bin/mailforge testhost down demo-mx

test: bootstrap
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory dns
	$(MAKE) --no-print-directory e2e

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: bootstrap
	$(PYTEST) tests/unit -q

dns: bootstrap
	$(PYTEST) tests/dns -q

e2e: bootstrap
	$(PYTEST) tests/e2e -q -n $(E2E_WORKERS) --dist loadfile

bench: bootstrap
	@for b in bench/[!_]*.py; do m=bench.$$(basename $$b .py); echo "== $$m"; $(PY) -m $$m || exit 1; done

# Refresh requirements.lock after changing a dependency in pyproject.toml: one universal lock (every Python
# the control machine may have: 3.11 on Debian 12, 3.13 on Debian 13) with the hash of every file.
# uv is used only here, from its own venv under build/.
UV_VERSION := 0.13.9
lock:
	[ -x build/uv/bin/uv ] || (python3 -m venv build/uv && build/uv/bin/pip install -q uv==$(UV_VERSION))
	build/uv/bin/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--generate-hashes --quiet -o requirements.lock

clean:
	-$(VENV)/bin/mailforge testhost down --all
	rm -rf build

# The fault suite alone (tests/e2e/test_faults.py, about 10 minutes); `make e2e`, hence `make test`, runs it too.
.PHONY: faults
faults: bootstrap
	$(PYTEST) tests/e2e/test_faults.py -q
