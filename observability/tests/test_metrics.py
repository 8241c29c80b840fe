"""``/metrics``: what it counts and how, who may read it, and a real gunicorn instance scraped by a real Prometheus.

The gunicorn and Prometheus tests bind free ports on 127.0.0.1, bound their waits in seconds, and
stop what they started by its process id. They need Debian's ``prometheus`` package (``promtool``
and the server; ``make ops-tools`` installs it) and are skipped without it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from bench.served import GunicornInstance, request
from node.models import RegistryClock
from node.services import node_heartbeat
from node.tests.helpers import create_node

REPO = Path(settings.BASE_DIR)
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
needs_promtool = pytest.mark.skipif(
    not os.access(PROMTOOL, os.X_OK), reason="promtool is not installed (`make ops-tools` installs it with apt)"
)
needs_prometheus = pytest.mark.skipif(
    not os.access(PROMETHEUS, os.X_OK), reason="prometheus is not installed (`make ops-tools` installs it with apt)"
)
TOKEN = "scrape-token-" + "s" * 30


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: Client | None = None, **extra: str) -> str:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4"), response["Content-Type"]
    return response.content.decode()


@pytest.mark.django_db
class TestRequestMetrics:
    def test_requests_are_counted_by_route_name_method_and_status_never_by_path(self) -> None:
        node = create_node(hostname="metrics-1.test")
        before = scrape()
        client = Client()
        assert client.get(f"/v6/nodes/{node.pk}/").status_code == 200
        assert client.get("/v6/nodes/999999/").status_code == 404
        after = scrape()
        labels = {"route": "node-detail", "method": "GET"}
        name = "scale_nodes_http_requests_total"
        assert value(after, name, **labels, status="200") - value(before, name, **labels, status="200") == 1
        assert value(after, name, **labels, status="404") - value(before, name, **labels, status="404") == 1
        histogram = "scale_nodes_http_request_duration_seconds_count"
        assert value(after, histogram, **labels, status="200") - value(before, histogram, **labels, status="200") == 1
        label_values = {value for (_name, labels), _value in samples(after).items() for _label, value in labels}
        assert not [value for value in label_values if "/" in value or "999999" in value], label_values

    def test_urls_no_pattern_answers_share_one_route(self) -> None:
        before = scrape()
        assert Client().get("/no/such/page/").status_code == 404
        after = scrape()
        name, labels = "scale_nodes_http_requests_total", {"route": "unmatched", "method": "GET", "status": "404"}
        assert value(after, name, **labels) - value(before, name, **labels) == 1
        assert "/no/such/page/" not in {value for (_name, labels), _v in samples(after).items() for _l, value in labels}

    def test_an_unavailable_database_is_counted_and_answered_503(self) -> None:
        before = scrape()
        with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
            assert Client().get("/readyz").status_code == 503
        after = scrape()
        name = "scale_nodes_database_errors_total"
        assert value(after, name, kind="unavailable") - value(before, name, kind="unavailable") == 1
        requests = "scale_nodes_http_requests_total"
        labels = {"route": "readyz", "method": "GET", "status": "503"}
        assert value(after, requests, **labels) - value(before, requests, **labels) == 1

    def test_nodes_are_counted_by_state_and_history_rows_are_shown(self) -> None:
        for i in range(3):
            create_node(hostname=f"active-{i}.test")
        for i in range(2):
            create_node(hostname=f"paused-{i}.test", is_paused=True, pause_reason="disk")
        create_node(hostname="gone.test", is_active=False, deprecated="2026-01-01T00:00:00Z")
        create_node(hostname="gone-paused.test", is_active=False, deprecated="2026-01-01T00:00:00Z", is_paused=True)
        text = scrape()
        states = {state: value(text, "scale_nodes_nodes", state=state) for state in ("active", "paused", "inactive")}
        assert states == {"active": 3, "paused": 2, "inactive": 2}, states
        assert value(text, "scale_nodes_registry_change_index") == RegistryClock.objects.get().change_index == 7
        assert ("scale_nodes_node_history_rows", ()) in samples(text)

    def test_nodes_are_counted_by_liveness_and_heartbeats_received_are_counted(self) -> None:
        for hostname in ("up-1.test", "up-2.test", "down.test", "never.test"):
            create_node(hostname=hostname)
        node_heartbeat(hostnames=["down.test"], now=timezone.now() - dt.timedelta(hours=1))
        before = value(scrape(), "scale_nodes_heartbeats_received_total")
        node_heartbeat(hostnames=["up-1.test", "up-2.test", "nobody.test"])
        text = scrape()
        states = {
            state: value(text, "scale_nodes_node_liveness", state=state) for state in ("online", "offline", "never")
        }
        assert states == {"online": 2, "offline": 1, "never": 1}, states
        assert value(text, "scale_nodes_heartbeats_received_total") - before == 2


@pytest.mark.django_db
class TestMetricsAccess:
    def test_this_host_may_read_the_metrics_without_a_token(self) -> None:
        scrape()

    def test_another_address_is_refused_when_no_token_is_configured(self) -> None:
        response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3")
        assert response.status_code == 403, response.content

    @override_settings(METRICS_TOKEN=TOKEN)
    def test_another_address_needs_the_bearer_token(self) -> None:
        client = Client()
        response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer not-the-token")
        assert wrong.status_code == 401, wrong.content
        scrape(client, REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    @override_settings(METRICS_ALLOWED_ADDRESSES=["10.0.0.0/8"])
    def test_a_configured_network_may_read_without_a_token(self) -> None:
        client = Client()
        scrape(client, REMOTE_ADDR="10.1.2.3")
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403

    def test_metrics_are_answered_for_any_host_and_without_the_https_redirect(self) -> None:
        # Prometheus scrapes each instance by its address, over plain HTTP.
        with override_settings(SECURE_SSL_REDIRECT=True):
            scrape(Client(), HTTP_HOST="10.0.0.5:8000")

    def test_only_get_and_head_are_answered(self) -> None:
        response = Client().post("/metrics")
        assert response.status_code == 405 and response["Allow"] == "GET, HEAD", response.content


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_servers() -> str:
    """The URL of the test database, for servers started in other processes."""
    database = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    return (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    )


@pytest.fixture
def instance(transactional_db: None, tmp_path: Path) -> Iterator[GunicornInstance]:
    """A gunicorn instance of two workers on the test database, whose metrics only the token may read."""
    server = GunicornInstance(
        port=free_port(),
        database_url=database_url_for_servers(),
        log_path=tmp_path / "gunicorn.log",
        workers=2,
        extra_env={"METRICS_TOKEN": TOKEN, "METRICS_ALLOWED_ADDRESSES": "", "PROMETHEUS_MULTIPROC_DIR": ""},
    )
    try:
        yield server.start()
    finally:
        server.stop()


def scrape_instance(port: int) -> str:
    reply = request(port, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/plain"})
    assert reply.status == 200, str(reply)
    return reply.body.decode()


class TestMetricsAcrossWorkers:
    def test_every_worker_answers_with_the_whole_instances_counts_even_after_a_worker_dies(
        self, instance: GunicornInstance
    ) -> None:
        create_node(hostname="multi-1.test")
        for _ in range(20):
            assert request(instance.port, "GET", "/v6/nodes/").status == 200
        labels = {"route": "node-list", "method": "GET", "status": "200"}
        # Each scrape may be answered by either worker: all must give the instance's total.
        for _ in range(6):
            assert value(scrape_instance(instance.port), "scale_nodes_http_requests_total", **labels) == 20
        victim = min(instance.worker_pids())
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            workers = instance.worker_pids()
            if victim not in workers and len(workers) == 2:
                break
            time.sleep(0.05)
        assert victim not in instance.worker_pids()
        text = scrape_instance(instance.port)
        # The dead worker's requests still count; its in-flight gauge is gone with it.
        assert value(text, "scale_nodes_http_requests_total", **labels) == 20
        assert value(text, "scale_nodes_http_requests_in_flight") == 0
        assert value(text, "scale_nodes_nodes", state="active") == 1

    @needs_promtool
    def test_the_output_passes_promtool_check_metrics(self, instance: GunicornInstance) -> None:
        create_node(hostname="lint-1.test")
        for path in ("/v6/nodes/", "/v6/nodes/?page_size=0", "/healthz", "/nowhere"):
            request(instance.port, "GET", path)
        text = scrape_instance(instance.port)
        result = subprocess.run(  # noqa: S603 (Debian's promtool)
            [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr + text[:2000]


@needs_prometheus
class TestPrometheusScrape:
    def test_a_prometheus_server_scrapes_the_instance_and_sees_its_request_counter(
        self, instance: GunicornInstance, tmp_path: Path
    ) -> None:
        for _ in range(5):
            assert request(instance.port, "GET", "/v6/nodes/").status == 200
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                    # The example alerting rules load in a real server too.
                    "rule_files": [str(REPO / "deploy" / "prometheus" / "alerts.yml")],
                    "scrape_configs": [
                        {
                            "job_name": "scale-nodes",
                            "authorization": {"type": "Bearer", "credentials": TOKEN},
                            "static_configs": [{"targets": [f"127.0.0.1:{instance.port}"]}],
                        }
                    ],
                }
            )
        )
        log = (tmp_path / "prometheus.log").open("wb")
        server = subprocess.Popen(  # noqa: S603 (Debian's prometheus, our temporary config)
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            up, requests = self.wait_for(port, server, tmp_path)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
            log.close()
        assert up == 1, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert requests >= 5, requests

    @staticmethod
    def wait_for(port: int, server: subprocess.Popen, tmp_path: Path) -> tuple[float, float]:
        """Poll Prometheus's HTTP API (30 s at most) until the target is up and the list requests are seen."""

        def query(expression: str) -> float | None:
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    result = json.load(answer)["data"]["result"]
            except OSError:
                return None
            return float(result[0]["value"][1]) if result else None

        up = requests = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            up = query('up{job="scale-nodes"}')
            requests = query('sum(scale_nodes_http_requests_total{job="scale-nodes",route="node-list",status="200"})')
            if up == 1 and requests is not None and requests >= 5:
                break
            time.sleep(0.5)
        return up or 0.0, requests or 0.0
