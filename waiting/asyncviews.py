"""Views that wait without a thread: a sync view answers, or starts an answer that a coroutine completes.

Under an ASGI server a waiting request should hold neither a thread nor a database connection. A
view written as usual (a DRF view, with its authentication, permissions and errors) may return a
response that it handed to ``complete_later`` with its ``later``: a coroutine function of no
arguments that waits on the event loop and returns how to complete the response (a ``Completion``:
its status, body and changed headers), or None to send it as it is. The handler and the middleware
find it with ``take_later`` and ``when_answered``; nothing else reads or sets it.

Served by ``serving.asgi.SingleThreadASGIHandler``, the request runs Django's whole sync chain once,
on the thread of the sync views, like any other request: the middleware adds its headers to the
response the view returned. The handler then keeps only what it sends (the status and the headers,
as the ASGI start message carries them), awaits ``later`` on the event loop and sends the completed
answer. Many requests woken at once then cost the event loop their answers, not a pass each through
the middleware on that one thread. Middleware that acts when a request is answered (its log line,
its metrics) defers that with ``when_answered``.

Served any other way (WSGI, Django's test client or its own ASGI handler), the view itself awaits
``later`` and returns the completed response: the request holds its thread while it waits.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, HttpResponseBase

# Where ``complete_later`` keeps a response's ``later``: read only through this module's functions.
_LATER = "_asyncviews_later"
# Set on a request by a handler that awaits ``later`` itself (``completed_by_handler``).
_COMPLETED_BY_HANDLER = "_completed_by_handler"


class Completion(NamedTuple):
    """How a response that waited is answered: its status, its whole body, and the headers that change with them
    (``Content-Length`` follows the body by itself)."""

    status: int
    content: bytes
    headers: Mapping[str, str]


Later = Callable[[], Awaitable[Completion | None]]


def complete_later(response: HttpResponseBase, later: Later) -> HttpResponseBase:
    """``response``, to be completed by ``later`` once the request has gone through the sync chain: by the
    handler on the event loop (``serving.asgi``), or else by ``awaiting`` on the view's thread."""
    response.__dict__[_LATER] = later
    return response


def completed_by_handler(request: HttpRequest) -> None:
    """Tell the views of ``awaiting`` that the handler serving ``request`` awaits ``later`` itself."""
    setattr(request, _COMPLETED_BY_HANDLER, True)


def take_later(response: HttpResponseBase) -> Later | None:
    """The ``later`` of ``response``, taken off it (None when it has none)."""
    return response.__dict__.pop(_LATER, None)


def when_answered(response: HttpResponseBase, answered: Callable[[int], None]) -> bool:
    """If ``response`` waits (it was handed to ``complete_later``), have ``answered(status)`` called once it is
    answered, with the status sent (that of ``response`` when ``later`` completes nothing or the client left),
    and return True; return False for a response answered as it is.
    """
    later = response.__dict__.get(_LATER)
    if later is None:
        return False
    status = response.status_code

    async def then_answered() -> Completion | None:
        completion = None
        try:
            completion = await later()
            return completion
        finally:
            answered(status if completion is None else completion.status)

    response.__dict__[_LATER] = then_answered
    return True


def complete(response: HttpResponseBase, completion: Completion | None) -> HttpResponseBase:
    """``response`` completed as ``completion`` says (as it is for None)."""
    if completion is None:
        return response
    response.status_code = completion.status
    response.content = completion.content
    for name, value in completion.headers.items():
        response[name] = value
    if isinstance(response, HttpResponse) and response.has_header("Content-Length"):
        response["Content-Length"] = str(len(completion.content))
    return response


def awaiting(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """The sync ``view``, whose responses handed to ``complete_later`` are completed by the handler, or else
    right here.

    Keeps the attributes of ``view`` (``cls``, ``initkwargs``, ``csrf_exempt`` of a DRF view), so URL
    introspection such as the OpenAPI schema sees the same view.
    """

    @functools.wraps(view)
    def entry(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if getattr(request, _COMPLETED_BY_HANDLER, False):
            return response
        later = take_later(response)
        if later is None:
            return response
        return complete(response, async_to_sync(later)())

    return entry
