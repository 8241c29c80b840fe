import json
import logging

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from observability.logging import JsonFormatter, PlainFormatter
from serving.middleware import RequestLogMiddleware


def _answer(status: int = 200) -> RequestLogMiddleware:
    def view(request: HttpRequest) -> HttpResponse:
        logging.getLogger("inner").warning("inside the request")
        return HttpResponse(status=status)

    return RequestLogMiddleware(view)


class TestRequestLogMiddleware:
    def test_a_request_without_an_id_gets_a_fresh_one_echoed_in_the_response(self) -> None:
        first = _answer()(RequestFactory().get("/v6/nodes/"))
        second = _answer()(RequestFactory().get("/v6/nodes/"))
        assert len(first["X-Request-ID"]) == 32
        assert first["X-Request-ID"] != second["X-Request-ID"]

    def test_the_clients_request_id_is_kept_and_echoed(self) -> None:
        response = _answer()(RequestFactory().get("/", HTTP_X_REQUEST_ID="lb-7f3a:42"))
        assert response["X-Request-ID"] == "lb-7f3a:42"

    @pytest.mark.parametrize("bad", ["two words", "x" * 201, "line\nbreak", "", 'quote"d'])
    def test_an_unacceptable_request_id_is_replaced(self, bad: str) -> None:
        response = _answer()(RequestFactory().get("/", HTTP_X_REQUEST_ID=bad))
        assert response["X-Request-ID"] != bad
        assert len(response["X-Request-ID"]) == 32

    def test_one_line_per_request_has_method_path_status_duration_and_request_id(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="request"):
            _answer(status=404)(RequestFactory().patch("/v6/nodes/9/", HTTP_X_REQUEST_ID="abc"))
        (line,) = [record for record in caplog.records if record.name == "request"]
        assert (line.method, line.path, line.status) == ("PATCH", "/v6/nodes/9/", 404)
        assert line.duration_ms >= 0
        fields = PlainFormatter().format(line)
        assert "request_id=abc" in fields and "status=404" in fields and "duration_ms=" in fields

    def test_log_lines_written_during_the_request_carry_its_id(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO):
            _answer()(RequestFactory().get("/", HTTP_X_REQUEST_ID="abc"))
        (inner,) = [record for record in caplog.records if record.name == "inner"]
        assert "request_id=abc" in PlainFormatter().format(inner)
        logging.getLogger("inner").warning("after the request")
        assert "request_id" not in PlainFormatter().format(caplog.records[-1])


def test_the_json_format_is_one_object_per_line_with_the_structured_fields() -> None:
    record = logging.LogRecord("request", logging.INFO, __file__, 1, "answered", None, None)
    record.status = 204
    record.request_id = "abc"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert {key: entry[key] for key in ("level", "logger", "message", "status", "request_id")} == {
        "level": "INFO",
        "logger": "request",
        "message": "answered",
        "status": 204,
        "request_id": "abc",
    }
    assert entry["time"].endswith("Z")
