"""``serving.workers.PacedAccepts``: the ASGI worker's listening socket takes one connection per loop turn, more
while a backlog lasts."""

import asyncio
import socket
from collections.abc import Iterator

import pytest

from serving import workers
from serving.workers import AcceptRate, PacedAccepts, ProbeServing, ServingLimits


@pytest.fixture
def listener() -> Iterator[PacedAccepts]:
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    plain.listen(128)
    taken = PacedAccepts.taking(plain)
    taken.setblocking(False)
    try:
        yield taken
    finally:
        taken.close()


def test_the_socket_is_the_listeners_own(listener: PacedAccepts) -> None:
    assert listener.getsockname()[0] == "127.0.0.1"
    assert listener.type == socket.SOCK_STREAM


def _accept_in_turns(listener: PacedAccepts, turns: int) -> list[int]:
    """How many connections ``listener`` gives an accept loop like asyncio's in each of ``turns`` loop turns."""

    async def accept_in_turns() -> list[int]:
        accepted_per_turn = []
        for _ in range(turns):
            accepted = []
            while True:
                try:
                    connection, _ = listener.accept()
                except BlockingIOError:
                    break
                accepted.append(connection)
            accepted_per_turn.append(len(accepted))
            for connection in accepted:
                connection.close()
            await asyncio.sleep(0)
        return accepted_per_turn

    return asyncio.run(accept_in_turns())


def test_a_second_connection_waits_for_the_next_turn_of_the_loop(listener: PacedAccepts) -> None:
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]
    try:
        # All three were pending at once; asyncio would have taken them in one turn.
        assert _accept_in_turns(listener, 3) == [1, 1, 1]
    finally:
        for client in clients:
            client.close()


def test_the_listen_queues_length_is_read_from_the_kernel(listener: PacedAccepts) -> None:
    assert listener.waiting() == 0
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(5)]
    try:
        assert listener.waiting() == 5
    finally:
        for client in clients:
            client.close()


def test_a_burst_is_taken_many_at_a_turn(listener: PacedAccepts) -> None:
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(PacedAccepts.BURST + 8)]
    try:
        # A queue of BURST or more: the turn takes them all (up to its maximum).
        assert _accept_in_turns(listener, 2) == [PacedAccepts.BURST + 8, 0]
    finally:
        for client in clients:
            client.close()


def test_an_asyncio_server_on_it_serves_every_connection() -> None:
    async def serve_three() -> list[bytes]:
        plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        plain.bind(("127.0.0.1", 0))
        plain.listen(16)
        taken = PacedAccepts.taking(plain)

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(3))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, sock=taken)
        port = taken.getsockname()[1]
        try:
            connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(3)))
            for number, (_, writer) in enumerate(connections):
                writer.write(b"ab%d" % number)
            return await asyncio.wait_for(
                asyncio.gather(*(reader.readexactly(3) for reader, _ in connections)), timeout=5
            )
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(serve_three()) == [b"ab0", b"ab1", b"ab2"]


def test_a_worker_freezes_the_loaded_application_out_of_garbage_collection() -> None:
    import gc
    import runpy
    from pathlib import Path
    from unittest import mock

    from node import views

    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "scale_nodes" / "gunicorn.conf.py"))
    tracked = {id(obj) for obj in gc.get_objects()}
    try:
        # The hook gunicorn calls once a worker has loaded the application.
        config["post_worker_init"](mock.Mock())
        frozen = gc.get_freeze_count()
        still_collected = {id(obj) for obj in gc.get_objects()}
    finally:
        gc.unfreeze()
    assert frozen > 10_000
    # A view's function was collectable before and is frozen now.
    assert id(views.NodeEventsView.get) in tracked
    assert id(views.NodeEventsView.get) not in still_collected


class _Captured:
    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.written += data


def test_gunicorns_error_page_is_read_back_whole_for_its_json_rewrite() -> None:
    """The sync workers rewrite the page ``gunicorn.util.write_error`` writes: its status, reason and message."""
    from gunicorn import util

    from serving.workers import parse_error_page

    page = _Captured()
    message = "Error parsing headers: 'a<b & c'"
    util.write_error(page, 431, "Request Header Fields Too Large", message)
    assert parse_error_page(page.written) == (431, "Request Header Fields Too Large", message)


