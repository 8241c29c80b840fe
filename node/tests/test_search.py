"""One meaning of search: the API's ``search`` (over real HTTP), the admin's search box and ``manage.py nodes
list --search`` find the same nodes (hostname or pause reason containing the text, in any letter case) and
refuse the same texts."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError
from django.test import Client
from django.urls import reverse

from node.models import Node
from node.selectors import SEARCH_TOO_SHORT
from node.tests.helpers import run_command

TIMEOUT_SECONDS = 30


def _api(base: str, text: str) -> tuple[int, Any]:
    url = f"{base}/v6/nodes/?" + urllib.parse.urlencode({"search": text, "page_size": 1000})
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (live server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _command(text: str) -> set[str]:
    lines = run_command("nodes", "list", "--search", text, "--limit", "0").splitlines()
    # The header, then one node a line, then the count.
    return {line.split()[1] for line in lines[1:-1]}


def _admin(client: Client, text: str) -> tuple[set[str], list[str]]:
    response = client.get(reverse("admin:node_node_changelist"), {"q": text})
    assert response.status_code == 200
    return {node.hostname for node in response.context["cl"].result_list}, [
        str(message) for message in response.context["messages"]
    ]


@pytest.fixture
def nodes(make_node: Callable[..., Node]) -> list[Node]:
    return [
        make_node("node-020.example.com", is_paused=True, pause_reason="Disk replacement"),
        make_node("disk-array-1.example.com"),
        make_node("node-021.example.com", is_paused=True, pause_reason="fan"),
        make_node("node-022.example.com"),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("disk", {"node-020.example.com", "disk-array-1.example.com"}),
        ("DISK", {"node-020.example.com", "disk-array-1.example.com"}),
        ("replacement", {"node-020.example.com"}),
        ("node-02", {"node-020.example.com", "node-021.example.com", "node-022.example.com"}),
        ("nothing-like-it", set()),
    ],
)
def test_the_api_the_admin_and_the_command_find_the_same_nodes(
    live_server: Any, admin_client: Client, nodes: list[Node], text: str, found: set[str]
) -> None:
    status, body = _api(live_server.url, text)
    assert status == 200, body
    assert {node["hostname"] for node in body["results"]} == found
    assert _admin(admin_client, text) == (found, [])
    assert _command(text) == found


@pytest.mark.django_db(transaction=True)
def test_the_api_the_admin_and_the_command_refuse_a_text_too_short_alike(
    live_server: Any, admin_client: Client, nodes: list[Node]
) -> None:
    reason = f"expected at least 3 characters, got 2: {SEARCH_TOO_SHORT}"
    status, body = _api(live_server.url, "di")
    assert (status, body["detail"]) == (400, f"search: {reason}")
    assert _admin(admin_client, "di") == (set(), [f"Search: {reason}"])
    with pytest.raises(CommandError, match=f"^--search: {reason}$"):
        _command("di")
