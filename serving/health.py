"""Liveness and readiness probes for load balancers and orchestrators: JSON, cheap, unauthenticated.

``/healthz`` says the process answers (it touches no database, so a database outage does not make
a load balancer restart healthy processes). Under the ASGI server it is answered on the event loop
(``serving.asgi.answered_on_event_loop``), so it never waits behind the queries of the sync thread;
``/readyz`` says this instance can serve: the
database answers and every migration the code knows is applied.
"""

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from observability.metrics import count_database_error
from serving.asgi import answered_on_event_loop
from serving.migrations import not_migrated_detail, unapplied_migrations
from util.exceptions import DATABASE_UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)

# Once this process has seen every migration applied it stays so (migrations are never rolled back
# under a running release), so later probes only check that the database answers.
_migrations_applied = False


@answered_on_event_loop
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process can answer requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest, alias: str = DEFAULT_DB_ALIAS) -> JsonResponse:
    """200 when the database answers and is fully migrated, else 503 saying which check failed."""
    global _migrations_applied
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = [] if _migrations_applied else unapplied_migrations(alias)
    except DatabaseError as exc:
        count_database_error(unavailable=isinstance(exc, DATABASE_UNAVAILABLE_ERRORS))
        logger.warning("not ready: database unavailable: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    if pending:
        return JsonResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "detail": not_migrated_detail(pending),
                "unapplied_migrations": pending,
            },
            status=503,
        )
    _migrations_applied = True
    return JsonResponse({"status": "ready", "database": "ok"})