def test_a_page_of_another_shape_is_not_taken_for_gunicorns() -> None:
    from serving.workers import parse_error_page

    with pytest.raises(ValueError, match="not an error page"):
        parse_error_page(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}")


# The gunicorn methods the workers override or call although gunicorn has no public hook for them,
# with the parameters they are called with. A change in the pinned gunicorn fails here first.
GUNICORN_HOOKS = [
    ("_on_headers_complete", ["self"]),
    ("_on_body", ["self", "chunk"]),
    ("_on_message_complete", ["self"]),
    ("_arm_keepalive_timer", ["self"]),
    ("_keepalive_timeout", ["self"]),
    ("_close_transport", ["self"]),
    ("_send_error_response", ["self", "status", "message", "extra_headers"]),
    ("_safe_write", ["self", "data"]),
    ("_send_response_start", ["self", "status", "headers", "request", "close"]),
    ("pause_writing", ["self"]),
    ("resume_writing", ["self"]),
    ("connection_made", ["self", "transport"]),
    ("connection_lost", ["self", "exc"]),
    ("data_received", ["self", "data"]),
]


@pytest.mark.parametrize(("name", "parameters"), GUNICORN_HOOKS, ids=[name for name, _ in GUNICORN_HOOKS])
def test_the_gunicorn_protocol_methods_the_worker_overrides_keep_their_signature(
    name: str, parameters: list[str]
) -> None:
    import inspect

    from gunicorn.asgi.protocol import ASGIProtocol

    assert list(inspect.signature(getattr(ASGIProtocol, name)).parameters) == parameters


def test_the_gunicorn_worker_hooks_the_workers_use_keep_their_signature() -> None:
    import inspect

    from gunicorn.workers.base import Worker
    from gunicorn.workers.gasgi import ASGIWorker

    assert list(inspect.signature(Worker.handle_error).parameters) == ["self", "req", "client", "addr", "exc"]
    assert list(inspect.signature(ASGIWorker.run).parameters) == ["self"]
    assert "_quick_shutdown" in ASGIWorker.__init__.__code__.co_names


def test_the_gunicorn_state_the_protocol_reads_is_still_there() -> None:
    from unittest import mock

    from gunicorn.asgi.parser import CallbackRequest, PythonProtocol
    from gunicorn.asgi.protocol import ASGIProtocol

    worker = mock.MagicMock()
    worker.cfg.keepalive = 5
    protocol = ASGIProtocol(worker)
    for attribute in (
        "_closed",
        "_request_ready",
        "_body_receiver",
        "_callback_parser",
        "_current_request",
        "_response_buffer",
    ):
        assert hasattr(protocol, attribute), attribute
    assert protocol._keepalive == 5
    parser = PythonProtocol()
    for attribute in ("_chunk_size", "_chunk_remaining", "headers", "content_length", "is_chunked"):
        assert hasattr(parser, attribute), attribute
    assert hasattr(CallbackRequest(), "must_close")
    # The parser whose chunk sizes the worker reads is the one the configuration asks for.
    assert _config()["http_parser"] == "python"


def _config(**env: str) -> dict:
    import os
    import runpy
    from pathlib import Path
    from unittest import mock

    with mock.patch.dict(os.environ, env):
        return runpy.run_path(str(Path(__file__).resolve().parents[2] / "scale_nodes" / "gunicorn.conf.py"))


def test_the_serving_limits_come_from_the_environment_with_their_defaults() -> None:
    from serving.workers import ServingLimits

    assert _config()["SERVING_LIMITS"] == ServingLimits()
    limits = _config(GUNICORN_HEADER_TIMEOUT="2.5", GUNICORN_BODY_MIN_RATE="1000", DATA_UPLOAD_MAX_MEMORY_SIZE="10")[
        "SERVING_LIMITS"
    ]
    assert (limits.header_timeout, limits.body_min_rate, limits.max_body_bytes) == (2.5, 1000, 10)
    assert ServingLimits().max_body_bytes == 2_621_440
    assert (_config()["backlog"], _config(GUNICORN_BACKLOG="512")["backlog"]) == (4096, 512)
    assert _config(GUNICORN_FULL_COLLECTION_SECONDS="60")["SERVING_LIMITS"].full_collection_seconds == 60.0


