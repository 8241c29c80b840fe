"""Every error example in the published schema is a real answer of the service, byte for byte in its JSON.

Each example is provoked by a request written here and compared with the example's value, so an
example cannot drift from what the code says. A new example without a request here fails the test.
"""

import re
from collections.abc import Callable
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from node.live import process_live
from node.models import Node
from node.services import node_create, node_update
from node.tests.api.test_schema import TEST_CLIENT, _held, _waiting, _with_newest
from node.tests.helpers import body
from waiting.admission import ConcurrencyLimiter

LIST = "/v6/nodes/"
DETAIL = "/v6/nodes/{id}/"
HISTORY = "/v6/nodes/{id}/history/"
CHANGES = "/v6/nodes/changes/"
EVENTS = "/v6/nodes/events/"
HEARTBEATS = "/v6/nodes/heartbeats/"
LIVENESS = "/v6/nodes/liveness/"
NODE_LIVENESS = "/v6/nodes/{id}/liveness/"
ETAG = re.compile(r'"[0-9a-f]{32}"')


def _error_examples(client: APIClient) -> dict[tuple[str, str, int, str], object]:
    schema = client.get("/v6/schema/", HTTP_ACCEPT="application/json").json()
    return {
        (path, method, int(status), example["summary"]): example["value"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
        for content in response.get("content", {}).values()
        for example in content.get("examples", {}).values()
    }


class Env:
    """What a request needs: clients of each kind and the URL of an existing node with a known history."""

    def __init__(self, clients: dict[str, APIClient], node: Node) -> None:
        self.clients = clients
        self.node = node
        self.url = f"/v6/nodes/{node.pk}/"

    def anonymous_without_public_reads(self, url: str) -> object:
        with override_settings(PUBLIC_READ_API=False):
            return self.clients["anonymous"].get(url)

    def posting_while_down(self, target: str, url: str) -> object:
        """POST a hostname to ``url`` with the client allowed to, while ``target`` finds the database down."""
        client = self.clients["registrar"] if url == LIST else self.clients["agent"]
        with mock.patch(target, side_effect=DOWN):
            return client.post(url, {"hostnames": ["a.example.com"]}, format="json")

    def failing(
        self, target: str, url: str, *, error: Exception, method: str = "get", reader: str = "anonymous"
    ) -> object:
        with mock.patch(target, side_effect=error):
            if method == "patch":
                return self.clients["staff"].patch(url, {"is_paused": True}, format="json")
            return self.clients[reader].get(url)


DOWN = OperationalError("connection refused")
BROKEN = RuntimeError("unexpected")

# (path, method, status, example summary) -> the request that answers the example.
PROVOKING: dict[tuple[str, str, int, str], Callable[[Env], object]] = {
    (LIST, "post", 400, "bad hostname"): lambda env: env.clients["registrar"].post(
        LIST, {"hostnames": ["good.example.com", "bad_host.example.com"]}, format="json"
    ),
    (LIST, "post", 400, "duplicate"): lambda env: env.clients["registrar"].post(
        LIST, {"hostnames": ["a.example.com", "A.example.com"]}, format="json"
    ),
    (LIST, "post", 401, "no credentials"): lambda env: env.clients["anonymous"].post(
        LIST, {"hostnames": ["a.example.com"]}, format="json"
    ),
    (LIST, "post", 401, "invalid token"): lambda env: env.clients["bad_token"].post(
        LIST, {"hostnames": ["a.example.com"]}, format="json"
    ),
    (LIST, "post", 403, "no permission"): lambda env: env.clients["staff"].post(
        LIST, {"hostnames": ["a.example.com"]}, format="json"
    ),
    (LIST, "post", 503, "database down"): lambda env: env.posting_while_down("node.views.node_register_named", LIST),
    (LIVENESS, "get", 400, "unknown state"): lambda env: env.clients["anonymous"].get(LIVENESS, {"state": "asleep"}),
    (LIVENESS, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(LIVENESS),
    (LIVENESS, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(LIVENESS),
    (LIVENESS, "get", 503, "database down"): lambda env: env.failing(
        "node.views.node_liveness_rows", LIVENESS, error=DOWN
    ),
    (NODE_LIVENESS, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(f"{env.url}liveness/"),
    (NODE_LIVENESS, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(
        f"{env.url}liveness/"
    ),
    (NODE_LIVENESS, "get", 404, "unknown node"): lambda env: env.clients["anonymous"].get("/v6/nodes/424242/liveness/"),
    (NODE_LIVENESS, "get", 503, "database down"): lambda env: env.failing(
        "node.views.node_liveness_rows", f"{env.url}liveness/", error=DOWN
    ),
    (HEARTBEATS, "post", 400, "bad hostname"): lambda env: env.clients["agent"].post(
        HEARTBEATS, {"hostnames": ["good.example.com", "bad_host.example.com"]}, format="json"
    ),
    (HEARTBEATS, "post", 400, "duplicate"): lambda env: env.clients["agent"].post(
        HEARTBEATS, {"hostnames": ["a.example.com", "A.example.com"]}, format="json"
    ),
    (HEARTBEATS, "post", 401, "no credentials"): lambda env: env.clients["anonymous"].post(
        HEARTBEATS, {"hostnames": ["a.example.com"]}, format="json"
    ),
    (HEARTBEATS, "post", 401, "invalid token"): lambda env: env.clients["bad_token"].post(
        HEARTBEATS, {"hostnames": ["a.example.com"]}, format="json"
    ),
    (HEARTBEATS, "post", 403, "no permission"): lambda env: env.clients["staff"].post(
        HEARTBEATS, {"hostnames": ["a.example.com"]}, format="json"
    ),
    (HEARTBEATS, "post", 503, "database down"): lambda env: env.posting_while_down(
        "node.views.node_heartbeat", HEARTBEATS
    ),
    (LIST, "get", 400, "page size out of range"): lambda env: env.clients["anonymous"].get(LIST, {"page_size": "0"}),
    (LIST, "get", 400, "datetime without zone"): lambda env: env.clients["anonymous"].get(
        LIST, {"started": "2015-01-01T00:00:00"}
    ),
    (LIST, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(LIST),
    (LIST, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(LIST),
    (LIST, "get", 404, "past the last page"): lambda env: env.clients["anonymous"].get(LIST, {"page": "7"}),
    (LIST, "get", 406, "not acceptable"): lambda env: env.clients["anonymous"].get(LIST, HTTP_ACCEPT="application/xml"),
    (LIST, "get", 500, "server error"): lambda env: env.failing(
        "node.views.NodeListView.filter_queryset", LIST, error=BROKEN
    ),
    (LIST, "get", 503, "database down"): lambda env: env.failing(
        "node.views.NodeListView.filter_queryset", LIST, error=DOWN
    ),
    (DETAIL, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(env.url),
    (DETAIL, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(env.url),
    (DETAIL, "get", 404, "unknown node"): lambda env: env.clients["anonymous"].get("/v6/nodes/424242/"),
    (DETAIL, "get", 406, "not acceptable"): lambda env: env.clients["anonymous"].get(
        env.url, HTTP_ACCEPT="application/xml"
    ),
    (DETAIL, "get", 500, "server error"): lambda env: env.failing("node.views.node_rows_data", env.url, error=BROKEN),
    (DETAIL, "get", 503, "database down"): lambda env: env.failing(
        "node.views.node_row_with_index", env.url, error=DOWN
    ),
    (CHANGES, "get", 400, "after beyond the newest change"): lambda env: env.clients["anonymous"].get(
        CHANGES, {"after": "120"}
    ),
    (CHANGES, "get", 400, "wait too long"): lambda env: env.clients["anonymous"].get(CHANGES, {"wait": "90"}),
    (CHANGES, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(CHANGES),
    (CHANGES, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(CHANGES),
    (CHANGES, "get", 406, "not acceptable"): lambda env: env.clients["anonymous"].get(
        CHANGES, HTTP_ACCEPT="application/xml"
    ),
    (CHANGES, "get", 500, "server error"): lambda env: env.failing("node.views.node_changes", CHANGES, error=BROKEN),
    (CHANGES, "get", 503, "database down"): lambda env: env.failing("node.views.node_changes", CHANGES, error=DOWN),
    (EVENTS, "get", 400, "after beyond the newest change"): lambda env: env.clients["anonymous"].get(
        EVENTS, {"after": "120"}
    ),
    (EVENTS, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(EVENTS),
    (EVENTS, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(EVENTS),
    (EVENTS, "get", 500, "server error"): lambda env: env.failing(
        "node.views.current_change_index", EVENTS, error=BROKEN
    ),
    (EVENTS, "get", 503, "database down"): lambda env: env.failing(
        "node.views.current_change_index", EVENTS, error=DOWN
    ),
    (EVENTS, "get", 410, "resume expired"): lambda env: _with_newest(
        12000, lambda: env.clients["anonymous"].get(EVENTS, {"after": "0"})
    ),
    (EVENTS, "get", 429, "client's share reached"): lambda env: _held(
        _stream_cap, [TEST_CLIENT] * 100, lambda: env.clients["anonymous"].get(EVENTS)
    ),
    (EVENTS, "get", 503, "process full"): lambda env: _held(
        _stream_cap, range(5000), lambda: env.clients["anonymous"].get(EVENTS)
    ),
    (CHANGES, "get", 429, "client's share reached"): lambda env: _held(
        _waiting_cap,
        [TEST_CLIENT] * 100,
        lambda: env.clients["anonymous"].get(CHANGES, _waiting()),
    ),
    (CHANGES, "get", 503, "process full"): lambda env: _held(
        _waiting_cap, range(5000), lambda: env.clients["anonymous"].get(CHANGES, _waiting())
    ),
    (DETAIL, "patch", 400, "unknown field"): lambda env: env.clients["staff"].patch(
        env.url, {"hostname": "x.test"}, format="json"
    ),
    (DETAIL, "patch", 400, "not a boolean"): lambda env: env.clients["staff"].patch(
        env.url, {"is_paused": "yes"}, format="json"
    ),
    (DETAIL, "patch", 400, "duplicated key"): lambda env: env.clients["staff"].generic(
        "PATCH", env.url, b'{"is_paused": true, "is_paused": false}', content_type="application/json"
    ),
    (DETAIL, "patch", 401, "no credentials"): lambda env: env.clients["anonymous"].patch(
        env.url, {"is_paused": True}, format="json"
    ),
    (DETAIL, "patch", 401, "invalid token"): lambda env: env.clients["bad_token"].patch(
        env.url, {"is_paused": True}, format="json"
    ),
    (DETAIL, "patch", 403, "no permission"): lambda env: env.clients["user"].patch(
        env.url, {"is_paused": True}, format="json"
    ),
    (HISTORY, "get", 403, "no permission"): lambda env: env.clients["user"].get(f"{env.url}history/"),
    (DETAIL, "patch", 404, "unknown node"): lambda env: env.clients["staff"].patch(
        "/v6/nodes/424242/", {"is_paused": True}, format="json"
    ),
    (DETAIL, "patch", 406, "not acceptable"): lambda env: env.clients["staff"].patch(
        env.url, {"is_paused": True}, format="json", HTTP_ACCEPT="application/xml"
    ),
    (DETAIL, "patch", 412, "changed meanwhile"): lambda env: env.clients["staff"].patch(
        env.url, {"is_paused": True}, format="json", HTTP_IF_MATCH='"0123456789abcdef0123456789abcdef"'
    ),
    (DETAIL, "patch", 413, "too large"): lambda env: env.clients["staff"].generic(
        "PATCH", env.url, b'{"pause_reason": "' + b"x" * (10 * 1024 * 1024) + b'"}', content_type="application/json"
    ),
    (DETAIL, "patch", 415, "not JSON"): lambda env: env.clients["staff"].generic(
        "PATCH", env.url, b"is_paused=true", content_type="text/plain"
    ),
    (DETAIL, "patch", 500, "server error"): lambda env: env.failing(
        "node.views.node_update", env.url, method="patch", error=BROKEN
    ),
    (DETAIL, "patch", 503, "database down"): lambda env: env.failing(
        "node.views.node_update", env.url, method="patch", error=DOWN
    ),
    (HISTORY, "get", 400, "range the wrong way round"): lambda env: env.clients["staff"].get(
        f"{env.url}history/", {"started": "2026-01-02T00:00:00Z", "ended": "2026-01-01T00:00:00Z"}
    ),
    (HISTORY, "get", 401, "invalid token"): lambda env: env.clients["bad_token"].get(f"{env.url}history/"),
    (HISTORY, "get", 401, "no credentials"): lambda env: env.anonymous_without_public_reads(f"{env.url}history/"),
    (HISTORY, "get", 404, "unknown node"): lambda env: env.clients["staff"].get("/v6/nodes/9999/history/"),
    (HISTORY, "get", 404, "past the last page"): lambda env: env.clients["staff"].get(
        f"{env.url}history/", {"page": "3"}
    ),
    (HISTORY, "get", 406, "not acceptable"): lambda env: env.clients["staff"].get(
        f"{env.url}history/", HTTP_ACCEPT="application/xml"
    ),
    (HISTORY, "get", 500, "server error"): lambda env: env.failing(
        "node.views.NodeHistoryView.filter_queryset", f"{env.url}history/", error=BROKEN, reader="staff"
    ),
    (HISTORY, "get", 503, "database down"): lambda env: env.failing(
        "node.views.NodeHistoryView.filter_queryset", f"{env.url}history/", error=DOWN, reader="staff"
    ),
}


@pytest.fixture
def env(
    api_client: APIClient,
    staff_client: APIClient,
    user_client: APIClient,
    registrar_client: APIClient,
    agent_client: APIClient,
    make_node: Callable[..., Node],
) -> Env:
    bad_token = APIClient(raise_request_exception=False)
    bad_token.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    # Nine nodes, as the list examples count, the first with four history records.
    nodes = [node_create(hostname=f"node-{number}.test") for number in range(1, 10)]
    first = nodes[0]
    for changes in ({"is_paused": True, "pause_reason": "disk"}, {"is_paused": False}, {"is_active": False}):
        first = node_update(node=first, changes=changes)
    assert first.history.count() == 4
    clients = {
        "anonymous": api_client,
        "staff": staff_client,
        "user": user_client,
        "bad_token": bad_token,
        "registrar": registrar_client,
        "agent": agent_client,
    }
    return Env(clients, first)


def _comparable(value: object, env: Env) -> object:
    """``value`` with what differs from one database to the next (a node's id and ETag) made generic."""
    if isinstance(value, dict):
        return {key: _comparable(item, env) for key, item in value.items()}
    if isinstance(value, str):
        value = ETAG.sub('"<etag>"', value)
        return re.sub(r"\bnode \d+ has changed", "node <id> has changed", value)
    return value


@pytest.mark.django_db
class TestSchemaErrorExamples:
    def test_every_error_example_has_a_request_that_answers_it(self, api_client: APIClient) -> None:
        assert set(_error_examples(api_client)) == set(PROVOKING)

    @pytest.mark.parametrize("key", sorted(PROVOKING), ids=lambda key: f"{key[1]} {key[0]} {key[2]} {key[3]}")
    def test_the_example_is_what_the_service_answers(self, env: Env, key: tuple[str, str, int, str]) -> None:
        example = _error_examples(env.clients["anonymous"])[key]
        response = PROVOKING[key](env)
        assert response.status_code == key[2], body(response)
        assert _comparable(response.json(), env) == _comparable(example, env), body(response)
        if key[2] == 412:
            assert response["ETag"] in response.json()["detail"]


def _stream_cap() -> ConcurrencyLimiter:
    """The process's cap on open event streams."""
    return process_live().caps.streams()


def _waiting_cap() -> ConcurrencyLimiter:
    """The process's cap on waiting long-polls."""
    return process_live().caps.waiting()
