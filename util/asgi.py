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

A request for a sync view (every view but the few that wait) runs all its sync work in one step on
that thread: Django's sync middleware chain, the view, the rendering and the end-of-request signals,
as a WSGI worker runs them. Under Django's async chain the same request would move between the
event loop and the thread twice for every middleware that has ``process_request`` and
``process_response`` hooks, some twenty moves for this service's chain. Async views (those that
wait on the event loop) go through Django's async chain as usual.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import tempfile
from inspect import iscoroutinefunction

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponseBase, JsonResponse
from django.urls import Resolver404, get_resolver, set_script_prefix


class SingleThreadASGIHandler(ASGIHandler):
    """``ASGIHandler`` without a ``ThreadSensitiveContext`` per request, serving sync views in one step on
    the sync thread (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        # The same middleware in sync mode, for the requests of sync views.
        self._sync_handler = BaseHandler()
        self._sync_handler.load_middleware(is_async=False)

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        if self.serves_async_view(scope):
            await self.handle(scope, receive, send)
        else:
            await self.handle_sync(scope, receive, send)

    @staticmethod
    def serves_async_view(scope: dict) -> bool:
        """Whether the request of ``scope`` is for an async view (one that waits on the event loop).

        A path that no URL matches is a sync request: its 404 comes from the sync chain.
        """
        script_prefix = get_script_prefix(scope)
        path = scope["path"].removeprefix(script_prefix) if script_prefix else scope["path"]
        try:
            match = get_resolver().resolve(path)
        except Resolver404:
            return False
        return iscoroutinefunction(match.func)

    async def handle_sync(self, scope: dict, receive: object, send: object) -> None:
        """Serve a request for a sync view: the body read on the event loop, then one step on the sync thread.

        The response is sent once the thread is done with it. A streaming one (the event stream,
        static files) is sent until it ends or the client disconnects, and closed after.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # In a context of its own: what the request sets in context-local state (its URL prefix,
        # Django's and asgiref's locals) goes with it, rather than staying for as long as this
        # task sends, which for an event stream is as long as the client stays.
        response = await asyncio.create_task(
            self._respond_in_thread(scope, body_file), context=contextvars.copy_context()
        )
        if not response.streaming:
            await self.send_response(response, send)
            return
        if response.is_async:
            # Finished already (``_respond``): an endless stream holds on to nothing of the request.
            del body_file
            await self._send_until_disconnect(response, receive, send)
            return
        try:
            await self._send_until_disconnect(response, receive, send)
        finally:
            await sync_to_async(self._finish, thread_sensitive=True)(response, body_file)

    async def _send_until_disconnect(self, response: HttpResponseBase, receive: object, send: object) -> None:
        """Send a streaming ``response``, stopping when the client disconnects (an endless event stream
        ends only so), as Django's own handler does.

        The response is sent from this task, and one more task waits for the disconnect and then
        cancels this one: a stream costs two tasks where Django's handler takes three.
        """
        sending = asyncio.current_task()
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        stopped = False

        def stop(_: asyncio.Task) -> None:
            nonlocal stopped
            if not stopped and not listener.cancelled():
                stopped = True
                sending.cancel()

        listener.add_done_callback(stop)
        try:
            if response.is_async:
                await self._send_async_stream(response, send)
            else:
                await self.send_response(response, send)
        except asyncio.CancelledError:
            if not stopped or sending.uncancel():
                # Cancelled from elsewhere (the server stopping), not by the disconnect.
                raise
        finally:
            # From here on a disconnect cancels nothing (the callback may already be scheduled).
            stopped = True
            listener.cancel()
        if listener.done() and not listener.cancelled():
            error = listener.exception()
            if error is not None and not isinstance(error, RequestAborted):
                raise error

    async def _send_async_stream(self, response: HttpResponseBase, send: object) -> None:
        """Send a response streaming an async iterator, holding less per open stream than ``send_response``.

        The same messages as Django's ``send_response``: the start with the response's headers and
        cookies, each part of the content in chunks, and an empty closing body.
        """
        await send({"type": "http.response.start", "status": response.status_code, "headers": _headers(response)})
        content = response.streaming_content
        try:
            async for part in content:
                for chunk, _ in self.chunk_bytes(part):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await content.aclose()
        await send({"type": "http.response.body"})

    async def _respond_in_thread(self, scope: dict, body_file: tempfile.SpooledTemporaryFile) -> HttpResponseBase:
        set_script_prefix(get_script_prefix(scope))
        return await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)

    def _respond(self, scope: dict, body_file: tempfile.SpooledTemporaryFile) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self._sync_handler.get_response(request)
        response._handler_class = self.__class__
        if not response.streaming or response.is_async:
            # The sync work is over: the body is complete, or an async stream (the event stream)
            # needs nothing of the request. The end of the request (request_finished, the request
            # and its body file closed) happens now, on this thread, and the request is let go.
            self._finish(response, body_file)
        return response

    @staticmethod
    def _finish(response: HttpResponseBase, body_file: tempfile.SpooledTemporaryFile) -> None:
        response.close()
        body_file.close()

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


@functools.lru_cache(maxsize=512)
def _header(name: str | bytes, value: str | bytes) -> tuple[bytes, bytes]:
    """One header as the ASGI start message carries it.

    Shared between responses: the server keeps a stream's headers for as long as the stream lasts,
    and the headers of thousands of event streams are the same but for a few (the request id).
    """
    return (
        name.encode("ascii") if isinstance(name, str) else bytes(name),
        value.encode("latin1") if isinstance(value, str) else bytes(value),
    )


def _headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    """The headers of ``response`` as an ASGI start message carries them, cookies included (as Django sends them)."""
    headers = [_header(name, value) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    return headers


def get_single_thread_asgi_application() -> SingleThreadASGIHandler:
    """``django.core.asgi.get_asgi_application`` with ``SingleThreadASGIHandler``."""
    django.setup(set_prefix=False)
    return SingleThreadASGIHandler()
