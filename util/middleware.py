"""Request middleware: a request id for every request, and one log line per request."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from util.logging import current_request_id, stamp_request_ids

logger = logging.getLogger("request")

REQUEST_ID_HEADER = "X-Request-ID"
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
        return log_answer(request, response, started=started)


def begin_request_log(request: HttpRequest) -> tuple[float, object]:
    """Give ``request`` its id (``request.request_id``, and on every log record from here on in this context).

    Returns when it started (``time.monotonic()``) and the token that resets the log records' id.
    """
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request.request_id = request_id
    token = current_request_id.set(request_id)
    return time.monotonic(), token


def log_answer(request: HttpRequest, response: HttpResponse, *, started: float) -> HttpResponse:
    """Echo the request's id in ``response`` and log the request's one line (``begin_request_log`` gave both)."""
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    response[REQUEST_ID_HEADER] = request.request_id
    logger.info(
        "answered",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        },
    )
    return response


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
