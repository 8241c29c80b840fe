"""API tokens are stored only as hashes, shown once, expire, can be revoked; old plain tokens keep working."""

import datetime as dt
import importlib
import io
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.tokens import create_api_token
from node.models import Node
from node.tests.helpers import body

hash_migration = importlib.import_module("node.migrations.0005_hash_api_tokens")


def patch_with(token: str, node: Node) -> object:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json")


@pytest.fixture
def operator(db: None) -> object:
    return get_user_model().objects.create_user(username="deploy-bot", is_superuser=True)


@pytest.mark.django_db
class TestApiTokens:
    def test_a_token_authenticates_and_only_its_hash_is_stored(self, operator: object, make_node: object) -> None:
        row, token = create_api_token(user=operator, expires_in=None)
        assert patch_with(token, make_node()).status_code == 204
        stored = AuthToken.objects.values_list("digest", "token_key")
        assert all(token not in (digest, key) for digest, key in stored)
        assert row.digest != token and len(row.token_key) < len(token)

    def test_an_expired_token_is_refused(self, operator: object, make_node: object) -> None:
        row, token = create_api_token(user=operator, expires_in=dt.timedelta(days=1))
        AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - dt.timedelta(seconds=1))
        response = patch_with(token, make_node())
        assert response.status_code == 401, body(response)
        assert not AuthToken.objects.filter(pk=row.pk).exists()

    def test_a_revoked_token_is_refused(self, operator: object, make_node: object) -> None:
        _, token = create_api_token(user=operator, expires_in=None)
        out = io.StringIO()
        call_command("revoke_api_tokens", "deploy-bot", stdout=out)
        assert "Revoked 1 token(s)" in out.getvalue()
        assert patch_with(token, make_node()).status_code == 401

    def test_the_command_prints_a_working_token_once_and_it_expires(self, operator: object, make_node: object) -> None:
        out, err = io.StringIO(), io.StringIO()
        call_command("create_api_token", "deploy-bot", "--expires", "P30D", stdout=out, stderr=err)
        token = out.getvalue().strip()
        assert len(token) == 64, out.getvalue()
        assert "shown only now" in err.getvalue()
        assert patch_with(token, make_node()).status_code == 204
        expiry = AuthToken.objects.get(user=operator).expiry
        assert dt.timedelta(days=29) < expiry - timezone.now() <= dt.timedelta(days=30)

    def test_the_command_defaults_to_the_configured_lifetime(self, operator: object, settings: object) -> None:
        settings.API_TOKEN_TTL_DAYS = 7
        call_command("create_api_token", "deploy-bot", stdout=io.StringIO(), stderr=io.StringIO())
        expiry = AuthToken.objects.get(user=operator).expiry
        assert dt.timedelta(days=6) < expiry - timezone.now() <= dt.timedelta(days=7)

    def test_the_command_replaces_earlier_tokens(self, operator: object, make_node: object) -> None:
        _, old = create_api_token(user=operator, expires_in=None)
        out = io.StringIO()
        call_command(
            "create_api_token", "deploy-bot", "--expires", "never", "--replace", stdout=out, stderr=io.StringIO()
        )
        assert patch_with(old, make_node()).status_code == 401
        assert patch_with(out.getvalue().strip(), make_node()).status_code == 204

    def test_the_command_refuses_an_unknown_user_and_a_bad_duration(self, operator: object) -> None:
        with pytest.raises(CommandError, match="No user"):
            call_command("create_api_token", "nobody")
        with pytest.raises(CommandError, match="--expires"):
            call_command("create_api_token", "deploy-bot", "--expires", "30 days")

    def test_the_admin_never_shows_a_stored_token(self, operator: object) -> None:
        _, token = create_api_token(user=operator, expires_in=None)
        admin = Client()
        admin.force_login(get_user_model().objects.create_superuser(username="root", password="unused-pw"))
        page = body(admin.get(reverse("admin:knox_authtoken_changelist")))
        assert "deploy-bot" in page
        assert token not in page and token[:20] not in page


@pytest.mark.django_db
def test_the_migration_hashes_plain_tokens_so_they_keep_working_and_drops_them(make_node: object) -> None:
    user = get_user_model().objects.create_user(username="legacy-script", is_superuser=True)
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, created timestamp, user_id integer)'
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, timezone.now(), user.pk])
    assert patch_with(old_key, make_node()).status_code == 401
    schema_editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    hash_migration.hash_plaintext_tokens(apps, schema_editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    assert AuthToken.objects.get(user=user).expiry is None
    response = patch_with(old_key, make_node())
    assert response.status_code == 204, body(response)


@pytest.mark.django_db
def test_the_migration_does_nothing_on_a_fresh_database() -> None:
    schema_editor = SimpleNamespace(connection=connection, execute=lambda sql: pytest.fail(f"ran {sql}"))
    hash_migration.hash_plaintext_tokens(apps, schema_editor)
    assert not AuthToken.objects.exists()
