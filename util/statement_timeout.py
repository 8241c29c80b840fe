"""A PostgreSQL statement timeout for the queries of API requests, that never outlives the statement it limits.

Each query run inside ``statement_timeout(milliseconds)`` (and in the sync code that context calls
through ``sync_to_async``, which carries context variables along) is sent as
``SET LOCAL statement_timeout = <ms>; <query>`` in one message. PostgreSQL runs the statements of
one message as one transaction (an explicit one when Django has opened it), and ``SET LOCAL``
ends with that transaction, so the setting reaches no other query: not the next request's on the
same connection, and not another client's through a transaction pooler (PgBouncer refuses the
``options`` startup parameter that would set it per connection, and a session ``SET`` would pass
on to whichever client gets the server connection next). It costs no round trip.

Queries outside that context (the change listener, the event reader's thread, migrations,
management commands) run without it. PostgreSQL cancels a statement that runs longer with
SQLSTATE 57014 (``query_canceled``), which ``util.exceptions`` answers 503.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError

# SQLSTATE of a statement PostgreSQL cancelled (its statement timeout, or pg_cancel_backend).
QUERY_CANCELED = "57014"

_limit: contextvars.ContextVar[int | None] = contextvars.ContextVar("statement_timeout_ms", default=None)


@contextmanager
def statement_timeout(milliseconds: int | None) -> Iterator[None]:
    """Run the queries of this context under a statement timeout of ``milliseconds`` (None or 0: none)."""
    token = _limit.set(milliseconds if milliseconds and milliseconds > 0 else None)
    try:
        yield
    finally:
        _limit.reset(token)


def current_statement_timeout() -> int | None:
    """The statement timeout, in milliseconds, that queries run under here (None: none)."""
    return _limit.get()


def limit_statement(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """A Django execute wrapper (``connection.execute_wrapper``) prefixing the query with the context's timeout.

    A server-side cursor's query is left alone: the driver declares it as ``DECLARE ... CURSOR FOR
    <query>``, which takes one statement only.
    """
    milliseconds = _limit.get()
    if milliseconds is None or getattr(context["cursor"].cursor, "name", None):
        return execute(sql, params, many, context)
    return execute(f"SET LOCAL statement_timeout = {int(milliseconds)}; {sql}", params, many, context)


def is_query_canceled(error: BaseException) -> bool:
    """Whether ``error`` (a Django database error) is PostgreSQL cancelling a statement, e.g. at its timeout."""
    if not isinstance(error, DatabaseError):
        return False
    cause = error.__cause__
    return getattr(cause, "pgcode", None) == QUERY_CANCELED
