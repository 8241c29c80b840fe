"""The live watch served in this process: what a stopping process does, and long-polls woken together.

The served application (``serving.asgi.SingleThreadASGIHandler``) driven by ASGI messages on one event
loop, as a server process runs it. A stopping process (``serving.shutdown.begin()`` called on the loop,
as the server calls it when it starts to drain) ends its event streams and answers its waiting
long-polls at once; long-polls woken by the same change share one read of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from unittest import mock

import pytest

from node import live, views
from node.live import process_live, streams
from node.models import Node
from node.services import node_create, node_update
from serving import shutdown
from serving.asgi import SingleThreadASGIHandler

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "root_path": "",
    "headers": [(b"host", b"testserver"), (b"accept", b"application/json")],
    "client": ("127.0.0.1", 40000),
    "server": ("testserver", 80),
}
TIMEOUT = 10.0


@pytest.fixture
def fresh_process(transactional_db: None) -> Iterator[None]:
    """A process not stopping, with no event reader, listener or caps left from another test."""
    shutdown.reset()
    live.reset()
    yield
    shutdown.reset()
    live.reset()


class Exchange:
    """One request to ``app``, from a client that stays connected; what the application sends, as it sends it."""

    def __init__(self, app: SingleThreadASGIHandler, path: str, query: str = "") -> None:
        self.messages: list[dict] = []
        self.sent = asyncio.Event()
        self._requested = False
        scope = {**SCOPE, "path": path, "raw_path": path.encode(), "query_string": query.encode()}
        self.task = asyncio.create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict:
        if self._requested:
            await asyncio.Event().wait()
        self._requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def _send(self, message: dict) -> None:
        self.messages.append(message)
        self.sent.set()

    @property
    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.messages[1:])

    @property
    def ended(self) -> bool:
        return (
            bool(self.messages)
            and self.messages[-1]["type"] == "http.response.body"
            and not self.messages[-1].get("more_body", False)
        )

    async def until(self, done: object, *, timeout: float = TIMEOUT) -> None:
        """Wait until ``done()`` holds, as messages arrive (TimeoutError after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while not done():
                self.sent.clear()
                await self.sent.wait()


def test_stopping_ends_every_stream_with_a_retry_hint_and_answers_waiting_long_polls(fresh_process: None) -> None:
    node_create(hostname="stopping.test")
    newest = Node.objects.get().change_index
    app = SingleThreadASGIHandler()

    async def scenario() -> tuple[list[Exchange], list[Exchange], float]:
        streams = [Exchange(app, "/v6/nodes/events/") for _ in range(3)]
        polls = [Exchange(app, "/v6/nodes/changes/", f"after={newest}&wait=30") for _ in range(2)]
        for stream in streams:
            await stream.until(lambda stream=stream: b": keep-alive" in stream.body)
        # The long-polls are waiting: nothing new, 30 s to go.
        deadline = time.monotonic() + TIMEOUT
        while process_live().caps.waiting().open < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert process_live().caps.waiting().open == 2
        started = time.monotonic()
        shutdown.begin()
        for exchange in streams + polls:
            await exchange.until(lambda exchange=exchange: exchange.ended)
        elapsed = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*(exchange.task for exchange in streams + polls)), TIMEOUT)
        return streams, polls, elapsed

    streams, polls, elapsed = asyncio.run(scenario())
    assert elapsed < 1, elapsed
    for stream in streams:
        assert stream.messages[0]["status"] == 200
        # The last thing sent before the end: the reconnection delay, and why.
        last = stream.body.rsplit(b"\n\n", 2)[-2]
        assert last.startswith(b"retry: "), stream.body
        assert b"stopping" in last
    for poll in polls:
        assert poll.messages[0]["status"] == 200
        assert poll.body == b'{"index":%d,"more":false,"results":[]}' % newest
    assert (process_live().caps.streams().open, process_live().caps.waiting().open) == (0, 0)


def test_a_stream_opened_while_stopping_ends_at_once_and_a_long_poll_does_not_wait(fresh_process: None) -> None:
    node_create(hostname="late.test")
    newest = Node.objects.get().change_index
    app = SingleThreadASGIHandler()
    shutdown.begin()

    async def scenario() -> tuple[Exchange, Exchange, float]:
        started = time.monotonic()
        stream = Exchange(app, "/v6/nodes/events/")
        poll = Exchange(app, "/v6/nodes/changes/", f"after={newest}&wait=30")
        await stream.until(lambda: stream.ended)
        await poll.until(lambda: poll.ended)
        return stream, poll, time.monotonic() - started

    stream, poll, elapsed = asyncio.run(scenario())
    assert elapsed < 2, elapsed
    assert b"retry: " in stream.body
    assert poll.body == b'{"index":%d,"more":false,"results":[]}' % newest


