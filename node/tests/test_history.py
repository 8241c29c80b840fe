import datetime as dt
import getpass
import io
from collections.abc import Callable

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from node.models import Node, NodeChange
from node.services import node_update
from node.tests.helpers import body
from node.tests.test_admin import ADD, change_url, confirm_action, form_data
from node.tests.test_concurrency import CLIENTS, _race

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


def history_url(node: Node) -> str:
    return f"/v6/nodes/{node.pk}/history/"


def records(node: Node) -> list[dict]:
    """The node's records oldest first, as (action, channel, actor, changes) facts."""
    return list(
        NodeChange.objects.filter(node=node).order_by("time", "id").values("action", "channel", "actor", "changes")
    )


def make_history(node: Node, count: int) -> list[NodeChange]:
    """``count`` records one hour apart from T0, written directly so their times are known."""
    return NodeChange.objects.bulk_create(
        NodeChange(
            node=node,
            time=T0 + dt.timedelta(hours=i),
            action="update",
            actor="operator",
            channel="api",
            changes={"is_paused": {"old": i % 2 == 1, "new": i % 2 == 0}},
        )
        for i in range(count)
    )


@pytest.mark.django_db
class TestNodeHistoryRecording:
    def test_patch_records_who_what_when_and_the_request_id(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(
            f"/v6/nodes/{node.pk}/",
            {"is_paused": True, "pause_reason": "disk swap"},
            format="json",
            HTTP_X_REQUEST_ID="req-42",
        )
        assert response.status_code == 204, body(response)
        node.refresh_from_db()
        record = NodeChange.objects.get(node=node)
        assert (record.action, record.channel, record.actor, record.request_id) == (
            "update",
            "api",
            "operator",
            "req-42",
        )
        assert record.time == node.last_modified
        assert record.changes == {
            "is_paused": {"old": False, "new": True},
            "pause_reason": {"old": None, "new": "disk swap"},
        }

    def test_deactivation_and_reactivation_are_recorded(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node(is_paused=True, pause_reason="old")
        for changes in ({"is_active": False}, {"is_active": True, "is_paused": False}):
            assert staff_client.patch(f"/v6/nodes/{node.pk}/", changes, format="json").status_code == 204
        assert [r["changes"] for r in records(node)] == [
            {"is_active": {"old": True, "new": False}},
            {
                "is_active": {"old": False, "new": True},
                "is_paused": {"old": True, "new": False},
                "pause_reason": {"old": "old", "new": None},
            },
        ]

    def test_patch_that_changes_nothing_records_nothing(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node(is_paused=True, pause_reason="same")
        response = staff_client.patch(
            f"/v6/nodes/{node.pk}/", {"is_paused": True, "pause_reason": "same"}, format="json"
        )
        assert response.status_code == 204, body(response)
        assert records(node) == []

    @pytest.mark.parametrize(
        ("client_fixture", "data", "status"),
        [
            ("staff_client", {"is_paused": "yes"}, 400),
            ("staff_client", {"hostname": "other"}, 400),
            ("user_client", {"is_paused": True}, 403),
            ("api_client", {"is_paused": True}, 401),
        ],
    )
    def test_refused_patch_records_nothing(
        self,
        request: pytest.FixtureRequest,
        make_node: Callable[..., Node],
        client_fixture: str,
        data: dict,
        status: int,
    ) -> None:
        node = make_node()
        response = request.getfixturevalue(client_fixture).patch(f"/v6/nodes/{node.pk}/", data, format="json")
        assert response.status_code == status, body(response)
        assert records(node) == []

    def test_seeding_records_each_registration_with_the_command_and_os_user(self) -> None:
        call_command("seed_nodes", "a.test", "b.test", stdout=io.StringIO())
        call_command("seed_nodes", "a.test", stdout=io.StringIO())
        node = Node.objects.get(hostname="a.test")
        assert records(node) == [
            {
                "action": "register",
                "channel": "cli",
                "actor": f"manage.py seed_nodes (os user {getpass.getuser()})",
                "changes": {
                    "hostname": {"old": None, "new": "a.test"},
                    "is_paused": {"old": None, "new": False},
                    "pause_reason": {"old": None, "new": None},
                    "is_active": {"old": None, "new": True},
                },
            }
        ]
        assert NodeChange.objects.count() == 2

    def test_admin_form_edit_rename_and_add_are_recorded_with_the_admin_user(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("before.test")
        response = admin_client.post(
            change_url(node), form_data(node, hostname="after.test", is_paused=True, pause_reason="rack")
        )
        assert response.status_code == 302, body(response)
        assert [(r["action"], r["channel"], r["actor"], r["changes"]) for r in records(node)] == [
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
        assert "pause_reason: None -&gt; Disk replacement" in page
        assert "system (system)" in page

    def test_admin_bulk_action_records_each_changed_node_only(
        self, admin_client: Client, make_node: Callable[..., Node]
    ) -> None:
        running, paused = make_node(), make_node(is_paused=True, pause_reason="old")
        response = confirm_action(admin_client, "resume_nodes", [running, paused])
        assert response.status_code == 200, body(response)
        assert records(running) == []
        assert records(paused) == [
            {
                "action": "update",
                "channel": "admin",
                "actor": "admin",
                "changes": {"is_paused": {"old": True, "new": False}, "pause_reason": {"old": "old", "new": None}},
            }
        ]

    def test_nodes_command_records_the_command_and_os_user(self, make_node: Callable[..., Node]) -> None:
        node = make_node("shell.test")
        call_command("nodes", "deactivate", "shell.test", stdout=io.StringIO())
        assert records(node) == [
            {
                "action": "update",
                "channel": "cli",
                "actor": f"manage.py nodes deactivate (os user {getpass.getuser()})",
                "changes": {"is_active": {"old": True, "new": False}},
            }
        ]

    def test_a_failed_update_rolls_back_its_record_too(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        with pytest.raises(ValueError):
            node_update(node=node, changes={"is_paused": True, "hostname": "x"})
        assert records(node) == []


@pytest.mark.django_db(transaction=True)
def test_racing_patches_record_one_chained_record_per_effective_change(live_server: object) -> None:
    from django.contrib.auth import get_user_model

    from util.tokens import create_api_token

    user = get_user_model().objects.create_user(
        username="racer", password="unused-password", is_staff=True, is_superuser=True
    )
    token = create_api_token(user=user, expires_in=None)[1]
    node = Node.objects.create(hostname="history-race.test")
    url = f"{live_server.url}/v6/nodes/{node.pk}/"
    changes = [
        {"is_paused": True, "pause_reason": "a"},
        {"is_paused": False},
        {"is_active": False},
        {"is_active": True},
    ]
    statuses = _race([(url, changes[i % len(changes)]) for i in range(CLIENTS * 6)], token)
    assert set(statuses) == {204}

    chain = list(NodeChange.objects.filter(node=node).order_by("time", "id"))
    assert 1 <= len(chain) <= CLIENTS * 6
    state = {"is_paused": False, "pause_reason": None, "is_active": True}
    for record in chain:
        assert record.changes, "a record without a change"
        for field, change in record.changes.items():
            assert change["old"] == state[field], f"record {record.pk} does not follow its predecessor"
            assert change["new"] != change["old"]
            state[field] = change["new"]
    node.refresh_from_db()
    assert state == {"is_paused": node.is_paused, "pause_reason": node.pause_reason, "is_active": node.is_active}
    times = [record.time for record in chain]
    assert times == sorted(set(times)), "record times are not strictly increasing in commit order"


@pytest.mark.django_db
class TestNodeHistory:
    def test_history_is_newest_first_in_the_list_envelope(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        made = make_history(node, 3)
        response = staff_client.get(history_url(node))
        assert response.status_code == 200, body(response)
        assert response.json() == {
            "count": 3,
            "next": None,
            "previous": None,
            "results": [
                {
                    "id": record.pk,
                    "node": node.pk,
                    "time": record.time.isoformat().replace("+00:00", "Z"),
                    "action": "update",
                    "actor": "operator",
                    "channel": "api",
                    "changes": record.changes,
                    "request_id": None,
                }
                for record in reversed(made)
            ],
        }

    def test_history_pages_with_page_and_page_size(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        made = make_history(node, 5)
        payload = staff_client.get(f"{history_url(node)}?page=2&page_size=2").json()
        assert [r["id"] for r in payload["results"]] == [made[2].pk, made[1].pk]
        assert payload["next"] == f"http://testserver{history_url(node)}?page=3&page_size=2"
        assert payload["previous"] == f"http://testserver{history_url(node)}?page_size=2"

    def test_history_filters_on_record_time_inclusively(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        made = make_history(node, 5)
        query = "started=2025-01-01T01:00:00Z&ended=2025-01-01T03:00:00Z"
        payload = staff_client.get(f"{history_url(node)}?{query}").json()
        assert [r["id"] for r in payload["results"]] == [made[3].pk, made[2].pk, made[1].pk]

    def test_history_shows_only_that_nodes_records(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node, other = make_node(), make_node()
        make_history(other, 2)
        assert staff_client.get(history_url(node)).json()["count"] == 0

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("started=2025-01-01T00:00:00", "started: the datetime '2025-01-01T00:00:00' has no time zone"),
            ("started=P1D&ended=P2D", "started: must be before ended"),
            ("page_size=0", "page_size: expected an integer from 1 to 1000"),
            ("page=x", "page: expected an integer >= 1"),
        ],
    )
    def test_bad_history_parameters_are_400(
        self, staff_client: APIClient, make_node: Callable[..., Node], query: str, message: str
    ) -> None:
        node = make_node()
        response = staff_client.get(f"{history_url(node)}?{query}")
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith(message)

    def test_unknown_node_is_404(self, staff_client: APIClient) -> None:
        response = staff_client.get("/v6/nodes/9999/history/")
        assert response.status_code == 404, body(response)
        assert response.json() == {"detail": "No node with id 9999."}

    def test_history_without_trailing_slash_works(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        assert staff_client.get(f"/v6/nodes/{node.pk}/history").status_code == 200

    @override_settings(PUBLIC_READ_API=True)
    def test_history_needs_a_user_with_view_nodechange_even_with_public_reads(
        self, api_client: APIClient, user_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        assert api_client.get(history_url(node)).status_code == 401
        assert user_client.get(history_url(node)).status_code == 403
        assert staff_client.get(history_url(node)).status_code == 200

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_history_is_read_only(self, staff_client: APIClient, make_node: Callable[..., Node], method: str) -> None:
        node = make_node()
        response = getattr(staff_client, method)(history_url(node), {}, format="json")
        assert response.status_code == 405, body(response)

    def test_history_costs_a_constant_number_of_queries_per_page(
        self, staff_client: APIClient, make_node: Callable[..., Node], django_assert_num_queries: Callable
    ) -> None:
        node = make_node()
        make_history(node, 300)
        for size in (1, 100, 300):
            # 3 for the page; 5 for the lockout check, the token, its user's other tokens, and the user's and
            # groups' permissions.
            with django_assert_num_queries(8):
                response = staff_client.get(f"{history_url(node)}?page_size={size}")
            assert response.status_code == 200, body(response)


@pytest.mark.django_db
class TestPruneNodeHistory:
    def run(self, *args: str) -> str:
        out = io.StringIO()
        call_command("prune_node_history", *args, stdout=out)
        return out.getvalue()

    def test_prune_deletes_only_records_older_than_the_duration(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        make_history(node, 3)  # in 2025
        node_update(node=node, changes={"is_paused": True})  # now
        assert self.run("--older-than", "P90D", "--dry-run").startswith("3 history records older than ")
        assert NodeChange.objects.count() == 4
        assert self.run("--older-than", "P90D").startswith("3 history records older than ")
        assert list(NodeChange.objects.values_list("changes", flat=True)) == [
            {"is_paused": {"old": False, "new": True}}
        ]

    @pytest.mark.parametrize("value", ["90", "2025-01-01T00:00:00Z", "P", "-P1D", "P1000000000Y"])
    def test_bad_duration_is_a_command_error(self, make_node: Callable[..., Node], value: str) -> None:
        node = make_node()
        make_history(node, 1)
        with pytest.raises(CommandError, match="--older-than"):
            self.run("--older-than", value)
        assert NodeChange.objects.count() == 1
