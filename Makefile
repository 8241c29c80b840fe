# Quick start: `make run` serves the API on http://127.0.0.1:8000/ with an embedded SQLite database;
# `make test` runs the whole suite (on PostgreSQL too when DATABASE_URL points at it).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test lint format migrate clean

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

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: bench bench-smoke

# Benchmarks (PostgreSQL): seeds scale_nodes_bench_10000 and scale_nodes_bench_1000000 (kept for reuse),
# serves the project, a plain-DRF reference and a bare floor with gunicorn, writes BENCHMARKS.md and
# bench/latency.png. BENCH_DATABASE_URL names the server (default postgres@127.0.0.1:5432).
bench: venv
	$(PY) -m bench.run

# The few-second version for CI, on a throw-away database; writes nothing.
bench-smoke: venv
	$(PY) -m bench.run --smoke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
