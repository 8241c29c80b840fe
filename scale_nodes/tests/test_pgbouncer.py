"""Transaction pooling: the settings it needs, and proof that the suite runs through PgBouncer when CI says so.

CI runs the whole suite a second time with ``DATABASE_URL`` pointing at PgBouncer (``make
pgbouncer-start``, transaction pooling) and ``DB_TRANSACTION_POOLING=true``; the tests marked
``pooled`` below then check that the connection really goes through it.
"""

import re
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import OperationalError, connection

from node.models import Node
from node.services import node_register
from serving.tests.test_serving import PRODUCTION_ENV, manage
from util.statement_timeout import is_query_canceled, statement_timeout

REPO = Path(settings.BASE_DIR)

pooled = pytest.mark.skipif(
    not (connection.vendor == "postgresql" and settings.DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"]),
    reason="runs through a transaction pooler only (DATABASE_URL at PgBouncer, DB_TRANSACTION_POOLING=true)",
)


def setting(expression: str, env: dict[str, str]) -> str:
    """The value of ``settings.<expression>`` in a fresh process with only ``env`` as its environment."""
    code = f"from django.conf import settings; print(settings.{expression})"
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


class TestPoolingSettings:
    def test_server_side_cursors_follow_db_transaction_pooling(self) -> None:
        expression = "DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS']"
        assert setting(expression, {**PRODUCTION_ENV, "DB_TRANSACTION_POOLING": "true"}) == "True"
        assert setting(expression, PRODUCTION_ENV) == "False"

    def test_the_statement_timeout_needs_no_startup_option_so_a_pooler_takes_it(self) -> None:
        env = {**PRODUCTION_ENV, "DB_TRANSACTION_POOLING": "true", "DB_STATEMENT_TIMEOUT_MS": "5000"}
        assert setting("DB_STATEMENT_TIMEOUT_MS", env) == "5000"
        # PgBouncer refuses the "options" startup parameter: the timeout is set per statement instead.
        assert "options" not in setting("DATABASES['default']['OPTIONS']", env)
        assert setting("DATABASES['default']['ENGINE']", env) == "serving.postgresql"

    def test_the_statement_timeout_is_on_by_default(self) -> None:
        assert setting("DB_STATEMENT_TIMEOUT_MS", PRODUCTION_ENV) == "2000"

    def test_the_listener_url_defaults_to_the_database_url_and_can_go_direct(self) -> None:
        assert setting("LISTEN_DATABASE_URL", PRODUCTION_ENV) == PRODUCTION_ENV["DATABASE_URL"]
        direct = "postgres://scale@db-primary.example.com:5432/scale_nodes"
        assert setting("LISTEN_DATABASE_URL", {**PRODUCTION_ENV, "LISTEN_DATABASE_URL": direct}) == direct


# SQL that leaves state in a server session, which a transaction pooler hands to another client
# next: session variables, session advisory locks, temporary tables, prepared statements, LISTEN.
SESSION_STATE = re.compile(
    r"[\"']\s*SET\s+(SESSION\s+)?(?!LOCAL\b|CONSTRAINTS\b|TRANSACTION\b)\w+|pg_advisory_lock|pg_try_advisory_lock\(|"
    r"CREATE\s+TEMP|\bPREPARE\s|\bLISTEN\s",
    re.IGNORECASE,
)


LISTENER_MODULES = {"waiting/notify.py"}


def test_no_code_of_the_service_keeps_state_in_a_database_session() -> None:
    offenders = []
    for path in sorted(REPO.glob("*/**/*.py")):
        relative = path.relative_to(REPO)
        if relative.parts[0] in {".venv", "bench"} or "tests" in relative.parts or "migrations" in relative.parts:
            continue
        text = path.read_text(encoding="utf-8")
        # The change feed's listener runs on a connection of its own, which node.live.clock_watch opens directly
        # (LISTEN_DATABASE_URL), never through the pool.
        if str(relative) in LISTENER_MODULES:
            continue
        offenders += [f"{relative}: {match.group(0)}" for match in SESSION_STATE.finditer(text)]
    assert not offenders, offenders


@pooled
class TestThroughPgBouncer:
    def test_the_test_database_is_served_by_a_pool_in_transaction_mode(self) -> None:
        database = settings.DATABASES["default"]
        admin = psycopg2.connect(
            dbname="pgbouncer", user=database["USER"], host=database["HOST"], port=database["PORT"], connect_timeout=5
        )
        try:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute("SHOW POOLS")
                columns = [column.name for column in cursor.description]
                pools = {row[columns.index("database")]: dict(zip(columns, row, strict=True)) for row in cursor}
        finally:
            admin.close()
        assert pools[database["NAME"]]["pool_mode"] == "transaction", pools

    @pytest.mark.django_db(transaction=True)
    def test_the_statement_timeout_cancels_through_the_pool_and_stays_with_its_statement(self) -> None:
        with statement_timeout(100), pytest.raises(OperationalError) as raised, connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(1)")
        assert is_query_canceled(raised.value)
        # Whichever server connection the pool lends next carries no timeout.
        for _ in range(5):
            with connection.cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == "0"

    @pytest.mark.django_db(transaction=True)
    def test_iterating_in_chunks_works_across_pooled_transactions(self) -> None:
        node_register(hostnames=[f"chunk-{i}.test" for i in range(7)])
        # Outside a transaction each fetch could reach another server connection, where a named
        # cursor would not exist; with server-side cursors off the rows come in one result.
        hostnames = [node.hostname for node in Node.objects.order_by("hostname").iterator(chunk_size=2)]
        assert hostnames == [f"chunk-{i}.test" for i in range(7)]
