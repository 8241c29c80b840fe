"""The backend's ``DatabaseWrapper``: Django's own, each query run through ``limit_statement``, UTC read fast."""

import datetime as dt
from typing import Any

from django.db.backends.postgresql import base

from util.statement_timeout import limit_statement


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL connection, whose queries take the statement timeout of the context they run in.

    The wrapper stays first in ``execute_wrappers`` (closest to the driver), so wrappers added later
    (instrumentation, tests) see each query as the code wrote it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(limit_statement)

    def create_cursor(self, name: str | None = None) -> Any:
        """Django's cursor; on a connection in UTC, its timestamps get their zone from ``datetime.timezone``.

        The driver asks the cursor's zone factory for the zone of every timestamp it reads (two per
        node). Django's factory, a Python method, answers the connection's zone; in UTC, where every
        offset the server sends is zero, ``datetime.timezone`` answers the same object, without a
        Python call per value.
        """
        cursor = super().create_cursor(name)
        if getattr(cursor, "tzinfo_factory", None) is not None and self.timezone is dt.UTC:
            cursor.tzinfo_factory = dt.timezone
        return cursor
