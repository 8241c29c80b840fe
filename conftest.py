"""Fixtures for every test of the repository, and test-session plumbing."""

from collections.abc import Iterator

import pytest
from django.db import connections

from util import sqlcache


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """pytest-django's test databases, with this process's readers stopped and the server sessions left on
    them ended before they are dropped.

    Through a pooler (PgBouncer, see deploy/pgbouncer/) the pooled server connections to a test
    database stay open after the suite closes its own, and PostgreSQL refuses to drop a database
    that has sessions ("is being accessed by other users"). Ending them, from a connection to the
    maintenance database, lets pytest-django's DROP DATABASE go through; directly on PostgreSQL
    there is usually nothing to end.
    """
    yield
    from node import live

    # Nothing of this process reads the test database once it is gone: the event reader and the
    # change listener stop first. A reader left reconnecting to a dropped database makes a pooler
    # refuse that database's logins for a while (server_login_retry), and the next suite that
    # creates the database again would find it refused.
    live.reset()
    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            connection.close()
            with connection._nodb_cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [connection.settings_dict["NAME"]],
                )


@pytest.fixture(autouse=True)
def empty_sql_cache() -> Iterator[None]:
    """Each test starts and ends with no compiled SQL kept, so no cache outcome depends on test order."""
    sqlcache.clear()
    yield
    sqlcache.clear()
