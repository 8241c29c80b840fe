"""ETags, If-None-Match (304) and If-Match (412) on the node endpoints."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body


@pytest.mark.django_db
class TestNodeDetailETag:
    def test_detail_carries_an_etag_that_stays_while_the_node_is_unchanged(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        first = api_client.get(f"/v6/nodes/{node.pk}/")
        assert first.status_code == 200, body(first)
        assert first["ETag"].startswith('"')
        assert api_client.get(f"/v6/nodes/{node.pk}/")["ETag"] == first["ETag"]

    def test_matching_if_none_match_is_304_with_no_body(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(f"/v6/nodes/{node.pk}/")["ETag"]
        response = api_client.get(f"/v6/nodes/{node.pk}/", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304, body(response)
        assert response.content == b""
        assert response["ETag"] == etag

    def test_etag_changes_when_the_node_changes_and_a_stale_one_gets_the_full_node(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        old = api_client.get(f"/v6/nodes/{node.pk}/")["ETag"]
        patched = staff_client.patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json")
        assert patched.status_code == 204, body(patched)
        response = api_client.get(f"/v6/nodes/{node.pk}/", HTTP_IF_NONE_MATCH=old)
        assert response.status_code == 200, body(response)
        assert response["ETag"] not in (old, None)
        assert response["ETag"] == patched["ETag"]
        assert response.json()["is_paused"] is True


@pytest.mark.django_db
class TestNodePatchIfMatch:
    def test_if_match_with_the_current_etag_applies_the_change(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(f"/v6/nodes/{node.pk}/")["ETag"]
        response = staff_client.patch(f"/v6/nodes/{node.pk}/", {"is_active": False}, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 204, body(response)
        node.refresh_from_db()
        assert node.is_active is False

    @pytest.mark.parametrize("stale", ["old", "weak", "malformed"])
    def test_if_match_with_another_etag_is_412_and_writes_nothing(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node], stale: str
    ) -> None:
        node = make_node()
        current = api_client.get(f"/v6/nodes/{node.pk}/")["ETag"]
        header = {"old": '"0123456789abcdef0123456789abcdef"', "weak": f"W/{current}", "malformed": "not-a-tag"}[stale]
        before = Node.objects.get(pk=node.pk)
        response = staff_client.patch(
            f"/v6/nodes/{node.pk}/", {"is_paused": True, "pause_reason": "x"}, format="json", HTTP_IF_MATCH=header
        )
        assert response.status_code == 412, body(response)
        assert "has changed" in response.json()["detail"]
        assert response["ETag"] == current
        after = Node.objects.get(pk=node.pk)
        assert (after.is_paused, after.pause_reason, after.last_modified) == (False, None, before.last_modified)

    def test_a_second_writer_with_the_same_etag_is_refused(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(f"/v6/nodes/{node.pk}/")["ETag"]
        url = f"/v6/nodes/{node.pk}/"
        first = staff_client.patch(url, {"is_paused": True, "pause_reason": "first"}, format="json", HTTP_IF_MATCH=etag)
        second = staff_client.patch(url, {"is_active": False}, format="json", HTTP_IF_MATCH=etag)
        assert (first.status_code, second.status_code) == (204, 412), body(second)
        node.refresh_from_db()
        assert (node.pause_reason, node.is_active) == ("first", True)

    def test_if_match_star_applies_to_any_existing_node(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json", HTTP_IF_MATCH="*")
        assert response.status_code == 204, body(response)

    def test_the_etag_of_a_patch_response_is_the_one_a_later_read_sees(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(
            f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json", HTTP_PREFER="return=representation"
        )
        assert response.status_code == 200, body(response)
        assert response["ETag"] == api_client.get(f"/v6/nodes/{node.pk}/")["ETag"]

    def test_an_invalid_body_is_400_before_the_precondition_is_looked_at(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(f"/v6/nodes/{node.pk}/", {"hostname": "x"}, format="json", HTTP_IF_MATCH='"x"')
        assert response.status_code == 400, body(response)


@pytest.mark.django_db
class TestNodeListETag:
    URL = "/v6/nodes/?page_size=2&order=id"

    def test_list_carries_an_etag_and_answers_304_while_nothing_changed(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node()
        first = api_client.get(self.URL)
        assert first.status_code == 200, body(first)
        response = api_client.get(self.URL, HTTP_IF_NONE_MATCH=first["ETag"])
        assert response.status_code == 304, body(response)
        assert response.content == b""
        assert response["ETag"] == first["ETag"]

    def test_etag_changes_when_a_node_of_the_page_changes(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(self.URL)["ETag"]
        staff_client.patch(f"/v6/nodes/{node.pk}/", {"pause_reason": "same flags"}, format="json")
        response = api_client.get(self.URL, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200, body(response)
        assert response["ETag"] != etag

    def test_etag_changes_when_the_count_changes_beyond_the_page(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node()
        make_node()
        etag = api_client.get(self.URL)["ETag"]
        make_node()
        response = api_client.get(self.URL, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200, body(response)
        assert response.json()["next"] is not None

    def test_etag_changes_when_a_node_leaves_the_filtered_result(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        leaving = make_node()
        make_node()
        url = "/v6/nodes/?is_active=true&order=id"
        etag = api_client.get(url)["ETag"]
        staff_client.patch(f"/v6/nodes/{leaving.pk}/", {"is_active": False}, format="json")
        response = api_client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200, body(response)
        assert [entry["id"] for entry in response.json()["results"]] != [leaving.pk]

    def test_different_pages_have_different_etags(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        for _ in range(4):
            make_node()
        first = api_client.get(self.URL)["ETag"]
        second = api_client.get(self.URL + "&page=2")["ETag"]
        assert first != second
