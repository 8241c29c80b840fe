"""Repeated failed logins and API tokens lock the user name or the client address out, across instances."""

import io
import os
import subprocess
import sys
from collections.abc import Callable
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.lockout import client_ip
from accounts.tokens import create_api_token
from node.models import Node
from node.tests.helpers import body

PASSWORD = "the-right-password-1"
LIMIT = 5


def login(*, username: str, password: str, address: str) -> object:
    return Client(REMOTE_ADDR=address).post("/admin/login/?next=/admin/", {"username": username, "password": password})


def logged_in(response: object) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def admin_user(db: None) -> object:
    return get_user_model().objects.create_superuser(username="alice", password=PASSWORD)


@pytest.mark.django_db
class TestAdminLoginLockout:
    def test_after_the_limit_even_the_right_password_is_refused_with_429(self, admin_user: object) -> None:
        for _ in range(LIMIT - 1):
            assert login(username="alice", password="wrong", address="10.0.0.1").status_code == 200
        # The failure that reaches the limit is answered with the lockout already.
        assert login(username="alice", password="wrong", address="10.0.0.1").status_code == 429
        response = login(username="alice", password=PASSWORD, address="10.0.0.1")
        assert response.status_code == 429, body(response)
        assert "locked out" in body(response)
        assert int(response["Retry-After"]) > 0

    def test_the_lockout_is_per_user_name_from_any_address(self, admin_user: object) -> None:
        for i in range(LIMIT):
            login(username="alice", password="wrong", address=f"10.0.1.{i}")
        assert login(username="alice", password=PASSWORD, address="10.0.2.1").status_code == 429

    def test_the_lockout_is_per_address_for_any_user_name(self, admin_user: object) -> None:
        for i in range(LIMIT):
            login(username=f"guess-{i}", password="wrong", address="10.0.3.1")
        assert login(username="alice", password=PASSWORD, address="10.0.3.1").status_code == 429
        assert logged_in(login(username="alice", password=PASSWORD, address="10.0.3.2"))

    def test_fewer_failures_than_the_limit_do_not_lock_out(self, admin_user: object) -> None:
        for _ in range(LIMIT - 1):
            login(username="alice", password="wrong", address="10.0.4.1")
        assert logged_in(login(username="alice", password=PASSWORD, address="10.0.4.1"))

    def test_a_locked_out_login_hashes_no_password(self, admin_user: object) -> None:
        for _ in range(LIMIT):
            login(username="alice", password="wrong", address="10.0.5.1")
        with mock.patch("django.contrib.auth.backends.ModelBackend.authenticate") as password_check:
            assert login(username="alice", password="wrong", address="10.0.5.1").status_code == 429
        password_check.assert_not_called()


