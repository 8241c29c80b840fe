"""One JSON error shape for the API: ``{"detail": "<message a person can act on>"}``.

Validation errors keep their per-field messages under ``errors`` and are summed up in ``detail``
with the name of each parameter or field, e.g. ``"page_size: expected an integer from 1 to 1000,
got '0'."``. Unknown URLs and unhandled errors under the API prefix answer in the same shape.

A database that cannot be reached (connection refused or lost, or the server shutting down) is not
a bug in the service but a temporary condition: it answers 503 with ``Retry-After`` wherever it
happens, so clients and load balancers retry instead of reporting a failure. So does a query that
PostgreSQL cancelled at the statement timeout of API requests (``util.statement_timeout``), saying so.
"""

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import APIException, NotAuthenticated, NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from observability.metrics import DATABASE_ERRORS, count_database_error
from util.conditional import InvalidPrecondition, PreconditionFailed
from util.hosts import DISALLOWED_HOST_DETAIL
from util.request_limits import body_too_large_message
from util.statement_timeout import current_statement_timeout, is_query_canceled
from util.values import shown

logger = logging.getLogger(__name__)

NON_FIELD_KEYS = frozenset({"non_field_errors", "__all__"})

# Raised by Django for a database that is down, unreachable, restarting or dropped the connection
# (psycopg2's OperationalError and InterfaceError are wrapped into these).
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_DETAIL = "The database is unavailable; retry shortly."

RETRY_AFTER_SECONDS = 5


def _messages(value: object) -> list[str]:
    """All the messages in a DRF error value (a string, a list, or a nested dict), in order."""
    if isinstance(value, dict):
        return [message for key, item in value.items() for message in _prefixed(str(key), item)]
    if isinstance(value, (list, tuple)):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def _prefixed(key: str, value: object) -> list[str]:
    messages = _messages(value)
    return messages if key in NON_FIELD_KEYS else [f"{key}: {message}" for message in messages]


def error_body(data: object) -> dict:
    """Normalise a DRF error payload to ``{"detail": str}``, keeping field errors under ``errors``."""
    if isinstance(data, dict) and list(data) == ["detail"] and isinstance(data["detail"], str):
        return {"detail": str(data["detail"])}
    body: dict = {"detail": " ".join(_messages(data))}
    if isinstance(data, dict):
        body["errors"] = data
    return body


