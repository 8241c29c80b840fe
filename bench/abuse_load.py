"""One client process of ``make bench-abuse``'s load: many connections of one kind, held until told to stop.

Run by ``bench.abuse`` as ``python -m bench.abuse_load KIND --port P --count N --sources A,B,...``
(never more than ``MAX_SOCKETS`` connections per process: the open-file limit of a process here is
20,000). Kinds:

- ``idle``: connections that send nothing (re-opened a second after the server closes one, with
  ``--reopen``, as an attacker keeping up the pressure would);
- ``bodies``: anonymous ``POST /v6/nodes/`` declaring ``--declared`` bytes, sending ``--sent`` of
  them at once, then one byte every ``--trickle`` seconds;
- ``streams``: ``GET /v6/nodes/events/``, read as they come, or barely (``--slow``: a 4 KB receive
  buffer and one read every ``--trickle`` seconds); ``--reconnect`` opens a stream again a second
  after the server ends one (resuming with ``Last-Event-ID``), as an EventSource does;
- ``longpolls``: ``GET --path`` (a ``changes?wait=`` long-poll), each answer's arrival time noted.

Connections are spread over the loopback source addresses of ``--sources``. The process prints one
JSON line ``{"ready": ...}`` once every connection is open or has failed (or ``--setup-seconds``
passed), then holds them until SIGTERM or ``--max-seconds``, and prints ``{"done": ...}``: what it
opened, the statuses it was answered with, connection errors by kind, and the connections the server
closed. Every wait is bounded; nothing here is an error of the harness, only an outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import re
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

MAX_SOCKETS = 15_000
# Linux's IP_BIND_ADDRESS_NO_PORT: a source address bound before connect() takes its port at connect
# time, unique per destination, instead of one port of the address's 28,000 for every socket.
IP_BIND_ADDRESS_NO_PORT = 24
CONNECT_TIMEOUT = 10.0
OPENING_AT_ONCE = 400
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")
_EVENT_ID = re.compile(rb"(?:^|\n)id: *(\d+)\n")
_RETRY_AFTER = re.compile(rb"(?i)\r\nretry-after: *(\d+)")
# An HTTP/1.1 chunked body ends with this; a stream the server ended cleanly ends with it.
_LAST_CHUNK = b"0\r\n\r\n"


def error_kind(exc: BaseException) -> str:
    """A short name for a connection failure: the errno's name when there is one, else the exception's class."""
    if isinstance(exc, OSError) and exc.errno in errno.errorcode:
        return errno.errorcode[exc.errno]
    return type(exc).__name__


async def open_socket(*, port: int, source: str, rcvbuf: int | None = None) -> socket.socket:
    """A connected, non-blocking TCP socket from ``source`` to 127.0.0.1:``port`` (within CONNECT_TIMEOUT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((source, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), CONNECT_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class Tally:
    """What one process's connections met, reported in its ``ready`` and ``done`` lines."""

    kind: str
    attempted: int = 0
    opened: int = 0
    connect_errors: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    closed_by_server: int = 0
    closed_clean: int = 0
    reconnects: int = 0
    bytes_received: int = 0
    open_now: int = 0
    # Monotonic times (the clock is the machine's, shared by every process) of answers that ended a request.
    answer_times: list[float] = field(default_factory=list)
    # Seconds from a connection's opening to the server closing it.
    closed_after_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        closed = sorted(self.closed_after_s)
        return {
            "kind": self.kind,
            "attempted": self.attempted,
            "opened": self.opened,
            "open_now": self.open_now,
            "connect_errors": dict(self.connect_errors),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "closed_by_server": self.closed_by_server,
            "closed_clean": self.closed_clean,
            "reconnects": self.reconnects,
            "bytes_received": self.bytes_received,
            "closed_after_s_median": round(closed[len(closed) // 2], 2) if closed else None,
            "answer_times": [round(t, 4) for t in self.answer_times],
        }


class Held(asyncio.Protocol):
    """One held connection: notes its answer's status, what it receives, and whether the server ended it."""

    def __init__(self, load: Load, *, slow: bool) -> None:
        self.load = load
        self.slow = slow
        self.transport: asyncio.Transport | None = None
        self.opened_at = time.monotonic()
        self.head = b""
        self.status = 0
        self.tail = b""
        self.last_event_id: int | None = None
        self.retry_after: int | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.stopping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.load.tally.open_now += 1

    def data_received(self, data: bytes) -> None:
        tally = self.load.tally
        tally.bytes_received += len(data)
        if not self.status:
            self.head += data
            if b"\r\n" in self.head:
                match = _STATUS.match(self.head)
                self.status = int(match.group(1)) if match else -1
                tally.statuses[self.status] += 1
                if self.load.kind != "streams":
                    tally.answer_times.append(time.monotonic())
                retry = _RETRY_AFTER.search(self.head)
                self.retry_after = int(retry.group(1)) if retry else None
                data, self.head = self.head, self.head[:2048]
        self.tail = (self.tail + data)[-512:]
        if self.load.kind == "streams":
            ids = _EVENT_ID.findall(self.tail)
            if ids:
                self.last_event_id = int(ids[-1])
            if self.slow and self.status == 200 and self.transport is not None:
                self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        tally = self.load.tally
        tally.open_now -= 1
        if not self.stopping:
            tally.closed_by_server += 1
            tally.closed_after_s.append(time.monotonic() - self.opened_at)
            if self.tail.endswith(_LAST_CHUNK):
                tally.closed_clean += 1
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        self.stopping = True
        if self.transport is not None:
            self.transport.abort()


class Load:
    """Every connection of this process and the tasks that open, feed and reopen them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.kind = args.kind
        self.tally = Tally(kind=args.kind)
        self.held: set[Held] = set()
        self.stop = asyncio.Event()
        self.opening = asyncio.Semaphore(OPENING_AT_ONCE)
        self.sources = args.sources.split(",")
        # Connections being opened right now.
        self.in_flight = 0

    def request(self, last_event_id: int | None = None) -> bytes:
        host = "Host: 127.0.0.1\r\n"
        if self.kind == "streams":
            resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
            return f"GET /v6/nodes/events/ HTTP/1.1\r\n{host}Accept: text/event-stream\r\n{resume}\r\n".encode()
        if self.kind == "longpolls":
            return f"GET {self.args.path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()
        if self.kind == "bodies":
            return (
                f"POST /v6/nodes/ HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
                f"Content-Length: {self.args.declared}\r\n\r\n"
            ).encode()
        return b""

    async def connect(self, number: int, *, last_event_id: int | None = None) -> Held | None:
        """Open connection ``number`` and send its request head; None when it could not be opened."""
        loop = asyncio.get_running_loop()
        slow = self.kind == "streams" and self.args.slow
        async with self.opening:
            if self.stop.is_set():
                return None
            self.tally.attempted += 1
            self.in_flight += 1
            try:
                sock = await open_socket(
                    port=self.args.port, source=self.sources[number % len(self.sources)], rcvbuf=4096 if slow else None
                )
                _, held = await loop.create_connection(lambda: Held(self, slow=slow), sock=sock)
            except (OSError, TimeoutError) as exc:
                self.tally.connect_errors[error_kind(exc)] += 1
                return None
            finally:
                self.in_flight -= 1
        self.tally.opened += 1
        self.held.add(held)
        request = self.request(last_event_id)
        if request and held.transport is not None:
            held.transport.write(request)
        return held

    async def keep(self, number: int) -> None:
        """Connection ``number``: open it, feed it as its kind does, and open it again when allowed."""
        held = await self.connect(number)
        reopens = 0
        while held is not None and not self.stop.is_set():
            feeding = asyncio.create_task(self.feed(held))
            stopped = asyncio.create_task(self.stop.wait())
            await asyncio.wait({held.closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
            feeding.cancel()
            stopped.cancel()
            if self.stop.is_set():
                # Closed by close_all, with the others.
                return
            self.held.discard(held)
            again = (self.kind == "idle" and self.args.reopen) or (self.kind == "streams" and self.args.reconnect)
            if self.stop.is_set() or not again or reopens >= self.args.max_reopens:
                return
            delay = 1.0
            if held.status not in (0, 200) and held.retry_after is not None:
                delay = min(5.0, max(1.0, float(held.retry_after)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            reopens += 1
            self.tally.reconnects += 1
            held = await self.connect(number, last_event_id=held.last_event_id)

    async def feed(self, held: Held) -> None:
        """What the connection sends or reads after its request head, until it is closed or the load stops."""
        args = self.args
        if self.kind == "bodies":
            await self.send_body(held)
        elif self.kind == "streams" and args.slow:
            while held.transport is not None and not held.transport.is_closing():
                await asyncio.sleep(args.trickle)
                held.transport.resume_reading()

    async def send_body(self, held: Held) -> None:
        """``--sent`` bytes of the declared body at once (waiting on the socket's buffer), then a byte per trickle."""
        transport = held.transport
        if transport is None:
            return
        chunk = b"a" * 65_536
        sent = 0
        while sent < self.args.sent and not transport.is_closing() and not held.status:
            piece = chunk[: min(len(chunk), self.args.sent - sent)]
            transport.write(piece)
            sent += len(piece)
            # The server may stop reading: wait for the buffer to drain instead of piling the body up here.
            while transport.get_write_buffer_size() > 262_144 and not transport.is_closing():
                await asyncio.sleep(0.05)
        while sent < self.args.declared and not transport.is_closing() and not held.status:
            await asyncio.sleep(self.args.trickle)
            transport.write(b"a")
            sent += 1

    def close_all(self) -> None:
        for held in list(self.held):
            held.close()


async def run(args: argparse.Namespace) -> None:
    load = Load(args)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, load.stop.set)
    started = time.monotonic()
    keepers = [asyncio.create_task(load.keep(args.first + n)) for n in range(args.count)]
    # Ready once every connection is open (and, for the kinds that get a head, answered) or failed.
    deadline = started + args.setup_seconds
    while time.monotonic() < deadline and not load.stop.is_set():
        settled = load.tally.attempted >= args.count and not load.in_flight
        if load.kind == "streams":
            settled = settled and all(h.status for h in load.held)
        if settled:
            break
        await asyncio.sleep(0.1)
    ready = load.tally.as_dict() | {"setup_s": round(time.monotonic() - started, 2)}
    ready.pop("answer_times")
    print(json.dumps({"ready": ready}), flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(load.stop.wait(), max(0.0, started + args.max_seconds - time.monotonic()))
    load.stop.set()
    held_at_stop = load.tally.open_now
    load.close_all()
    await asyncio.wait(keepers, timeout=10)
    for task in keepers:
        task.cancel()
    print(json.dumps({"done": load.tally.as_dict() | {"held_at_stop": held_at_stop}}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=("idle", "bodies", "streams", "longpolls"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="Number of the first connection (spreads the sources).")
    parser.add_argument("--sources", default="127.0.0.4", help="Loopback source addresses, comma-separated.")
    parser.add_argument("--setup-seconds", type=float, default=60)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--reopen", action="store_true", help="idle: open a connection again when the server closes it")
    parser.add_argument("--reconnect", action="store_true", help="streams: open a stream again when it ends")
    parser.add_argument("--max-reopens", type=int, default=5, help="per connection")
    parser.add_argument("--slow", action="store_true", help="streams: a 4 KB receive buffer, one read per trickle")
    parser.add_argument("--trickle", type=float, default=20, help="seconds between a body's bytes, or a slow read")
    parser.add_argument("--declared", type=int, default=2_621_440, help="bodies: the Content-Length")
    parser.add_argument("--sent", type=int, default=2_516_582, help="bodies: bytes sent at once")
    parser.add_argument("--path", default="/v6/nodes/changes/?wait=60", help="longpolls: the request target")
    args = parser.parse_args(argv)
    if args.count > MAX_SOCKETS:
        parser.error(f"at most {MAX_SOCKETS} connections per process")
    asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
