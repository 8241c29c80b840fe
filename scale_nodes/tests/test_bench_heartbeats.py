"""``make bench-heartbeats`` at a small scale (``--smoke``), so that the benchmark cannot rot unnoticed.

It runs the whole harness on PostgreSQL (a database of its own next to the test database, recreated by
the benchmark and dropped here) and on 127.0.0.1:``HEARTBEATS_BENCH_PORT`` (8881 here), and checks the
outcomes that do not depend on the machine's speed: no heartbeat lost, each stopped node offline in time,
exactly one event per transition on every stream and on the change feed.
"""

import os
import subprocess
import sys

import dj_database_url
import pytest
from django.conf import settings
from django.db import connection

from bench.served import REPO

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmark measures PostgreSQL")


def test_the_smoke_run_loses_no_heartbeat_and_records_each_transition_once() -> None:
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = f"{settings.DATABASES['default']['NAME']}_hbbench"
    url = f"postgres://{config['USER']}@{config['HOST']}:{config['PORT'] or 5432}/{name}"
    env = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
        "HEARTBEATS_BENCH_DATABASE_URL": url,
        "HEARTBEATS_BENCH_PORT": os.environ.get("HEARTBEATS_BENCH_PORT", "8881"),
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench.heartbeats", "--smoke"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        import psycopg2

        admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    assert result.returncode == 0, result.stderr[-3000:]
    verdicts = dict(line.split(" ", 1)[::-1] for line in result.stdout.splitlines() if line[:3] in ("ok ", "NOT"))
    for target in ("no heartbeat lost", "stopped nodes offline within TTL + 5 s", "exactly one offline"):
        [(line, outcome)] = [(line, outcome) for line, outcome in verdicts.items() if target in line]
        assert outcome == "ok", line
