"""Writes need node.change_node and history needs node.view_nodechange, through the API as in the admin."""

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tokens import create_api_token
from node.models import Node, NodeChange
from node.tests.helpers import body


def token_client(*, username: str, permissions: tuple[str, ...] = (), **flags: bool) -> APIClient:
    user = get_user_model().objects.create_user(username=username, password="unused-password", **flags)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions, content_type__app_label="node"))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(user=user, expires_in=None)[1]}")
    return client


def patch(client: APIClient, node: Node, changes: dict) -> object:
    return client.patch(f"/v6/nodes/{node.pk}/", changes, format="json")


@pytest.mark.django_db
class TestNodePatchPermission:
    def test_staff_user_without_change_node_is_403_naming_the_permission(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        response = patch(token_client(username="staff-only", is_staff=True), node, {"is_active": False})
        assert response.status_code == 403, body(response)
        assert "node.change_node" in response.json()["detail"], body(response)
        node.refresh_from_db()
        assert node.is_active is True
        assert not NodeChange.objects.filter(node=node, action="update").exists()

    def test_staff_user_without_change_node_is_also_refused_by_the_admin(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        user = get_user_model().objects.create_user(username="staff-only", password="unused-password", is_staff=True)
        admin = Client()
        admin.force_login(user)
        response = admin.get(reverse("admin:node_node_change", args=[node.pk]))
        assert response.status_code == 403, body(response)

    def test_user_with_change_node_may_patch_without_being_staff(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        response = patch(token_client(username="bot", permissions=("change_node",)), node, {"is_paused": True})
        assert response.status_code == 204, body(response)

    def test_superuser_may_patch(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        client = token_client(username="root", is_staff=True, is_superuser=True)
        assert patch(client, node, {"is_paused": True}).status_code == 204

    def test_permission_from_a_group_is_enough(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        client = token_client(username="member")
        user = get_user_model().objects.get(username="member")
        operators = Group.objects.create(name="node operators")
        operators.permissions.add(Permission.objects.get(codename="change_node", content_type__app_label="node"))
        user.groups.add(operators)
        assert patch(client, node, {"is_paused": True}).status_code == 204

    def test_a_patch_reads_the_token_and_the_permissions_once_each(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        client = token_client(username="bot", permissions=("change_node",))
        with CaptureQueriesContext(connection) as queries:
            assert patch(client, node, {"is_paused": True}).status_code == 204
        statements = [query["sql"] for query in queries.captured_queries]
        assert sum("auth_permission" in sql for sql in statements) == 1, statements
        assert sum("knox_authtoken" in sql for sql in statements) == 1, statements

    def test_a_withdrawn_permission_refuses_the_next_request(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        client = token_client(username="member")
        user = get_user_model().objects.get(username="member")
        operators = Group.objects.create(name="node operators")
        operators.permissions.add(Permission.objects.get(codename="change_node", content_type__app_label="node"))
        user.groups.add(operators)
        assert patch(client, node, {"is_paused": True}).status_code == 204
        user.groups.remove(operators)
        response = patch(client, node, {"is_paused": False})
        assert response.status_code == 403, body(response)
        user.user_permissions.add(Permission.objects.get(codename="change_node", content_type__app_label="node"))
        assert patch(client, node, {"is_paused": False}).status_code == 204

    def test_an_inactive_users_token_is_refused(self, make_node: Callable[..., Node]) -> None:
        client = token_client(username="gone", permissions=("change_node",), is_active=False)
        response = patch(client, make_node(), {"is_paused": True})
        assert response.status_code == 401, body(response)

    def test_anonymous_patch_is_still_401(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        response = patch(api_client, make_node(), {"is_paused": True})
        assert response.status_code == 401, body(response)


@pytest.mark.django_db
class TestNodeHistoryPermission:
    def url(self, node: Node) -> str:
        return f"/v6/nodes/{node.pk}/history/"

    @pytest.mark.parametrize("public_reads", [True, False])
    def test_anonymous_history_is_401_whatever_public_read_api_says(
        self, api_client: APIClient, make_node: Callable[..., Node], public_reads: bool
    ) -> None:
        node = make_node()
        with override_settings(PUBLIC_READ_API=public_reads):
            response = api_client.get(self.url(node))
        assert response.status_code == 401, body(response)
        assert "actor" not in body(response)

    def test_anonymous_history_of_an_unknown_node_is_401_not_404(self, api_client: APIClient, db: None) -> None:
        response = api_client.get("/v6/nodes/424242/history/")
        assert response.status_code == 401, body(response)

    def test_user_without_view_nodechange_is_403_naming_the_permission(self, make_node: Callable[..., Node]) -> None:
        client = token_client(username="viewer", is_staff=True, permissions=("view_node", "change_node"))
        response = client.get(self.url(make_node()))
        assert response.status_code == 403, body(response)
        assert "node.view_nodechange" in response.json()["detail"], body(response)

    def test_user_with_view_nodechange_reads_the_history(self, make_node: Callable[..., Node]) -> None:
        client = token_client(username="auditor", permissions=("view_nodechange",))
        response = client.get(self.url(make_node()))
        assert response.status_code == 200, body(response)

    def test_the_admin_hides_recent_changes_without_view_nodechange(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        node.is_paused = True
        user = get_user_model().objects.create_user(username="editor", password="unused-password", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(codename__in=("view_node", "change_node"), content_type__app_label="node")
        )
        admin = Client()
        admin.force_login(user)
        NodeChange.objects.create(
            node=node, time=node.last_modified, action="update", actor="alice", channel="admin", changes={}
        )
        response = admin.get(reverse("admin:node_node_change", args=[node.pk]))
        assert response.status_code == 200, body(response)
        assert "alice" not in body(response)
        user.user_permissions.add(Permission.objects.get(codename="view_nodechange"))
        admin.force_login(get_user_model().objects.get(pk=user.pk))
        assert "alice" in body(admin.get(reverse("admin:node_node_change", args=[node.pk])))

    def test_the_schema_says_history_needs_credentials(self, api_client: APIClient) -> None:
        schema = api_client.get("/v6/schema/?format=json").json()
        operation = schema["paths"]["/v6/nodes/{id}/history/"]["get"]
        assert {} not in operation["security"], operation["security"]
        assert "403" in operation["responses"]
        assert "node.view_nodechange" in operation["description"]
        assert "node.change_node" in schema["paths"]["/v6/nodes/{id}/"]["patch"]["description"]
