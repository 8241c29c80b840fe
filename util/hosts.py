"""The JSON refusal of a ``Host`` header that ``ALLOWED_HOSTS`` does not allow, for the API and the probes.

Django refuses such a host wherever it is first read, with an HTML page (its debug page in DEBUG).
Under ``JSON_ERROR_PATHS`` the clients read JSON: ``serving.middleware.JsonHostCheckMiddleware`` reads
the host before anything else does, and ``serving.asgi`` does for the views it serves outside the
middleware. Imports nothing of DRF, as ``serving.asgi`` is imported before Django is set up.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, JsonResponse

DISALLOWED_HOST_DETAIL = (
    "The Host header names a host this service does not answer to; the hosts it answers to are set by ALLOWED_HOSTS."
)
# Where Django itself reports a refused host.
_security_logger = logging.getLogger("django.security.DisallowedHost")


def disallowed_host_response(request: HttpRequest) -> JsonResponse | None:
    """The JSON 400 of a request under ``JSON_ERROR_PATHS`` whose ``Host`` ``ALLOWED_HOSTS`` refuses, else None."""
    if not request.path.startswith(tuple(settings.JSON_ERROR_PATHS)):
        return None
    try:
        request.get_host()
    except DisallowedHost as exc:
        _security_logger.warning("%s", exc)
        return JsonResponse({"detail": DISALLOWED_HOST_DETAIL}, status=400)
    return None
