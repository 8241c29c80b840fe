"""A newcomer's first hour, in Debian's Chromium, against the service as ``make run`` serves it.

The landing page; the node list in the browsable API, filtered with its form; a node and its history;
Swagger UI's "Try it out" on the list; the admin: log in and pause two nodes at once; and an
``EventSource`` in the page receiving a change made through the API. The demo server (gunicorn's ASGI
worker, the demo nodes) listens on 127.0.0.1:``FIRST_HOUR_PORT`` (8871). Each step leaves a screenshot
in ``test-artifacts/first-hour/`` (ignored by git, kept by CI). Without Chromium the test is skipped,
except in CI, where it must run (``make chromium``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.served import REPO, DemoServer, demo_server, manage, request
from node.tests.admin.browser import TIMEOUT_MS, chromium_page, require_chromium

PORT = int(os.environ.get("FIRST_HOUR_PORT", "8871"))
SCREENSHOTS = REPO / "test-artifacts" / "first-hour"
PASSWORD = "a-long-first-hour-password"
REASON = "Rack 7 power maintenance"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo server, with the superuser ``admin`` a newcomer makes first (none at all without Chromium)."""
    require_chromium()
    with demo_server(tmp_path_factory.mktemp("first-hour"), port=PORT, suffix="first_hour") as server:
        manage(
            {**server.env, "DEBUG": "1", "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
        )
        yield server


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with chromium_page(tmp_path, monkeypatch) as page:
        yield page


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def api_node(server: DemoServer, node_id: int) -> dict:
    reply = request(server.port, "GET", f"/v6/nodes/{node_id}/")
    assert reply.status == 200, reply
    return reply.json()


def browsable_json(page: object) -> dict:
    """The JSON answer the browsable API page shows (after the status line and the headers)."""
    return json.loads(page.inner_text(".response-info pre").split("\n\n", 1)[1])


def test_the_first_hour(server: DemoServer, page: object) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"{page.url}: {message.text}") if "Content Security Policy" in message.text else None
        ),
    )

    # The landing page: what this is, where to go, how many nodes.
    page.goto(f"{server.url}/")
    assert page.inner_text("h1") == "Scale node registry"
    assert page.inner_text("#node-total") == "24"
    shot(page, "01-landing")

    # The list in the browsable API, filtered with its form: only the paused nodes.
    page.click("#link-nodes")
    page.wait_for_url("**/v6/nodes/")
    page.click("button[data-target='#filtersModal']")
    page.select_option("#filter-is_paused", "true")
    page.click("#node-filter-form button[type=submit]")
    page.wait_for_url("**/v6/nodes/?is_paused=true")
    listed = browsable_json(page)
    assert listed["count"] == 4, listed
    assert all(node["is_paused"] for node in listed["results"]), listed
    shot(page, "02-list-filtered")

    # A node and its history, signed in through the browsable API's login.
    page.goto(f"{server.url}/api-auth/login/?next=/v6/nodes/20/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("#submit-id-submit, button[type=submit], input[type=submit]")
    page.wait_for_url("**/v6/nodes/20/")
    node = browsable_json(page)
    shot(page, "03-node")
    page.click("#link-history")
    page.wait_for_url("**/v6/nodes/20/history")
    history = browsable_json(page)
    assert [record["action"] for record in history["results"]] == ["register"], history
    # The demo registers its nodes in one batch, whose ids follow the database's order (not the
    # same on SQLite and PostgreSQL): the record holds whatever state node 20 was registered in.
    registered = history["results"][0]["changes"]
    assert registered["hostname"]["new"] == node["hostname"], (node, history)
    assert registered.get("pause_reason", {}).get("new") == node["pause_reason"], (node, history)
    shot(page, "04-history")

    # Swagger UI: "Try it out" on the list, as filled in, and Execute.
    page.goto(f"{server.url}/v6/docs/")
    page.click("#operations-nodes-nodes_list .opblock-summary")
    page.click("#operations-nodes-nodes_list .try-out__btn")
    with page.expect_response(
        lambda response: "/v6/nodes/?" in response.url or response.url.endswith("/v6/nodes/")
    ) as answer:
        page.click("#operations-nodes-nodes_list .execute")
    status = answer.value.status
    cell = "#operations-nodes-nodes_list .live-responses-table tbody .response-col_status"
    page.wait_for_selector(cell)
    shown = page.inner_text(cell)
    assert shown.strip().startswith(str(status)), (status, shown)
    print(f"Swagger UI's Try it out on the list: {status} {answer.value.url}")
    shot(page, "05-swagger-try-it-out")

    # The admin: pause two nodes at once, with a reason.
    page.goto(f"{server.url}/admin/node/node/")
    for node_id in (1, 2):
        page.check(f"input[name=_selected_action][value='{node_id}']")
    page.select_option("select[name=action]", "pause_nodes")
    page.click("button[name=index]")
    page.fill("input[name=reason]", REASON)
    page.click("input[type=submit][value^='Yes, pause']")
    page.wait_for_url("**/admin/node/node/")
    assert page.inner_text("ul.messagelist") == "Paused 2 nodes."
    shot(page, "06-admin-bulk-pause")
    for node_id in (1, 2):
        node = api_node(server, node_id)
        assert (node["is_paused"], node["pause_reason"]) == (True, REASON), node

    # An EventSource in the page, and a PATCH through the API: the event arrives.
    page.goto(f"{server.url}/")
    page.evaluate(
        """() => {
            window.received = [];
            const source = new EventSource("/v6/nodes/events/");
            source.addEventListener("open", () => { window.opened = true; });
            source.addEventListener("node", (event) => {
                window.received.push({id: event.lastEventId, node: JSON.parse(event.data)});
                const line = document.createElement("pre");
                line.style.whiteSpace = "pre-wrap";
                line.textContent = `id: ${event.lastEventId}  ${event.data}`;
                document.body.append(line);
            });
        }"""
    )
    page.wait_for_function("() => window.opened === true", timeout=TIMEOUT_MS)
    token = manage({**server.env, "DEBUG": "1"}, "create_api_token", "admin").strip()
    reply = request(
        server.port,
        "PATCH",
        "/v6/nodes/3/",
        body={"is_paused": True, "pause_reason": "Seen live"},
        headers={"Authorization": f"Token {token}"},
    )
    assert reply.status == 204, reply
    page.wait_for_function("() => window.received.some((event) => event.node.id === 3)", timeout=TIMEOUT_MS)
    received = page.evaluate("() => window.received")
    event = next(event for event in received if event["node"]["id"] == 3)
    assert event["id"] == reply.headers["x-registry-index"], (event, reply.headers)
    assert (event["node"]["is_paused"], event["node"]["pause_reason"]) == (True, "Seen live"), event
    shot(page, "07-event-source")

    assert not problems, problems
