"""Views that wait without a thread: a sync view answers, or starts an answer that a coroutine completes.

Under an ASGI server a waiting request should hold neither a thread nor a database connection. A
view written as usual (a DRF view, with its authentication, permissions and errors) may return a
response carrying ``later``: a coroutine function of no arguments. ``awaiting`` then awaits it on
the event loop and sends the response it returns (the view's own, completed, or another one) in
its place; without ``later`` the response goes out as the view returned it. The view runs once:
many requests woken at once then cost the event loop their answers, not a dispatch each on the
thread of the sync views.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase

LATER_ATTRIBUTE = "later"


def awaiting(view: Callable[..., HttpResponseBase]) -> Callable[..., object]:
    """An async view running the sync ``view``, then awaiting its response's ``later`` for the answer.

    Keeps the attributes of ``view`` (``cls``, ``initkwargs``, ``csrf_exempt`` of a DRF view), so URL
    introspection such as the OpenAPI schema sees the same view.
    """
    run = sync_to_async(view)

    @functools.wraps(view)
    async def entry(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        response = await run(request, *args, **kwargs)
        # Taken off the response: the coroutine usually holds the response itself.
        later = response.__dict__.pop(LATER_ATTRIBUTE, None)
        if later is None:
            return response
        return await later()

    return entry
