"""The statement timeout of API requests (``DB_STATEMENT_TIMEOUT_MS``, ``util.statement_timeout``), on PostgreSQL.

A query is made to outlast the timeout without any test-only code: another connection holds an
exclusive lock on the node tables, so every read of them waits until the timeout cancels it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from django.db import connection, transaction
from django.test import override_settings
from prometheus_client import REGISTRY

from node.models import Node
from serving.asgi import SingleThreadASGIHandler
from serving.tests.test_asgi_handler import serve
from util.statement_timeout import current_statement_timeout, statement_timeout

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement_timeout is PostgreSQL's; SQLite has no such limit"
)


@pytest.fixture
def node_table_locked(transactional_db: None) -> Iterator[Callable[[], None]]:
    """The node tables locked by another connection (every read waits); calling the fixture's value releases them."""
    settings = connection.settings_dict
    holder = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"], connect_timeout=5
    )
    holder.cursor().execute("LOCK TABLE node, node_count IN ACCESS EXCLUSIVE MODE")
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            holder.rollback()

    try:
        yield release
    finally:
        release()
        holder.close()


def show_statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def timeout_count() -> float:
    return REGISTRY.get_sample_value("scale_nodes_database_errors_total", {"kind": "timeout"}) or 0.0


class TestStatementTimeout:
    def test_queries_in_the_context_run_under_it_and_the_session_keeps_none(self, transactional_db: None) -> None:
        with statement_timeout(150):
            assert current_statement_timeout() == 150
            assert show_statement_timeout() == "150ms"
        # SET LOCAL ended with its statement's transaction: the next query on the same server session
        # (through a pooler, another client's) runs without it.
        assert show_statement_timeout() == "0"
        assert current_statement_timeout() is None

    def test_in_a_transaction_the_timeout_ends_with_it(self, transactional_db: None) -> None:
        with transaction.atomic(), statement_timeout(150):
            assert show_statement_timeout() == "150ms"
        assert show_statement_timeout() == "0"

    def test_a_server_side_cursor_is_declared_without_the_prefix(self, make_node: Callable[..., Node]) -> None:
        make_node("one.test")
        make_node("two.test")
        with statement_timeout(5000):
            assert sorted(node.hostname for node in Node.objects.iterator(chunk_size=1)) == ["one.test", "two.test"]

    def test_a_query_outside_an_api_request_is_not_limited(self, node_table_locked: Callable[[], None]) -> None:
        # What the change listener, migrations and commands such as seed_nodes run: no context, no limit.
        threading.Timer(0.5, node_table_locked).start()
        started = time.monotonic()
        assert Node.objects.count() == 0
        assert time.monotonic() - started >= 0.4

    @override_settings(DB_STATEMENT_TIMEOUT_MS=200)
    def test_an_api_query_past_the_timeout_is_a_503_json_with_retry_after_logged_and_counted(
        self, node_table_locked: Callable[[], None], caplog: pytest.LogCaptureFixture
    ) -> None:
        before = timeout_count()
        # Without a working timeout the request would wait for the lock: released after 3 s, it fails on time.
        threading.Timer(3, node_table_locked).start()
        started = time.monotonic()
        # Django's request logger does not propagate to the root (settings.LOGGING): its lines are caught here too.
        django_request = logging.getLogger("django.request")
        django_request.addHandler(caplog.handler)
        try:
            with caplog.at_level(logging.WARNING):
                status, headers, body = serve(SingleThreadASGIHandler(), "/v6/nodes/", b"order=hostname")
        finally:
            django_request.removeHandler(caplog.handler)
        elapsed = time.monotonic() - started
        assert status == 503, body
        assert b"took too long" in body and b"200 ms" in body, body
        assert headers[b"Retry-After"] == b"5"
        assert headers[b"Content-Type"] == b"application/json"
        assert 0.2 <= elapsed < 2, elapsed
        lines = [
            f"{record.name}: {record.getMessage()}" for record in caplog.records if record.levelno >= logging.WARNING
        ]
        assert lines == ["util.exceptions: query cancelled after 200 ms: GET /v6/nodes/?order=hostname"], lines
        assert timeout_count() == before + 1

    @override_settings(DB_STATEMENT_TIMEOUT_MS=200)
    def test_a_request_outside_the_api_is_not_limited(self, node_table_locked: Callable[[], None]) -> None:
        # /metrics is no DRF view: its figures wait for the lock rather than being cut off.
        threading.Timer(0.6, node_table_locked).start()
        started = time.monotonic()
        status, _, body = serve(SingleThreadASGIHandler(), "/metrics")
        assert status == 200, body
        assert b"scale_nodes_nodes{" in body
        assert time.monotonic() - started >= 0.5
