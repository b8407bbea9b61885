# `make run` starts the whole app on a fresh machine; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install-check lint typecheck bench openapi demo-passwords clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Proof Studio needs Python 3.11 or newer; set PYTHON=python3.11 (or newer).")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-app: pyproject.toml setup.py $(VENV)/.python-ok
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml setup.py $(VENV)/.installed-app
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed-app
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo
	@echo
	@echo "Proof Studio: http://127.0.0.1:$(PORT)/   (Ctrl-C stops web, the workers and beat)"
	@echo
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" STUDIO_PORT=$(PORT) $(VENV)/bin/honcho -f Procfile.dev start

demo-passwords: $(VENV)/.installed-app
	$(PY) manage.py bootstrap_demo --reset-passwords

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# `pip install .` into a fresh virtualenv, then check --deploy, migrate and one preview
# from outside the checkout with production settings (.ci/install-check).
install-check:
	PYTHON=$(PYTHON) .ci/install-check

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy studio generations

# The benchmarks print figures; the latest, with their commands, are in docs/benchmarks.md.
bench: $(VENV)/.installed-dev
	$(PY) bench/capacity.py --delay 5 --in-flight 40 --prefork-concurrency 4 --broker-max-connections 500
	$(PY) bench/gallery.py
	$(PY) bench/api.py
	$(PY) bench/quality.py --images 20000 --runs 5
	$(PY) bench/ingest.py
	$(PY) bench/batch.py --runs 3
	$(PY) bench/fidelity.py --runs 7
	$(PY) bench/economy.py

# The API's OpenAPI document, committed so that changes to the API show in review; a test
# (tests/generations/api/test_openapi.py) fails when it differs from what the API serves.
openapi: $(VENV)/.installed-app
	$(PY) manage.py export_openapi_schema --api generations.api.app.api --indent 2 --sorted \
		--output docs/openapi.json
	@echo >> docs/openapi.json

clean:
	rm -rf $(VENV) var
