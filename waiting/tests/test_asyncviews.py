"""``waiting.asyncviews``: a response handed to ``complete_later`` is completed by whoever serves it, once."""

import asyncio

from django.http import HttpRequest, HttpResponse

from waiting.asyncviews import Completion, awaiting, complete_later, completed_by_handler, take_later, when_answered


async def _found() -> Completion:
    return Completion(200, b"found", {"X-Found": "yes"})


def _waiting_view(request: HttpRequest) -> HttpResponse:
    # Content-Length as the middleware sets it: completing follows the new body.
    return complete_later(HttpResponse(b"nothing yet", headers={"Content-Length": "11"}), _found)


def test_a_view_served_without_the_handler_is_completed_on_its_own_thread() -> None:
    response = awaiting(_waiting_view)(HttpRequest())
    assert (response.status_code, response.content, response["X-Found"]) == (200, b"found", "yes")
    assert response["Content-Length"] == "5"
    assert take_later(response) is None


def test_a_view_served_by_the_handler_leaves_its_later_to_the_handler_once() -> None:
    request = HttpRequest()
    completed_by_handler(request)
    response = awaiting(_waiting_view)(request)
    assert response.content == b"nothing yet"
    assert take_later(response) is _found
    assert take_later(response) is None


def test_when_answered_is_told_the_status_the_later_completes_with() -> None:
    statuses: list[int] = []
    response = _waiting_view(HttpRequest())
    assert when_answered(response, statuses.append)
    assert not when_answered(HttpResponse(b"plain"), statuses.append)
    asyncio.run(take_later(response)())
    assert statuses == [200]
