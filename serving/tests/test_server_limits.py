"""The limits of the ASGI worker (``serving.workers``) over real HTTP: what no client may do to a process.

Instances on 127.0.0.1:8740-8750 (``SERVER_LIMITS_PORT`` and the next ten) serve a throw-away SQLite
database made for this module, with short timeouts set through the environment so that each test
takes seconds. Every instance is stopped by its process id when its tests end; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.served import GunicornInstance, manage, request

PORT = int(os.environ.get("SERVER_LIMITS_PORT", "8740"))
NODES = 1000


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite file with NODES nodes (a full page of the list is some 190 kB) and a superuser's token."""
    directory = tmp_path_factory.mktemp("server-limits")
    url = f"sqlite:///{directory / 'limits.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "scale_nodes.settings"}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from node.services import node_create; "
        "import logging; logging.disable(logging.INFO); "
        "get_user_model().objects.create_user('limits-operator', is_superuser=True); "
        f"[node_create(hostname=f'limits-{{n}}.test') for n in range({NODES})]",
    )
    token = manage(env, "create_api_token", "limits-operator", "--expires", "P1D").strip()
    return {"url": url, "token": token, "directory": str(directory)}


def _instance(database: dict[str, str], port: int, *, workers: int = 1, **env: str) -> GunicornInstance:
    return GunicornInstance(
        port=port,
        database_url=database["url"],
        log_path=Path(database["directory"]) / f"gunicorn-{port}.log",
        workers=workers,
        extra_env={"ALLOWED_HOSTS": "127.0.0.1", "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "INFO", **env},
    )


@contextlib.contextmanager
def _serving(instance: GunicornInstance) -> Iterator[GunicornInstance]:
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


# The limits of the instance most tests use: short enough for tests of seconds.
SHORT_LIMITS = {
    "GUNICORN_HEADER_TIMEOUT": "1",
    "GUNICORN_KEEPALIVE": "1",
    "GUNICORN_BODY_GRACE": "1",
    "GUNICORN_BODY_MIN_RATE": "1000000",
    "GUNICORN_SEND_TIMEOUT": "1",
    "GUNICORN_LINGER": "1",
    # The kernel would otherwise take a whole page of the list on loopback, and nothing would wait.
    "GUNICORN_SOCKET_SEND_BUFFER": "16384",
}


@pytest.fixture(scope="module")
def server(database: dict[str, str]) -> Iterator[dict[str, str]]:
    with _serving(_instance(database, PORT, **SHORT_LIMITS)) as instance:
        yield {**database, "port": PORT, "log": str(instance.log_path)}


class Client:
    """One raw connection to 127.0.0.1:``port``: send bytes as they are, read what comes back."""

    def __init__(self, port: int, *, receive_buffer: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_all(self, *, timeout: float = 10.0) -> bytes:
        """Everything until the server closes (or ``timeout`` seconds pass)."""
        self.sock.settimeout(timeout)
        received = b""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            while time.monotonic() < deadline:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        return received

    def closed_by_server(self, *, timeout: float) -> bool:
        """Whether the server closes the connection within ``timeout`` seconds (reading and dropping what comes)."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return False

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with a reset, as a client that vanishes does: the server knows at once."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def parse(response: bytes) -> tuple[int, str, dict[str, str], bytes]:
    """Status, reason phrase, headers and body of one response with a Content-Length."""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    _version, status, reason = status_line.split(" ", 2)
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status), reason, headers, body[: int(headers.get("content-length", len(body)))]


def exchange(port: int, data: bytes, *, timeout: float = 10.0) -> tuple[int, str, dict[str, str], bytes]:
    client = Client(port)
    try:
        client.send(data)
        return parse(client.read_all(timeout=timeout))
    finally:
        client.close()


def assert_json_error(answer: tuple[int, str, dict[str, str], bytes], status: int, *words: str) -> dict:
    answered, _reason, headers, body = answer
    assert answered == status, answer
    assert headers["content-type"] == "application/json", answer
    detail = json.loads(body)["detail"]
    for word in words:
        assert word in detail, detail
    return headers


def refusals(port: int) -> dict[str, float]:
    """``scale_nodes_server_refusals_total`` of the instance, by reason."""
    reply = request(port, "GET", "/metrics")
    assert reply.status == 200, reply
    counts = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            if sample.name == "scale_nodes_server_refusals_total":
                counts[sample.labels["reason"]] = sample.value
    return counts


@contextlib.contextmanager
def counted(port: int, reason: str, expected: int = 1) -> Iterator[None]:
    """Assert that what runs inside adds ``expected`` to the refusals counted for ``reason``."""
    before = refusals(port).get(reason, 0.0)
    yield
    deadline = time.monotonic() + 5
    while True:
        after = refusals(port).get(reason, 0.0)
        if after - before >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after - before == expected, (reason, before, after)


def head(method: str, path: str, *lines: str) -> bytes:
    fields = "".join(f"{line}\r\n" for line in lines)
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{fields}\r\n".encode()


class TestHeadAndIdleTimeouts:
    def test_a_head_trickled_byte_by_byte_gets_a_json_408_at_its_deadline_from_the_first_byte(
        self, server: dict[str, str]
    ) -> None:
        client = Client(server["port"])
        try:
            started = time.monotonic()
            request_bytes = head("GET", "/healthz", "X-Slow: " + "v" * 40)
            # A byte every 0.2 s: no single read waits long, the head as a whole does.
            with counted(server["port"], "header_timeout"):
                for byte in request_bytes[:15]:
                    client.send(bytes([byte]))
                    time.sleep(0.2)
                answer = parse(client.read_all(timeout=5))
            assert_json_error(answer, 408, "did not arrive within 1s")
            assert time.monotonic() - started < 4.0
            assert "Refused (408 header_timeout) 127.0.0.1:" in Path(server["log"]).read_text()
        finally:
            client.close()

    def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(
        self, server: dict[str, str]
    ) -> None:
        client = Client(server["port"])
        try:
            started = time.monotonic()
            assert client.closed_by_server(timeout=5)
            assert 0.8 < time.monotonic() - started < 3.0
        finally:
            client.close()

    def test_a_connection_whose_first_byte_comes_late_is_served(self, server: dict[str, str]) -> None:
        # The connection is set up for requests at its first byte: one that waits first is served as any other.
        client = Client(server["port"])
        try:
            time.sleep(0.5)
            client.send(head("GET", "/healthz", "Connection: close"))
            status, _reason, _headers, body = parse(client.read_all(timeout=5))
            assert status == 200, body
        finally:
            client.close()

    def test_a_kept_alive_connection_is_closed_after_the_keepalive_timeout_between_requests(
        self, server: dict[str, str]
    ) -> None:
        client = Client(server["port"])
        try:
            client.send(head("GET", "/healthz"))
            client.sock.settimeout(5)
            assert client.sock.recv(65536).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert client.closed_by_server(timeout=5)
            assert time.monotonic() - started < 3.0
        finally:
            client.close()


class TestRequestBodies:
    def test_a_content_length_over_the_limit_is_a_json_413_before_the_body_is_read(
        self, server: dict[str, str]
    ) -> None:
        with counted(server["port"], "body_too_large"):
            # Only the head is sent: the answer cannot wait for the body.
            answer = exchange(server["port"], head("PATCH", "/v6/nodes/1/", "Content-Length: 3000000"), timeout=5)
        assert_json_error(answer, 413, "at most 2621440 bytes")
        # One line, naming the client.
        assert "Refused (413 body_too_large) 127.0.0.1:" in Path(server["log"]).read_text()

    def test_a_client_sending_its_whole_oversized_body_still_reads_the_413(self, server: dict[str, str]) -> None:
        data = head("PATCH", "/v6/nodes/1/", "Content-Length: 3000000", "Content-Type: application/json")
        answer = exchange(server["port"], data + b"x" * 3_000_000)
        assert_json_error(answer, 413)

    @pytest.mark.parametrize(
        "lines",
        [
            ("Content-Length: 99999999999999999999999",),
            ("Transfer-Encoding: chunked",),
        ],
        ids=["content-length", "chunk size"],
    )
    def test_an_impossible_length_is_a_json_400_at_once(self, server: dict[str, str], lines: tuple[str]) -> None:
        data = head("PATCH", "/v6/nodes/1/", *lines)
        if "chunked" in lines[0]:
            data += b"fffffffffffffffffffffffffff\r\nabc"
        started = time.monotonic()
        with counted(server["port"], "bad_length"):
            answer = exchange(server["port"], data, timeout=5)
        assert_json_error(answer, 400, "not a possible length")
        assert time.monotonic() - started < 2.0

    def test_a_chunk_larger_than_the_limit_is_a_json_413_before_its_data(self, server: dict[str, str]) -> None:
        data = head("PATCH", "/v6/nodes/1/", "Transfer-Encoding: chunked") + b"300000\r\nabc"
        assert_json_error(exchange(server["port"], data, timeout=5), 413, "at most")

    def test_a_body_that_does_not_arrive_in_time_is_a_json_408(self, server: dict[str, str]) -> None:
        client = Client(server["port"])
        try:
            started = time.monotonic()
            with counted(server["port"], "body_timeout"):
                client.send(head("PATCH", "/v6/nodes/1/", "Content-Length: 1000") + b'{"is_paused"')
                answer = parse(client.read_all(timeout=8))
            # One second of grace plus a thousandth of a second for 1,000 bytes at 1 MB/s.
            assert_json_error(answer, 408, "did not arrive in time")
            assert time.monotonic() - started < 3.0
        finally:
            client.close()

    def test_a_body_trickled_past_its_deadline_is_a_json_408_although_bytes_keep_coming(
        self, server: dict[str, str]
    ) -> None:
        client = Client(server["port"])
        try:
            client.send(head("PATCH", "/v6/nodes/1/", "Content-Length: 1000"))
            started = time.monotonic()
            with contextlib.suppress(OSError):
                for _ in range(15):
                    client.send(b" ")
                    time.sleep(0.2)
            answer = parse(client.read_all(timeout=5))
            assert_json_error(answer, 408)
            assert time.monotonic() - started < 4.0
        finally:
            client.close()

    def test_a_body_at_a_good_rate_is_served(self, server: dict[str, str]) -> None:
        body = json.dumps({"is_paused": True, "pause_reason": "limits"}).encode()
        data = head(
            "PATCH",
            "/v6/nodes/2/",
            f"Authorization: Token {server['token']}",
            "Content-Type: application/json",
            "Prefer: return=representation",
            f"Content-Length: {len(body)}",
            "Connection: close",
        )
        status, _, _, answer = exchange(server["port"], data + body)
        assert status == 200, answer
        assert json.loads(answer)["pause_reason"] == "limits"

    def test_any_transfer_coding_but_plain_chunked_is_a_json_501(self, server: dict[str, str]) -> None:
        data = head("PATCH", "/v6/nodes/1/", "Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n"
        with counted(server["port"], "unsupported_transfer_coding"):
            answer = exchange(server["port"], data, timeout=5)
        assert_json_error(answer, 501, "gzip, chunked")


class TestSmallerFindings:
    def test_431_carries_its_reason_phrase(self, server: dict[str, str]) -> None:
        answer = exchange(server["port"], head("GET", "/healthz", "X-Big: " + "v" * 9000))
        assert_json_error(answer, 431)
        assert answer[1] == "Request Header Fields Too Large"

    def test_the_applications_answers_carry_their_standard_reason_phrase(self, server: dict[str, str]) -> None:
        body = b'{"is_paused": false}'
        data = head(
            "PATCH",
            "/v6/nodes/4/",
            f"Authorization: Token {server['token']}",
            'If-Match: "not-the-etag"',
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
        )
        status, reason, _, answer = exchange(server["port"], data + body)
        assert (status, reason) == (412, "Precondition Failed"), answer

    def test_a_client_that_half_closes_after_its_request_still_receives_the_answer(
        self, server: dict[str, str]
    ) -> None:
        body = json.dumps({"is_paused": True, "pause_reason": "half-closed"}).encode()
        client = Client(server["port"])
        try:
            client.send(
                head(
                    "PATCH",
                    "/v6/nodes/3/",
                    f"Authorization: Token {server['token']}",
                    "Content-Type: application/json",
                    "Prefer: return=representation",
                    f"Content-Length: {len(body)}",
                )
                + body
            )
            client.sock.shutdown(socket.SHUT_WR)
            status, _, headers, answer = parse(client.read_all(timeout=5))
        finally:
            client.close()
        assert status == 200, answer
        assert json.loads(answer)["pause_reason"] == "half-closed"
        assert headers.get("connection") == "close"

    def test_a_stream_whose_client_closes_its_side_ends_within_the_keepalive_timeout(
        self, server: dict[str, str]
    ) -> None:
        stream = _stream(server["port"])
        assert _streams_open(server["port"]) == 1
        # A plain close: the server sees the end of the client's side, as after a half-close.
        stream.close()
        deadline = time.monotonic() + 5
        while _streams_open(server["port"]):
            assert time.monotonic() < deadline, "the stream stayed open"
            time.sleep(0.1)


def _streams_open(port: int) -> float:
    reply = request(port, "GET", "/metrics")
    assert reply.status == 200, reply
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            if sample.name == "scale_nodes_event_streams_open":
                return sample.value
    raise AssertionError("no scale_nodes_event_streams_open in /metrics")


def _server_send_buffers(port: int) -> list[int]:
    """The kernel send buffers (``tb`` of ``ss -m``) of the server's established connections on ``port``."""
    result = subprocess.run(  # noqa: S603 (iproute2's ss, read-only)
        ["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return [int(match) for match in re.findall(r"\btb(\d+)", result.stdout)]


@pytest.mark.skipif(shutil.which("ss") is None, reason="iproute2's ss is not installed")
def test_an_event_stream_gets_a_bounded_kernel_send_buffer(database: dict[str, str]) -> None:
    port = PORT + 9
    with _serving(_instance(database, port, GUNICORN_STREAM_SEND_BUFFER="32768")):
        stream = _stream(port)
        try:
            deadline = time.monotonic() + 5
            while not (buffers := _server_send_buffers(port)) and time.monotonic() < deadline:
                time.sleep(0.1)
            # Set, the kernel doubles it (socket(7)) and stops autotuning it.
            assert buffers == [2 * 32_768], buffers
        finally:
            stream.abort()


class TestSlowReaders:
    def test_a_client_that_does_not_read_its_answer_is_cut_off_after_the_send_timeout(
        self, server: dict[str, str]
    ) -> None:
        # A tiny receive window: the 190 kB page waits in the server's buffers.
        client = Client(server["port"], receive_buffer=4096)
        try:
            with counted(server["port"], "slow_reader"):
                client.send(head("GET", f"/v6/nodes/?page_size={NODES}"))
                time.sleep(2.5)
                received = b""
                with contextlib.suppress(ConnectionResetError, TimeoutError):
                    received = client.read_all(timeout=5)
            assert len(received) < 150_000, len(received)
        finally:
            client.close()

    def test_an_answer_read_at_once_is_not_cut_off(self, server: dict[str, str]) -> None:
        reply = request(server["port"], "GET", f"/v6/nodes/?page_size={NODES}")
        assert reply.status == 200, reply
        assert len(reply.json()["results"]) == NODES


@pytest.fixture(scope="module")
def capped(database: dict[str, str]) -> Iterator[dict[str, str]]:
    """An instance whose process holds at most 4 connections and cuts a client off past 20 kB unsent."""
    instance = _instance(
        database,
        PORT + 1,
        GUNICORN_WORKER_CONNECTIONS="4",
        GUNICORN_KEEPALIVE="10",
        GUNICORN_MAX_UNSENT_BYTES="20000",
        GUNICORN_SOCKET_SEND_BUFFER="16384",
        GUNICORN_LINGER="1",
    )
    with _serving(instance):
        yield {**database, "port": PORT + 1, "log": str(instance.log_path)}


def _stream(port: int) -> Client:
    client = Client(port)
    client.send(head("GET", "/v6/nodes/events/", "Accept: text/event-stream"))
    client.sock.settimeout(5)
    assert client.sock.recv(65536).startswith(b"HTTP/1.1 200")
    return client


class TestConnectionCap:
    def test_at_the_cap_the_longest_idle_connection_is_closed_for_a_new_one(self, capped: dict[str, str]) -> None:
        # The scrapes of the count are connections too: made before and after the cap is reached.
        before = refusals(capped["port"])
        idle = [Client(capped["port"]) for _ in range(4)]
        try:
            time.sleep(0.3)
            reply = request(capped["port"], "GET", "/healthz")
            assert reply.status == 200, reply
            assert idle[0].closed_by_server(timeout=2)
            assert not idle[-1].closed_by_server(timeout=0.3)
        finally:
            for client in idle:
                client.close()
        after = refusals(capped["port"])
        assert after["idle_closed_at_limit"] - before["idle_closed_at_limit"] == 1, (before, after)

    def test_connections_closed_by_their_clients_before_a_byte_no_longer_count_toward_the_cap(
        self, capped: dict[str, str]
    ) -> None:
        before = refusals(capped["port"])
        for _ in range(8):
            Client(capped["port"]).close()
        time.sleep(0.3)
        idle = [Client(capped["port"]) for _ in range(3)]
        try:
            time.sleep(0.3)
            reply = request(capped["port"], "GET", "/healthz")
            assert reply.status == 200, reply
            assert not any(client.closed_by_server(timeout=0.2) for client in idle)
        finally:
            for client in idle:
                client.close()
        after = refusals(capped["port"])
        assert after.get("idle_closed_at_limit", 0) == before.get("idle_closed_at_limit", 0), (before, after)

    def test_at_the_cap_with_every_connection_busy_a_new_one_gets_a_json_503_with_retry_after(
        self, capped: dict[str, str]
    ) -> None:
        before = refusals(capped["port"])
        streams = [_stream(capped["port"]) for _ in range(4)]
        try:
            answer = exchange(capped["port"], head("GET", "/healthz"), timeout=5)
            headers = assert_json_error(answer, 503, "connection limit")
            assert headers["retry-after"] == "1"
        finally:
            for client in streams:
                client.abort()
        deadline = time.monotonic() + 5
        while (reply := request(capped["port"], "GET", "/healthz", timeout=2)).status != 200:
            assert time.monotonic() < deadline, reply
            time.sleep(0.1)
        after = refusals(capped["port"])
        assert after["connection_limit"] - before["connection_limit"] == 1, (before, after)

    def test_a_client_whose_unsent_answer_passes_the_bound_is_cut_off_at_once(self, capped: dict[str, str]) -> None:
        client = Client(capped["port"], receive_buffer=4096)
        try:
            with counted(capped["port"], "slow_reader"):
                client.send(head("GET", f"/v6/nodes/?page_size={NODES}"))
                time.sleep(0.5)
                received = b""
                with contextlib.suppress(ConnectionResetError, TimeoutError):
                    received = client.read_all(timeout=5)
            assert len(received) < 150_000, len(received)
        finally:
            client.close()


class TestProbeListener:
    def test_probes_are_answered_on_their_own_address_while_the_service_address_is_full(
        self, database: dict[str, str]
    ) -> None:
        main, probe = PORT + 7, PORT + 8
        instance = _instance(database, main, GUNICORN_WORKER_CONNECTIONS="4", GUNICORN_PROBE_BIND=f"127.0.0.1:{probe}")
        with _serving(instance):
            streams = [_stream(main) for _ in range(4)]
            try:
                assert_json_error(exchange(main, head("GET", "/healthz"), timeout=5), 503, "connection limit")
                for path in ("/healthz", "/readyz"):
                    reply = request(probe, "GET", path, timeout=5)
                    assert reply.status == 200, reply
                    assert reply.seconds < 1.0, reply
            finally:
                for client in streams:
                    client.abort()
            answer = exchange(probe, head("GET", "/v6/nodes/"), timeout=5)
            assert_json_error(answer, 404, "health probes only")
            assert request(main, "GET", "/v6/nodes/?page_size=1", timeout=5).status == 200


class TestAcceptRate:
    def test_connections_beyond_the_accept_rate_wait_in_the_queue_and_are_all_served(
        self, database: dict[str, str]
    ) -> None:
        # 20 a second, 64 at once: 200 connections opened together take some 7 s to be taken.
        instance = _instance(database, PORT + 10, GUNICORN_ACCEPT_RATE="20", GUNICORN_KEEPALIVE="30")
        with _serving(instance):
            time.sleep(4)
            started = time.monotonic()
            clients = [Client(instance.port) for _ in range(200)]
            try:
                for client in clients:
                    client.send(head("GET", "/healthz", "Connection: close"))
                answered_at = _answer_times(clients, timeout=20)
            finally:
                for client in clients:
                    client.close()
            assert len(answered_at) == 200, len(answered_at)
            opened = time.monotonic() - started
            within_a_second = sum(1 for at in answered_at if at - started < 1.0)
            assert within_a_second <= 64 + 20 * max(opened, 1.0) + 10, (opened, sorted(answered_at))
            assert max(answered_at) - started > 5.0, max(answered_at) - started


def _answer_times(clients: list[Client], *, timeout: float) -> list[float]:
    """When each client's connection was closed after an answer (200), for those answered within ``timeout``."""
    selector = selectors.DefaultSelector()
    received = {}
    for client in clients:
        client.sock.setblocking(False)
        selector.register(client.sock, selectors.EVENT_READ, client)
        received[client] = b""
    answered_at = []
    deadline = time.monotonic() + timeout
    while received and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            client = key.data
            try:
                chunk = client.sock.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                chunk = b""
            if chunk:
                received[client] += chunk
                continue
            selector.unregister(client.sock)
            if received.pop(client).startswith(b"HTTP/1.1 200"):
                answered_at.append(time.monotonic())
    selector.close()
    return answered_at


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="util-linux's prlimit is not installed")
def test_the_cap_stays_below_the_open_file_limit_and_accept_never_runs_out(database: dict[str, str]) -> None:
    """With 200 open files a process allows 200 - 64 connections; 300 idle ones never make accept fail."""
    instance = _instance(database, PORT + 2, GUNICORN_FD_RESERVE="64", GUNICORN_KEEPALIVE="30")
    with _serving(instance):
        old = instance.worker_pids()
        subprocess.run(  # noqa: S603 (util-linux's prlimit on the instance this test started)
            ["prlimit", f"--pid={instance.pid}", "--nofile=200:200"],  # noqa: S607
            check=True,
            timeout=10,
        )
        # Workers started from now on inherit the master's limit.
        os.kill(instance.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while not (instance.worker_pids() and instance.worker_pids().isdisjoint(old)):
            assert time.monotonic() < deadline, instance.log_path.read_text()[-2000:]
            time.sleep(0.2)
        while request(instance.port, "GET", "/healthz", timeout=2).status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        clients = []
        try:
            for _ in range(300):
                clients.append(Client(instance.port))
            time.sleep(0.5)
            for _ in range(5):
                reply = request(instance.port, "GET", "/v6/nodes/?page_size=5", timeout=5)
                assert reply.status == 200, reply
        finally:
            for client in clients:
                client.close()
        log = instance.log_path.read_text()
    assert "at most 136 connections per process" in log, log[-3000:]
    assert "Too many open files" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


class Probe(threading.Thread):
    """Asks /healthz on a new connection every 50 ms until stopped; keeps each answer's status and time."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.answers: list[tuple[float, int, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            reply = request(self.port, "GET", "/healthz", timeout=3)
            self.answers.append((started, reply.status, reply.seconds))
            self.stopping.wait(max(0.05 - reply.seconds, 0))

    def stop(self) -> list[tuple[float, int, float]]:
        self.stopping.set()
        self.join(timeout=10)
        return self.answers


class TestRestarts:
    def test_a_recycle_under_load_with_open_streams_leaves_no_probe_unanswered(self, database: dict[str, str]) -> None:
        instance = _instance(
            database,
            PORT + 3,
            workers=2,
            GUNICORN_MAX_REQUESTS="400",
            GUNICORN_MAX_REQUESTS_JITTER="0",
            GUNICORN_TIMEOUT="4",
            GUNICORN_GRACEFUL_TIMEOUT="3",
        )
        with _serving(instance):
            first_workers = instance.worker_pids()
            streams = [_stream(instance.port) for _ in range(6)]
            probe = Probe(instance.port)
            probe.start()
            try:
                # One kept-alive connection: its worker, and only it, reaches max_requests.
                load = Client(instance.port)
                deadline = time.monotonic() + 20
                sent = 0
                while instance.worker_pids() == first_workers and time.monotonic() < deadline:
                    try:
                        load.send(head("GET", "/v6/nodes/?page_size=1"))
                        if not load.sock.recv(65536):
                            break
                        sent += 1
                    except OSError:
                        break
                load.close()
                # The drain and the replacement's start, probed throughout.
                time.sleep(5)
            finally:
                answers = probe.stop()
                for client in streams:
                    client.close()
            log = instance.log_path.read_text()
            replaced = instance.worker_pids() != first_workers
        assert "Autorestarting worker" in log, log[-3000:]
        assert replaced, log[-3000:]
        assert "WORKER TIMEOUT" not in log, log[-3000:]
        assert len(answers) > 40, answers
        assert all(status == 200 for _, status, _ in answers), [a for a in answers if a[1] != 200]
        assert max(seconds for _, _, seconds in answers) < 1.0, max(answers, key=lambda a: a[2])
        gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(answers)]
        assert max(gaps) < 1.0, max(gaps)

    def test_two_processes_reaching_their_limit_together_recycle_one_after_the_other(
        self, database: dict[str, str]
    ) -> None:
        instance = _instance(
            database,
            PORT + 6,
            workers=2,
            GUNICORN_MAX_REQUESTS="150",
            GUNICORN_MAX_REQUESTS_JITTER="0",
            GUNICORN_TIMEOUT="4",
            GUNICORN_GRACEFUL_TIMEOUT="3",
        )
        with _serving(instance):
            first_workers = instance.worker_pids()
            # Streams hold each drain until its deadline, as long as a recycle can last.
            streams = [_stream(instance.port) for _ in range(6)]
            probe = Probe(instance.port)
            probe.start()
            stopping = threading.Event()

            def load() -> None:
                while not stopping.is_set():
                    request(instance.port, "GET", "/v6/nodes/?page_size=1", timeout=3)

            loaders = [threading.Thread(target=load, daemon=True) for _ in range(3)]
            try:
                for loader in loaders:
                    loader.start()
                deadline = time.monotonic() + 30
                while not instance.worker_pids().isdisjoint(first_workers) and time.monotonic() < deadline:
                    time.sleep(0.2)
                stopping.set()
                for loader in loaders:
                    loader.join(timeout=10)
                time.sleep(2)
            finally:
                stopping.set()
                answers = probe.stop()
                for client in streams:
                    client.abort()
            log = instance.log_path.read_text()
            replaced_both = instance.worker_pids().isdisjoint(first_workers)
        assert replaced_both, log[-3000:]
        assert "Recycling postponed" in log, log[-3000:]
        assert "WORKER TIMEOUT" not in log, log[-3000:]
        assert all(status == 200 for _, status, _ in answers), [a for a in answers if a[1] != 200]
        assert max(seconds for _, _, seconds in answers) < 1.0, max(answers, key=lambda a: a[2])

    def test_sigterm_with_open_streams_stops_the_master_within_a_few_seconds(self, database: dict[str, str]) -> None:
        instance = _instance(database, PORT + 4, workers=2, GUNICORN_GRACEFUL_TIMEOUT="3")
        with _serving(instance):
            streams = [_stream(instance.port) for _ in range(6)]
            try:
                started = time.monotonic()
                instance.process.send_signal(signal.SIGTERM)
                instance.process.wait(timeout=10)
                took = time.monotonic() - started
                ended = [client.closed_by_server(timeout=1) for client in streams]
            finally:
                for client in streams:
                    client.close()
            log = instance.log_path.read_text()
        assert took < 4.0, log[-3000:]
        assert all(ended), ended
        assert "WORKER TIMEOUT" not in log, log[-3000:]
        assert "Draining" in log, log[-3000:]


def test_the_sync_workers_answer_their_own_refusals_in_json(database: dict[str, str]) -> None:
    port = PORT + 5
    with _serving(_instance(database, port, GUNICORN_WORKER="sync")):
        too_large = exchange(port, head("GET", "/healthz", "X-Big: " + "v" * 9000))
        malformed = exchange(port, b"GARBAGE\r\n\r\n")
        served = request(port, "GET", "/healthz")
    assert_json_error(too_large, 431, "Error parsing headers")
    assert too_large[1] == "Request Header Fields Too Large"
    assert_json_error(malformed, 400, "Invalid Request Line")
    assert served.status == 200, served


class TestAllocator:
    def test_workers_take_small_objects_from_the_c_allocator_as_make_serve_starts_them(
        self, database: dict[str, str]
    ) -> None:
        dry_run = subprocess.run(  # noqa: S603 (make, on our own Makefile)
            [shutil.which("make") or "/usr/bin/make", "-n", "-o", ".venv/.installed", "serve", "run"],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.replace("\\\n", " ")
        gunicorn_lines = [line for line in dry_run.splitlines() if "bin/gunicorn" in line]
        assert len(gunicorn_lines) == 2, dry_run
        assert all("PYTHONMALLOC=malloc" in line for line in gunicorn_lines), gunicorn_lines
        instance = _instance(database, PORT + 11)
        with _serving(instance):
            for pid in instance.worker_pids():
                environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert b"PYTHONMALLOC=malloc" in environment
        assert "PYTHONMALLOC is not malloc" not in instance.log_path.read_text()

    def test_an_instance_started_with_pythons_own_allocator_says_so(self, database: dict[str, str]) -> None:
        instance = _instance(database, PORT + 12, PYTHONMALLOC="pymalloc")
        with _serving(instance):
            assert request(PORT + 12, "GET", "/healthz", timeout=5).status == 200
        assert "PYTHONMALLOC is not malloc" in instance.log_path.read_text()
