"""A small asyncio client of ``GET /v6/nodes/events/`` for the tests and the watch benchmark: 127.0.0.1 only.

``EventStream`` opens one connection, reads the status and headers, then parses the chunked body
into events (``id``, ``event``, ``data``) and heartbeats (comment lines). Each event carries the
monotonic time its last byte arrived: the connection's protocol notes the time of every piece of
data as the event loop hands it over and parses later, when asked, so that a client holding
thousands of streams measures when the bytes came, not how long it took to get round to parsing
them. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Event:
    """One event of the stream, with the monotonic time its last byte arrived."""

    id: int
    event: str
    data: str
    received: float

    def node(self) -> dict:
        return json.loads(self.data)


class _Arrivals(asyncio.Protocol):
    """What the connection receives, as ``(monotonic time, bytes)``, and a future to wake a reader."""

    def __init__(self) -> None:
        self.parts: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.waiter: asyncio.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parts.append((time.monotonic(), data))
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


@dataclass
class EventStream:
    """One open event stream to 127.0.0.1:``port``; ``open`` sends the request and reads the head."""

    port: int
    path: str = "/v6/nodes/events/"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    heartbeats: int = 0
    events: list[Event] = field(default_factory=list)
    _arrivals: _Arrivals = field(default_factory=_Arrivals)
    _raw: bytes = b""
    _head_read: bool = False
    _ended: bool = False
    _text: str = ""
    _body: bytes = b""

    async def open(self, *, timeout: float = 10.0) -> EventStream:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.create_connection(lambda: self._arrivals, "127.0.0.1", self.port), timeout)
        head = f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self._arrivals.transport.write((head + "\r\n").encode("latin-1"))
        await self._wait(lambda: self._head_read and (self.status == 200 or self._body_complete()), timeout)
        return self

    @property
    def body(self) -> bytes:
        """The body of a refused request (status other than 200)."""
        return self._body

    def _body_complete(self) -> bool:
        length = int(self.response_headers.get("content-length", "0"))
        if len(self._raw) >= length:
            self._body = self._raw[:length]
            return True
        return False

    def take(self) -> None:
        """Parse what has arrived so far into the head, events and heartbeats."""
        parts, self._arrivals.parts = self._arrivals.parts, []
        for arrived, data in parts:
            self._raw += data
            if not self._head_read:
                if b"\r\n\r\n" not in self._raw:
                    continue
                raw_head, self._raw = self._raw.split(b"\r\n\r\n", 1)
                status_line, *lines = raw_head.decode("latin-1").split("\r\n")
                self.status = int(status_line.split()[1])
                self.response_headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                self._head_read = True
            if self.status == 200:
                self._take_chunks(arrived)

    def _take_chunks(self, arrived: float) -> None:
        while not self._ended and b"\r\n" in self._raw:
            size_line, rest = self._raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self._raw = rest[size + 2 :]
            if size == 0:
                self._ended = True
                return
            self._text += rest[:size].decode()
            self._take_events(arrived)

    def _take_events(self, arrived: float) -> None:
        while "\n\n" in self._text:
            block, self._text = self._text.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.heartbeats += 1
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            if "id" in fields:
                self.events.append(Event(int(fields["id"]), fields.get("event", ""), fields.get("data", ""), arrived))

    async def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            self.take()
            if done():
                return
            if self._ended or self._arrivals.closed:
                raise EOFError(f"the stream ended: {len(self.events)} events, {self.heartbeats} heartbeats")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"after {timeout}s: {len(self.events)} events, {self.heartbeats} heartbeats")
            self._arrivals.waiter = loop.create_future()
            try:
                await asyncio.wait_for(self._arrivals.waiter, remaining)
            except TimeoutError:
                continue
            finally:
                self._arrivals.waiter = None

    async def read_until(self, done: Callable[[EventStream], bool], *, timeout: float) -> None:
        """Read until ``done(self)`` is true; TimeoutError after ``timeout`` seconds, EOFError if the stream ends."""
        await self._wait(lambda: done(self), timeout)

    def close(self) -> None:
        """Close the connection at once (as a client that goes away does)."""
        if self._arrivals.transport is not None:
            self._arrivals.transport.abort()
            self._arrivals.transport = None
