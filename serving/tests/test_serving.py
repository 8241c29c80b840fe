"""Production serving: settings, health probes, and answers when the database is unavailable."""

import os
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.test import Client
from rest_framework.test import APIClient

from accounts.tokens import create_api_token
from node.tests.helpers import body

REPO = Path(settings.BASE_DIR)
PRODUCTION_ENV = {
    "SECRET_KEY": "production-like-key-" + "k7#Qx9!mZ2" * 5,
    "ALLOWED_HOSTS": "nodes.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://nodes.example.com",
    "DATABASE_URL": "postgres://scale@db.example.com:5432/scale_nodes",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process with only ``env`` (and PATH) as its environment."""
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "scale_nodes.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestProductionSettings:
    def test_check_deploy_reports_nothing_with_production_settings(self) -> None:
        result = manage("check", "--deploy", "--fail-level", "DEBUG", env=PRODUCTION_ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "System check identified no issues" in result.stdout, result.stdout + result.stderr

    def test_the_service_refuses_to_start_without_a_secret_key(self) -> None:
        env = {key: value for key, value in PRODUCTION_ENV.items() if key != "SECRET_KEY"}
        result = manage("check", env=env)
        assert result.returncode != 0
        assert "SECRET_KEY must be set" in result.stderr

    def test_gunicorn_config_takes_workers_from_the_cores_and_the_rest_from_the_environment(self) -> None:
        config_file = str(REPO / "scale_nodes" / "gunicorn.conf.py")
        with mock.patch.dict(os.environ, {"GUNICORN_BIND": "127.0.0.1:8499"}, clear=False):
            os.environ.pop("WEB_CONCURRENCY", None)
            config = runpy.run_path(config_file)
        # gunicorn's ASGI worker: a process per core.
        assert config["workers"] == os.cpu_count()
        assert config["bind"] == ["127.0.0.1:8499"]
        assert (config["worker_class"], config["wsgi_app"], config["timeout"], config["graceful_timeout"]) == (
            "serving.workers.AsgiWorker",
            "scale_nodes.asgi:application",
            30,
            30,
        )
        assert "request_id" in config["access_log_format"]
        with mock.patch.dict(os.environ, {"GUNICORN_WORKER": "sync"}):
            os.environ.pop("WEB_CONCURRENCY", None)
            config = runpy.run_path(config_file)
        assert (config["workers"], config["worker_class"]) == (os.cpu_count() * 2 + 1, "serving.workers.SyncWorker")
        with mock.patch.dict(os.environ, {"GUNICORN_WORKER": "sync", "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "4"}):
            config = runpy.run_path(config_file)
        assert (config["workers"], config["threads"], config["worker_class"]) == (
            3,
            4,
            "serving.workers.ThreadWorker",
        )


class TestHealthProbes:
    def test_healthz_answers_without_touching_the_database(self) -> None:
        # No database marker: any query here would fail the test.
        response = Client().get("/healthz")
        assert response.status_code == 200, body(response)
        assert response.json() == {"status": "ok"}
        assert "no-cache" in response["Cache-Control"]

    @pytest.mark.django_db
    def test_readyz_is_200_when_the_database_answers_and_is_migrated(self) -> None:
        response = Client().get("/readyz/")
        assert response.status_code == 200, body(response)
        assert response.json() == {"status": "ready", "database": "ok"}

    @pytest.mark.django_db
    def test_readyz_is_503_when_the_database_is_unreachable(self) -> None:
        with mock.patch("serving.health.connections") as connections:
            connections.__getitem__.return_value.cursor.side_effect = OperationalError("connection refused")
            response = Client().get("/readyz")
        assert response.status_code == 503, body(response)
        assert response.json() == {"status": "unavailable", "database": "unreachable"}

    @pytest.mark.django_db
    def test_readyz_is_503_naming_unapplied_migrations(self) -> None:
        with (
            mock.patch("serving.health._migrations_applied", False),
            mock.patch("serving.health.unapplied_migrations", return_value=["node.0002_next"]),
        ):
            response = Client().get("/readyz")
        assert response.status_code == 503, body(response)
        assert response.json()["unapplied_migrations"] == ["node.0002_next"]

    def test_probes_are_exempt_from_the_https_redirect_and_take_only_reads(self) -> None:
        with mock.patch.object(settings, "SECURE_SSL_REDIRECT", True):
            assert Client().get("/healthz").status_code == 200
            assert Client().get("/v6/nodes/").status_code == 301
        assert Client().post("/healthz").status_code == 405


@pytest.fixture
def staff_client(db: None) -> APIClient:
    user = get_user_model().objects.create_user(
        username="operator", password="unused-password", is_staff=True, is_superuser=True
    )
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(user=user, expires_in=None)[1]}")
    return client


@pytest.mark.django_db
class TestDatabaseUnavailable:
    @pytest.mark.parametrize(
        ("method", "path", "target"),
        [
            ("get", "/v6/nodes/", "node.views.NodeListView.filter_queryset"),
            ("get", "/v6/nodes/1/", "node.views.node_row_with_index"),
            ("patch", "/v6/nodes/1/", "node.views.node_update"),
        ],
    )
    def test_an_api_request_is_a_503_json_with_retry_after(
        self, staff_client: APIClient, method: str, path: str, target: str
    ) -> None:
        with mock.patch(target, side_effect=OperationalError("could not connect to server")):
            # The body of the PATCH; for a GET, a filter only the list reads.
            data = {"is_paused": True} if method == "patch" or path == "/v6/nodes/" else None
            response = getattr(staff_client, method)(path, data, format="json")
        assert response.status_code == 503, body(response)
        assert response["Retry-After"] == "5"
        assert response.json() == {"detail": "The database is unavailable; retry shortly."}

    def test_authenticating_against_an_unavailable_database_is_a_503(self) -> None:
        with mock.patch(
            "accounts.authentication.TokenAuthentication.authenticate_credentials",
            side_effect=OperationalError("server closed the connection unexpectedly"),
        ):
            response = APIClient(raise_request_exception=False).get("/v6/nodes/", HTTP_AUTHORIZATION="Token abc")
        assert response.status_code == 503, body(response)
        assert response["X-Request-ID"]

    def test_a_failure_outside_the_api_views_is_a_503_too(self) -> None:
        with mock.patch(
            "django.contrib.sessions.backends.db.SessionStore.load",
            side_effect=OperationalError("server closed the connection unexpectedly"),
        ):
            client = Client(raise_request_exception=False)
            client.cookies["sessionid"] = "a" * 32
            response = client.get("/admin/")
        assert response.status_code == 503, body(response)
        assert response["Content-Type"].startswith("text/plain")