def test_django_and_the_worker_read_one_body_limit_from_the_environment() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {"PATH": os.environ.get("PATH", ""), "DEBUG": "1", "DATA_UPLOAD_MAX_MEMORY_SIZE": "12345"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split()[-1:] == ["12345"], result.stdout + result.stderr
    assert _config(DATA_UPLOAD_MAX_MEMORY_SIZE="12345")["SERVING_LIMITS"].max_body_bytes == 12345


def test_each_worker_draws_its_recycling_limit_over_a_range_as_wide_as_max_requests() -> None:
    config = _config(GUNICORN_MAX_REQUESTS="5000")
    assert (config["max_requests"], config["max_requests_jitter"]) == (5000, 5000)


def test_a_graceful_timeout_beyond_the_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="GUNICORN_GRACEFUL_TIMEOUT"):
        _config(GUNICORN_TIMEOUT="10", GUNICORN_GRACEFUL_TIMEOUT="20")


@pytest.mark.parametrize(
    ("limit", "connections", "expected_cap", "raised_to"),
    [
        ((1024, 1024), 10_000, 1024 - 128, None),
        ((1024, 65536), 10_000, 10_000, 10_128),
        ((1024, 4096), 10_000, 4096 - 128, 4096),
        ((20_000, 20_000), 100, 100, None),
    ],
    ids=["hard limit", "raised to what the cap needs", "raised to the hard limit", "enough already"],
)
def test_the_connection_cap_stays_below_the_open_file_limit_less_the_reserve(
    limit: tuple[int, int], connections: int, expected_cap: int, raised_to: int | None
) -> None:
    from unittest import mock

    from serving.workers import AsgiWorker, ServingLimits

    worker = mock.Mock(worker_connections=connections, limits=ServingLimits())
    with (
        mock.patch("resource.getrlimit", return_value=limit),
        mock.patch("resource.setrlimit") as setrlimit,
    ):
        budget = AsgiWorker.open_file_budget(worker)
    assert min(connections, budget) == expected_cap
    if raised_to is None:
        setrlimit.assert_not_called()
    else:
        setrlimit.assert_called_once_with(mock.ANY, (raised_to, limit[1]))


def test_a_drain_stops_accepting_raises_the_stopping_flag_and_closes_idle_connections() -> None:
    from unittest import mock

    from serving import shutdown
    from serving.workers import AsgiWorker

    idle = mock.Mock(_phase=0)
    worker = mock.Mock(servers=[mock.Mock()], idle={idle: None}, nr_conns=0, connections=set(), _quick_shutdown=False)
    worker.cfg.graceful_timeout = 5
    try:
        asyncio.run(AsgiWorker.drain(worker))
        assert shutdown.is_stopping()
    finally:
        shutdown.reset()
    worker.servers[0].close.assert_called_once_with()
    idle._idle_timed_out.assert_called_once_with()
    worker.notify.assert_called()


def test_a_drain_closes_what_is_left_at_its_deadline_keeping_the_heartbeat_meanwhile() -> None:
    import time
    from unittest import mock

    from serving import shutdown
    from serving.workers import AsgiWorker

    stuck = mock.Mock()
    worker = mock.Mock(servers=[], idle={}, nr_conns=1, connections={stuck}, _quick_shutdown=False)
    # One second before graceful_timeout, at least half a second.
    worker.cfg.graceful_timeout = 1
    started = time.monotonic()
    try:
        asyncio.run(AsgiWorker.drain(worker))
    finally:
        shutdown.reset()
    assert 0.4 < time.monotonic() - started < 1.5
    stuck.transport.abort.assert_called_once_with()
    assert worker.notify.call_count >= 5


