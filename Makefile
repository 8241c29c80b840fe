# Quick start: `make run` serves the API on http://127.0.0.1:8000/ with an embedded SQLite database (DEBUG);
# `make test` runs the whole suite (on PostgreSQL too when DATABASE_URL points at it); `make test-fast` all but
# the schemathesis contract runs.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test test-fast lint format migrate clean chromium ops-tools pgbouncer-start pgbouncer-stop check-alerts schema schema-check serve soak soak-bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: venv
	DEBUG=1 $(PY) manage.py migrate --noinput

# The environment the server starts with (bench/servers.py's SERVED_ENV says the same): Python's small
# objects from the C allocator, which gives back what thousands of closed connections held (README,
# "Serving limits"); Python's own allocator keeps it in arenas that one object still in use pins.
SERVE_ENV := PYTHONMALLOC=malloc

# The same server as `make serve` (gunicorn's ASGI worker, so the event stream and waiting long-polls
# behave as in production), one process, restarted when the code changes.
run: migrate
	DEBUG=1 $(PY) manage.py seed_nodes --demo --if-empty
	DEBUG=1 GUNICORN_BIND=$(HOST):$(PORT) WEB_CONCURRENCY=1 GUNICORN_MAX_REQUESTS=0 $(SERVE_ENV) \
		exec $(VENV)/bin/gunicorn -c scale_nodes/gunicorn.conf.py --reload

test: venv
	$(PY) -m pytest

# The suite without the schemathesis contract runs (marker `contract`), about two minutes quicker.
# The -m given here replaces the one of pytest.ini's addopts, so it repeats the soak and bench exclusions.
test-fast: venv
	$(PY) -m pytest -m "not soak and not bench and not contract"

