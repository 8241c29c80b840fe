"""The edges of a real gunicorn instance: chunked bodies, forwarded HTTPS, and gunicorn's own errors in JSON.

One instance on 127.0.0.1:8731 (``SECURITY_EDGE_PORT``) serves a throw-away SQLite database made for
this module; it is stopped by its process id when the module's tests end.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pytest

from bench.served import REPO, GunicornInstance, manage, request

PORT = int(os.environ.get("SECURITY_EDGE_PORT", "8731"))
CONFIG = str(REPO / "scale_nodes" / "gunicorn.conf.py")


def raw_exchange(data: bytes, *, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is and read the whole answer (the server closes or says its length)."""
    with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            head, _, rest = received.partition(b"\r\n\r\n")
            length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if length and len(rest) >= int(length[0].split(b":")[1]):
                break
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite file with one node and a superuser's token."""
    return _make_database(tmp_path_factory.mktemp("security-edges"))


def _make_database(directory: Path) -> dict[str, str]:
    url = f"sqlite:///{directory / 'edges.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "scale_nodes.settings"}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from node.services import node_create; "
        "get_user_model().objects.create_user('edge-operator', is_superuser=True); "
        "node_create(hostname='edge-1.test')",
    )
    token = manage(env, "create_api_token", "edge-operator", "--expires", "P1D").strip()
    return {"url": url, "token": token, "node": "1", "directory": str(directory)}


def _serve(database: dict[str, str], port: int, **env: str) -> GunicornInstance:
    instance = GunicornInstance(
        port=port,
        database_url=database["url"],
        log_path=Path(database["directory"]) / f"gunicorn-{port}.log",
        workers=1,
        extra_env={"ALLOWED_HOSTS": "127.0.0.1", "SECURE_HSTS_SECONDS": "0", **env},
    )
    return instance.start()


@pytest.fixture(scope="module")
def server(database: dict[str, str]) -> Iterator[dict[str, str]]:
    """An instance on plain HTTP, as behind a load balancer that ends TLS."""
    instance = _serve(database, PORT)
    try:
        yield database
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def redirecting_port(database: dict[str, str]) -> Iterator[int]:
    """An instance with the HTTPS redirect on and SECURE_PROXY_SSL_HEADER off (their production defaults)."""
    instance = _serve(database, PORT + 1, SECURE_SSL_REDIRECT="true")
    try:
        yield PORT + 1
    finally:
        instance.stop()


class TestForwardedProto:
    def test_x_forwarded_proto_from_loopback_does_not_skip_the_https_redirect(self, redirecting_port: int) -> None:
        reply = request(redirecting_port, "GET", "/v6/nodes/", headers={"X-Forwarded-Proto": "https"})
        assert reply.status == 301, reply
        assert reply.headers["location"].startswith("https://")

    @pytest.mark.parametrize(("setting", "trusted"), [("false", {}), ("true", {"X-FORWARDED-PROTO": "https"})])
    def test_gunicorn_trusts_the_header_exactly_when_django_does(self, setting: str, trusted: dict) -> None:
        with mock.patch.dict(os.environ, {"SECURE_PROXY_SSL_HEADER": setting}):
            assert runpy.run_path(CONFIG)["secure_scheme_headers"] == trusted


