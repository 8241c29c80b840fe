"""The node admin with Django's test client: list, search, filters, sorting, bulk actions, change and add forms.

Each change made in the admin is recorded in the node's history with the admin user.
"""

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from node.admin import CONFIRMATION_SAMPLE
from node.models import Node
from node.services import node_heartbeat, node_update
from node.tests.helpers import T0, body, records, registration

CHANGELIST = reverse("admin:node_node_changelist")
ADD = reverse("admin:node_node_add")


def change_url(node: Node) -> str:
    return reverse("admin:node_node_change", args=[node.pk])


def listed(response: object) -> list[str]:
    """The hostnames of the node list page, in the order shown."""
    return [node.hostname for node in response.context["cl"].result_list]


@pytest.fixture
def operator(admin_client: Client) -> Client:
    """A client logged into the admin as a superuser."""
    return admin_client


class TestNodeChangelist:
    def test_list_shows_each_nodes_hostname_state_and_reason(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("up.test")
        make_node("held.test", is_paused=True, pause_reason="Disk replacement")
        make_node("gone.test", is_active=False)
        response = operator.get(CHANGELIST)
        assert response.status_code == 200, body(response)
        page = body(response)
        for text in (
            "up.test",
            "held.test",
            "gone.test",
            "Disk replacement",
            ">active<",
            ">active, paused<",
            ">inactive<",
        ):
            assert text in page

    def test_newest_change_is_listed_first(self, operator: Client, make_node: Callable[..., Node]) -> None:
        make_node("old.test", last_modified=T0)
        make_node("new.test", last_modified=T0 + dt.timedelta(hours=1))
        assert listed(operator.get(CHANGELIST)) == ["new.test", "old.test"]

    def test_search_finds_hostnames_containing_the_text_in_any_case(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("Web-01.dc1.test")
        make_node("db-01.dc1.test")
        response = operator.get(CHANGELIST, {"q": "WEB"})
        assert response.status_code == 200, body(response)
        assert listed(response) == ["Web-01.dc1.test"]

    def test_search_finds_pause_reasons_too_as_the_api_does(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("web-01.dc1.test", is_paused=True, pause_reason="Disk replacement")
        make_node("db-01.dc1.test")
        response = operator.get(CHANGELIST, {"q": "DISK"})
        assert response.status_code == 200, body(response)
        assert listed(response) == ["web-01.dc1.test"]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"is_paused__exact": "1"}, ["paused.test"]),
            ({"is_paused__exact": "0"}, ["active.test", "inactive.test"]),
            ({"is_active__exact": "0"}, ["inactive.test"]),
            ({"is_active__exact": "1", "is_paused__exact": "0"}, ["active.test"]),
        ],
    )
    def test_filters_on_is_paused_and_is_active(
        self, operator: Client, make_node: Callable[..., Node], query: dict, expected: list[str]
    ) -> None:
        make_node("active.test")
        make_node("paused.test", is_paused=True, pause_reason="r")
        make_node("inactive.test", is_active=False)
        response = operator.get(CHANGELIST, query)
        assert response.status_code == 200, body(response)
        assert sorted(listed(response)) == expected

    @pytest.mark.parametrize(
        ("order", "expected"), [("1", ["a.test", "B.test", "c.test"]), ("-1", ["c.test", "B.test", "a.test"])]
    )
    def test_hostname_column_sorts_ignoring_letter_case(
        self, operator: Client, make_node: Callable[..., Node], order: str, expected: list[str]
    ) -> None:
        for hostname in ("B.test", "c.test", "a.test"):
            make_node(hostname)
        response = operator.get(CHANGELIST, {"o": order})
        assert response.status_code == 200, body(response)
        assert listed(response) == expected

    def test_pause_reason_column_sorts_ignoring_letter_case(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("x.test", is_paused=True, pause_reason="zebra")
        make_node("y.test", is_paused=True, pause_reason="Apple")
        response = operator.get(CHANGELIST, {"o": "3"})
        assert listed(response) == ["y.test", "x.test"]

    def test_a_page_costs_one_count_and_no_scan_for_the_dates(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        for number in range(5):
            make_node(f"n{number}.test")
        with CaptureQueriesContext(connection) as queries:
            response = operator.get(CHANGELIST, {"is_active__exact": "1"})
        assert response.status_code == 200, body(response)
        node_queries = [query["sql"] for query in queries if '"node"' in query["sql"]]
        assert sum("COUNT(" in sql for sql in node_queries) == 1, node_queries
        assert not any("DISTINCT" in sql for sql in node_queries), node_queries

    def test_date_drill_down_offers_the_years_then_months_between_first_and_last_change(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("a.test", last_modified=dt.datetime(2023, 5, 1, tzinfo=dt.UTC))
        make_node("b.test", last_modified=dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
        page = body(operator.get(CHANGELIST))
        assert re.findall(r'href="\?last_modified__year=(\d+)"', page) == ["2023", "2024", "2025"]
        page = body(operator.get(CHANGELIST, {"last_modified__year": "2025"}))
        assert re.findall(r"last_modified__month=(\d+)&amp;last_modified__year=2025", page) == ["2"]

    def test_the_date_drill_down_starts_at_the_days_when_all_changes_fall_in_one_month(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("a.test", last_modified=dt.datetime(2024, 3, 3, tzinfo=dt.UTC))
        make_node("b.test", last_modified=dt.datetime(2024, 3, 5, tzinfo=dt.UTC))
        page = body(operator.get(CHANGELIST))
        assert re.findall(r"last_modified__day=(\d+)&amp;last_modified__month=3&amp;", page) == ["3", "4", "5"]
        response = operator.get(
            CHANGELIST, {"last_modified__year": "2024", "last_modified__month": "3", "last_modified__day": "5"}
        )
        assert listed(response) == ["b.test"]

    def test_api_tokens_are_managed_in_the_admin(self, operator: Client) -> None:
        response = operator.get(reverse("admin:knox_authtoken_changelist"))
        assert response.status_code == 200, body(response)

    def test_nodes_cannot_be_deleted(self, operator: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("keep.test")
        response = operator.post(reverse("admin:node_node_delete", args=[node.pk]), {"post": "yes"})
        assert response.status_code == 403, body(response)
        assert Node.objects.filter(pk=node.pk).exists()

    def test_the_admin_needs_a_staff_login(self, client: Client) -> None:
        response = client.get(CHANGELIST)
        assert response.status_code == 302, body(response)
        assert response["Location"].startswith(reverse("admin:login"))


def run_action(client: Client, action: str, nodes: list[Node], **fields: str) -> object:
    """Post ``action`` for ``nodes`` from the list page (without confirming)."""
    return client.post(
        CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [node.pk for node in nodes], "index": "0", **fields}
    )


def confirm_action(client: Client, action: str, nodes: list[Node], **fields: str) -> object:
    """Post the confirmation page of ``action`` for ``nodes`` and follow the redirect."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [node.pk for node in nodes], "confirm": "yes", **fields}
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response: object) -> list[str]:
    return [str(message) for message in response.context["messages"]]


class TestNodeBulkActions:
    def test_pause_asks_for_confirmation_and_a_reason_before_changing_anything(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        nodes = [make_node("a.test"), make_node("b.test")]
        response = run_action(operator, "pause_nodes", nodes)
        assert response.status_code == 200, body(response)
        page = body(response)
        assert "Pause these 2 nodes?" in page
        assert "a.test" in page
        assert 'name="reason"' in page
        assert not Node.objects.filter(is_paused=True).exists()

    def test_confirmed_pause_stores_one_reason_on_every_selected_node_only(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        nodes = [make_node("a.test", last_modified=T0), make_node("b.test", last_modified=T0)]
        other = make_node("other.test")
        response = confirm_action(operator, "pause_nodes", nodes, reason="Rack 4 power work")
        assert response.status_code == 200, body(response)
        assert messages_of(response) == ["Paused 2 nodes."]
        for node in nodes:
            node.refresh_from_db()
            assert (node.is_paused, node.pause_reason) == (True, "Rack 4 power work")
            assert node.last_modified > T0
        other.refresh_from_db()
        assert not other.is_paused

    @pytest.mark.parametrize("reason", ["", "   ", "r" * 251])
    def test_pause_without_a_usable_reason_shows_the_error_and_changes_nothing(
        self, operator: Client, make_node: Callable[..., Node], reason: str
    ) -> None:
        node = make_node("a.test")
        response = confirm_action(operator, "pause_nodes", [node], reason=reason)
        assert response.status_code == 200, body(response)
        assert "errorlist" in body(response)
        node.refresh_from_db()
        assert not node.is_paused

    def test_resume_clears_the_reason_and_counts_nodes_that_were_running(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        paused = make_node("p.test", is_paused=True, pause_reason="disk")
        running = make_node("r.test")
        assert run_action(operator, "resume_nodes", [paused, running]).status_code == 200
        response = confirm_action(operator, "resume_nodes", [paused, running])
        assert messages_of(response) == ["Resumed 2 nodes; 1 of them was already running."]
        paused.refresh_from_db()
        assert (paused.is_paused, paused.pause_reason) == (False, None)

    def test_deactivate_sets_deprecated_to_the_time_of_the_change(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        response = confirm_action(operator, "deactivate_nodes", [node])
        assert messages_of(response) == ["Deactivated 1 node."]
        node.refresh_from_db()
        assert node.is_active is False
        assert node.deprecated == node.last_modified

    def test_reactivate_clears_deprecated(self, operator: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test", is_active=False)
        response = confirm_action(operator, "reactivate_nodes", [node])
        assert messages_of(response) == ["Reactivated 1 node."]
        node.refresh_from_db()
        assert (node.is_active, node.deprecated) == (True, None)

    def test_select_across_applies_to_every_node_matching_the_filters(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        active = [make_node(f"a{number}.test") for number in range(3)]
        inactive = make_node("i.test", is_active=False)
        url = f"{CHANGELIST}?is_active__exact=1"
        data = {"action": "pause_nodes", ACTION_CHECKBOX_NAME: [active[0].pk], "select_across": "1", "index": "0"}
        assert "Pause these 3 nodes?" in body(operator.post(url, data))
        data = {**data, "confirm": "yes", "reason": "everyone"}
        del data["index"]
        response = operator.post(url, data, follow=True)
        assert messages_of(response) == ["Paused 3 nodes."]
        assert Node.objects.filter(is_paused=True).count() == 3
        inactive.refresh_from_db()
        assert not inactive.is_paused

    def test_admin_bulk_action_records_each_changed_node_only(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        running, paused = make_node(), make_node(is_paused=True, pause_reason="old")
        response = confirm_action(admin_client, "resume_nodes", [running, paused])
        assert response.status_code == 200, body(response)
        assert records(running) == [registration(running.hostname)]
        assert records(paused) == [
            registration(paused.hostname, is_paused=True, pause_reason="old"),
            {
                "action": "update",
                "channel": "admin",
                "actor": "admin",
                "changes": {"is_paused": {"old": True, "new": False}, "pause_reason": {"old": "old", "new": None}},
            },
        ]


class TestActionConfirmationPage:
    def test_a_long_selection_is_listed_in_part_with_the_number_left_out(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        nodes = [make_node(f"n{number:02d}.test") for number in range(CONFIRMATION_SAMPLE + 5)]
        response = run_action(operator, "deactivate_nodes", nodes)
        assert response.status_code == 200, body(response)
        page = body(response)
        assert f"Deactivate these {len(nodes)} nodes?" in page
        assert "… and 5 more" in page
        assert page.count(f'name="{ACTION_CHECKBOX_NAME}"') == len(nodes)


def form_data(node: Node | None = None, **fields: object) -> dict:
    """The change form's fields as a browser posts them: unticked boxes are left out."""
    values = {"hostname": node.hostname, "is_active": node.is_active, "is_paused": node.is_paused} if node else {}
    values["pause_reason"] = (node.pause_reason if node else None) or ""
    values.update(fields)
    data = {name: value for name, value in values.items() if value is not False}
    return {name: "on" if value is True else value for name, value in data.items()} | {"_save": "Save"}


class TestNodeChangeForm:
    def test_change_form_shows_the_timestamps_read_only(self, operator: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test")
        response = operator.get(change_url(node))
        assert response.status_code == 200, body(response)
        form = response.context["adminform"].form
        assert set(form.fields) == {"hostname", "is_active", "is_paused", "pause_reason"}
        assert "History" in body(response)

    def test_unpausing_clears_the_reason_like_patch(self, operator: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test", is_paused=True, pause_reason="disk", last_modified=T0)
        response = operator.post(change_url(node), form_data(node, is_paused=False))
        assert response.status_code == 302, body(response)
        node.refresh_from_db()
        assert (node.is_paused, node.pause_reason) == (False, None)
        assert node.last_modified > T0

    def test_pausing_with_a_reason_stores_both(self, operator: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test")
        response = operator.post(change_url(node), form_data(node, is_paused=True, pause_reason="  kernel  "))
        assert response.status_code == 302, body(response)
        node.refresh_from_db()
        assert (node.is_paused, node.pause_reason) == (True, "kernel")

    def test_a_reason_for_a_node_left_running_is_not_stored(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        response = operator.post(change_url(node), form_data(node, pause_reason="why"))
        assert response.status_code == 302, body(response)
        node.refresh_from_db()
        assert node.pause_reason is None

    def test_deactivating_sets_deprecated_and_reactivating_clears_it(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.test")
        assert operator.post(change_url(node), form_data(node, is_active=False)).status_code == 302
        node.refresh_from_db()
        assert node.deprecated == node.last_modified
        assert operator.post(change_url(node), form_data(node, is_active=True)).status_code == 302
        node.refresh_from_db()
        assert node.deprecated is None

    def test_saving_without_changes_writes_nothing(self, operator: Client, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test", last_modified=T0)
        assert operator.post(change_url(node), form_data(node)).status_code == 302
        node.refresh_from_db()
        assert node.last_modified == T0

    def test_renaming_keeps_the_state_and_advances_last_modified(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("old.test", is_paused=True, pause_reason="disk", last_modified=T0)
        response = operator.post(change_url(node), form_data(node, hostname="new.test"))
        assert response.status_code == 302, body(response)
        node.refresh_from_db()
        assert (node.hostname, node.pause_reason) == ("new.test", "disk")
        assert node.last_modified > T0

    def test_renaming_to_a_taken_hostname_in_another_case_is_a_form_error(
        self, operator: Client, make_node: Callable[..., Node]
    ) -> None:
        make_node("taken.test")
        node = make_node("mine.test")
        response = operator.post(change_url(node), form_data(node, hostname="TAKEN.test"))
        assert response.status_code == 200, body(response)
        assert "exists already" in body(response)
        node.refresh_from_db()
        assert node.hostname == "mine.test"

    @pytest.mark.parametrize("hostname", ["bad_name.test", "-x.test", "a..b"])
    def test_an_invalid_hostname_is_a_form_error(
        self, operator: Client, make_node: Callable[..., Node], hostname: str
    ) -> None:
        node = make_node("mine.test")
        response = operator.post(change_url(node), form_data(node, hostname=hostname))
        assert response.status_code == 200, body(response)
        assert "not a valid hostname" in body(response)

    def test_add_form_registers_a_node_with_its_initial_state(self, operator: Client) -> None:
        assert operator.get(ADD).status_code == 200
        response = operator.post(
            ADD, form_data(hostname="new.test", is_active=True, is_paused=True, pause_reason="burn-in")
        )
        assert response.status_code == 302, body(response)
        node = Node.objects.get()
        assert (node.hostname, node.is_paused, node.pause_reason) == ("new.test", True, "burn-in")
        assert node.created == node.last_modified

    def test_add_form_refuses_a_known_hostname(self, operator: Client, make_node: Callable[..., Node]) -> None:
        make_node("Known.test")
        response = operator.post(ADD, form_data(hostname="known.TEST", is_active=True))
        assert response.status_code == 200, body(response)
        assert "exists already" in body(response)
        assert Node.objects.count() == 1

    def test_admin_form_edit_rename_and_add_are_recorded_with_the_admin_user(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("before.test")
        response = admin_client.post(
            change_url(node), form_data(node, hostname="after.test", is_paused=True, pause_reason="rack")
        )
        assert response.status_code == 302, body(response)
        assert [(r["action"], r["channel"], r["actor"], r["changes"]) for r in records(node)] == [
            ("register", "system", "system", registration("before.test")["changes"]),
            ("update", "admin", "admin", {"hostname": {"old": "before.test", "new": "after.test"}}),
            (
                "update",
                "admin",
                "admin",
                {"is_paused": {"old": False, "new": True}, "pause_reason": {"old": None, "new": "rack"}},
            ),
        ]
        assert admin_client.post(ADD, form_data(hostname="added.test")).status_code == 302
        added = records(Node.objects.get(hostname="added.test"))
        assert [(r["action"], r["channel"], r["actor"]) for r in added] == [("register", "admin", "admin")]

    def test_admin_change_page_shows_the_recent_history(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        node_update(node=node, changes={"is_paused": True, "pause_reason": "Disk replacement"})
        page = body(admin_client.get(change_url(node)))
        assert "Last 20 changes" in page
        assert "is_paused: false → true<br>pause_reason: — → Disk replacement" in page
        assert "system (system)" in page
        assert "None" not in page.split("Last 20 changes", 1)[1]


class TestNodeChangelistLiveness:
    def test_each_node_shows_its_liveness_and_last_seen(self, operator: Client, make_node: Callable[..., Node]) -> None:
        make_node("up.test")
        make_node("never.test")
        make_node("down.test")
        node_heartbeat(hostnames=["up.test"], now=T0 + dt.timedelta(days=3650))
        node_heartbeat(hostnames=["down.test"], now=T0)
        with override_settings(NODE_HEARTBEAT_TTL=30):
            response = operator.get(CHANGELIST)
        assert response.status_code == 200, body(response)
        shown = {node.hostname: (node.liveness_state, node.last_seen_at) for node in response.context["cl"].result_list}
        assert shown == {
            "up.test": ("online", T0 + dt.timedelta(days=3650)),
            "never.test": ("never", None),
            "down.test": ("offline", T0),
        }
        for text in (">online<", ">offline<", ">never<"):
            assert text in body(response)

    @pytest.mark.parametrize(
        ("state", "expected"), [("online", ["up.test"]), ("offline", ["down.test"]), ("never", ["never.test"])]
    )
    def test_filter_by_liveness(
        self, operator: Client, make_node: Callable[..., Node], state: str, expected: list[str]
    ) -> None:
        for hostname in ("up.test", "never.test", "down.test"):
            make_node(hostname)
        node_heartbeat(hostnames=["up.test"])
        node_heartbeat(hostnames=["down.test"], now=T0)
        response = operator.get(CHANGELIST, {"liveness": state})
        assert response.status_code == 200, body(response)
        assert listed(response) == expected
