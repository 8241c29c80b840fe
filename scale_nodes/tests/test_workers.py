"""``scale_nodes.workers.OneAcceptPerTurn``: the ASGI worker's listening socket takes one connection per loop turn."""

import asyncio
import socket
from collections.abc import Iterator

import pytest

from scale_nodes.workers import OneAcceptPerTurn


@pytest.fixture
def listener() -> Iterator[OneAcceptPerTurn]:
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    plain.listen(16)
    taken = OneAcceptPerTurn.taking(plain)
    taken.setblocking(False)
    try:
        yield taken
    finally:
        taken.close()


def test_the_socket_is_the_listeners_own(listener: OneAcceptPerTurn) -> None:
    assert listener.getsockname()[0] == "127.0.0.1"
    assert listener.type == socket.SOCK_STREAM


def test_a_second_connection_waits_for_the_next_turn_of_the_loop(listener: OneAcceptPerTurn) -> None:
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]

    async def accept_in_turns() -> list[int]:
        accepted_per_turn = []
        for _ in range(3):
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

    try:
        # All three were pending at once; asyncio would have taken them in one turn.
        assert asyncio.run(accept_in_turns()) == [1, 1, 1]
    finally:
        for client in clients:
            client.close()


def test_an_asyncio_server_on_it_serves_every_connection() -> None:
    async def serve_three() -> list[bytes]:
        plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        plain.bind(("127.0.0.1", 0))
        plain.listen(16)
        taken = OneAcceptPerTurn.taking(plain)

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

    config = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
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