def _chunked_patch(server: dict[str, str], chunks: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    head = (
        f"PATCH /v6/nodes/{server['node']}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {server['token']}\r\nContent-Type: application/json\r\n"
        "Prefer: return=representation\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return raw_exchange(head.encode() + body)


class TestChunkedBody:
    def test_a_chunked_patch_body_is_read_and_applied(self, server: dict[str, str]) -> None:
        status, _, body = _chunked_patch(server, [b'{"is_paused": true, ', b'"pause_reason": "chunked"}'])
        assert status == 200, body
        assert json.loads(body)["pause_reason"] == "chunked"

    def test_a_chunked_body_over_the_limit_is_a_json_413(self, server: dict[str, str]) -> None:
        status, headers, body = _chunked_patch(server, [b"x" * 1_000_000] * 3)
        assert status == 413, body
        assert headers["content-type"] == "application/json"
        assert "at most" in json.loads(body)["detail"]


class TestGunicornErrorsAreJson:
    @pytest.mark.parametrize(
        ("request_bytes", "status"),
        [
            (b"GET /v6/nodes/?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
            (
                b"GET /v6/nodes/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + b"".join(b"X-H%d: v\r\n" % i for i in range(120))
                + b"\r\n",
                431,
            ),
            (b"GET /v6/nodes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
            (b"GET /v6/nodes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: v\r\n\r\n", 400),
            (b"GARBAGE\r\n\r\n", 400),
            (
                b"PATCH /v6/nodes/1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: identity-x\r\n\r\n",
                501,
            ),
        ],
        ids=[
            "request line too long",
            "too many headers",
            "header too large",
            "bad header",
            "bad request line",
            "unknown transfer coding",
        ],
    )
    def test_gunicorns_own_refusals_are_json(self, server: dict[str, str], request_bytes: bytes, status: int) -> None:
        answered, headers, body = raw_exchange(request_bytes)
        assert answered == status, body
        assert headers["content-type"] == "application/json", body
        assert json.loads(body)["detail"], body


def _log(server: dict[str, str], *, since: int = 0) -> str:
    """The server's log from character ``since`` on (``len(_log(server))`` before an exchange: what it wrote)."""
    return (Path(server["directory"]) / f"gunicorn-{PORT}.log").read_text(errors="replace")[since:]


class TestNulCharacters:
    @pytest.mark.parametrize(
        ("target", "named"),
        [
            ("/v6/nodes/?search=%00", "search"),
            ("/v6/nodes/?hostname=a%00b", "hostname"),
            ("/v6/nodes/?is_active=true&anything=%00", "anything"),
            ("/admin/node/node/?q=%00", "q"),
            ("/v6/nodes/changes/?after=0&wait=%00", "wait"),
        ],
    )
    def test_a_nul_in_a_query_parameter_is_a_json_400_naming_it(
        self, server: dict[str, str], target: str, named: str
    ) -> None:
        logged = len(_log(server))
        reply = request(PORT, "GET", target)
        assert reply.status == 400, reply
        assert reply.json()["detail"].startswith(f"{named}: contains a NUL character"), reply
        assert "Traceback" not in _log(server, since=logged)

    def test_a_nul_in_the_path_is_a_json_400(self, server: dict[str, str]) -> None:
        reply = request(PORT, "GET", "/v6/nodes/%00/")
        assert reply.status == 400, reply
        assert "NUL" in reply.json()["detail"]

    def test_a_nul_in_a_json_string_is_a_400_naming_the_field(self, server: dict[str, str]) -> None:
        logged = len(_log(server))
        reply = request(
            PORT,
            "PATCH",
            f"/v6/nodes/{server['node']}/",
            body={"is_paused": True, "pause_reason": "disk\u0000swap"},
            headers={"Authorization": f"Token {server['token']}"},
        )
        assert reply.status == 400, reply
        assert reply.json()["detail"].startswith("pause_reason: "), reply
        assert "Traceback" not in _log(server, since=logged)


class TestAbsoluteFormTarget:
    def test_an_absolute_form_target_is_served_as_its_path(self, server: dict[str, str]) -> None:
        status, headers, body = raw_exchange(
            f"GET http://127.0.0.1:{PORT}/v6/nodes/?page_size=1 HTTP/1.1\r\n"
            "Host: ignored.example\r\nAccept: application/json\r\nConnection: close\r\n\r\n".encode()
        )
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["results"][0]["hostname"] == "edge-1.test"

    def test_the_authority_of_an_absolute_form_target_is_its_host(self, server: dict[str, str]) -> None:
        # RFC 9112 section 3.2.2: the target's authority replaces Host, and ALLOWED_HOSTS applies to it.
        status, headers, body = raw_exchange(
            b"GET http://elsewhere.example/v6/nodes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        assert status == 400, body
        assert headers["content-type"] == "application/json"
        # Sent in chunks (no Content-Length): the detail is read from the raw body.
        assert b'"The Host header names a host this service does not answer to;' in body, body

    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v6/nodes/", "/v6/nodes/events/"])
    def test_a_host_not_allowed_is_a_json_400_for_the_api_and_the_probes(
        self, server: dict[str, str], path: str
    ) -> None:
        status, headers, body = raw_exchange(
            f"GET {path} HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n".encode()
        )
        assert status == 400, body
        assert headers["content-type"] == "application/json"
        assert b"ALLOWED_HOSTS" in body, body


WEBSOCKET_HANDSHAKE = (
    b"GET /v6/nodes/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class TestWebSocketUpgrade:
    def test_a_websocket_handshake_is_refused_cleanly_not_a_500(self, server: dict[str, str]) -> None:
        logged = len(_log(server))
        status, headers, body = raw_exchange(WEBSOCKET_HANDSHAKE)
        if status == 400:
            # A server offering the ASGI denial response carries the service's JSON answer.
            assert headers["content-type"] == "application/json"
            assert "/v6/nodes/events/" in json.loads(body)["detail"]
        else:
            # gunicorn offers none: the application's close before accepting is its 403.
            assert status == 403, body
        assert "Traceback" not in _log(server, since=logged)


def _first_line_after(data: bytes, *, wait: float = 3.0) -> tuple[socket.socket, bytes]:
    """Send ``data`` (a request head without its body) and return the socket and the first line answered."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=wait)
    sock.sendall(data)
    received = b""
    while b"\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return sock, received


class TestAuthenticationBeforeTheBody:
    BODY = b'{"is_paused": true, "pause_reason": "continue"}'

    def _head(self, server: dict[str, str], authorization: str | None) -> bytes:
        head = (
            f"PATCH /v6/nodes/{server['node']}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.BODY)}\r\nExpect: 100-continue\r\n"
        )
        if authorization is not None:
            head += f"Authorization: {authorization}\r\n"
        return (head + "\r\n").encode()

    @pytest.mark.parametrize("authorization", [None, "Token " + "0" * 64, "Token not-a-token"])
    def test_a_request_without_valid_credentials_is_a_401_before_any_100_continue(
        self, server: dict[str, str], authorization: str | None
    ) -> None:
        sock, received = _first_line_after(self._head(server, authorization))
        with sock:
            assert received.startswith(b"HTTP/1.1 401 "), received
            while b"}" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert b"application/json" in head and b"www-authenticate: token" in head.lower(), head
        assert json.loads(body)["detail"], body

    def test_a_large_body_without_credentials_is_refused_before_it_is_sent(self, server: dict[str, str]) -> None:
        # No Expect header: a client announcing a megabyte gets its 401 without sending a byte of it.
        head = (
            f"PATCH /v6/nodes/{server['node']}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        ).encode()
        sock, received = _first_line_after(head)
        with sock:
            assert received.startswith(b"HTTP/1.1 401 "), received

    def test_a_large_body_for_a_method_the_endpoint_does_not_answer_is_a_405_before_it_is_sent(
        self, server: dict[str, str]
    ) -> None:
        # The change feed answers GET only: an anonymous POST announcing megabytes is refused at its head.
        head = (
            b"POST /v6/nodes/changes/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
        )
        sock, received = _first_line_after(head)
        with sock:
            assert received.startswith(b"HTTP/1.1 405 "), received
            while b"}" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert b"allow: get" in head.lower() and b"connection: close" in head.lower(), head
        assert json.loads(body)["detail"], body

    def test_valid_credentials_get_the_100_continue_and_the_body_is_applied(self, server: dict[str, str]) -> None:
        sock, received = _first_line_after(self._head(server, f"Token {server['token']}"))
        with sock:
            assert received.startswith(b"HTTP/1.1 100 Continue"), received
            sock.sendall(self.BODY)
            while b"HTTP/1.1 204" not in received and b"HTTP/1.1 200" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert b"HTTP/1.1 204" in received, received


@pytest.fixture(scope="module")
def lockout_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An instance of its own on PORT + 2 (its own database, so its lockout touches no other test)."""
    database = _make_database(tmp_path_factory.mktemp("token-lockout"))
    instance = _serve(database, PORT + 2)
    try:
        yield database
    finally:
        instance.stop()


class TestTokenLockoutServed:
    def test_failures_from_an_address_lock_out_guesses_but_never_a_correct_token(
        self, lockout_server: dict[str, str]
    ) -> None:
        path = f"/v6/nodes/{lockout_server['node']}/"

        def patch_with(token: str) -> object:
            return request(
                PORT + 2, "PATCH", path, body={"is_paused": True}, headers={"Authorization": f"Token {token}"}
            )

        failures = [patch_with(f"{i:064x}") for i in range(5)]
        assert [reply.status for reply in failures] == [401, 401, 401, 401, 429], [str(r) for r in failures]
        correct = patch_with(lockout_server["token"])
        assert correct.status == 204, correct
        assert "default-src 'self'" in correct.headers["content-security-policy"], correct.headers
        guess = patch_with(f"{99:064x}")
        assert guess.status == 429, guess
        assert int(guess.headers["retry-after"]) > 0, guess
        # Said once, with the way to lift it.
        detail = guess.json()["detail"]
        assert detail.count("locked out") == 1 and "minutes" in detail and "seconds" not in detail, detail
        assert "'manage.py axes_reset_ip 127.0.0.1'" in detail, detail


class TestHealthzNeverWaits:
    def test_healthz_answers_within_100_ms_while_the_sync_thread_waits_on_the_database(
        self, server: dict[str, str]
    ) -> None:
        # Another connection takes SQLite's write lock: a PATCH then waits for it on the process's one
        # sync thread (up to the 20 s busy timeout), as a slow query would hold it.
        holder = sqlite3.connect(server["url"].removeprefix("sqlite:///"), timeout=1, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                patch = pool.submit(
                    request,
                    PORT,
                    "PATCH",
                    f"/v6/nodes/{server['node']}/",
                    body={"is_paused": True, "pause_reason": "held"},
                    headers={"Authorization": f"Token {server['token']}"},
                    timeout=30,
                )
                time.sleep(0.3)
                # The thread is busy: what it serves (the readiness probe) waits behind the PATCH...
                assert request(PORT, "GET", "/readyz", timeout=1.0).status == 0
                # ...while /healthz, answered on the event loop, does not.
                probes = [request(PORT, "GET", "/healthz", timeout=5) for _ in range(10)]
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert patch.result(timeout=30).status == 204
        assert [probe.status for probe in probes] == [200] * 10, probes
        assert all(probe.json() == {"status": "ok"} for probe in probes)
        assert max(probe.seconds for probe in probes) < 0.1, [probe.seconds for probe in probes]
        assert probes[0].headers["cache-control"].startswith("max-age=0")

    def test_healthz_refuses_other_methods_as_before(self, server: dict[str, str]) -> None:
        reply = request(PORT, "POST", "/healthz")
        assert reply.status == 405, reply
        assert reply.headers["allow"] == "GET, HEAD"
