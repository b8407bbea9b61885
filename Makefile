# `make run` starts the whole app on a fresh machine; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint typecheck bench demo-passwords clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Proof Studio needs Python 3.11 or newer; set PYTHON=python3.11 (or newer).")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-app: pyproject.toml $(VENV)/.python-ok
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-app
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

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy studio generations

# The benchmarks print figures; the latest, with their commands, are in docs/benchmarks.md.
bench: $(VENV)/.installed-dev
	$(PY) bench/capacity.py --delay 5 --in-flight 40 --prefork-concurrency 4 --broker-max-connections 500
	$(PY) bench/gallery.py
	$(PY) bench/quality.py --images 20000 --runs 5
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var
