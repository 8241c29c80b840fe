"""The landing page at ``/`` and ``/v6/``, over real HTTP: HTML for people, JSON for clients that ask for it."""

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from django.test import override_settings

from node.models import Node

# The headers every answer of the service carries (the list's are the reference).
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options")
LINKS = {
    "nodes": "/v6/nodes/",
    "events": "/v6/nodes/events/",
    "changes": "/v6/nodes/changes/",
    "docs": "/v6/docs/",
    "redoc": "/v6/redoc/",
    "schema": "/v6/schema/",
    "admin": "/admin/",
    "healthz": "/healthz",
    "readyz": "/readyz",
    "metrics": "/metrics",
}


def fetch(url: str, *, accept: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (the test's own server)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def without_nonce(policy: str) -> str:
    """A header with the request's CSP nonce taken out (the rest of the policy is the same on every page)."""
    return re.sub(r" 'nonce-[^']*'", "", policy)


@pytest.fixture
def demo_nodes(live_server: object, make_node: Callable[..., Node]) -> None:
    """Five nodes: three active (one of them paused too) and two inactive."""
    make_node("a.test")
    make_node("b.test")
    make_node("c.test", is_paused=True, pause_reason="Disk replacement")
    make_node("d.test", is_active=False)
    make_node("e.test", is_active=False, is_paused=True, pause_reason="Gone")


@pytest.mark.django_db(transaction=True)
class TestServiceIndex:
    @pytest.mark.parametrize("path", ["/", "/v6/", "/v6"])
    def test_a_browser_gets_a_page_with_the_links_and_the_node_count(
        self, live_server: object, demo_nodes: None, path: str
    ) -> None:
        status, headers, body = fetch(f"{live_server.url}{path}", accept="text/html,application/xhtml+xml,*/*;q=0.8")
        page = body.decode()
        assert status == 200, page[:500]
        assert headers["Content-Type"].startswith("text/html"), headers
        assert "<h1>Scale node registry</h1>" in page
        assert re.search(r'<strong id="node-total">5</strong>', page), page
        for key, link in LINKS.items():
            assert f'href="{live_server.url}{link}" id="link-{key}"' in page, (key, page)

    def test_a_client_asking_for_json_gets_json(self, live_server: object, demo_nodes: None) -> None:
        status, headers, body = fetch(f"{live_server.url}/v6/", accept="application/json")
        assert status == 200, body[:500]
        assert headers["Content-Type"] == "application/json", headers
        data = json.loads(body)
        assert data["service"] == "Scale node registry"
        assert data["nodes"] == {"total": 5, "active": 2, "paused": 1, "inactive": 2}, data
        assert {key: link["href"] for key, link in data["links"].items()} == {
            key: f"{live_server.url}{path}" for key, path in LINKS.items()
        }
        assert all(link["title"] for link in data["links"].values()), data["links"]

    def test_every_link_answers(self, live_server: object, demo_nodes: None) -> None:
        _status, _headers, body = fetch(f"{live_server.url}/", accept="application/json")
        for key, link in json.loads(body)["links"].items():
            if key in ("events", "changes"):
                continue  # a stream, and a long-poll: answered by the ASGI server, tested with it
            status, _headers, answer = fetch(link["href"], accept="text/html,*/*")
            assert status == 200, (key, answer[:300])

    def test_it_carries_the_same_security_headers_as_the_api(self, live_server: object, demo_nodes: None) -> None:
        _status, api_headers, _body = fetch(f"{live_server.url}/v6/nodes/", accept="text/html")
        expected = {name: without_nonce(api_headers[name]) for name in SECURITY_HEADERS}
        for path in ("/", "/v6/"):
            for accept in ("text/html", "application/json"):
                status, headers, _body = fetch(f"{live_server.url}{path}", accept=accept)
                assert status == 200
                assert {name: without_nonce(headers.get(name, "")) for name in SECURITY_HEADERS} == expected, (
                    path,
                    accept,
                )

    def test_the_admins_view_site_link_goes_there(self, live_server: object, admin_client: object) -> None:
        page = admin_client.get("/admin/").content.decode()
        assert '<a href="/">View site</a>' in page, page

    @override_settings(PUBLIC_READ_API=False)
    def test_without_public_reads_anonymous_clients_get_the_links_but_no_count(
        self, live_server: object, demo_nodes: None
    ) -> None:
        status, _headers, body = fetch(f"{live_server.url}/", accept="application/json")
        data = json.loads(body)
        assert status == 200, data
        assert data["nodes"] is None, data
        assert set(data["links"]) == set(LINKS)
