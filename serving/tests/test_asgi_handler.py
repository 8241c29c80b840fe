"""The served ASGI application (``serving.asgi.SingleThreadASGIHandler``): sync views in one step on the sync thread,
async views on Django's async chain."""

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asgiref import sync
from asgiref.sync import async_to_sync
from django.core import signals
from django.db import OperationalError, close_old_connections
from django.http import HttpResponse
from django.test import Client
from django.urls import get_script_prefix, set_script_prefix

from accounts.authentication import TokenAuthentication
from node.models import Node
from node.services import node_create
from serving.asgi import WEBSOCKETS_REFUSED, SingleThreadASGIHandler, _headers

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"testserver")],
    "client": ("127.0.0.1", 40000),
    "server": ("testserver", 80),
}


@pytest.fixture
def request_signals_off() -> Iterator[None]:
    """As Django's test client does: the test's database connection must outlive each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def handler(request_signals_off: None) -> SingleThreadASGIHandler:
    return SingleThreadASGIHandler()


@pytest.fixture
def steps_to_the_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sync functions the request ran through ``sync_to_async`` (moves from the event loop to the thread)."""
    steps: list[str] = []
    original = sync.SyncToAsync.__call__

    async def counted(self: sync.SyncToAsync, *args: object, **kwargs: object) -> object:
        steps.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    return steps


def serve(app: Callable, path: str, query: bytes = b"", root_path: str = "") -> tuple[int, dict[bytes, bytes], bytes]:
    """One GET through the ASGI application ``app``: status, headers and body."""
    messages: list[dict] = []
    received: list[dict] = []

    async def receive() -> dict:
        if received:
            # After the request, a client that stays connected: nothing more arrives.
            await asyncio.Event().wait()
        received.append({"type": "http.request", "body": b"", "more_body": False})
        return received[-1]

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {**SCOPE, "path": path, "raw_path": path.encode(), "query_string": query, "root_path": root_path}
    async_to_sync(app)(scope, receive, send)
    start = messages[0]
    body = b"".join(message.get("body", b"") for message in messages[1:])
    return start["status"], dict(start["headers"]), body


def test_a_sync_views_request_moves_to_the_sync_thread_once(
    db: None, handler: SingleThreadASGIHandler, steps_to_the_thread: list[str]
) -> None:
    node_create(hostname="one.test")
    status, headers, body = serve(handler, "/v6/nodes/", b"order=hostname")
    assert status == 200
    assert steps_to_the_thread == ["SingleThreadASGIHandler._respond"]
    # The very answer the WSGI handler gives.
    assert body == Client().get("/v6/nodes/?order=hostname").content
    assert headers[b"X-Registry-Index"] == str(Node.objects.get().change_index).encode()


def test_what_a_request_sets_in_context_local_state_stays_with_the_request(
    db: None, handler: SingleThreadASGIHandler
) -> None:
    set_script_prefix("/")
    # Served under a mount point: the request's URL prefix is "/mount/" while it runs...
    status, _, body = serve(handler, "/mount/v6/nodes/", root_path="/mount")
    assert status == 200, body
    # ...and not in the context that called the application (an event stream goes on sending there).
    assert get_script_prefix() == "/"


def test_through_djangos_async_chain_the_same_request_would_move_once_per_middleware_hook(
    db: None, handler: SingleThreadASGIHandler, steps_to_the_thread: list[str]
) -> None:
    node_create(hostname="one.test")
    # Django's own handle(): what async views still go through.
    status, _, _ = serve(handler.handle, "/v6/nodes/")
    assert status == 200
    assert len(steps_to_the_thread) > 10, steps_to_the_thread


def test_an_unknown_path_is_a_404_from_the_sync_chain(
    db: None, handler: SingleThreadASGIHandler, steps_to_the_thread: list[str]
) -> None:
    status, _, _ = serve(handler, "/no/such/path/")
    assert status == 404
    assert steps_to_the_thread == ["SingleThreadASGIHandler._respond"]


@pytest.mark.parametrize(
    ("path", "is_async"),
    [
        ("/v6/nodes/", False),
        ("/v6/nodes/7/", False),
        ("/v6/nodes/events/", False),
        # A long-poll goes through the sync chain once, then waits on the loop (waiting.asyncviews).
        ("/v6/nodes/changes/", False),
        ("/no/such/path/", False),
    ],
)
def test_only_the_views_that_wait_are_served_on_the_async_chain(path: str, is_async: bool) -> None:
    assert SingleThreadASGIHandler.serves_async_view({**SCOPE, "path": path}) is is_async