class PayloadTooLarge(APIException):
    """413: the request body is larger than the service accepts."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def _as_api_exception(exc: Exception) -> Exception:
    """The API error for Django's own refusals, which DRF would leave to Django's HTML error pages."""
    if isinstance(exc, ObjectDoesNotExist):
        return NotFound(str(exc) or "Not found.")
    if isinstance(exc, RequestDataTooBig):
        # Django refuses the body by its declared length, before reading it.
        return PayloadTooLarge(body_too_large_message(settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
    if isinstance(exc, TooManyFieldsSent):
        return ParseError(
            f"Too many query parameters: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} values are accepted."
        )
    if isinstance(exc, SuspiciousOperation):
        logger.warning("refused a suspicious request: %s", exc)
        return ParseError("Bad request.")
    return exc


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: DRF's own statuses and headers, with the body in the shared shape.

    Django's refusals of a request (a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, too many query
    parameters, other ``SuspiciousOperation``) become JSON errors too: 413 and 400. An unavailable
    database is a 503 with ``Retry-After``; a failed ``If-Match`` precondition a 412 with the
    current ``ETag``.
    """
    if is_query_canceled(exc):
        set_rollback()
        detail = query_canceled_detail(request=context.get("request"))
        response = Response({"detail": detail}, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        # Logged in one line above: Django's request logger is told so (django.utils.log.log_response),
        # rather than adding an error line of its own for the 503.
        response._has_been_logged = True
        return response
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        set_rollback()
        _log_database_unavailable(exc)
        return Response(
            {"detail": DATABASE_UNAVAILABLE_DETAIL}, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    if isinstance(exc, PreconditionFailed):
        return Response({"detail": str(exc)}, status=412, headers={"ETag": exc.etag} if exc.etag else None)
    if isinstance(exc, InvalidPrecondition):
        return Response({"detail": str(exc)}, status=400)
    exc = _as_api_exception(exc)
    if isinstance(exc, NotAuthenticated):
        detail = unaccepted_scheme_detail(context.get("request"))
        if detail is not None:
            exc = NotAuthenticated(detail)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = error_body(response.data)
    return response


def unaccepted_scheme_detail(request: object) -> str | None:
    """Why a request with an ``Authorization`` header in a scheme no authenticator of the view reads was
    refused: the scheme sent and the one expected (a ``Bearer`` token is otherwise as good as none).

    None when the request sent no such header. ``request`` is DRF's.
    """
    header = getattr(request, "META", {}).get("HTTP_AUTHORIZATION", "")
    if not header.strip():
        return None
    sent = header.split()[0]
    expected = [
        scheme
        for authenticator in getattr(request, "authenticators", ())
        if (scheme := authenticator.authenticate_header(request))
    ]
    if not expected or sent.lower() in {scheme.lower() for scheme in expected}:
        return None
    return (
        f"The Authorization header uses the scheme {shown(sent)}, which this service does not accept: "
        f"send 'Authorization: {expected[0]} <token>'."
    )


def _log_database_unavailable(exc: BaseException) -> None:
    count_database_error(unavailable=True)
    # One line, no traceback: during an outage every request fails the same way.
    logger.warning("database unavailable: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc))


def query_canceled_detail(*, request: HttpRequest | None) -> str:
    """What a request whose query PostgreSQL cancelled (its statement timeout) is told; logged and counted here.

    One log line, no traceback: an expensive request repeated by a client fails the same way each time.
    Counted in ``scale_nodes_database_errors_total{kind="timeout"}``.
    """
    timeout = current_statement_timeout()
    limit = f"{timeout} ms" if timeout else "the time allowed"
    detail = (
        f"The query took too long: it was cancelled after {limit}. Narrow the request (more filters, a longer "
        "search text, an earlier page) or retry later."
    )
    DATABASE_ERRORS.labels(kind="timeout").inc()
    target = f"{request.method} {request.get_full_path()}" if request is not None else "a request"
    logger.warning("query cancelled after %s: %s", limit, target)
    return detail


def database_unavailable_response(*, json: bool) -> HttpResponse:
    """The 503 for a request that failed because the database is unavailable (JSON or plain text)."""
    if json:
        response: HttpResponse = JsonResponse({"detail": DATABASE_UNAVAILABLE_DETAIL}, status=503)
    else:
        response = HttpResponse(DATABASE_UNAVAILABLE_DETAIL, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# Exempt from CSRF: it changes nothing, and the middleware would otherwise answer a PATCH with
# a session cookie by an HTML 403 page instead of this JSON 404.
@csrf_exempt
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """A JSON 404 for any URL under the API prefix that names no endpoint."""
    return JsonResponse({"detail": f"No endpoint at {request.path}; see the API reference."}, status=404)


def bad_request_handler(api_prefixes: tuple[str, ...]) -> Callable[[HttpRequest, Exception], HttpResponse]:
    """Build a ``handler400`` that answers JSON under ``api_prefixes`` and Django's page elsewhere.

    Django calls it for requests refused before any view runs, e.g. an unknown ``Host`` header.
    """

    def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
        if request.path.startswith(api_prefixes):
            detail = DISALLOWED_HOST_DETAIL if isinstance(exception, DisallowedHost) else "Bad request."
            return JsonResponse({"detail": detail}, status=400)
        return defaults.bad_request(request, exception)

    return bad_request


def server_error_handler(api_prefixes: tuple[str, ...]) -> Callable[[HttpRequest], HttpResponse]:
    """Build a ``handler500`` that answers JSON under ``api_prefixes`` and Django's page elsewhere.

    The traceback goes to the log (Django logs it before calling the handler), never to the client.
    A failure caused by an unavailable database (raised outside an API view, e.g. by the session
    or the admin) is a 503 instead of a 500.
    """

    def server_error(request: HttpRequest) -> HttpResponse:
        is_api = request.path.startswith(api_prefixes)
        # Django calls the handler while handling the exception, so it is still the current one.
        error = sys.exc_info()[1]
        if error is not None and is_query_canceled(error):
            response = JsonResponse({"detail": query_canceled_detail(request=request)}, status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if isinstance(error, DATABASE_UNAVAILABLE_ERRORS):
            count_database_error(unavailable=True)
            return database_unavailable_response(json=is_api)
        if isinstance(error, DatabaseError):
            count_database_error(unavailable=False)
        if is_api:
            return JsonResponse({"detail": "Internal server error; the failure has been logged."}, status=500)
        return defaults.server_error(request)

    return server_error
