"""Request middleware: a request id for every request, and one log line per request."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        stamp_request_ids()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            response[REQUEST_ID_HEADER] = request_id
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
        finally:
            current_request_id.reset(token)
