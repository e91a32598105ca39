# Clawback for developers: `make run` starts the demo, `make test` runs the tests.
# Both work on a fresh clone: they build .venv and node_modules first, and only
# rebuild them when pyproject.toml or package-lock.json change (stamp files).

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
# Extra pytest arguments: make test ARGS="-k policy -x"
ARGS ?=

PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.clawback-installed
NPM_STAMP := node_modules/.clawback-installed

# Everything here is the development/demo mode, which may use the built-in demo
# secrets; production sets DEBUG off and its own secrets (see README.md).
export DEBUG := 1

.DEFAULT_GOAL := help
.PHONY: help install static run seed test lint format clean

help:
	@echo "make run     install what is missing, migrate, seed the demo and start it (PORT=$(PORT))"
	@echo "make test    run the tests (extra pytest arguments: ARGS=\"-k name\")"
	@echo "make lint    ruff check, ruff format --check, missing migrations, API schema"
	@echo "make format  ruff format and ruff check --fix"
	@echo "make seed    (re)seed the demo data and print fresh credentials"
	@echo "make clean   remove .venv, node_modules and var/ (the demo database)"

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Clawback needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV_STAMP) $(NPM_STAMP)

static: install
	$(PY) manage.py collectstatic --noinput --verbosity 0

run: static
	$(PY) manage.py run_demo --port $(PORT)

seed: install
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py seed_demo

test: static
	$(PY) -m pytest $(ARGS)

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file var/openapi-schema.yml

format: $(VENV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules var *.egg-info