# The browser of the end-to-end admin test: Debian's Chromium, from apt (as root). Without it
# `make test` skips that test; CI runs this target first so that it always runs there.
chromium:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# The operations tools, from apt (as root) when missing: PgBouncer (CI runs the suite through it),
# Prometheus and promtool (the metrics checks and the scrape test), graphviz (docs/topology.png, docs/layout.png).
# Without them the tests that need them are skipped; CI runs this target first so that they run there.
OPS_TOOLS := /usr/sbin/pgbouncer:pgbouncer /usr/bin/prometheus:prometheus /usr/bin/promtool:prometheus /usr/bin/dot:graphviz
ops-tools:
	@missing=$$(for tool in $(OPS_TOOLS); do test -x $${tool%%:*} || echo $${tool##*:}; done | sort -u); \
	if [ -n "$$missing" ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# Our own PgBouncer on 127.0.0.1:$(PGBOUNCER_PORT) (transaction pooling, deploy/pgbouncer/pgbouncer.ini)
# in front of PostgreSQL on 127.0.0.1:5432; started and stopped by its pid, never the system service.
PGBOUNCER_PORT ?= 6432
pgbouncer-start:
	PGBOUNCER_PORT=$(PGBOUNCER_PORT) deploy/pgbouncer/pgbouncer.sh start

pgbouncer-stop:
	PGBOUNCER_PORT=$(PGBOUNCER_PORT) deploy/pgbouncer/pgbouncer.sh stop

# The example alerting rules: valid for Prometheus, and firing (or not) as their unit tests expect.
check-alerts:
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

# Production: gunicorn with the repository's config on the database of DATABASE_URL; needs SECRET_KEY
# (and ALLOWED_HOSTS etc., see README "Production"). Migrations are a separate step: `manage.py migrate`.
serve: venv
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(SERVE_ENV) exec $(VENV)/bin/gunicorn -c scale_nodes/gunicorn.conf.py

# Several gunicorn instances on one PostgreSQL database under racing writes, database outage,
# worker crash and a long list run (DATABASE_URL must point at PostgreSQL; skipped otherwise).
soak: venv
	$(PY) -m pytest -m soak -p no:cacheprovider scale_nodes/tests/test_soak.py

# Requests per second of one instance (workers from the core count) for reads and writes, on PostgreSQL.
soak-bench: venv
	$(PY) -m pytest -m bench -p no:cacheprovider -s scale_nodes/tests/test_soak.py

# Dependencies point one way (.importlinter): models, then selectors and services, then serializers,
# views, admin and commands; util/, accounts/, serving/, observability/ and waiting/ know nothing of node/.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory -o $(VENV)/.installed schema-check

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: bench bench-smoke topology-bench topology-diagram layout-diagram

# Benchmarks (PostgreSQL): seeds scale_nodes_bench_10000 and scale_nodes_bench_1000000 (kept for reuse),
# serves the project, a plain-DRF reference and a bare floor with gunicorn, writes BENCHMARKS.md and
# bench/latency.png. BENCH_DATABASE_URL names the server (default postgres@127.0.0.1:5432).
bench: venv
	$(PY) -m bench.run

# docs/deployment.md's table: list and PATCH throughput with 1, 2 and 4 instances through our own PgBouncer,
# and the PostgreSQL connections used (about 2 minutes; TOPOLOGY_DATABASE_URL names the database to seed).
topology-bench: venv
	$(PY) -m bench.topology

# docs/topology.png from its graphviz source (make ops-tools installs graphviz).
topology-diagram:
	dot -Tpng -Gdpi=110 docs/topology.dot -o docs/topology.png

# docs/layout.png, the packages and the directions their imports may take, from docs/layout.dot (graphviz).
layout-diagram:
	dot -Tpng -Gdpi=110 docs/layout.dot -o docs/layout.png

# The short version for CI (about a minute), on a throw-away database; writes nothing.
bench-smoke: venv
	$(PY) -m bench.run --smoke

.PHONY: bench-heartbeats
# The heartbeat benchmark (bench/heartbeats.py), on PostgreSQL (HEARTBEATS_BENCH_DATABASE_URL, a database of its own,
# recreated): 100,000 nodes heartbeating in batches of 1,000 from 8 clients for 60 s on the served stack at
# 127.0.0.1:8880 (HEARTBEATS_BENCH_PORT), list and PATCH meanwhile, 1,000 nodes going offline and back, and 1,000,000
# registrations over POST against seed_nodes. Writes bench/heartbeats.json, bench/heartbeats.png and a section of
# BENCHMARKS.md; BENCH_HEARTBEATS_ARGS=--smoke runs it small and writes nothing.
bench-heartbeats: venv
	$(PY) -m bench.heartbeats $(BENCH_HEARTBEATS_ARGS)

.PHONY: bench-watch
# The live-watch benchmark (bench/watch.py): 5,000 event streams, 1,000 long-polls, slow clients, and the
# list on the ASGI worker against sync workers; on PostgreSQL (WATCH_BENCH_DATABASE_URL, its own database),
# servers on 127.0.0.1:8850-8851. Writes bench/watch.json, bench/watch.png and a section of BENCHMARKS.md;
# BENCH_WATCH_ARGS=--sqlite runs it on an embedded SQLite file and writes bench/watch-sqlite.* and a section.
bench-watch: venv
	$(PY) -m bench.watch $(BENCH_WATCH_ARGS)

.PHONY: bench-abuse
# The abuse benchmark (bench/abuse.py): /healthz latency and the list's throughput, against undisturbed rounds,
# under 40,000 idle connections, 300 trickling bodies, 10,000 slow streams during a 2,000-node bulk pause, 8,000
# long-polls woken at once, and a process recycle and a SIGTERM with 1,000 streams open; PASS/FAIL per target.
# On PostgreSQL (ABUSE_BENCH_DATABASE_URL, its own database, 20,000 nodes), the instance on 127.0.0.1:8860
# (ABUSE_BENCH_PORT), clients from 127.0.0.2-20; about 25 minutes. Writes bench/abuse.json, bench/abuse.png and a
# section of BENCHMARKS.md. BENCH_ABUSE_ARGS: --smoke (tiny, writes nothing), --only NAME..., --render, --help.
bench-abuse: venv
	$(PY) -m bench.abuse $(BENCH_ABUSE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The OpenAPI contract: `make schema` regenerates openapi.yaml from the code; `make schema-check`
# (part of lint) fails when the committed file differs from what the code generates.
schema: venv
	DEBUG=1 $(PY) manage.py spectacular --validate --fail-on-warn --file openapi.yaml

schema-check: venv
	@generated=$$(mktemp) && trap 'rm -f "$$generated"' EXIT && \
	DEBUG=1 $(PY) manage.py spectacular --validate --fail-on-warn --file "$$generated" && \
	if ! diff -u openapi.yaml "$$generated"; then \
		echo "openapi.yaml differs from the schema the code generates: run 'make schema' and commit it." >&2; exit 1; \
	fi
