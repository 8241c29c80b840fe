"""Fixtures for the node tests: API clients with each kind of user, and a node factory."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from accounts.tokens import create_api_token
from node.models import Node, NodeChange
from node.services import node_create
from node.tests.helpers import T0


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous client; server errors come back as responses, not raised exceptions."""
    return APIClient(raise_request_exception=False)


def _token_client(*, username: str, is_staff: bool, permissions: tuple[str, ...] = ()) -> APIClient:
    user = get_user_model().objects.create_user(username=username, password="unused-password", is_staff=is_staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions, content_type__app_label="node"))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(user=user, expires_in=None)[1]}")
    return client


@pytest.fixture
def staff_client(db: None) -> APIClient:
    """A client authenticated by token as an operator: a staff user who may view and change nodes and their history."""
    return _token_client(
        username="operator", is_staff=True, permissions=("view_node", "change_node", "view_nodechange")
    )


@pytest.fixture
def registrar_client(db: None) -> APIClient:
    """A client authenticated by token as a staff user who may add nodes (``node.add_node``) and nothing else."""
    return _token_client(username="registrar", is_staff=True, permissions=("add_node",))


@pytest.fixture
def agent_client(db: None) -> APIClient:
    """A client authenticated by token as a node agent: a staff user who may only send heartbeats."""
    return _token_client(username="agent", is_staff=True, permissions=("change_nodeliveness",))


@pytest.fixture
def user_client(db: None) -> APIClient:
    """A client authenticated by token as a user who is not staff."""
    return _token_client(username="viewer", is_staff=False)


@pytest.fixture
def make_node(db: None) -> Callable[..., Node]:
    """Register a node through ``node_create``, so it has its registration record like any real node.

    ``is_active``, ``is_paused`` and ``pause_reason`` are the initial state given to the service (by
    its rules, a reason for a node left unpaused is not stored). The services stamp every write with
    the current time and cannot back-date, so the node's timestamps are then written as the test
    wants them, bypassing ``save``'s clock: ``created`` (by default 2024-01-01), ``last_modified``
    (by default ``created``, as for a node just registered) and ``deprecated`` (by default
    ``created`` for an inactive node). Its registration record is dated ``created`` to match.
    """

    counter = iter(range(1, 1_000_000))

    def make(
        hostname: str | None = None,
        *,
        is_active: bool = True,
        is_paused: bool = False,
        pause_reason: str | None = None,
        created: dt.datetime | None = None,
        last_modified: dt.datetime | None = None,
        deprecated: dt.datetime | None = None,
    ) -> Node:
        created = created or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        node = node_create(
            hostname=hostname or f"node-{next(counter)}.test",
            changes={"is_active": is_active, "is_paused": is_paused, "pause_reason": pause_reason},
        )
        # The back-dating described above: the one write of the fixture outside the services.
        Node.objects.filter(pk=node.pk).update(
            created=created,
            last_modified=last_modified or created,
            deprecated=deprecated if deprecated or is_active else created,
        )
        NodeChange.objects.filter(node=node).update(time=created)
        node.refresh_from_db()
        return node

    return make


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    """An active, running node last modified at T0 (``helpers.unchanged`` tells whether it was written since)."""
    return make_node("hostile.test", last_modified=T0)
