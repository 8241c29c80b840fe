"""``make topology-bench`` runs: a few seconds of it, on its own database, PgBouncer and instances.

The benchmark creates its database, a staff user with a token of the service's kind, and its own
PgBouncer in front of PostgreSQL, then drives 1, 2 and 4 instances and one direct instance. This
runs it at its smallest (one round of half a second per load) and checks that every configuration
answered every request; its figures are not looked at. On PostgreSQL, once (not again through a
pooler), and only where Debian's pgbouncer is installed (``make ops-tools``).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from bench.served import REPO

# Instances on PORT+1 .. PORT+5, its PgBouncer on PGBOUNCER_PORT.
PORT = int(os.environ.get("TOPOLOGY_BENCH_PORT", "8470"))
PGBOUNCER_PORT = int(os.environ.get("TOPOLOGY_BENCH_PGBOUNCER_PORT", "6452"))

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql"
    or settings.DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"]
    or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") is None,
    reason="needs PostgreSQL reached directly, and Debian's pgbouncer (make ops-tools)",
)


@pytest.fixture
def database_url() -> str:
    """A database of the benchmark's own, on the suite's PostgreSQL server, dropped afterwards."""
    config = settings.DATABASES["default"]
    name = f"{config['NAME']}_topology"
    params = {"dbname": "postgres", "user": config["USER"], "host": config["HOST"], "port": config["PORT"] or 5432}
    if config["PASSWORD"]:
        params["password"] = config["PASSWORD"]
    yield f"postgres://{config['USER']}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{name}"
    admin = psycopg2.connect(**params)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_the_topology_benchmark_measures_every_configuration_without_an_error(
    database_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "topology.json"
    command = [sys.executable, "-m", "bench.topology", "--database-url", database_url, "--nodes", "50"]
    command += ["--workers", "1", "--clients", "2", "--seconds", "0.5", "--rounds", "1"]
    command += ["--port-base", str(PORT), "--pgbouncer-port", str(PGBOUNCER_PORT), "--output", str(output)]
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(  # noqa: S603 (this interpreter, the repository's own benchmark)
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads(output.read_text())["results"]
    assert sorted(results) == ["1", "2", "4", "direct"]
    for configuration, loads in results.items():
        for load in ("list", "patch"):
            assert loads[load]["errors"] == 0, (configuration, load)
            assert loads[load]["rps_median"] > 0, (configuration, load)