@pytest.mark.django_db
class TestApiTokenLockout:
    def client(self, token: str, address: str) -> APIClient:
        client = APIClient(raise_request_exception=False, REMOTE_ADDR=address)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    def lock_out(self, node: Node, address: str) -> None:
        for i in range(LIMIT):
            bad = self.client(f"{i:064x}", address).patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json")
            assert bad.status_code == (401 if i < LIMIT - 1 else 429), body(bad)

    def test_failed_tokens_lock_the_address_out_with_a_json_429(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        self.lock_out(node, "10.1.0.1")
        response = self.client(f"{99:064x}", "10.1.0.1").patch(
            f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json"
        )
        assert response.status_code == 429, body(response)
        assert response.json()["detail"] == (
            "Too many failed logins or tokens from this client: it is locked out for 15 minutes. An administrator "
            "can lift the lockout at once with 'manage.py axes_reset_ip 10.1.0.1' (or 'manage.py "
            "axes_reset_username <name>' for a user name)."
        )
        assert int(response["Retry-After"]) > 0

    def test_the_command_the_message_names_lifts_the_lockout(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        self.lock_out(node, "10.1.0.5")
        call_command("axes_reset_ip", "10.1.0.5", stdout=io.StringIO())
        response = self.client(f"{99:064x}", "10.1.0.5").patch(f"/v6/nodes/{node.pk}/", {}, format="json")
        assert response.status_code == 401, body(response)

    @override_settings(AXES_NEVER_LOCKOUT_WHITELIST=True, AXES_IP_WHITELIST=["127.0.0.1", "::1"])
    @pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
    def test_with_the_debug_whitelist_loopback_is_never_locked_out(
        self, make_node: Callable[..., Node], address: str
    ) -> None:
        node = make_node()
        for i in range(2 * LIMIT):
            bad = self.client(f"{i:064x}", address).patch(f"/v6/nodes/{node.pk}/", {}, format="json")
            assert bad.status_code == 401, body(bad)
        assert not AccessAttempt.objects.filter(ip_address=address).exists()

    def test_a_correct_token_is_not_locked_out_by_failures_of_others_from_its_address(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        user = get_user_model().objects.create_user(username="bot", is_superuser=True)
        _, good = create_api_token(user=user, expires_in=None)
        self.lock_out(node, "10.1.0.1")
        response = self.client(good, "10.1.0.1").patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json")
        assert response.status_code == 204, body(response)
        guess = self.client(f"{7:064x}", "10.1.0.1").patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json")
        assert guess.status_code == 429, body(guess)

    def test_a_locked_out_guess_is_refused_without_being_recorded_again(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        self.lock_out(node, "10.1.0.3")
        failures = AccessAttempt.objects.get(ip_address="10.1.0.3").failures_since_start
        for i in range(3):
            guess = self.client(f"{i + 50:064x}", "10.1.0.3").patch(f"/v6/nodes/{node.pk}/", {}, format="json")
            assert guess.status_code == 429, body(guess)
        assert AccessAttempt.objects.get(ip_address="10.1.0.3").failures_since_start == failures

    def test_a_correct_token_reads_neither_the_lockout_nor_knox_twice(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        user = get_user_model().objects.create_user(username="bot", is_superuser=True)
        _, good = create_api_token(user=user, expires_in=None)
        with CaptureQueriesContext(connection) as queries:
            response = self.client(good, "10.1.0.4").patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json")
        assert response.status_code == 204, body(response)
        statements = [query["sql"] for query in queries.captured_queries]
        assert not any("axes_" in sql for sql in statements), statements
        assert sum("knox_authtoken" in sql for sql in statements) == 1, statements

    def test_anonymous_reads_from_a_locked_out_address_still_work(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        for i in range(LIMIT):
            self.client(f"{i:064x}", "10.1.1.1").get(f"/v6/nodes/{node.pk}/")
        response = APIClient(REMOTE_ADDR="10.1.1.1").get(f"/v6/nodes/{node.pk}/")
        assert response.status_code == 200, body(response)


class TestClientAddress:
    def request(self, forwarded_for: str | None) -> object:
        headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
        return RequestFactory().get("/", REMOTE_ADDR="192.0.2.10", **headers)

    def test_without_proxies_the_forwarded_header_is_ignored(self) -> None:
        assert client_ip(self.request("203.0.113.7")) == "192.0.2.10"

    @override_settings(REST_FRAMEWORK={"NUM_PROXIES": 1})
    def test_behind_one_proxy_the_address_it_appended_counts_not_the_clients_claim(self) -> None:
        from rest_framework.settings import api_settings

        api_settings.reload()
        try:
            assert client_ip(self.request("1.2.3.4, 203.0.113.7")) == "203.0.113.7"
        finally:
            api_settings.reload()


@pytest.mark.parametrize(("debug", "whitelist"), [("1", "['127.0.0.1', '::1'] True"), ("0", "None False")])
def test_debug_and_only_debug_exempts_loopback_from_the_lockout(debug: str, whitelist: str) -> None:
    env = {**os.environ, "DEBUG": debug, "DJANGO_SETTINGS_MODULE": "scale_nodes.settings", "SECRET_KEY": "k" * 50}
    env.pop("DATABASE_URL", None)
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from scale_nodes import settings as s; print(s.AXES_IP_WHITELIST, s.AXES_NEVER_LOCKOUT_WHITELIST)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == whitelist, shown.stderr
