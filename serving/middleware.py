"""Request middleware: a request id for every request, one log line per request, static files and the CSP header."""

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable
from functools import cache

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty
from whitenoise.middleware import WhiteNoiseMiddleware

from observability.logging import current_request_id, stamp_request_ids
from util.hosts import disallowed_host_response
from waiting.asyncviews import when_answered

logger = logging.getLogger("request")

REQUEST_ID_HEADER = "X-Request-ID"
# The header as the request's META holds it: read there, a request's headers are not all copied out first.
_REQUEST_ID_META = "HTTP_X_REQUEST_ID"
# An id from the client (or a load balancer) is kept when it is a sane token; anything else (too
# long, spaces, control characters that could forge log lines) is replaced by a fresh one.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,200}")


class RequestLogMiddleware:
    """Give each request an id and log one line when it is answered.

    The id is taken from the ``X-Request-ID`` header when acceptable, else generated; it is echoed
    in the response's ``X-Request-ID`` header, set on ``request.request_id`` and attached to every
    log record written while the request runs. The line has the method, path, status, duration in
    milliseconds and the request id as structured fields.
    """

    # Async-capable, as every middleware of the service must be: under ASGI one sync-only middleware
    # would run the whole chain, and an async view waiting below it, on a thread.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        stamp_request_ids()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        started, token = self._begin(request)
        try:
            return self._end(request, self.get_response(request), started)
        finally:
            current_request_id.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started, token = self._begin(request)
        try:
            return self._end(request, await self.get_response(request), started)
        finally:
            current_request_id.reset(token)

    def _begin(self, request: HttpRequest) -> tuple[float, object]:
        return begin_request_log(request)

    def _end(self, request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        answered = functools.partial(_log_line, request.method, request.path, request.request_id, started)
        if when_answered(response, answered):
            # Logged once the handler answers it, after its wait (waiting.asyncviews).
            response[REQUEST_ID_HEADER] = request.request_id
            return response
        return log_answer(request, response, started=started)


def begin_request_log(request: HttpRequest) -> tuple[float, object]:
    """Give ``request`` its id (``request.request_id``, and on every log record from here on in this context).

    Returns when it started (``time.monotonic()``) and the token that resets the log records' id.
    """
    incoming = request.META.get(_REQUEST_ID_META, "")
    request_id = incoming if _ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request.request_id = request_id
    token = current_request_id.set(request_id)
    return time.monotonic(), token


def log_answer(request: HttpRequest, response: HttpResponse, *, started: float) -> HttpResponse:
    """Echo the request's id in ``response`` and log the request's one line (``begin_request_log`` gave both)."""
    response[REQUEST_ID_HEADER] = request.request_id
    logger.info(
        "answered",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return response


def _log_line(method: str, path: str, request_id: str, started: float, status: int) -> None:
    """``log_answer``'s line for a request answered after its middleware was done (``waiting.asyncviews``)."""
    token = current_request_id.set(request_id)
    try:
        extra = {"method": method, "path": path, "status": status}
        logger.info("answered", extra={**extra, "duration_ms": round((time.monotonic() - started) * 1000, 1)})
    finally:
        current_request_id.reset(token)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """whitenoise's middleware, async-capable: under ASGI a request for anything but a static file passes on
    to the rest of the chain on the event loop (whitenoise's own is sync-only)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


# What makes one response's policy differ from the settings' (django-csp's decorators set these on
# the response); a response with none of them, whose request used no nonce, gets the settings' policy.
_CSP_PER_RESPONSE = (
    "_csp_exempt",
    "_csp_exempt_ro",
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_CSP_SETTINGS = frozenset({"CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"})


@cache
def _settings_policy_headers() -> tuple[tuple[str, str], ...] | None:
    """The CSP headers of a response that changes nothing in the settings' policies; None when paths are excluded."""
    headers = []
    for name, setting, report_only in (
        (HEADER, "CONTENT_SECURITY_POLICY", False),
        (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
    ):
        if (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES"):
            return None
        policy = build_policy(report_only=report_only)
        if policy:
            headers.append((name, policy))
    return tuple(headers)


@receiver(setting_changed)
def _forget_settings_policy(*, setting: str, **kwargs: object) -> None:
    if setting in _CSP_SETTINGS:
        _settings_policy_headers.cache_clear()


# What ``request.csp_nonce`` is once the header is written: asking it for a nonce raises, every time, so
# one object serves every request.
_NONCE_AFTER_RESPONSE = CheckableLazyObject(CSPMiddleware._csp_nonce_post_response)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, giving every response the policy it gives, built once for the common case.

    A response that carries no policy of its own (django-csp's decorators) and whose request used
    no nonce gets the settings' policies, which django-csp would otherwise rebuild from the settings
    on every response; any other response goes through django-csp itself.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        headers = _settings_policy_headers()
        if (
            headers is None
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _CSP_PER_RESPONSE)
        ):
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (404, 500):
            # django-csp leaves Django's debug pages alone.
            return response
        for name, value in headers:
            if name not in response:
                response[name] = value
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = _NONCE_AFTER_RESPONSE
        return response


class JsonHostCheckMiddleware:
    """Refuse a ``Host`` that ``ALLOWED_HOSTS`` does not allow with a JSON 400, under ``JSON_ERROR_PATHS``
    (``util.exceptions.disallowed_host_response``).

    Reading the host here, before any other middleware does, answers the clients of the API and the
    probes in JSON, in DEBUG too. Other paths are left to Django.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = disallowed_host_response(request)
        if self.is_async:
            return self._acall(request, refused)
        return refused if refused is not None else self.get_response(request)

    async def _acall(self, request: HttpRequest, refused: HttpResponse | None) -> HttpResponse:
        return refused if refused is not None else await self.get_response(request)


class LazyMessageMiddleware(MessageMiddleware):
    """Django's messages middleware, whose storage is made the first time a request uses it.

    The admin and the login pages use messages; the API never does. Django's middleware builds the
    storage (a signed-cookie reader and a session reader) for every request, and stores it into the
    response; a storage that was never used has nothing to store, so a request that never touched it
    is answered as it would have been, at none of that cost.
    """

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(functools.partial(default_storage, request))

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)
