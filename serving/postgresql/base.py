"""The backend's ``DatabaseWrapper``: Django's own, running each query through ``limit_statement``."""

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
