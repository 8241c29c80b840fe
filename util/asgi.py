"""Django's ASGI handler, running the sync parts of every request on one thread per process.

Django's own handler gives each request a thread of its own for the sync code it runs (its
middleware, DRF views, the ORM). A thread's database connection dies with it, so every request would
open a new connection, a few milliseconds on PostgreSQL, and ``CONN_MAX_AGE`` would never apply.
This handler lets sync code run where asgiref puts it without a per-request context: one thread per
process, whose connection lives as ``CONN_MAX_AGE`` says, as in a sync worker. Async views and
streams run on the event loop and need no thread at all, so the one thread serves only the short
sync work of each request.

It also treats a chunked request body as ``util.wsgi.ChunkedBodyMiddleware`` does under WSGI: the
body gets its ``Content-Length`` (DRF reads no body without one), and one over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (which Django checks against ``Content-Length`` only) is refused with
a JSON 413.
"""

from __future__ import annotations

import tempfile

import django
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.http import JsonResponse


class SingleThreadASGIHandler(ASGIHandler):
    """``ASGIHandler`` without a ``ThreadSensitiveContext`` per request (see the module docstring)."""

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def read_body(self, receive: object) -> tempfile.SpooledTemporaryFile:
        """Django's ``read_body``, stopping once the body passes ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body_file = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")  # noqa: SIM115 (handed on to the request)
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                body_file.body_too_large = limit
                break
            body_file.write(chunk)
            if not message.get("more_body", False):
                break
        body_file.body_size = size
        body_file.seek(0)
        return body_file

    def create_request(self, scope: dict, body_file: tempfile.SpooledTemporaryFile) -> tuple:
        limit = getattr(body_file, "body_too_large", None)
        if limit is not None:
            response = JsonResponse(
                {"detail": f"Request body too large: at most {limit} bytes are accepted."}, status=413
            )
            # The rest of the body is not read: the connection cannot carry another request.
            response["Connection"] = "close"
            response["Content-Length"] = str(len(response.content))
            return None, response
        request, response = super().create_request(scope, body_file)
        if request is not None and "CONTENT_LENGTH" not in request.META and body_file.body_size:
            # A chunked body, read whole above: DRF takes a request without a length for one without a body.
            request.META["CONTENT_LENGTH"] = str(body_file.body_size)
            request.META.pop("HTTP_TRANSFER_ENCODING", None)
        return request, response


def get_single_thread_asgi_application() -> SingleThreadASGIHandler:
    """``django.core.asgi.get_asgi_application`` with ``SingleThreadASGIHandler``."""
    django.setup(set_prefix=False)
    return SingleThreadASGIHandler()
