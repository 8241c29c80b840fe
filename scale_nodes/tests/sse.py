"""A small asyncio client of ``GET /v6/nodes/events/`` for the tests and the watch benchmark: 127.0.0.1 only.

``EventStream`` opens one connection, reads the status and headers, then parses the chunked body
into events (``id``, ``event``, ``data``) and heartbeats (comment lines), each with the monotonic
time it arrived. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
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
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _text: str = ""
    _body: bytes = b""

    async def open(self, *, timeout: float = 10.0) -> EventStream:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), timeout)
        head = f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self._writer.write((head + "\r\n").encode("latin-1"))
        await self._writer.drain()
        raw = await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.response_headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)
        }
        if self.status != 200:
            length = int(self.response_headers.get("content-length", "0"))
            self._body = await asyncio.wait_for(self._reader.readexactly(length), timeout) if length else b""
        return self

    @property
    def body(self) -> bytes:
        """The body of a refused request (status other than 200)."""
        return self._body

    async def _chunk(self) -> bytes:
        assert self._reader is not None
        size_line = await self._reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        data = await self._reader.readexactly(size + 2)
        if size == 0:
            raise EOFError("the stream ended")
        return data[:-2]

    async def read(self, *, timeout: float) -> None:
        """Read whatever arrives within ``timeout`` seconds (at least one chunk unless it times out)."""
        chunk = await asyncio.wait_for(self._chunk(), timeout)
        self._text += chunk.decode()
        now = time.monotonic()
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
                self.events.append(Event(int(fields["id"]), fields.get("event", ""), fields.get("data", ""), now))

    async def read_until(self, done: callable, *, timeout: float) -> None:
        """Read until ``done(self)`` is true; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"after {timeout}s: {len(self.events)} events, {self.heartbeats} heartbeats")
            await self.read(timeout=remaining)

    def close(self) -> None:
        """Close the connection at once (as a client that goes away does)."""
        if self._writer is not None:
            self._writer.transport.abort()
            self._writer = None