def test_running_out_of_file_descriptors_at_accept_is_one_line_a_second_not_a_traceback() -> None:
    import errno
    from unittest import mock

    from serving.workers import AsgiWorker

    worker = mock.Mock(_accept_errors_logged=0.0, nr_conns=7)
    loop = mock.Mock()
    context = {"message": "socket.accept() out of system resource", "exception": OSError(errno.EMFILE, "Too many")}
    with mock.patch("serving.workers._count_refusal") as count:
        for _ in range(3):
            AsgiWorker._loop_exception(worker, loop, context)
    assert worker.log.warning.call_count == 1
    assert count.call_count == 3
    loop.default_exception_handler.assert_not_called()
    AsgiWorker._loop_exception(worker, loop, {"message": "something else", "exception": ValueError()})
    loop.default_exception_handler.assert_called_once()


def test_processes_take_turns_to_recycle(tmp_path: object) -> None:
    """One process holds the turn until it exits; the next may take it once the replacement had time to fork."""
    import fcntl
    import time
    from unittest import mock

    from serving.workers import AsgiWorker

    path = tmp_path / "recycle.lock"
    path.write_bytes(b"")

    def process() -> mock.Mock:
        worker = mock.Mock(_recycle_lock=path.open("r+b"), _recycle_lock_held=False)
        return worker

    first, second, starting = process(), process(), process()
    try:
        assert AsgiWorker.may_recycle(first)
        assert not AsgiWorker.may_recycle(second)
        # The first exits: it notes when, and its lock goes with its open file.
        AsgiWorker._note_recycle_done(first)
        first._recycle_lock.close()
        assert not AsgiWorker.may_recycle(second), "the replacement may not be forked yet"
        # A replacement starting holds the lock shared until it accepts.
        fcntl.flock(starting._recycle_lock, fcntl.LOCK_SH)
        with mock.patch("time.monotonic", return_value=time.monotonic() + 5):
            assert not AsgiWorker.may_recycle(second)
            fcntl.flock(starting._recycle_lock, fcntl.LOCK_UN)
            assert AsgiWorker.may_recycle(second)
    finally:
        for worker in (first, second, starting):
            worker._recycle_lock.close()


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(workers._libc is None, reason="the C library is not glibc (no mallinfo2 or malloc_trim)")
def test_memory_freed_between_pieces_still_in_use_goes_back_to_the_system_once_enough_was_freed() -> None:
    free_memory = workers.FreeMemory(kept=8 * 1024 * 1024)
    if free_memory.due():
        free_memory.release()
    assert not free_memory.due()
    free_memory.last -= free_memory.EVERY_SECONDS
    # Buffers of 40 KB, as connections hold them; one in fifty stays in use, pinning the heap.
    buffers = [bytearray(40_000) for _ in range(2_500)]
    kept = buffers[::50]
    del buffers
    assert free_memory.due()
    before = _rss_bytes()
    free_memory.release()
    released = before - _rss_bytes()
    assert released > 50 * 1024 * 1024, released
    free_memory.last -= free_memory.EVERY_SECONDS
    assert not free_memory.due()
    assert len(kept) == 50


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_accept_rate_allows_its_burst_then_its_rate() -> None:
    clock = FakeClock()
    rate = AcceptRate(rate=100, burst=10, clock=clock)
    assert rate.allowance() == 10
    for _ in range(10):
        rate.take()
    assert rate.allowance() == 0
    assert rate.wait() == pytest.approx(0.01)
    clock.now += 0.0501
    assert rate.allowance() == 5
    clock.now += 60
    assert rate.allowance() == 10


def test_no_accept_rate_bounds_nothing() -> None:
    rate = AcceptRate(rate=0, burst=1)
    for _ in range(1000):
        rate.take()
    assert rate.allowance() == PacedAccepts.MAX_ACCEPTS_PER_TURN
    assert rate.wait() == 0.0


def test_a_spent_allowance_takes_no_connection_and_says_so(listener: PacedAccepts) -> None:
    spent = []
    listener.allowance = lambda: 0
    listener.on_spent = lambda: spent.append(True)
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]
    try:
        assert _accept_in_turns(listener, 2) == [0, 0]
        assert spent == [True, True]
        assert listener.waiting() == 3
    finally:
        for client in clients:
            client.close()


def test_a_burst_is_taken_no_faster_than_the_allowance(listener: PacedAccepts) -> None:
    listener.allowance = lambda: 5
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(PacedAccepts.BURST + 8)]
    try:
        assert _accept_in_turns(listener, 2) == [5, 5]
    finally:
        for client in clients:
            client.close()


