"""Times, URLs and request helpers shared by the node tests (the fixtures are in ``conftest.py``)."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.http import HttpResponse
from rest_framework.test import APIClient

from node.models import Node, NodeChange
from node.selectors import kept_node_count
from node.services import clock

UTC = dt.UTC
# The tests' reference time: a test that asserts on a time sets it as T0 or an offset from it.
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)
# The reference time of the encoding tests: its month, day, hour and minute all differ, so a
# timestamp written with two of them swapped cannot pass.
ENCODING_T0 = dt.datetime(2025, 3, 1, 8, 30, tzinfo=UTC)

# The eight fields of a node in the API's output, in the contract's order.
FIELDS = ["id", "hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified"]

LIST_URL = "/v6/nodes/"


def create_node(**fields: object) -> Node:
    """A node row written with exactly the given fields, taking its change index from the registry clock.

    For tests that need a node in a state the services would not produce by themselves (given
    times); every other test registers nodes through ``node.services`` (the ``make_node`` fixture).
    """
    with transaction.atomic():
        stamps = clock.advance(1)
        fields.setdefault("created", stamps.time(0))
        fields.setdefault("last_modified", fields["created"])
        return Node.objects.create(change_index=stamps.index(0), **fields)


# For the tests of the node counts PostgreSQL keeps (migration 0003).
needs_kept_counts = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the counts are kept by PostgreSQL triggers; SQLite counts rows"
)


def assert_counts_are_exact() -> None:
    """The counts PostgreSQL keeps are those of the rows, for every combination of activity and pause state."""
    for is_active in (None, True, False):
        for is_paused in (None, True, False):
            states = {
                name: value for name, value in (("is_active", is_active), ("is_paused", is_paused)) if value is not None
            }
            assert kept_node_count(is_active=is_active, is_paused=is_paused) == Node.objects.filter(**states).count(), (
                states
            )


def detail_url(node: Node) -> str:
    return f"{LIST_URL}{node.pk}/"


def history_url(node: Node) -> str:
    return f"{LIST_URL}{node.pk}/history/"


def body(response: HttpResponse) -> str:
    """The response body as text, for assertion messages that explain a failure."""
    return response.content.decode(errors="replace")


def json_error(response: HttpResponse, status: int) -> str:
    """Assert a JSON error answer with ``status``; return its ``detail``."""
    assert response.status_code == status, body(response)
    assert response["Content-Type"] == "application/json", body(response)
    return response.json()["detail"]


def get_ok(client: APIClient, query: str = "") -> dict:
    """The list page for ``query``, asserting a 200 JSON answer."""
    response = client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 200, body(response)
    assert response["Content-Type"] == "application/json"
    return response.json()


def get_error(client: APIClient, query: str, status: int = 400) -> str:
    """The ``detail`` of the list's JSON error answer for ``query``, asserting ``status``."""
    response = client.get(f"{LIST_URL}?{query}")
    assert response.status_code == status, body(response)
    assert response["Content-Type"] == "application/json"
    return response.json()["detail"]


def hostnames(payload: dict) -> list[str]:
    """The hostnames of a list page, in the order given."""
    return [result["hostname"] for result in payload["results"]]


def patch(client: APIClient, node: Node, data: object, status: int = 204, **extra: str) -> dict | None:
    """PATCH ``data`` as JSON to ``node``, asserting ``status``; return the JSON body, if any."""
    response = client.patch(detail_url(node), data, format="json", **extra)
    assert response.status_code == status, body(response)
    return response.json() if response.content else None


def raw_patch(client: APIClient, node: Node, raw: bytes, content_type: str = "application/json") -> HttpResponse:
    """PATCH the bytes ``raw`` to ``node`` as they are."""
    return client.generic("PATCH", detail_url(node), raw, content_type=content_type)


def state(node: Node) -> dict:
    """The node's writable state and ``last_modified`` as stored now."""
    node.refresh_from_db()
    return {
        "is_paused": node.is_paused,
        "pause_reason": node.pause_reason,
        "is_active": node.is_active,
        "deprecated": node.deprecated,
        "last_modified": node.last_modified,
    }


def unchanged(node: Node) -> bool:
    """True when ``node`` (the ``node`` fixture) still has the state it is created with: nothing written."""
    node.refresh_from_db()
    return (node.last_modified, node.is_paused, node.pause_reason, node.is_active) == (T0, False, None, True)


def records(node: Node) -> list[dict]:
    """The node's records oldest first, as (action, channel, actor, changes) facts."""
    return list(
        NodeChange.objects.filter(node=node).order_by("time", "id").values("action", "channel", "actor", "changes")
    )


def registration(
    hostname: str, *, is_paused: bool = False, pause_reason: str | None = None, is_active: bool = True
) -> dict:
    """The record ``make_node`` leaves, as ``records`` gives it: the system registered the node in this state."""
    return {
        "action": "register",
        "channel": "system",
        "actor": "system",
        "changes": {
            "hostname": {"old": None, "new": hostname},
            "is_paused": {"old": None, "new": is_paused},
            "pause_reason": {"old": None, "new": pause_reason},
            "is_active": {"old": None, "new": is_active},
        },
    }


def make_history(node: Node, count: int) -> list[NodeChange]:
    """``count`` records one hour apart from T0, written directly so their times are known."""
    return NodeChange.objects.bulk_create(
        NodeChange(
            node=node,
            time=T0 + dt.timedelta(hours=i),
            action="update",
            actor="operator",
            channel="api",
            changes={"is_paused": {"old": i % 2 == 1, "new": i % 2 == 0}},
        )
        for i in range(count)
    )


def run_command(command: str, *args: str, stdin: io.StringIO | None = None, stderr: io.StringIO | None = None) -> str:
    """Run the manage.py ``command`` and return what it printed on standard output."""
    out = io.StringIO()
    extra = {"stdin": stdin} if stdin is not None else {}
    call_command(command, *args, stdout=out, stderr=stderr if stderr is not None else io.StringIO(), **extra)
    return out.getvalue()
