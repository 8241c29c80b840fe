"""Django's ASGI handler, running the sync parts of every request on one thread per process.

Django's own handler gives each request a thread of its own for the sync code it runs (its
middleware, DRF views, the ORM). A thread's database connection dies with it, so every request would
open a new connection, a few milliseconds on PostgreSQL, and ``CONN_MAX_AGE`` would never apply.
This handler lets sync code run where asgiref puts it without a per-request context: one thread per
process, whose connection lives as ``CONN_MAX_AGE`` says, as in a sync worker. Async views and
streams run on the event loop and need no thread at all, so the one thread serves only the short
sync work of each request.

It also treats a chunked request body as ``serving.wsgi.ChunkedBodyMiddleware`` does under WSGI: the
body gets its ``Content-Length`` (DRF reads no body without one), and one over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (which Django checks against ``Content-Length`` only) is refused with
a JSON 413.

A request for a sync view (every view but the few that wait) runs all its sync work in one step on
that thread: Django's sync middleware chain, the view, the rendering and the end-of-request signals,
as a WSGI worker runs them. Under Django's async chain the same request would move between the
event loop and the thread twice for every middleware that has ``process_request`` and
``process_response`` hooks, some twenty moves for this service's chain. A response that waits
(``waiting.asyncviews``: a long-poll) leaves that step as any other, then only its status and headers
are kept while its ``later`` waits on the event loop, and the completed answer is sent from there:
thousands woken at once never go back to the thread. Async views go through Django's async chain as
usual.

Before any of that, on the event loop, the handler answers what needs neither the thread nor the
middleware:

- a request target with a NUL character (``%00``) in its path or a query parameter: 400 naming it
  (``util.query.nul_character_error``), before any code could hand it to the database driver;
- a view marked ``answered_on_event_loop`` (``/healthz``): called right there, so a health probe
  never waits behind the queries of the sync thread;
- a WebSocket handshake: refused (the service serves none; the live watch is Server-Sent Events);
- a request target in absolute form (``GET http://host/v6/nodes/``, RFC 9112 section 3.2.2) is
  served as its path, with the target's authority as its ``Host``.

The queries of API requests (those answered by a DRF view) run under the statement timeout
``DB_STATEMENT_TIMEOUT_MS`` (``util.statement_timeout``). A request with a body to a DRF view is
authenticated and its permissions checked (the view's own classes) before its body is read, so a
client without valid credentials, or sending a method the view does not answer, is refused before the
server asks for the body (``100 Continue``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction
from urllib.parse import urlsplit

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponseBase, JsonResponse
from django.http.response import ResponseHeaders
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix
from rest_framework.exceptions import APIException, MethodNotAllowed
from rest_framework.permissions import SAFE_METHODS

from observability.logging import current_request_id
from observability.metrics import request_series
from serving.middleware import begin_request_log, log_answer
from util.hosts import HostCheckedOnceASGIRequest, disallowed_host_response
from util.query import nul_character_error
from util.request_limits import body_too_large_message
from util.statement_timeout import statement_timeout
from waiting.asyncviews import Later, completed_by_handler, take_later

logger = logging.getLogger(__name__)

# The attribute ``answered_on_event_loop`` sets on a view.
_ON_EVENT_LOOP = "answered_on_event_loop"
# A request target in absolute form starts with a scheme (RFC 3986 section 3.1) and "://".
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
WEBSOCKETS_REFUSED = (
    "This service serves no WebSockets: the live watch of node changes is Server-Sent Events at "
    "GET /v6/nodes/events/ (or long-polls at GET /v6/nodes/changes/?wait=N)."
)


View = Callable[..., HttpResponseBase]


def answered_on_event_loop(view: View) -> View:
    """Mark the sync ``view`` to be called by ``SingleThreadASGIHandler`` on the event loop, outside the middleware.

    For answers that must never wait behind other requests (a health probe). The view must touch
    no database, never block, and need nothing a middleware provides (session, user, CSRF, host
    check). Under WSGI and Django's test client it is served as any view.
    """
    setattr(view, _ON_EVENT_LOOP, True)
    return view


def is_api_view(view: Callable | None) -> bool:
    """Whether ``view`` (a URL pattern's callable) is a DRF view: an endpoint of the API."""
    # Imported here: DRF's views read the settings' classes, which need the apps loaded, and this
    # module is imported before Django is set up (scale_nodes.asgi).
    from rest_framework.views import APIView

    view_class = getattr(view, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def origin_form(scope: dict) -> dict:
    """``scope`` with a request target in absolute form (``http://host:port/path``) made its path.

    RFC 9112 section 3.2.2: a server must accept the absolute form; the target's authority then
    replaces the ``Host`` header (RFC 9112 section 3.2.2, RFC 9110 section 7.2), which Django checks
    against ``ALLOWED_HOSTS`` as usual. Any other scope is returned as it is.
    """
    path = scope["path"]
    if path.startswith("/") or not _ABSOLUTE_FORM.match(path):
        return scope
    target = urlsplit(path)
    if target.scheme.lower() not in ("http", "https") or not target.netloc:
        return scope
    raw_path = scope.get("raw_path") or path.encode("utf-8")
    raw_target = urlsplit(raw_path)
    headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
    headers.append((b"host", target.netloc.encode("latin-1", errors="replace")))
    return {
        **scope,
        "path": target.path or "/",
        "raw_path": raw_target.path or b"/",
        "query_string": scope.get("query_string") or target.query.encode("latin-1", errors="replace"),
        "headers": headers,
    }


class SingleThreadASGIHandler(ASGIHandler):
    """``ASGIHandler`` without a ``ThreadSensitiveContext`` per request, serving sync views in one step on
    the sync thread (see the module docstring)."""

    request_class = HostCheckedOnceASGIRequest

    def __init__(self) -> None:
        super().__init__()
        # The same middleware in sync mode, for the requests of sync views.
        self._sync_handler = BaseHandler()
        self._sync_handler.load_middleware(is_async=False)

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] == "websocket":
            await self.refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        scope = origin_form(scope)
        error = nul_character_error(path=scope["path"], query_string=scope.get("query_string", b""))
        if error is not None:
            logger.warning("refused a request target with a NUL character: %s", error["detail"])
            await self._answer_early(scope, JsonResponse(error, status=400), send)
            return
        match = self.resolve(scope)
        view = match.func if match is not None else None
        if getattr(view, _ON_EVENT_LOOP, False):
            await self.handle_on_event_loop(scope, receive, send, match=match)
            return
        timeout = settings.DB_STATEMENT_TIMEOUT_MS if is_api_view(view) else None
        if view is not None and iscoroutinefunction(view):
            serving = self.handle(scope, receive, send)
        else:
            serving = self.handle_sync(scope, receive, send, match=match)
        # An event stream is served for as long as its client stays, all the while in this frame: it
        # keeps what it needs itself, not the URL match (its pattern, the patterns tried).
        del match, view
        with statement_timeout(timeout):
            await serving

    @staticmethod
    def resolve(scope: dict) -> ResolverMatch | None:
        """The URL pattern that answers the request of ``scope``; None when none does (its 404 comes
        from the sync chain)."""
        script_prefix = get_script_prefix(scope)
        path = scope["path"].removeprefix(script_prefix) if script_prefix else scope["path"]
        try:
            return get_resolver().resolve(path)
        except Resolver404:
            return None

    @classmethod
    def serves_async_view(cls, scope: dict) -> bool:
        """Whether the request of ``scope`` is for an async view (one that waits on the event loop)."""
        match = cls.resolve(scope)
        return match is not None and iscoroutinefunction(match.func)

    async def handle_on_event_loop(self, scope: dict, receive: object, send: object, *, match: ResolverMatch) -> None:
        """Serve a view marked ``answered_on_event_loop``: called here, outside the middleware and the sync thread."""
        started = time.perf_counter()
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, response = self.create_request(scope, body_file)
        if request is not None:
            request.resolver_match = match
            # Outside the middleware: the Host check it makes first is made here.
            response = disallowed_host_response(request) or match.func(request, *match.args, **match.kwargs)
        try:
            await self.send_response(response, send)
        finally:
            body_file.close()
        _count(match.view_name, scope["method"], response.status_code, started)

    async def refuse_websocket(self, scope: dict, receive: object, send: object) -> None:
        """Refuse a WebSocket handshake: a JSON 400 where the server can send one (the ASGI denial response
        extension), else a close before accepting, which the server answers 403."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            body = JsonResponse({"detail": WEBSOCKETS_REFUSED}, status=400).content
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "websocket.http.response.start", "status": 400, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": WEBSOCKETS_REFUSED[:120]})
        logger.info("refused a WebSocket handshake for %s", scope.get("path", ""))

    async def _answer_early(self, scope: dict, response: HttpResponseBase, send: object) -> None:
        """Send ``response`` to a request whose body was not read, closing the connection (the body is unread)."""
        started = time.perf_counter()
        response["Connection"] = "close"
        response["Content-Length"] = str(len(response.content))
        await self.send_response(response, send)
        _count(None, scope["method"], response.status_code, started)

    async def handle_sync(
        self, scope: dict, receive: object, send: object, *, match: ResolverMatch | None = None
    ) -> None:
        """Serve a request for a sync view: the body read on the event loop, then one step on the sync thread.

        A request with a body for a DRF view is first authenticated, on the thread, without its
        body (``_refusal_before_body``). The response is sent once the thread is done with it. A
        streaming one (the event stream, static files) is sent until it ends or the client
        disconnects, and closed after.
        """
        if match is not None and _needs_checks_before_body(scope, match):
            refusal = await asyncio.create_task(
                self._refusal_in_thread(scope, match), context=contextvars.copy_context()
            )
            if refusal is not None:
                await self.send_response(refusal, send)
                return
        # Not needed beyond this point, and this frame may last as long as an event stream.
        del match
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
        later = take_later(response)
        if later is not None:
            # Finished already (``_respond``): only what is sent is kept while the answer waits.
            del body_file
            status, headers, content = response.status_code, _headers(response), response.content
            del response
            await self._until_disconnect(self._send_completed(status, headers, content, later, send), receive)
            return
        if not response.streaming:
            await self.send_response(response, send)
            return
        if response.is_async:
            # Finished already (``_respond``): an endless stream holds on to nothing of the request.
            del body_file
            await self._until_disconnect(self._send_async_stream(response, send), receive)
            return
        try:
            await self._until_disconnect(self.send_response(response, send), receive)
        finally:
            await sync_to_async(self._finish, thread_sensitive=True)(response, body_file)

    @staticmethod
    async def _send_completed(
        status: int, headers: list[tuple[bytes, bytes]], content: bytes, later: Later, send: object
    ) -> None:
        """Await ``later`` (``waiting.asyncviews``), then send the response of ``status``, ``headers`` and ``content``
        as it completes it."""
        completion = await later()
        if completion is not None:
            status, content = completion.status, completion.content
            changed = [_header(name, value) for name, value in completion.headers.items()]
            changed.append((b"Content-Length", str(len(content)).encode("ascii")))
            names = {name.lower() for name, _ in changed}
            headers = [header for header in headers if header[0].lower() not in names] + changed
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _until_disconnect(self, sending: Awaitable[None], receive: object) -> None:
        """Await ``sending`` (a streaming response being sent, or an answer waiting), stopping when the client
        disconnects (an endless event stream ends only so), as Django's own handler does.

        ``sending`` runs in this task, and one more task waits for the disconnect and then cancels
        this one: a stream costs two tasks where Django's handler takes three.
        """
        this = asyncio.current_task()
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        stopped = False

        def stop(_: asyncio.Task) -> None:
            nonlocal stopped
            if not stopped and not listener.cancelled():
                stopped = True
                this.cancel()

        listener.add_done_callback(stop)
        try:
            await sending
        except asyncio.CancelledError:
            if not stopped or this.uncancel():
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
        # The response lives as long as its stream (its content refers to it): what was sent is let go.
        response.headers = ResponseHeaders({})
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

    async def _refusal_in_thread(self, scope: dict, match: ResolverMatch) -> HttpResponseBase | None:
        set_script_prefix(get_script_prefix(scope))
        return await sync_to_async(self._refusal_before_body, thread_sensitive=True)(scope, match)

    def _refusal_before_body(self, scope: dict, match: ResolverMatch) -> HttpResponseBase | None:
        """The DRF view's refusal of the request before its body is read (401, 403, 405, 429), or None to go on.

        The view's own authentication and permission classes decide, as ``APIView.initial`` runs them;
        only the body is missing, which neither reads. The refusal is logged and answered as the
        view would answer it, and closes the connection (the body stays unread).
        """
        started = time.perf_counter()
        signals.request_started.send(sender=self.__class__, scope=scope)
        body_file = tempfile.SpooledTemporaryFile(max_size=1, mode="w+b")  # noqa: SIM115 (closed below)
        body_file.body_size = 0
        token = None
        try:
            request, response = super().create_request(scope, body_file)
            if request is None:
                return None
            log_started, token = begin_request_log(request)
            view_function = match.func
            view = view_function.cls(**view_function.initkwargs)
            view.setup(request, *match.args, **match.kwargs)
            view.format_kwarg = None
            drf_request = view.initialize_request(request, *match.args, **match.kwargs)
            view.request, view.headers = drf_request, view.default_response_headers
            try:
                view.perform_authentication(drf_request)
                view.check_permissions(drf_request)
                # A method the view does not answer is refused whatever the body says (as DRF's
                # dispatch refuses it, after the same checks).
                method = drf_request.method.lower()
                if method not in view.http_method_names or not hasattr(view, method):
                    raise MethodNotAllowed(drf_request.method)
            except APIException as exc:
                response = view.finalize_response(drf_request, view.handle_exception(exc))
                response.render()
            except Exception:
                # Not a refusal but a failure (the database unavailable, say): the full chain meets
                # it again and answers it as usual (a 503), the body read as before.
                return None
            else:
                return None
            # The body stays unread: the connection cannot carry another request.
            response["Connection"] = "close"
            response["Content-Length"] = str(len(response.content))
            log_answer(request, response, started=log_started)
            response._handler_class = self.__class__
            _count(match.view_name, scope["method"], response.status_code, started)
            return response
        finally:
            if token is not None:
                current_request_id.reset(token)
            body_file.close()
            signals.request_finished.send(sender=self.__class__)

    def _respond(self, scope: dict, body_file: tempfile.SpooledTemporaryFile) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            completed_by_handler(request)
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
            response = JsonResponse({"detail": body_too_large_message(limit)}, status=413)
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


def _needs_checks_before_body(scope: dict, match: ResolverMatch) -> bool:
    """Whether the request of ``scope`` is worth refusing before its body is read: a body to a DRF view, by a
    method that may need credentials, that asks for ``100 Continue``, is chunked, or is larger than
    ``_SMALL_BODY`` bytes.

    A small body (a PATCH is a few dozen bytes) arrives with its request head, so reading it first
    costs the server nothing, and checking the credentials a second time would cost every write a
    thread hop and the authentication's queries; the full chain refuses it as before. A request with
    the browser session's cookie goes straight on: its session is read by the middleware, which only
    the full chain runs (with the body read first, as before).
    """
    if scope["method"] in SAFE_METHODS or not is_api_view(match.func):
        return False
    length = transfer_encoding = expect = b""
    cookies = b""
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value.strip()
        elif name == b"transfer-encoding":
            transfer_encoding = value
        elif name == b"expect":
            expect = value
        elif name == b"cookie":
            cookies += value + b";"
    large = not length.isdigit() or int(length) > _SMALL_BODY if length else False
    worth_checking = bool(transfer_encoding) or b"100-continue" in expect.lower() or large
    session_cookie = settings.SESSION_COOKIE_NAME.encode("latin-1") + b"="
    return worth_checking and session_cookie not in cookies


# A body up to this size is read before the credentials are checked (see _needs_checks_before_body).
_SMALL_BODY = 16 * 1024


def _count(route: str | None, method: str, status: int, started: float) -> None:
    """Count a request answered by the handler itself in the request metrics, as ``observability.metrics`` does."""
    labels = {"route": route or "unmatched", "method": method if method in _COUNTED_METHODS else "other"}
    labels["status"] = str(status)
    counter, duration = request_series(**labels)
    counter.inc()
    duration.observe(time.perf_counter() - started)


_COUNTED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})


def get_single_thread_asgi_application() -> SingleThreadASGIHandler:
    """``django.core.asgi.get_asgi_application`` with ``SingleThreadASGIHandler``."""
    django.setup(set_prefix=False)
    return SingleThreadASGIHandler()
