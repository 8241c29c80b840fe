import json

import pytest
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from util.exceptions import api_exception_handler, bad_request_handler, error_body, server_error_handler
from util.hosts import DISALLOWED_HOST_DETAIL
from util.statement_timeout import statement_timeout


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"detail": "Not found."}, {"detail": "Not found."}),
        (["Give at least one field."], {"detail": "Give at least one field."}),
        (
            {"page_size": ["expected an integer from 1 to 1000, got '0'."]},
            {
                "detail": "page_size: expected an integer from 1 to 1000, got '0'.",
                "errors": {"page_size": ["expected an integer from 1 to 1000, got '0'."]},
            },
        ),
        (
            {"non_field_errors": ["Unknown field(s): id."], "is_paused": ["Must be a JSON boolean."]},
            {
                "detail": "Unknown field(s): id. is_paused: Must be a JSON boolean.",
                "errors": {"non_field_errors": ["Unknown field(s): id."], "is_paused": ["Must be a JSON boolean."]},
            },
        ),
    ],
)
def test_error_payloads_get_one_shape_naming_each_field(data: object, expected: dict) -> None:
    assert error_body(data) == expected


def test_server_error_handler_answers_json_under_the_api_prefix_and_html_elsewhere() -> None:
    handler = server_error_handler(("/v6/",))
    api = handler(RequestFactory().get("/v6/nodes/"))
    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert json.loads(api.content) == {"detail": "Internal server error; the failure has been logged."}
    page = handler(RequestFactory().get("/admin/"))
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("exception", "status", "detail"),
    [
        (RequestDataTooBig("raw"), 413, "Request body too large: at most 2621440 bytes are accepted."),
        (TooManyFieldsSent("raw"), 400, "Too many query parameters: at most 2100 values are accepted."),
        (SuspiciousOperation("raw internals"), 400, "Bad request."),
    ],
)
def test_django_refusals_become_json_errors_without_their_internal_message(
    exception: Exception, status: int, detail: str
) -> None:
    response = api_exception_handler(exception, {})
    assert (response.status_code, response.data) == (status, {"detail": detail})


def test_other_unexpected_errors_are_left_to_the_500_handler() -> None:
    assert api_exception_handler(RuntimeError("boom"), {}) is None


def test_bad_request_handler_answers_json_under_the_api_prefix_and_html_elsewhere() -> None:
    handler = bad_request_handler(("/v6/",))
    api = handler(RequestFactory().get("/v6/nodes/"), DisallowedHost("evil.example"))
    assert (api.status_code, api["Content-Type"]) == (400, "application/json")
    assert json.loads(api.content) == {"detail": DISALLOWED_HOST_DETAIL}
    other = handler(RequestFactory().get("/v6/nodes/"), SuspiciousOperation("internals"))
    assert json.loads(other.content) == {"detail": "Bad request."}
    page = handler(RequestFactory().get("/admin/"), DisallowedHost("evil.example"))
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_server_error_handler_answers_503_with_retry_after_when_the_database_is_unavailable(error: Exception) -> None:
    handler = server_error_handler(("/v6/",))
    try:
        raise error
    except type(error):
        api = handler(RequestFactory().get("/v6/nodes/"))
        page = handler(RequestFactory().get("/admin/"))
    assert (api.status_code, api["Content-Type"], api["Retry-After"]) == (503, "application/json", "5")
    assert "database is unavailable" in json.loads(api.content)["detail"]
    assert (page.status_code, page["Content-Type"]) == (503, "text/plain; charset=utf-8")


class _Cancelled(Exception):
    """What psycopg2 raises for a statement PostgreSQL cancelled (SQLSTATE 57014), as Django's error's cause."""

    pgcode = "57014"


def _cancelled_query() -> OperationalError:
    error = OperationalError("canceling statement due to statement timeout")
    error.__cause__ = _Cancelled()
    return error


def test_a_cancelled_query_is_a_503_saying_it_took_too_long_not_the_database_being_down() -> None:
    request = RequestFactory().get("/v6/nodes/?search=rack")
    with statement_timeout(2000):
        response = api_exception_handler(_cancelled_query(), {"request": request})
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.data["detail"].startswith("The query took too long: it was cancelled after 2000 ms."), response.data


def test_the_500_handler_answers_a_cancelled_query_with_the_same_503() -> None:
    handler = server_error_handler(("/v6/",))
    try:
        raise _cancelled_query()
    except OperationalError:
        response = handler(RequestFactory().get("/admin/"))
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert json.loads(response.content)["detail"].startswith("The query took too long")