def test_a_static_file_streams_from_the_sync_chain_whole(
    db: None, request_signals_off: None, settings: object, tmp_path: Path, steps_to_the_thread: list[str]
) -> None:
    content = bytes(range(256)) * 400
    (tmp_path / "probe.bin").write_bytes(content)
    settings.STATIC_ROOT = str(tmp_path)
    status, _, body = serve(SingleThreadASGIHandler(), "/static/probe.bin")
    assert (status, body) == (200, content)
    # Served, then closed on the sync thread once sent.
    assert steps_to_the_thread[0] == "SingleThreadASGIHandler._respond"
    assert "SingleThreadASGIHandler._finish" in steps_to_the_thread


def test_streams_with_the_same_headers_share_them() -> None:
    first, second = (HttpResponse(headers={"Content-Type": "text/event-stream", "X-Request-Id": rid}) for rid in "ab")
    one, other = _headers(first), _headers(second)
    assert dict(one) == {b"Content-Type": b"text/event-stream", b"X-Request-Id": b"a"}
    assert dict(other)[b"X-Request-Id"] == b"b"
    # The same header is the same object in both (a server holds each stream's for as long as it lasts).
    assert one[0] is other[0]
    assert one[1] is not other[1]


def websocket_exchange(app: Callable, scope_extra: dict) -> list[dict]:
    """The messages ``app`` sends for a WebSocket handshake to /v6/nodes/events/."""
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {**SCOPE, "type": "websocket", "scheme": "ws", "path": "/v6/nodes/events/", **scope_extra}
    async_to_sync(app)(scope, receive, send)
    return messages


def test_a_websocket_handshake_gets_a_json_400_where_the_server_offers_the_denial_response(
    handler: SingleThreadASGIHandler,
) -> None:
    messages = websocket_exchange(handler, {"extensions": {"websocket.http.response": {}}})
    assert [message["type"] for message in messages] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert messages[0]["status"] == 400
    assert json.loads(messages[1]["body"]) == {"detail": WEBSOCKETS_REFUSED}
    assert "/v6/nodes/events/" in WEBSOCKETS_REFUSED and "Server-Sent Events" in WEBSOCKETS_REFUSED


def test_a_websocket_handshake_is_closed_before_accepting_where_the_server_offers_no_denial_response(
    handler: SingleThreadASGIHandler,
) -> None:
    messages = websocket_exchange(handler, {})
    assert [message["type"] for message in messages] == ["websocket.close"]
    assert messages[0]["code"] == 1008


def exchange(app: Callable, method: str, path: str, *, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple:
    """One request with ``body`` through the ASGI application ``app``: status, headers, body and whether the
    application asked for the body."""
    messages: list[dict] = []
    asked: list[bool] = []

    async def receive() -> dict:
        if asked:
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        **SCOPE,
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode()), *headers],
    }
    async_to_sync(app)(scope, receive, send)
    return (
        messages[0]["status"],
        dict(messages[0]["headers"]),
        b"".join(m.get("body", b"") for m in messages[1:]),
        bool(asked),
    )


PATCH_BODY = b'{"is_paused": true, "pause_reason": "asgi"}'
JSON = [(b"content-type", b"application/json")]
CONTINUE = (b"expect", b"100-continue")


def test_a_patch_without_credentials_is_refused_before_its_body_is_asked_for(
    db: None, handler: SingleThreadASGIHandler
) -> None:
    node = node_create(hostname="one.test")
    status, headers, body, asked = exchange(
        handler, "PATCH", f"/v6/nodes/{node.pk}/", body=PATCH_BODY, headers=[*JSON, CONTINUE]
    )
    assert status == 401, body
    assert not asked
    assert headers[b"Connection"] == b"close"
    assert json.loads(body)["detail"] == "Authentication credentials were not provided."


def test_a_small_patch_is_read_with_its_head_and_refused_by_the_view_as_usual(
    db: None, handler: SingleThreadASGIHandler
) -> None:
    # No 100 Continue asked for and a few dozen bytes: the body came with the head, and the
    # credentials are checked once, by the view.
    node = node_create(hostname="one.test")
    status, headers, body, asked = exchange(handler, "PATCH", f"/v6/nodes/{node.pk}/", body=PATCH_BODY, headers=JSON)
    assert status == 401, body
    assert asked
    assert b"Connection" not in headers
    assert json.loads(body)["detail"] == "Authentication credentials were not provided."


def test_a_failure_of_the_check_before_the_body_is_left_to_the_full_chain(
    db: None, handler: SingleThreadASGIHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = node_create(hostname="one.test")

    def unavailable(*args: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(TokenAuthentication, "authenticate", unavailable)
    status, _, body, asked = exchange(
        handler,
        "PATCH",
        f"/v6/nodes/{node.pk}/",
        body=PATCH_BODY,
        headers=[*JSON, CONTINUE, (b"authorization", b"Token x")],
    )
    assert (status, json.loads(body)["detail"]) == (503, "The database is unavailable; retry shortly."), body
    assert asked
