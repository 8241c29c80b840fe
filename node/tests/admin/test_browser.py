"""End to end in a real browser: an operator pauses two nodes from the admin, and the API shows it.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, installed by ``make chromium``; no
browser is ever downloaded). Without it the test is skipped, except in CI, where it must run.
"""

import json
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from node.models import Node
from node.tests.admin.browser import TIMEOUT_MS
from node.tests.helpers import create_node

# Where the screenshot of the node list goes (named in README.md; the folder is ignored by git).
SCREENSHOT = Path(settings.BASE_DIR) / "test-artifacts" / "admin-node-list.png"
PASSWORD = "a-long-test-password"
REASON = "Rack 7 power maintenance"


def api_node(base_url: str, node: Node) -> dict:
    with urllib.request.urlopen(f"{base_url}/v6/nodes/{node.pk}/", timeout=TIMEOUT_MS / 1000) as response:  # noqa: S310
        assert response.status == 200
        return json.load(response)


@pytest.fixture
def nodes(live_server: object) -> list[Node]:
    """An admin user and three nodes, made before the browser starts.

    While Playwright runs, the test thread makes no queries: under its event loop Django would
    open a second connection that nobody closes.
    """
    get_user_model().objects.create_superuser("operator", "operator@example.test", PASSWORD)
    return [create_node(hostname=f"node-{number}.cluster.test") for number in range(1, 4)]


def test_operator_pauses_two_nodes_in_the_admin_and_the_api_shows_them_paused(
    live_server: object, nodes: list[Node], page: object
) -> None:
    first, second, untouched = nodes
    page.goto(f"{live_server.url}/admin/login/?next=/admin/node/node/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/node/node/")

    for node in (first, second):
        page.check(f"input[name=_selected_action][value='{node.pk}']")
    page.select_option("select[name=action]", "pause_nodes")
    page.click("button[name=index]")
    assert "Pause these 2 nodes?" in page.inner_text("#content")
    page.fill("input[name=reason]", REASON)
    page.click("input[type=submit][value^='Yes, pause']")
    page.wait_for_url("**/admin/node/node/")
    assert page.inner_text("ul.messagelist") == "Paused 2 nodes."
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    for node in (first, second):
        data = api_node(live_server.url, node)
        assert (data["is_paused"], data["pause_reason"]) == (True, REASON), data
    data = api_node(live_server.url, untouched)
    assert (data["is_paused"], data["pause_reason"]) == (False, None), data
