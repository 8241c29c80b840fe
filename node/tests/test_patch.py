import datetime as dt
import json
from collections.abc import Callable

import pytest
from django.http import HttpRequest
from django.test import Client
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


def url(node: Node) -> str:
    return f"/v6/nodes/{node.pk}/"


def patch(client: APIClient, node: Node, data: object, status: int = 204, **extra: str) -> dict | None:
    response = client.patch(url(node), data, format="json", **extra)
    assert response.status_code == status, body(response)
    return response.json() if response.content else None


def state(node: Node) -> dict:
    node.refresh_from_db()
    return {
        "is_paused": node.is_paused,
        "pause_reason": node.pause_reason,
        "is_active": node.is_active,
        "deprecated": node.deprecated,
        "last_modified": node.last_modified,
    }


@pytest.mark.django_db
class TestNodePatch:
    def test_pause_with_reason_is_204_with_no_body(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(last_modified=T0)
        response = staff_client.patch(url(node), {"is_paused": True, "pause_reason": "disk swap"}, format="json")
        assert response.status_code == 204, body(response)
        assert response.content == b""
        after = state(node)
        assert (after["is_paused"], after["pause_reason"]) == (True, "disk swap")
        assert after["last_modified"] > T0

    def test_prefer_return_representation_gives_200_with_the_node(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node("host.com")
        response = staff_client.patch(
            url(node), {"is_paused": True, "pause_reason": "x"}, format="json", HTTP_PREFER="return=representation"
        )
        assert response.status_code == 200, body(response)
        assert response["Preference-Applied"] == "return=representation"
        assert response.json() == staff_client.get(url(node)).json()
        assert response.json()["pause_reason"] == "x"

    def test_unpausing_clears_the_reason(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(is_paused=True, pause_reason="maintenance")
        patch(staff_client, node, {"is_paused": False})
        assert (state(node)["is_paused"], state(node)["pause_reason"]) == (False, None)

    def test_reason_for_a_node_left_unpaused_is_not_stored(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        patch(staff_client, node, {"pause_reason": "ignored"})
        patch(staff_client, node, {"is_paused": False, "pause_reason": "ignored too"})
        assert state(node)["pause_reason"] is None

    def test_reason_alone_changes_the_reason_of_a_paused_node(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node(is_paused=True, pause_reason="old")
        patch(staff_client, node, {"pause_reason": "new"})
        assert state(node)["pause_reason"] == "new"
        patch(staff_client, node, {"pause_reason": None})
        assert state(node)["pause_reason"] is None
        assert state(node)["is_paused"] is True

    def test_pausing_again_keeps_the_reason(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(is_paused=True, pause_reason="kept")
        patch(staff_client, node, {"is_paused": True})
        assert state(node)["pause_reason"] == "kept"

    def test_blank_reason_is_stored_as_null(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        patch(staff_client, node, {"is_paused": True, "pause_reason": "   "})
        assert state(node)["pause_reason"] is None

    def test_deactivating_sets_deprecated_and_reactivating_clears_it(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node()
        patch(staff_client, node, {"is_active": False})
        deprecated = state(node)["deprecated"]
        assert deprecated is not None
        assert state(node)["last_modified"] == deprecated
        patch(staff_client, node, {"is_paused": True})
        assert state(node)["deprecated"] == deprecated, "a PATCH without is_active leaves deprecated alone"
        patch(staff_client, node, {"is_active": False})
        assert state(node)["deprecated"] == deprecated, "staying inactive keeps the original time"
        patch(staff_client, node, {"is_active": True})
        assert (state(node)["is_active"], state(node)["deprecated"]) == (True, None)

    def test_every_accepted_patch_advances_last_modified(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(is_paused=True, pause_reason="same")
        stamps = [state(node)["last_modified"]]
        for _ in range(3):
            patch(staff_client, node, {"is_paused": True, "pause_reason": "same"})
            stamps.append(state(node)["last_modified"])
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == 4

    def test_last_modified_advances_even_when_the_clock_lags(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        future = dt.datetime(2999, 1, 1, tzinfo=UTC)
        node = make_node(last_modified=future)
        patch(staff_client, node, {"is_paused": True})
        assert state(node)["last_modified"] == future + dt.timedelta(microseconds=1)

    def test_anonymous_is_401_with_www_authenticate(self, api_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        response = api_client.patch(url(node), {"is_paused": True}, format="json")
        assert response.status_code == 401, body(response)
        assert response["WWW-Authenticate"] == "Token"
        assert state(node)["is_paused"] is False

    def test_invalid_token_is_401(self, make_node: Callable) -> None:
        node = make_node()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
        response = client.patch(url(node), {"is_paused": True}, format="json")
        assert response.status_code == 401, body(response)
        assert response.json() == {"detail": "Invalid token."}

    def test_non_staff_user_is_403(self, user_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        response = user_client.patch(url(node), {"is_paused": True}, format="json")
        assert response.status_code == 403, body(response)
        assert state(node)["is_paused"] is False

    def test_session_login_needs_csrf_token(self, make_node: Callable, django_user_model: type) -> None:
        node = make_node()
        django_user_model.objects.create_user(
            username="admin", password="pw-for-test", is_staff=True, is_superuser=True
        )
        client = Client(enforce_csrf_checks=True)
        assert client.login(request=HttpRequest(), username="admin", password="pw-for-test")
        response = client.patch(url(node), json.dumps({"is_paused": True}), content_type="application/json")
        assert response.status_code == 403, body(response)
        assert "CSRF" in response.json()["detail"]
        secret = "s" * 32  # what a browser holds in its csrftoken cookie and echoes in X-CSRFToken
        client.cookies["csrftoken"] = secret
        response = client.patch(
            url(node), json.dumps({"is_paused": True}), content_type="application/json", HTTP_X_CSRFTOKEN=secret
        )
        assert response.status_code == 204, body(response)

    def test_unknown_node_is_404(self, staff_client: APIClient, db: None) -> None:
        response = staff_client.patch("/v6/nodes/424242/", {"is_paused": True}, format="json")
        assert response.status_code == 404, body(response)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({}, "Give at least one of pause_reason, is_paused, is_active."),
            ({"hostname": "x"}, "Unknown field(s): hostname."),
            ({"id": 5, "is_paused": True}, "Unknown field(s): id."),
            ({"is_paused": "yes"}, "is_paused: Must be a JSON boolean (true or false)."),
            ({"is_paused": 1}, "is_paused: Must be a JSON boolean (true or false)."),
            ({"is_paused": None}, "is_paused: This field may not be null."),
            ({"is_active": "true"}, "is_active: Must be a JSON boolean (true or false)."),
            ({"pause_reason": 5}, "pause_reason: Not a valid string."),
            ({"pause_reason": "x" * 251}, "pause_reason: Ensure this field has no more than 250 characters."),
            ({"pause_reason": "a\x00b"}, "pause_reason: Null characters are not allowed."),
            ([{"is_paused": True}], "Invalid data. Expected a dictionary, but got list."),
            ("paused", "Invalid data. Expected a dictionary, but got str."),
        ],
    )
    def test_bad_body_is_400_naming_the_problem_and_writes_nothing(
        self, staff_client: APIClient, make_node: Callable, data: object, message: str
    ) -> None:
        node = make_node(last_modified=T0)
        before = state(node)
        detail = patch(staff_client, node, data, status=400)["detail"]
        assert message in detail
        assert state(node) == before

    def test_lone_surrogate_in_reason_is_400_and_writes_nothing(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node(last_modified=T0)
        raw = b'{"is_paused": true, "pause_reason": "bad \\ud800 half"}'
        response = staff_client.generic("PATCH", url(node), raw, content_type="application/json")
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith("pause_reason: Must be valid Unicode text")
        assert state(node)["last_modified"] == T0

    def test_reason_of_250_characters_and_emoji_is_kept(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        reason = "🚧" + "r" * 249
        patch(staff_client, node, {"is_paused": True, "pause_reason": reason})
        assert state(node)["pause_reason"] == reason

    @pytest.mark.parametrize("raw", [b"{", b'{"is_paused": tru}', b"\xff\xfe", b'{"is_paused": NaN}'])
    def test_malformed_json_is_400(self, staff_client: APIClient, make_node: Callable, raw: bytes) -> None:
        node = make_node(last_modified=T0)
        response = staff_client.generic("PATCH", url(node), raw, content_type="application/json")
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith("JSON parse error")
        assert state(node)["last_modified"] == T0

    @pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"])
    def test_body_that_is_not_json_by_content_type_is_415(
        self, staff_client: APIClient, make_node: Callable, content_type: str
    ) -> None:
        node = make_node(last_modified=T0)
        response = staff_client.generic("PATCH", url(node), b"is_paused=true", content_type=content_type)
        assert response.status_code == 415, body(response)
        assert "Unsupported media type" in response.json()["detail"]
        assert state(node)["last_modified"] == T0

    def test_patch_without_trailing_slash_works(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        response = staff_client.patch(f"/v6/nodes/{node.pk}", {"is_paused": True}, format="json")
        assert response.status_code == 204, body(response)
        assert state(node)["is_paused"] is True
