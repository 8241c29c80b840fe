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
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
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


class HostCheckedOnce:
    """A request mixin: the host (``get_host``, checked against ``ALLOWED_HOSTS``) is worked out once per request.

    The host check, CommonMiddleware and every absolute link of a response ask for it; it depends
    only on the request's headers and the settings, so the first answer stands for the request. A
    refused host is refused every time it is asked for, as by Django.
    """

    def get_host(self) -> str:
        """The request's host, as ``HttpRequest.get_host`` gives it (``DisallowedHost`` when refused)."""
        host = self.__dict__.get("_checked_host")
        if host is None:
            host = self._checked_host = super().get_host()  # type: ignore[misc]
        return host


class HostCheckedOnceWSGIRequest(HostCheckedOnce, WSGIRequest):
    """Django's WSGI request, its host worked out once."""


class HostCheckedOnceASGIRequest(HostCheckedOnce, ASGIRequest):
    """Django's ASGI request, its host worked out once."""
