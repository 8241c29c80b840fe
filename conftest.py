"""Fixtures for every test of the repository."""

from collections.abc import Iterator

import pytest

from util import sqlcache


@pytest.fixture(autouse=True)
def empty_sql_cache() -> Iterator[None]:
    """Each test starts and ends with no compiled SQL kept, so no cache outcome depends on test order."""
    sqlcache.clear()
    yield
    sqlcache.clear()
