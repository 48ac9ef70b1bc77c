# Developer commands. `make up` runs the whole stack; `make test` is the suite CI runs (.ci/run).
# Both install what they need first, on a fresh machine too (system packages need root).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

VENV := .venv
BIN := $(VENV)/bin
# mypy fails on a folder without Python files, so only the packages that have some are checked.
TYPED := $(foreach d,waymark ingest buffer workers aggregator monitoring devstack client_sdk/waymark_client,$(if $(wildcard $(d)/*.py),$(d)))
# The first Python >= 3.11 on PATH (only used to create the virtualenv).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)

.PHONY: install system-packages up test lint typecheck js

install: system-packages $(VENV)/.installed client_sdk/js/node_modules/.package-lock.json

# prometheus (promtool and the server) serves the monitoring tests; without root it is optional
# (those tests skip), with root it is installed like the servers. Node and Chromium serve the
# browser SDK: installed as root; without root its browser tests fail saying what is missing.
system-packages:
	@missing=(); \
	command -v redis-server >/dev/null || missing+=(redis-server); \
	command -v redis-cli >/dev/null || missing+=(redis-tools); \
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql); \
	command -v promtool >/dev/null || [ "$$(id -u)" != 0 ] || missing+=(prometheus); \
	command -v npm >/dev/null || [ "$$(id -u)" != 0 ] || missing+=(nodejs npm); \
	command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || missing+=(chromium); \
	command -v systemd-analyze >/dev/null || [ "$$(id -u)" != 0 ] || missing+=(systemd); \
	[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ "$$(id -u)" != 0 ] || missing+=(fonts-dejavu-core); \
	if (( $${#missing[@]} )); then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "Install these system packages first: $${missing[*]}" >&2; exit 1; \
		fi; \
		echo "+ apt-get install $${missing[*]}"; \
		apt-get update -q; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$${missing[@]}"; \
	fi

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is required to create $(VENV)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstalled when a pyproject.toml changes; both packages are editable. The server depends on
# the client SDK's distribution (the wire schema), so both are named in one pip call.
$(VENV)/.installed: pyproject.toml client_sdk/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ./client_sdk -e '.[dev]'
	touch $@

# The browser SDK's tools (TypeScript, vitest, playwright-core) exactly as its lockfile says.
client_sdk/js/node_modules/.package-lock.json: client_sdk/js/package-lock.json
	cd client_sdk/js && npm ci --no-audit --no-fund
	touch $@

up: install
	$(BIN)/waymark up

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy $(TYPED)

# The browser SDK: strict typecheck, unit tests, size budget (its Chromium tier runs in pytest).
js: install
	cd client_sdk/js && npm run --silent typecheck && npm test --silent && npm run --silent size

test: lint typecheck js
	$(BIN)/pytest