WAITERS = 50


def test_the_waiters_woken_by_one_change_share_one_read_and_answer_as_a_plain_request(fresh_process: None) -> None:
    node_create(hostname="wake.test")
    node = Node.objects.get()
    newest = node.change_index
    app = SingleThreadASGIHandler()
    reads: list[float] = []
    real = views.read_changes_page

    def counted(**kwargs: int) -> views.ChangesPage:
        reads.append(time.monotonic())
        return real(**kwargs)

    async def scenario() -> tuple[list[Exchange], Exchange, int]:
        polls = [Exchange(app, "/v6/nodes/changes/", f"after={newest}&wait=30") for _ in range(WAITERS)]
        deadline = time.monotonic() + TIMEOUT
        while process_live().caps.waiting().open < WAITERS and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert process_live().caps.waiting().open == WAITERS
        with mock.patch.object(views, "read_changes_page", counted):
            await asyncio.to_thread(node_update, node=node, changes={"is_paused": True, "pause_reason": "wake"})
            for poll in polls:
                await poll.until(lambda poll=poll: poll.ended)
            woken_reads = len(reads)
        plain = Exchange(app, "/v6/nodes/changes/", f"after={newest}")
        await plain.until(lambda: plain.ended)
        return polls, plain, woken_reads

    polls, plain, woken_reads = asyncio.run(scenario())
    assert woken_reads == 1, woken_reads
    assert b'"pause_reason":"wake"' in plain.body
    assert {poll.body for poll in polls} == {plain.body}
    headers = [dict(poll.messages[0]["headers"]) for poll in polls]
    assert {header[b"X-Registry-Index"] for header in headers} == {
        dict(plain.messages[0]["headers"])[b"X-Registry-Index"]
    }
    assert process_live().caps.waiting().open == 0


def test_a_stream_sends_its_backlog_in_parts_of_a_few_whole_events(fresh_process: None) -> None:
    # A client that does not read holds one part in the process, not a page of hundreds of events.
    total = streams.READ_EVENTS * 3 + 5
    for number in range(total):
        node_create(hostname=f"part-{number}.test")
    app = SingleThreadASGIHandler()

    async def scenario() -> Exchange:
        stream = Exchange(app, "/v6/nodes/events/", "after=0")
        await stream.until(lambda: stream.body.count(b"\nevent: node\n") >= total)
        stream.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stream.task
        return stream

    stream = asyncio.run(scenario())
    bodies = [message["body"] for message in stream.messages[1:] if message.get("body")]
    counts = [body.count(b"\nevent: node\n") for body in bodies]
    assert sum(counts) == total, counts
    assert max(len(body) for body in bodies) <= streams.SEND_BYTES
    # Whole events: each part ends where an event does.
    assert all(body.endswith(b"\n\n") for body in bodies)
    assert max(counts) > 1, counts


def test_parts_hold_whole_events_up_to_the_limit_and_a_longer_event_alone() -> None:
    entries = [(1, b"a" * 3), (2, b"b" * 3), (3, b"c" * 10), (4, b"d" * 2), (5, b"e" * 2)]
    assert list(streams.parts(entries, limit=6)) == [(2, b"aaabbb"), (3, b"c" * 10), (5, b"ddee")]
    assert list(streams.parts([], limit=6)) == []


def test_an_open_stream_keeps_neither_its_url_match_nor_the_headers_it_sent(fresh_process: None) -> None:
    import gc

    from django.http import StreamingHttpResponse
    from django.urls import ResolverMatch

    app = SingleThreadASGIHandler()

    def alive() -> tuple[list, list]:
        gc.collect()
        objects = gc.get_objects()
        matches = [obj for obj in objects if type(obj) is ResolverMatch and obj.url_name == "node-events"]
        return matches, [obj for obj in objects if type(obj) is StreamingHttpResponse]

    # What earlier tests left alive is not this stream's.
    earlier = {id(obj) for found in alive() for obj in found}

    async def scenario() -> tuple[list, list]:
        stream = Exchange(app, "/v6/nodes/events/", "after=0")
        await stream.until(lambda: streams.HEARTBEAT in stream.body)
        matches, responses = ([obj for obj in found if id(obj) not in earlier] for found in alive())
        stream.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stream.task
        return matches, responses

    matches, responses = asyncio.run(scenario())
    assert matches == []
    # The response lives as long as its content, with nothing of what was sent.
    assert len(responses) == 1
    assert len(responses[0].headers) == 0
