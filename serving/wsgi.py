"""WSGI middleware: request bodies sent with ``Transfer-Encoding: chunked`` are read, not dropped.

Django takes a request's body length from ``Content-Length`` alone; a chunked body has none, so
Django (and DRF after it) saw an empty body and a PATCH was answered as if it had no field. This
middleware reads a chunked body where the server has decoded the chunks and marks the end of the
input (``wsgi.input_terminated``, as gunicorn does), up to ``max_body_bytes``, and hands it on with
its ``Content-Length``. Where the server does not promise that, the body cannot be read safely,
and the request is answered 411 Length Required in JSON. A body over the limit is a 413 in JSON,
as Django's own limit gives for a body with a length. (Under ASGI the server hands Django the
whole body; there the same rule belongs in the ASGI application.)
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import django
from django.core.handlers.wsgi import WSGIHandler

from util.hosts import HostCheckedOnceWSGIRequest
from util.request_limits import body_too_large_message

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _json_error(start_response: StartResponse, status: str, detail: str) -> list[bytes]:
    payload = json.dumps({"detail": detail}).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), ("Connection", "close")],
    )
    return [payload]


class ChunkedBodyMiddleware:
    """Give a chunked request body a ``Content-Length`` by reading it (bounded), or refuse it with 411."""

    def __init__(self, app: WSGIApp, *, max_body_bytes: Callable[[], int | None]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        encoding = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if "chunked" not in encoding or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _json_error(
                start_response,
                "411 Length Required",
                "This server cannot read a chunked request body; send it with a Content-Length header.",
            )
        limit = self.max_body_bytes()
        body = environ["wsgi.input"].read() if limit is None else environ["wsgi.input"].read(limit + 1)
        if limit is not None and len(body) > limit:
            return _json_error(
                start_response,
                "413 Request Entity Too Large",
                body_too_large_message(limit),
            )
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


class HostCheckedOnceWSGIHandler(WSGIHandler):
    """Django's WSGI handler, whose requests work out their host once (``util.hosts.HostCheckedOnce``)."""

    request_class = HostCheckedOnceWSGIRequest


def get_wsgi_application() -> HostCheckedOnceWSGIHandler:
    """``django.core.wsgi.get_wsgi_application`` with ``HostCheckedOnceWSGIHandler``."""
    django.setup(set_prefix=False)
    return HostCheckedOnceWSGIHandler()
