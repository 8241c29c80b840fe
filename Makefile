# Quick start: `make run` serves the API on http://127.0.0.1:8000/ with an embedded SQLite database;
# `make test` runs the whole suite (on PostgreSQL too when DATABASE_URL points at it).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test lint format migrate clean serve soak bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

migrate: venv
	DEBUG=1 $(PY) manage.py migrate --noinput

run: migrate
	DEBUG=1 $(PY) manage.py seed_nodes --demo --if-empty
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

test: venv
	$(PY) -m pytest

# Production: gunicorn with the repository's config on the database of DATABASE_URL; needs SECRET_KEY
# (and ALLOWED_HOSTS etc., see README "Production"). Migrations are a separate step: `manage.py migrate`.
serve: venv
	$(PY) manage.py collectstatic --noinput --verbosity 0
	exec $(VENV)/bin/gunicorn -c scale_nodes/gunicorn.conf.py

# Several gunicorn instances on one PostgreSQL database under racing writes, database outage,
# worker crash and a long list run (DATABASE_URL must point at PostgreSQL; skipped otherwise).
soak: venv
	$(PY) -m pytest -m soak -p no:cacheprovider scale_nodes/tests/test_soak.py

# Requests per second of one instance (workers from the core count) for reads and writes, on PostgreSQL.
bench: venv
	$(PY) -m pytest -m bench -p no:cacheprovider -s scale_nodes/tests/test_soak.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
