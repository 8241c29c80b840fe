"""The Content-Security-Policy: every HTML page of the service carries it and still works under it in Chromium.

Each page is loaded in Debian's Chromium with the policy on; the test fails on any console message
that reports a violation, and checks that the page's own script ran (its content is there).
"""

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from node.tests.helpers import create_node

PASSWORD = "a-long-test-password"

# path -> a selector that only the page's scripts fill in.
PAGES = {
    "/admin/node/node/": "#result_list",
    "/v6/docs/": ".swagger-ui .information-container",
    "/v6/redoc/": "#redoc-container h1",
    "/v6/nodes/": ".response-info",
}


@pytest.fixture
def operator(live_server: object) -> None:
    """An admin user and a node, made before the browser starts."""
    get_user_model().objects.create_superuser("operator", "operator@example.test", PASSWORD)
    create_node(hostname="csp-1.cluster.test")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/v6/", "/admin/login/", "/v6/docs/", "/v6/redoc/", "/v6/nodes/"])
def test_every_html_page_carries_the_policy(api_client: APIClient, path: str) -> None:
    response = api_client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 200, response.content[:300]
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in policy


def test_the_pages_work_in_chromium_with_no_policy_violation(
    live_server: object, operator: None, page: object, django_db_blocker: Callable
) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {page.url}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/node/node/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/node/node/")
    for path, content in PAGES.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector(content)
    violations = [
        message
        for message in messages
        if "Content Security Policy" in message or "Refused to" in message or message.startswith("pageerror")
    ]
    assert not violations, "\n".join(violations)
