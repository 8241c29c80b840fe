"""What people read in the admin: a node's whole history behind its History button, values in words rather than
Python's, filter titles, times in ISO 8601, and the API token list by user, creation and expiry."""

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tokens import create_api_token
from node.models import Node
from node.tests.admin.test_node_admin import CHANGELIST, confirm_action
from node.tests.helpers import T0, body

PASSWORD = "a-long-test-password"


def history_url(node: Node) -> str:
    return reverse("admin:node_node_history", args=[node.pk])


def history_rows(page: str) -> list[list[str]]:
    """The cells of the history table, row by row, as text (line breaks within a cell kept as newlines)."""
    table = page.split('<table id="node-history">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell.replace("<br>", "\n")).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        for row in rows
    ]


def staff_user(username: str, *codenames: str) -> object:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="node", codename__in=codenames))
    return user


class TestNodeHistoryPage:
    def test_the_history_button_shows_changes_made_through_the_api_bulk_actions_and_commands(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        api = APIClient()
        api.credentials(
            HTTP_AUTHORIZATION=f"Token {create_api_token(user=staff_user('bot', 'change_node'), expires_in=None)[1]}"
        )
        response = api.patch(
            f"/v6/nodes/{node.pk}/", {"is_paused": True, "pause_reason": "Disk replacement"}, format="json"
        )
        assert response.status_code == 204, body(response)
        call_command("nodes", "resume", str(node.pk), stdout=None)
        assert confirm_action(admin_client, "deactivate_nodes", [node]).status_code == 200

        page = body(admin_client.get(history_url(node)))
        rows = history_rows(page)
        assert [row[1:4] for row in rows] == [
            ["update", "admin", "admin"],
            ["update", rows[1][2], "cli"],
            ["update", "bot", "api"],
            ["register", "system", "system"],
        ], rows
        assert rows[1][2].startswith("manage.py nodes"), rows
        assert rows[0][4] == "is_active: true → false", rows
        assert rows[2][4].splitlines() == ["is_paused: false → true", "pause_reason: — → Disk replacement"], rows
        assert rows[3][4].splitlines() == [
            "hostname: — → a.test",
            "is_active: — → true",
            "is_paused: — → false",
            "pause_reason: — → —",
        ], rows
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[0]) for row in rows), rows
        assert "None" not in page and "True" not in page and "False" not in page
        assert f'href="/v6/nodes/{node.pk}/history"' in page
        assert "4 records, newest first" in page

    def test_the_history_is_paged_a_hundred_records_at_a_time(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        for _ in range(50):
            call_command("nodes", "pause", str(node.pk), "--reason", "Flapping", stdout=None)
            call_command("nodes", "resume", str(node.pk), stdout=None)
        first = body(admin_client.get(history_url(node)))
        assert len(history_rows(first)) == 100
        assert "101 records, newest first" in first
        last = body(admin_client.get(history_url(node), {"p": "2"}))
        assert [row[1] for row in history_rows(last)] == ["register"]

    def test_without_the_history_permission_the_page_says_which_one_is_needed(
        self, client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        client.force_login(staff_user("viewer", "view_node"))
        response = client.get(history_url(node))
        assert response.status_code == 200, body(response)
        page = body(response)
        assert "node.view_nodechange" in page
        assert '<table id="node-history">' not in page
        assert "system" not in page.split('id="change-history"', 1)[1]

    def test_without_a_permission_on_nodes_the_page_is_refused(
        self, client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        client.force_login(staff_user("auditor", "view_nodechange"))
        assert client.get(history_url(node)).status_code == 403

    def test_an_unknown_node_sends_back_to_the_list(self, admin_client: Client) -> None:
        response = admin_client.get(reverse("admin:node_node_history", args=[999]))
        assert response.status_code == 302, body(response)


class TestReadableNodeList:
    def test_filters_are_headed_active_and_paused(self, admin_client: Client, make_node: Callable[..., Node]) -> None:
        make_node("a.test")
        page = body(admin_client.get(CHANGELIST))
        headings = [
            heading.strip()
            for heading in re.findall(r"<details data-filter-title=[^>]*>\s*<summary>(.*?)</summary>", page, flags=re.S)
        ]
        assert headings == ["Active", "Paused", "Liveness"], headings
        assert "By is" not in page

    def test_times_are_iso_and_missing_values_a_dash(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("up.test", created=T0)
        make_node("gone.test", is_active=False, created=T0)
        page = body(admin_client.get(CHANGELIST))
        assert page.count('<time datetime="2025-01-01T00:00:00Z" style="white-space: nowrap">') == 3, page
        assert '<td class="field-pause_reason_display">—</td>' in page
        assert '<td class="field-deprecated_display">—</td>' in page

    def test_the_list_leaves_out_the_navigation_sidebar_so_its_columns_fit(self, admin_client: Client) -> None:
        assert 'id="nav-sidebar"' not in body(admin_client.get(CHANGELIST))
        assert 'id="nav-sidebar"' in body(admin_client.get(reverse("admin:auth_user_changelist")))

    def test_the_change_page_shows_times_in_iso(self, admin_client: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test", created=T0)
        page = body(admin_client.get(reverse("admin:node_node_change", args=[node.pk])))
        assert page.count('<time datetime="2025-01-01T00:00:00Z"') == 2, page
        assert '<div class="readonly">—</div>' in page
        assert "a.m." not in page and "p.m." not in page


@pytest.mark.django_db
class TestApiTokenList:
    def test_tokens_are_listed_with_user_created_expiry_and_status_not_the_digest(self, admin_client: Client) -> None:
        bot = get_user_model().objects.create_user("deploy-bot")
        never, _ = create_api_token(user=bot, expires_in=None)
        soon, _ = create_api_token(user=bot, expires_in=dt.timedelta(days=30))
        page = body(admin_client.get(reverse("admin:knox_authtoken_changelist")))
        table = page.split('id="result_list"', 1)[1].split("</thead>", 1)[0]
        columns = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', table)
        assert columns == ["token_id", "user", "created_display", "expiry_display", "status"], columns
        assert page.count("deploy-bot") >= 2
        assert "never" in page
        assert soon.expiry.strftime("%Y-%m-%dT%H:%M:%SZ") in page
        text = re.sub(r"<[^>]+>", "", page)
        for token in (never, soon):
            assert token.digest not in text  # it is the row's key, so its links still carry it
            assert f"{token.digest[:12]}…" in page
        assert page.count(">valid<") == 2