def test_a_shared_socket_closes_without_closing_the_listener() -> None:
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    plain.listen(16)
    try:
        shared = PacedAccepts.sharing(plain)
        shared.close()
        client = socket.create_connection(plain.getsockname(), timeout=5)
        connection, _ = plain.accept()
        connection.close()
        client.close()
    finally:
        plain.close()


@pytest.fixture
def probe_serving() -> Iterator[tuple[ProbeServing, object, int]]:
    """A probe listener on a free loopback port served by ``ProbeServing`` for a stand-in worker whose loop last
    turned now: the serving, the stand-in and the port."""
    import time
    import types
    from unittest import mock

    from gunicorn.config import Config

    from serving.asgi import get_single_thread_asgi_application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    worker = types.SimpleNamespace(
        cfg=Config(),
        log=mock.Mock(),
        asgi=get_single_thread_asgi_application(),
        limits=ServingLimits(probe_bind=f"127.0.0.1:{port}"),
        alive=True,
        loop_turned=time.monotonic(),
        log_refusal=mock.Mock(),
    )
    serving = ProbeServing(worker, [mock.Mock(sock=sock)])
    serving.start()
    try:
        yield serving, worker, port
    finally:
        serving.stop()
        sock.close()


def _probe(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


def test_probes_are_answered_on_a_thread_of_their_own_and_refused_once_the_loop_stalls(
    probe_serving: tuple[ProbeServing, object, int],
) -> None:
    import time

    serving, worker, port = probe_serving
    try:
        # No event loop runs on this thread (the worker's, here): the probe is answered all the same.
        answer = _probe(port, "/healthz")
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert b'{"status": "ok"}' in answer, answer
        answer = _probe(port, "/v6/nodes/")
        assert answer.startswith(b"HTTP/1.1 404 "), answer
        # The worker's loop last turned 10 s ago: the process is reported as not serving.
        worker.loop_turned = time.monotonic() - 10
        answer = _probe(port, "/healthz")
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"event loop has been stalled for 10s" in answer, answer
        # Probes count on their own, not towards the worker's recycle.
        assert serving.nr == 1
        assert not hasattr(worker, "nr")
    finally:
        serving.stop()
    assert not serving._thread.is_alive()
    assert serving.loop.is_closed()


class _Cycle:
    """An object in a reference cycle with itself: only a garbage collection frees it."""

    def __init__(self) -> None:
        self.me = self


def test_what_outlives_a_full_collection_is_left_out_of_the_next_and_collected_completely_in_a_while() -> None:
    import gc
    import weakref

    from serving.workers import LongLivedObjects

    now = [0.0]
    long_lived = LongLivedObjects(full_every=600, clock=lambda: now[0])
    try:
        survivor = _Cycle()
        gc.collect()
        # Outlived a full collection: frozen, no longer traversed.
        assert gc.get_freeze_count() > 0
        assert not any(obj is survivor for obj in gc.get_objects())
        ref = weakref.ref(survivor)
        del survivor
        gc.collect()
        assert ref() is not None, "a frozen cycle is left to the complete collection"
        now[0] = 599.0
        long_lived.tick()
        assert ref() is not None
        now[0] = 600.0
        long_lived.tick()
        assert ref() is None
        # Frozen again as that collection ended.
        assert gc.get_freeze_count() > 0
    finally:
        long_lived.close()
        gc.unfreeze()
    gc.collect()
    assert gc.get_freeze_count() == 0


def test_an_ended_connection_is_freed_without_a_garbage_collection(
    probe_serving: tuple[ProbeServing, object, int],
) -> None:
    import gc
    import time
    import weakref

    serving, _, port = probe_serving
    gc.collect()
    gc.disable()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 200 ")
            (protocol,) = serving.connections
            connection = weakref.ref(protocol)
            transport = weakref.ref(protocol.transport)
            del protocol
        deadline = time.monotonic() + 5
        while (connection() is not None or transport() is not None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert connection() is None, gc.get_referrers(connection())
        assert transport() is None
    finally:
        gc.enable()
