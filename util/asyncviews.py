"""Views that wait without a thread: a sync view answers or names what to wait for, a coroutine waits.

Under an ASGI server a waiting request should hold neither a thread nor a database connection. A
view written as usual (a DRF view, with its authentication, permissions and errors) may return a
response carrying ``retry_when``: a coroutine function of no arguments. ``awaiting`` then awaits it
on the event loop, and dispatches the view again when it returns true; otherwise, or without
``retry_when``, the response goes out as the view returned it. The view keeps its own deadline
(on the request, say) so that a retry does not wait again from the start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase

RETRY_ATTRIBUTE = "retry_when"


def awaiting(view: Callable[..., HttpResponseBase]) -> Callable[..., object]:
    """An async view running the sync ``view``, awaiting its responses' ``retry_when`` between dispatches.

    Keeps the attributes of ``view`` (``cls``, ``initkwargs``, ``csrf_exempt`` of a DRF view), so URL
    introspection such as the OpenAPI schema sees the same view.
    """
    run = sync_to_async(view)

    @functools.wraps(view)
    async def entry(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        while True:
            response = await run(request, *args, **kwargs)
            retry = getattr(response, RETRY_ATTRIBUTE, None)
            if retry is None or not await retry():
                return response

    return entry
