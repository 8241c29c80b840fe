"""One JSON error shape for the API: ``{"detail": "<message a person can act on>"}``.

Validation errors keep their per-field messages under ``errors`` and are summed up in ``detail``
with the name of each parameter or field, e.g. ``"page_size: expected an integer from 1 to 1000,
got '0'."``. Unknown URLs and unhandled errors under the API prefix answer in the same shape.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

NON_FIELD_KEYS = frozenset({"non_field_errors", "__all__"})


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


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: DRF's own statuses and headers, with the body in the shared shape."""
    if isinstance(exc, ObjectDoesNotExist):
        exc = NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = error_body(response.data)
    return response


def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """A JSON 404 for any URL under the API prefix that names no endpoint."""
    return JsonResponse({"detail": f"No endpoint at {request.path}; see the API reference."}, status=404)


def server_error_handler(api_prefixes: tuple[str, ...]) -> Callable[[HttpRequest], HttpResponse]:
    """Build a ``handler500`` that answers JSON under ``api_prefixes`` and Django's page elsewhere.

    The traceback goes to the log (Django logs it before calling the handler), never to the client.
    """

    def server_error(request: HttpRequest) -> HttpResponse:
        if request.path.startswith(api_prefixes):
            return JsonResponse({"detail": "Internal server error; the failure has been logged."}, status=500)
        return defaults.server_error(request)

    return server_error
