"""The OpenAPI contract as served, its documented error statuses reached for real, and its interactive docs."""

import re
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from node.live import process_live
from node.models import Node
from node.selectors import current_change_index
from node.tests.helpers import body, detail_url
from waiting.admission import ConcurrencyLimiter

COMMITTED_SCHEMA = Path(settings.BASE_DIR) / "openapi.yaml"


def served_schema(client: APIClient) -> dict:
    response = client.get("/v6/schema/", {"format": "json"})
    assert response.status_code == 200, body(response)
    return response.json()


@pytest.fixture
def schema(api_client: APIClient) -> dict:
    return served_schema(api_client)


@pytest.mark.django_db
class TestSchemaEndpoint:
    def test_schema_is_yaml_by_default_and_is_the_committed_openapi_yaml(self, api_client: APIClient) -> None:
        response = api_client.get("/v6/schema/")
        assert response.status_code == 200, body(response)
        assert response["Content-Type"].startswith("application/vnd.oai.openapi")
        assert yaml.safe_load(response.content) == yaml.safe_load(COMMITTED_SCHEMA.read_text(encoding="utf-8"))

    @pytest.mark.parametrize(("query", "accept"), [({"format": "json"}, None), ({}, "application/json")])
    def test_schema_is_json_on_request(self, api_client: APIClient, query: dict, accept: str | None) -> None:
        extra = {"HTTP_ACCEPT": accept} if accept else {}
        response = api_client.get("/v6/schema/", query, **extra)
        assert response.status_code == 200, body(response)
        assert "json" in response["Content-Type"]
        assert response.json()["openapi"].startswith("3.")

    @override_settings(PUBLIC_READ_API=False)
    def test_schema_and_docs_stay_public_when_reads_are_private(self, api_client: APIClient) -> None:
        for path in ("/v6/schema/", "/v6/docs/", "/v6/redoc/"):
            response = api_client.get(path)
            assert response.status_code == 200, f"{path}: {body(response)}"

    def test_list_parameters_have_their_types_ranges_and_defaults(self, schema: dict) -> None:
        parameters = {p["name"]: p for p in schema["paths"]["/v6/nodes/"]["get"]["parameters"]}
        assert set(parameters) == {
            *("page", "page_size", "started", "ended", "order", "is_active"),
            *("is_paused", "hostname", "id", "search"),
            *("If-None-Match", "X-Request-ID"),
        }
        assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1, "default": 1}
        assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
        assert parameters["is_active"]["schema"] == parameters["is_paused"]["schema"] == {"type": "boolean"}
        for name in ("hostname", "id"):
            assert (parameters[name]["style"], parameters[name]["explode"]) == ("form", True)
            assert parameters[name]["schema"]["type"] == "array"
        assert parameters["id"]["schema"]["maxItems"] == 1000
        assert parameters["id"]["schema"]["items"] == {"type": "integer", "minimum": 1}
        assert parameters["search"]["schema"] == {"type": "string", "minLength": 3, "maxLength": 250}
        assert {s["format"] for s in parameters["started"]["schema"]["anyOf"]} == {"date-time", "duration"}
        headers = {"If-None-Match", "X-Request-ID"}
        assert all(p["in"] == ("header" if name in headers else "query") for name, p in parameters.items())
        assert not any(p.get("required") for p in parameters.values())
        assert all(p["description"] for p in parameters.values())

    def test_order_is_a_repeatable_array_of_fields_with_their_reversed_forms_and_the_alias(self, schema: dict) -> None:
        order = next(p for p in schema["paths"]["/v6/nodes/"]["get"]["parameters"] if p["name"] == "order")
        assert (order["style"], order["explode"], order["schema"]["type"]) == ("form", True, "array")
        fields = ["id", "hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified"]
        names = [*fields, "host_name"]
        assert order["schema"]["items"]["enum"] == [*names, *(f"-{name}" for name in names)]

    def test_patch_body_is_closed_to_other_fields(self, schema: dict) -> None:
        content = schema["paths"]["/v6/nodes/{id}/"]["patch"]["requestBody"]["content"]
        assert list(content) == ["application/json"]
        ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        body_schema = schema["components"]["schemas"][ref]
        assert body_schema["additionalProperties"] is False
        assert body_schema["minProperties"] == 1
        assert set(body_schema["properties"]) == {"pause_reason", "is_paused", "is_active"}
        assert body_schema["properties"]["pause_reason"]["maxLength"] == 250
        assert body_schema["properties"]["pause_reason"]["nullable"] is True

    def test_patch_answers_204_or_200_with_prefer_return_representation(self, schema: dict) -> None:
        patch = schema["paths"]["/v6/nodes/{id}/"]["patch"]
        assert "content" not in patch["responses"]["204"]
        ok = patch["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/Node")
        assert "Preference-Applied" in ok["headers"]
        assert "Prefer" in {p["name"] for p in patch["parameters"] if p["in"] == "header"}

    def test_every_error_answer_has_the_json_error_body(self, schema: dict) -> None:
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                for status, response in operation["responses"].items():
                    if int(status) < 400:
                        continue
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    expected = "ValidationError" if status == "400" else "Error"
                    assert ref == f"#/components/schemas/{expected}", f"{method} {path} {status}"
        errors = schema["components"]["schemas"]["ValidationError"]["properties"]["errors"]
        assert errors["additionalProperties"] == {"type": "array", "items": {"type": "string"}}

    def test_reads_are_public_and_updates_need_a_token_or_a_session(self, schema: dict) -> None:
        assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}
        assert schema["paths"]["/v6/nodes/"]["get"]["security"] == [{"tokenAuth": []}, {"cookieAuth": []}, {}]
        assert schema["paths"]["/v6/nodes/{id}/"]["patch"]["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]

    def test_examples_come_from_the_v6_reference(self, schema: dict) -> None:
        examples = schema["paths"]["/v6/nodes/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
        first = next(iter(examples["examples"].values()))["value"]
        assert (first["id"], first["hostname"], first["created"]) == (4, "host.com", "2015-08-28T18:32:33.954000Z")


@pytest.mark.django_db
class TestInteractiveDocs:
    @pytest.mark.parametrize("path", ["/v6/docs/", "/v6/redoc/"])
    def test_docs_page_loads_every_asset_from_the_service_itself(self, api_client: APIClient, path: str) -> None:
        response = api_client.get(path)
        assert response.status_code == 200, body(response)
        html = response.content.decode()
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        assert not [asset for asset in assets if re.match(r"(https?:)?//", asset)], assets
        for asset in assets:
            if asset.startswith((settings.STATIC_URL, "/static/")):
                assert finders.find(asset.split("/static/", 1)[1].split("?")[0]), f"{asset} is not a static file"
            else:
                assert api_client.get(asset).status_code == 200, asset

    def test_the_redoc_bundle_fetches_nothing_from_the_internet(self, api_client: APIClient) -> None:
        response = api_client.get("/v6/redoc/redoc.standalone.js")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/javascript")
        assert b"cdn.redoc.ly" not in response.content
        assert b"Redoc" in response.content


# The paths as the schema names them (DETAIL and HISTORY are templates, keys of the table below).
LIST = "/v6/nodes/"
DETAIL = "/v6/nodes/{id}/"
HISTORY = "/v6/nodes/{id}/history/"
CHANGES = "/v6/nodes/changes/"
EVENTS = "/v6/nodes/events/"
HEARTBEATS = "/v6/nodes/heartbeats/"
LIVENESS = "/v6/nodes/liveness/"
NODE_LIVENESS = "/v6/nodes/{id}/liveness/"
TEN_MEGABYTES = 10 * 1024 * 1024


def _documented_error_statuses(client: APIClient) -> set[tuple[str, str, int]]:
    schema = client.get("/v6/schema/", HTTP_ACCEPT="application/json").json()
    return {
        (path, method, int(status))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
        if int(status) >= 400
    }


# (path, method, status) -> how to reach it, given the clients and an existing node's URL.
Reach = Callable[[dict[str, APIClient], str], object]
REACHING: dict[tuple[str, str, int], Reach] = {
    (LIST, "post", 400): lambda clients, _: clients["registrar"].post(LIST, {"hostnames": []}, format="json"),
    (LIST, "post", 401): lambda clients, _: clients["anonymous"].post(LIST, {"hostnames": ["a.test"]}, format="json"),
    (LIST, "post", 403): lambda clients, _: clients["staff"].post(LIST, {"hostnames": ["a.test"]}, format="json"),
    (LIST, "post", 503): lambda clients, _: _posting_while_down("node.views.node_register_named", clients, LIST),
    (LIVENESS, "get", 400): lambda clients, _: clients["anonymous"].get(LIVENESS, {"state": "asleep"}),
    (LIVENESS, "get", 401): lambda clients, _: clients["bad_token"].get(LIVENESS),
    (LIVENESS, "get", 404): lambda clients, _: clients["anonymous"].get(LIVENESS, {"page": "99"}),
    (LIVENESS, "get", 503): lambda clients, _: _failing(
        "node.views.node_liveness_rows", clients, LIVENESS, error=OperationalError("connection refused")
    ),
    (NODE_LIVENESS, "get", 401): lambda clients, url: clients["bad_token"].get(f"{url}liveness/"),
    (NODE_LIVENESS, "get", 404): lambda clients, _: clients["anonymous"].get("/v6/nodes/424242/liveness/"),
    (NODE_LIVENESS, "get", 503): lambda clients, url: _failing(
        "node.views.node_liveness_rows", clients, f"{url}liveness/", error=OperationalError("connection refused")
    ),
    (HEARTBEATS, "post", 400): lambda clients, _: clients["agent"].post(HEARTBEATS, {"hostnames": 1}, format="json"),
    (HEARTBEATS, "post", 401): lambda clients, _: clients["bad_token"].post(
        HEARTBEATS, {"hostnames": ["a.test"]}, format="json"
    ),
    (HEARTBEATS, "post", 403): lambda clients, _: clients["staff"].post(
        HEARTBEATS, {"hostnames": ["a.test"]}, format="json"
    ),
    (HEARTBEATS, "post", 503): lambda clients, _: _posting_while_down("node.views.node_heartbeat", clients, HEARTBEATS),
    (LIST, "get", 400): lambda clients, _: clients["anonymous"].get(LIST, {"page_size": "0"}),
    (LIST, "get", 401): lambda clients, _: clients["bad_token"].get(LIST),
    (LIST, "get", 404): lambda clients, _: clients["anonymous"].get(LIST, {"page": "99"}),
    (LIST, "get", 406): lambda clients, _: clients["anonymous"].get(LIST, HTTP_ACCEPT="application/xml"),
    (LIST, "get", 500): lambda clients, _: _failing("node.views.NodeListView.filter_queryset", clients, LIST),
    (DETAIL, "get", 401): lambda clients, url: clients["bad_token"].get(url),
    (DETAIL, "get", 404): lambda clients, _: clients["anonymous"].get("/v6/nodes/424242/"),
    (DETAIL, "get", 406): lambda clients, url: clients["anonymous"].get(url, HTTP_ACCEPT="application/xml"),
    (DETAIL, "get", 500): lambda clients, url: _failing("node.views.node_rows_data", clients, url),
    (DETAIL, "patch", 400): lambda clients, url: clients["staff"].patch(url, {}, format="json"),
    (DETAIL, "patch", 401): lambda clients, url: clients["anonymous"].patch(url, {"is_paused": True}, format="json"),
    (DETAIL, "patch", 403): lambda clients, url: clients["user"].patch(url, {"is_paused": True}, format="json"),
    (DETAIL, "patch", 404): lambda clients, _: clients["staff"].patch(
        "/v6/nodes/424242/", {"is_paused": True}, format="json"
    ),
    (DETAIL, "patch", 406): lambda clients, url: clients["staff"].patch(
        url, {"is_paused": True}, format="json", HTTP_ACCEPT="application/xml"
    ),
    (DETAIL, "patch", 413): lambda clients, url: clients["staff"].generic(
        "PATCH", url, b'{"pause_reason": "' + b"x" * TEN_MEGABYTES + b'"}', content_type="application/json"
    ),
    (DETAIL, "patch", 415): lambda clients, url: clients["staff"].generic(
        "PATCH", url, b"is_paused=true", content_type="text/plain"
    ),
    (DETAIL, "patch", 500): lambda clients, url: _failing("node.views.node_update", clients, url, method="patch"),
    (HISTORY, "get", 400): lambda clients, url: clients["staff"].get(f"{url}history/", {"started": "soon"}),
    (HISTORY, "get", 401): lambda clients, url: clients["bad_token"].get(f"{url}history/"),
    (HISTORY, "get", 403): lambda clients, url: clients["user"].get(f"{url}history/"),
    (HISTORY, "get", 404): lambda clients, _: clients["staff"].get("/v6/nodes/424242/history/"),
    (HISTORY, "get", 406): lambda clients, url: clients["staff"].get(f"{url}history/", HTTP_ACCEPT="application/xml"),
    (HISTORY, "get", 500): lambda clients, url: _failing(
        "node.views.NodeHistoryView.filter_queryset", clients, f"{url}history/", reader="staff"
    ),
    (DETAIL, "patch", 412): lambda clients, url: clients["staff"].patch(
        url, {"is_paused": True}, format="json", HTTP_IF_MATCH='"not-the-current-tag"'
    ),
    (LIST, "get", 503): lambda clients, _: _failing(
        "node.views.NodeListView.filter_queryset", clients, LIST, error=OperationalError("connection refused")
    ),
    (DETAIL, "get", 503): lambda clients, url: _failing(
        "node.views.node_row_with_index", clients, url, error=OperationalError("connection refused")
    ),
    (DETAIL, "patch", 503): lambda clients, url: _failing(
        "node.views.node_update", clients, url, method="patch", error=OperationalError("server closed the connection")
    ),
    (HISTORY, "get", 503): lambda clients, url: _failing(
        "node.views.NodeHistoryView.filter_queryset",
        clients,
        f"{url}history/",
        error=OperationalError("timeout"),
        reader="staff",
    ),
    (CHANGES, "get", 400): lambda clients, _: clients["anonymous"].get(CHANGES, {"page_size": "0"}),
    (CHANGES, "get", 401): lambda clients, _: clients["bad_token"].get(CHANGES),
    (CHANGES, "get", 406): lambda clients, _: clients["anonymous"].get(CHANGES, HTTP_ACCEPT="application/xml"),
    (CHANGES, "get", 500): lambda clients, _: _failing("node.views.node_changes", clients, CHANGES),
    (CHANGES, "get", 503): lambda clients, _: _failing(
        "node.views.node_changes", clients, CHANGES, error=OperationalError("connection refused")
    ),
    # The event stream's errors come before the stream starts, as JSON whatever Accept says.
    (EVENTS, "get", 400): lambda clients, _: clients["anonymous"].get(
        EVENTS, {"after": "soon"}, HTTP_ACCEPT="text/event-stream"
    ),
    (EVENTS, "get", 401): lambda clients, _: clients["bad_token"].get(EVENTS, HTTP_ACCEPT="text/event-stream"),
    (EVENTS, "get", 500): lambda clients, _: _failing("node.views.current_change_index", clients, EVENTS),
    (EVENTS, "get", 503): lambda clients, _: _failing(
        "node.views.current_change_index", clients, EVENTS, error=OperationalError("connection refused")
    ),
    (EVENTS, "get", 410): lambda clients, _: _with_newest(
        12000, lambda: clients["anonymous"].get(EVENTS, {"after": "0"}, HTTP_ACCEPT="text/event-stream")
    ),
    (EVENTS, "get", 429): lambda clients, _: _held(
        _stream_cap, [TEST_CLIENT] * 100, lambda: clients["anonymous"].get(EVENTS)
    ),
    (CHANGES, "get", 429): lambda clients, _: _held(
        _waiting_cap,
        [TEST_CLIENT] * 100,
        lambda: clients["anonymous"].get(CHANGES, _waiting()),
    ),
}

# Where the test client's requests come from, as the caps on streams and long-polls count them.
TEST_CLIENT = ("address", "127.0.0.1")


def _held(limiter: Callable[[], ConcurrencyLimiter], clients: list[object], request: Callable[[], object]) -> object:
    """``request()`` while ``limiter()`` holds a place for each of ``clients``."""
    leases = [limiter().acquire(client) for client in clients]
    try:
        return request()
    finally:
        for lease in leases:
            lease.release()


def _with_newest(index: int, request: Callable[[], object]) -> object:
    """``request()`` while the newest change index reads as ``index``."""
    with mock.patch("node.views.current_change_index", return_value=index):
        return request()


def _waiting() -> dict[str, str]:
    """The query of a long-poll that will wait: nothing after the newest index yet."""
    return {"after": str(current_change_index()), "wait": "1"}


def _posting_while_down(target: str, clients: dict[str, APIClient], url: str) -> object:
    """POST a hostname to ``url`` with the client allowed to, while ``target`` finds the database down."""
    client = clients["registrar"] if url == LIST else clients["agent"]
    with mock.patch(target, side_effect=OperationalError("connection refused")):
        return client.post(url, {"hostnames": ["a.test"]}, format="json")


def _failing(
    target: str,
    clients: dict[str, APIClient],
    url: str,
    method: str = "get",
    error: Exception | None = None,
    reader: str = "anonymous",
) -> object:
    """Request ``url`` while ``target`` raises ``error`` (by default an unexpected one)."""
    with mock.patch(target, side_effect=error or RuntimeError("unexpected")):
        if method == "patch":
            return clients["staff"].patch(url, {"is_paused": True}, format="json")
        return clients[reader].get(url)


@pytest.fixture
def clients(
    api_client: APIClient,
    staff_client: APIClient,
    user_client: APIClient,
    registrar_client: APIClient,
    agent_client: APIClient,
) -> dict[str, APIClient]:
    bad_token = APIClient(raise_request_exception=False)
    bad_token.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    return {
        "anonymous": api_client,
        "staff": staff_client,
        "user": user_client,
        "bad_token": bad_token,
        "registrar": registrar_client,
        "agent": agent_client,
    }


@pytest.mark.django_db
class TestDocumentedErrorStatuses:
    """Every error status the published schema documents is reachable, and answers with the documented JSON body.

    The fuzzer rarely produces some of them (a 413, a 500), so each has a hand-written request here.
    The table must name exactly the statuses the schema documents: a status added to the schema
    without a request reaching it, or a request for a status the schema does not document, fails.
    """

    def test_the_table_names_exactly_the_documented_error_statuses(self, api_client: APIClient) -> None:
        assert _documented_error_statuses(api_client) == set(REACHING)

    @pytest.mark.parametrize(("path", "method", "status"), sorted(REACHING))
    def test_documented_error_status_is_reachable_with_a_json_error_body(
        self, clients: dict[str, APIClient], make_node: Callable[..., Node], path: str, method: str, status: int
    ) -> None:
        node = make_node()
        response = REACHING[(path, method, status)](clients, detail_url(node))
        assert response.status_code == status, body(response)
        assert response["Content-Type"] == "application/json"
        error = response.json()
        assert isinstance(error.get("detail"), str)
        assert error["detail"]
        assert set(error) <= {"detail", "errors"}
        for messages in error.get("errors", {}).values():
            assert all(isinstance(message, str) for message in messages)
        if status == 401:
            assert response["WWW-Authenticate"] == "Token"
        if status == 503:
            assert response["Retry-After"] == "5"


def _stream_cap() -> ConcurrencyLimiter:
    """The process's cap on open event streams."""
    return process_live().caps.streams()


def _waiting_cap() -> ConcurrencyLimiter:
    """The process's cap on waiting long-polls."""
    return process_live().caps.waiting()
