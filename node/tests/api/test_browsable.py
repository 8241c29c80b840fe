"""The browsable API as people read it: descriptions in Markdown, the node list's filter form, links between
a node and its history."""

import re
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import LIST_URL, body

HTML = "text/html"


def page_of(client: APIClient, url: str, status: int = 200) -> str:
    response = client.get(url, HTTP_ACCEPT=HTML)
    assert response.status_code == status, body(response)
    assert response["Content-Type"].startswith(HTML), response["Content-Type"]
    return body(response)


def description(page: str) -> str:
    return page.split('<div class="pull-left">', 1)[1].split("</div>", 1)[0]


@pytest.mark.django_db
class TestBrowsableApi:
    @pytest.mark.parametrize("path", [LIST_URL, "/v6/nodes/{id}/", "/v6/nodes/{id}/history/", "/v6/nodes/changes/"])
    def test_descriptions_are_rendered_markdown_without_backticks(
        self, staff_client: APIClient, make_node: Callable[..., Node], path: str
    ) -> None:
        node = make_node("a.test")
        text = description(page_of(staff_client, path.format(id=node.pk)))
        assert "`" not in text, text
        assert text.strip().startswith("<p>"), text

    def test_code_in_a_description_is_set_as_code(self, api_client: APIClient) -> None:
        text = description(page_of(api_client, LIST_URL))
        assert "<code>started</code>, <code>ended</code>" in text, text

    def test_the_node_list_has_a_filter_form_with_every_filter_and_the_order(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("a.test")
        page = page_of(api_client, LIST_URL)
        form = page.split('<form class="form filter-form" id="node-filter-form"', 1)[1].split("</form>", 1)[0]
        names = re.findall(r'name="([a-z_]+)"', form)
        assert names == ["search", "is_active", "is_paused", "hostname", "id", "started", "ended", "order"], names
        assert 'data-target="#filtersModal"' in page
        assert '<script src="/static/node/filter-form.js"></script>' in page

    def test_the_filter_form_shows_the_filters_in_force(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("a.test", is_paused=True, pause_reason="Disk replacement")
        page = page_of(api_client, f"{LIST_URL}?is_paused=true&search=disk&order=-hostname&page_size=5")
        form = page.split('id="node-filter-form"', 1)[1].split("</form>", 1)[0]
        assert (
            '<option value="true" selected>true</option>' in form.split('name="is_paused"', 1)[1].split("</select>")[0]
        )
        assert 'name="search" id="filter-search" value="disk"' in form
        assert '<option value="-hostname" selected>' in form
        assert '<input type="hidden" name="page_size" value="5">' in form

    def test_the_filter_script_is_served(self, api_client: APIClient) -> None:
        response = api_client.get("/static/node/filter-form.js")
        assert response.status_code == 200
        assert b"field.disabled = true" in b"".join(response.streaming_content)

    def test_a_node_links_to_its_history_and_the_history_back_to_the_node(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        detail = page_of(staff_client, f"/v6/nodes/{node.pk}/")
        assert f'href="/v6/nodes/{node.pk}/history" id="link-history">History</a>' in detail
        history = page_of(staff_client, f"/v6/nodes/{node.pk}/history/")
        assert f'href="/v6/nodes/{node.pk}" id="link-node">Node</a>' in history

    def test_an_unknown_node_links_nowhere(self, staff_client: APIClient) -> None:
        assert 'id="link-history"' not in page_of(staff_client, "/v6/nodes/999/", status=404)
