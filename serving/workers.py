"""gunicorn workers for the node registry: their own error answers in JSON, and, for the ASGI worker, limits.

gunicorn answers some requests itself, before Django sees them: a request line over
``limit_request_line`` (414), too many or too large header fields (431), a malformed request line
or header (400), an unknown ``Transfer-Encoding`` (501). Its sync workers write those as HTML pages
from ``Worker.handle_error``, its ASGI worker as plain text from ``ASGIProtocol._send_error_response``;
the subclasses here write the service's error shape ``{"detail": ...}`` instead.

The ASGI worker (what ``make serve`` runs) also enforces the limits of ``ServingLimits``, so that no
client can take a process down (see ``LimitedProtocol`` for each rule):

- a cap on the connections of a process, below its open-file limit: at the cap the oldest idle
  connection is closed to make room, or, with none idle, the new one is answered 503;
- a bound on the new connections a process accepts per second (``AcceptRate``), and gunicorn's
  set-up of a connection only at its first byte, so that a flood of connections that send nothing
  leaves the process time for the requests of the others;
- a deadline for the whole request head, and an idle timeout for a connection between requests;
- a body over the limit refused from its ``Content-Length`` (413), an impossible length or chunk size
  refused at once (400), a body deadline with a minimum rate (408), only ``Transfer-Encoding: chunked``;
- a connection whose client does not read what it is sent is cut off;
- a drain on SIGTERM or recycling that stops accepting at once, tells the application to end its
  streams (``serving.shutdown``), keeps the heartbeat the master watches, and closes what is left at
  a deadline below ``graceful_timeout``; the processes of an instance recycle one at a time.

The probe listener (``ServingLimits.probe_bind``) is served on a thread and event loop of its own
(``ProbeServing``), so that a busy event loop never delays a health probe.

Every refusal is logged (one line, with the peer) and counted in ``/metrics``
(``scale_nodes_server_refusals_total`` by reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import gc
import html
import json
import logging
import os
import random
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from gunicorn import util as gunicorn_util
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers.gasgi import ASGIWorker as GunicornAsgiWorker
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

from util.request_limits import body_too_large_message

# gunicorn's messages may quote what the client sent; a long one is cut.
_MAX_DETAIL = 300

# A Content-Length or chunk size beyond what a signed 64-bit integer holds is no length any proxy,
# client or kernel could mean: refused as malformed (400) rather than as too large (413).
IMPOSSIBLE_LENGTH = 2**63


@dataclass(frozen=True)
class ServingLimits:
    """What the ASGI worker allows a client; ``scale_nodes/gunicorn.conf.py`` reads each from the environment.

    The idle timeout is gunicorn's ``keepalive`` and the connection cap its ``worker_connections``.
    """

    # The whole request head must arrive within this many seconds of its first byte.
    header_timeout: float = 10.0
    # Open files each process keeps for other things than client connections (database
    # connections, log and metrics files, the listener, the event loop): the connection cap is
    # at most the open-file limit minus this.
    fd_reserve: int = 128
    # The largest request body accepted (Django's DATA_UPLOAD_MAX_MEMORY_SIZE).
    max_body_bytes: int = 2_621_440
    # A body must arrive within ``body_grace`` seconds plus one second per ``body_min_rate`` bytes.
    body_grace: float = 10.0
    body_min_rate: int = 131_072
    # A connection with more than this many bytes waiting to be sent is cut off ...
    max_unsent_bytes: int = 1_048_576
    # ... and so is one whose client has not taken what waits for it for this many seconds.
    send_timeout: float = 30.0
    # The kernel's send buffer of each connection (SO_SNDBUF), in bytes; 0 leaves it to the kernel,
    # which grows it up to net.ipv4.tcp_wmem's maximum (4 MiB by default) before the server sees
    # a client that does not read.
    socket_send_buffer: int = 0
    # Bytes a connection buffers in the process before a streaming answer waits for its client
    # (asyncio's default is 64 KiB): thousands of event streams to clients that read slowly would
    # otherwise hold that much each. A stream to such a client holds this, the part of events it
    # is sending (at most 8 KB) and that part's copy being written; one that reads keeps up through
    # the kernel's send buffer (``stream_send_buffer``).
    write_buffer_high: int = 8_192
    # The kernel's send buffer (SO_SNDBUF) of a connection once it answers with no Content-Length
    # (an event stream); 0 leaves it as it is.
    stream_send_buffer: int = 32_768
    # Every this many seconds a process collects its garbage completely, the objects a full collection
    # leaves out (``LongLivedObjects``) included; 0 never does.
    full_collection_seconds: float = 600.0
    # Memory the C allocator may hold free (freed by connections that drained or closed) before it
    # is given back to the system (``FreeMemory``); 0 never gives it back.
    free_memory_kept: int = 64 * 1024 * 1024
    # The Retry-After of the 503 answered at the connection cap.
    retry_after: int = 1
    # After an error answer, the client's remaining bytes are read and dropped for up to this many
    # seconds before the connection is closed, so that it reads the answer rather than a reset.
    linger: float = 2.0
    # The address ("host:port") of a listener for health probes only, or "" for none. Its
    # connections have an accept queue of their own, are never refused at the connection cap, and
    # may ask for nothing but ``probe_paths``: a flood of connections on the service's address
    # never delays a load balancer's probe.
    probe_bind: str = ""
    probe_paths: tuple[str, ...] = ("/healthz", "/readyz")
    # How long the event loop's thread and the thread that runs requests may hold the interpreter
    # before the other gets it (``sys.setswitchinterval``; Python's default is 5 ms). The request
    # thread gives it up at each database round trip and then waits for it: with the loop busy (a
    # flood of connections, a fan-out) each round trip would wait the whole interval.
    switch_interval: float = 0.0005
    # New connections a process accepts per second at most (``AcceptRate``; 0: no bound). Well above
    # the requests a process serves in a second, so that only a flood of connections meets it.
    accept_rate: float = 500.0

    def body_seconds(self, length: int) -> float:
        """How long a body of ``length`` bytes may take to arrive."""
        return self.body_grace + length / self.body_min_rate


def json_error_response(
    status_int: int, reason: str, mesg: str, extra_headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """A complete HTTP/1.1 response (closing the connection) with ``{"detail": ...}`` for a refused request."""
    detail = f"{reason}: {mesg}" if mesg else reason
    if len(detail) > _MAX_DETAIL:
        detail = detail[:_MAX_DETAIL] + "..."
    body = json.dumps({"detail": detail}).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in extra_headers)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}\r\n"
    )
    return head.encode("latin-1") + body


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``Request Header Fields Too Large`` for 431)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _CapturedWrites:
    """Stands in for a client socket while gunicorn writes an error page: keeps what is written, and
    answers everything else from the real socket (gunicorn reads its addresses for the access log)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.written = b""

    def sendall(self, data: bytes) -> None:
        self.written += data

    def setblocking(self, flag: bool) -> None:
        """gunicorn's writer toggles blocking around its write; the real socket is left as it is."""

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def parse_error_page(page: bytes) -> tuple[int, str, str]:
    """The status, reason and message of an HTML error response as ``gunicorn.util.write_error`` writes it.

    Raises ValueError for anything else.
    """
    head, _, body = page.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    _version, status, reason = status_line.split(" ", 2)
    text = body.decode("latin-1")
    _, found, message = text.partition("</h1>")
    if not found:
        raise ValueError("not an error page of gunicorn's")
    return int(status), reason, html.unescape(message.split("</body>", 1)[0].strip())


class _JsonErrorPages:
    """Sync workers whose own error answers are JSON (``handle_error`` is gunicorn's hook for them)."""

    log: logging.Logger

    def handle_error(self, req: object, client: socket.socket, addr: tuple, exc: BaseException) -> None:
        # gunicorn decides the status, logs and writes the access log line; its page is rewritten.
        captured = _CapturedWrites(client)
        super().handle_error(req, captured, addr, exc)
        if not captured.written:
            return
        try:
            status, reason, message = parse_error_page(captured.written)
        except ValueError:
            status, reason, message = 500, "Internal Server Error", ""
        try:
            gunicorn_util.write_nonblock(client, json_error_response(status, reason, message))
        except OSError:
            self.log.debug("Failed to send error message.")


class SyncWorker(_JsonErrorPages, GunicornSyncWorker):
    """gunicorn's sync worker, answering its own errors in JSON."""


class ThreadWorker(_JsonErrorPages, GunicornThreadWorker):
    """gunicorn's threaded (gthread) worker, answering its own errors in JSON."""


class PacedAccepts(socket.socket):
    """A listening socket that accepts one connection per turn of the event loop, and many during a burst.

    All the worker processes of an instance accept on the one socket the master opened, and each
    process's event loop accepts every connection pending when it wakes (asyncio accepts until
    the socket would block). Connections that arrive together, such as a load balancer's pool or
    a client's, then all land in the first process to wake, and the other processes idle while
    that one serves them all. Refusing a second accept in the same turn leaves the rest pending
    for the next turn, when every process that woke competes for them again.

    One a turn is too few for a flood, though: a burst of thousands of connections (clients coming
    back together) fills the kernel's accept queue, which then drops new connections, a load
    balancer's probe among them, and a dropped client tries again only a second later. A turn that
    finds at least ``BURST`` connections waiting in the queue (Linux reports its length in the
    listening socket's ``TCP_INFO``) takes up to ``MAX_ACCEPTS_PER_TURN`` of them, and no more than
    ``room()`` says the process has left below its connection cap: at the cap, a connection closed
    to make room for a new one gives its file back only in the next turn.
    """

    BURST = 32
    MAX_ACCEPTS_PER_TURN = 64
    # Accepts made in this turn, and this turn's share; both kept per socket.
    taken_this_turn = 0
    share = 1
    # How many more connections the process may take now, and what to tell it of each accept; set by
    # the worker.
    room: Callable[[], int] = staticmethod(lambda: PacedAccepts.MAX_ACCEPTS_PER_TURN)
    on_accept: Callable[[], None] = staticmethod(lambda: None)
    # How many accepts the process's accept rate allows now (``AcceptRate``), and what to do when it
    # allows none: the worker stops listening on this socket for a while. Set by the worker.
    allowance: Callable[[], int] = staticmethod(lambda: PacedAccepts.MAX_ACCEPTS_PER_TURN)
    on_spent: Callable[[], None] = staticmethod(lambda: None)

    @classmethod
    def taking(cls, listener: socket.socket) -> PacedAccepts:
        """This kind of socket in place of ``listener``, on the same open file (``listener`` is spent)."""
        return cls(listener.family, listener.type, listener.proto, fileno=listener.detach())

    @classmethod
    def sharing(cls, listener: socket.socket) -> PacedAccepts:
        """This kind of socket on a duplicate of ``listener``'s open file: closing it leaves ``listener`` listening."""
        return cls(listener.family, listener.type, listener.proto, fileno=os.dup(listener.fileno()))

    def accept(self) -> tuple[socket.socket, object]:
        if self.taken_this_turn == 0:
            allowed = self.allowance()
            if allowed < 1:
                self.on_spent()
                raise BlockingIOError
            share = max(1, min(self.MAX_ACCEPTS_PER_TURN, self.room())) if self.waiting() >= self.BURST else 1
            self.share = min(share, allowed)
            asyncio.get_running_loop().call_soon(self._next_turn)
        elif self.taken_this_turn >= self.share:
            raise BlockingIOError
        self.taken_this_turn += 1
        accepted = super().accept()
        self.on_accept()
        return accepted

    def waiting(self) -> int:
        """The connections waiting in the kernel's queue to be accepted (0 where the system does not say)."""
        try:
            info = self.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
        except (OSError, AttributeError):
            return 0
        # struct tcp_info: 8 one-byte fields, then rto, ato, snd_mss, rcv_mss and tcpi_unacked, which
        # on a listening socket is the length of its accept queue.
        return int.from_bytes(info[24:28], sys.byteorder) if len(info) >= 28 else 0

    def _next_turn(self) -> None:
        self.taken_this_turn = 0


_TCP_INFO_SIZE = 104


class AcceptRate:
    """How many connections a process may accept now: ``rate`` a second on average, at most ``burst`` at once.

    Each connection costs the event loop the same work (an accept, a transport, a timer, a close)
    whether or not it ever sends a request; a flood of connections that reopen as soon as they are
    closed would otherwise take all of a process's time, and leave none for the requests of the
    connections it has. Beyond the rate, new connections wait in the kernel's accept queue, which
    costs the process nothing. ``rate`` 0 sets no bound.
    """

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._tokens = float(self.burst)
        self._updated = clock()

    def allowance(self) -> int:
        """The connections that may be accepted now."""
        if self.rate <= 0:
            return PacedAccepts.MAX_ACCEPTS_PER_TURN
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return int(self._tokens)

    def take(self) -> None:
        """One connection was accepted."""
        if self.rate > 0:
            self._tokens -= 1

    def wait(self) -> float:
        """Seconds until the next connection may be accepted."""
        if self.rate <= 0:
            return 0.0
        return max(0.0, (1 - self._tokens) / self.rate)


def _count_refusal(reason: str) -> None:
    # Imported here: observability.metrics needs Django's settings, loaded with the application.
    from observability.metrics import count_server_refusal

    count_server_refusal(reason)


# The phases of a connection, for its timer and for the connection cap.
_IDLE = 0  # waiting for a request, no byte of it yet (a fresh connection, or between requests)
_HEAD = 1  # part of a request head has arrived
_BUSY = 2  # a request is being served


# The idle timeout of each connection is drawn up to this fraction longer (``_become_idle``).
_IDLE_JITTER = 0.2


class LimitedProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 protocol with the limits of ``ServingLimits`` and JSON error answers.

    Each connection has one timer, for whatever it waits for: its next request (gunicorn's
    ``keepalive``, from the connection's start or the end of the last response), the rest of a
    request head (``header_timeout`` from the head's first byte), or the rest of a body
    (``body_seconds`` of the declared length). Idle connections (no request in progress) are kept
    in the worker's ``idle`` table, the longest idle first, for the connection cap to close.

    gunicorn has no public hooks for these; the overrides of its underscore methods are the parser
    callbacks (``_on_headers_complete``, ``_on_body``, ``_on_message_complete``), the points where
    a connection starts waiting (``_arm_keepalive_timer``) and closes (``_close_transport``), and its
    error writer (``_send_error_response``). Each calls gunicorn's own and adds only the limit;
    ``serving/tests/test_workers.py`` fails if any of them changes its signature.
    """

    # Whether a new connection beyond the process's connection cap is refused, and whether it came
    # through ``PacedAccepts`` (ProbeProtocol: neither).
    refused_at_cap = True

    def __init__(self, worker: AsgiWorker) -> None:
        super().__init__(worker)
        self.limits: ServingLimits = worker.limits
        self._phase = _IDLE
        self._started = False
        self._timer: asyncio.TimerHandle | None = None
        self._head_started = 0.0
        self._body_done = True
        self._body_received = 0
        self._half_closed = False
        self._lingering = False
        self._error_sent = False
        self._write_timer: asyncio.TimerHandle | None = None

    # -- the connection's life ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        # gunicorn's own setup of a connection (its parser, an event and the task that serves its
        # requests) waits for the connection's first byte (``_start``): a flood of connections that
        # send nothing costs the event loop a transport and a timer each, and no task.
        self.transport = transport
        worker = self.worker
        worker.nr_conns += 1
        worker.connections.add(self)
        if self.refused_at_cap:
            worker.accepted_unmade = max(0, worker.accepted_unmade - 1)
        if self.limits.socket_send_buffer > 0:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.socket_send_buffer)
        if self.refused_at_cap and worker.nr_conns > worker.connection_cap and not worker.close_oldest_idle():
            self._refuse(
                503,
                "connection_limit",
                "This server process is at its connection limit; retry shortly.",
                extra_headers=(("Retry-After", str(self.limits.retry_after)),),
            )
            return
        self._become_idle()

    def _start(self) -> None:
        """gunicorn's setup of the connection, at its first byte."""
        self._started = True
        # Counted again by gunicorn's connection_made.
        self.worker.nr_conns -= 1
        super().connection_made(self.transport)
        self.transport.set_write_buffer_limits(high=self.limits.write_buffer_high)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if not self._started:
            self._start()
        if self._phase == _IDLE:
            self._phase = _HEAD
            self._head_started = self.worker.loop.time()
            super().data_received(data)
            if self._phase == _HEAD and not self._closed:
                self._set_timer(self._head_started + self.limits.header_timeout, self._header_timed_out)
        else:
            super().data_received(data)
        if not self._body_done and not self._closed:
            self._check_chunk_size()

    def eof_received(self) -> bool | None:
        # A client may close its sending side once its request is complete, and still read the
        # answer (asyncio's default closes the whole connection, and the answer was lost).
        # A client that went away looks the same until a write fails, so the answer gets the
        # keep-alive timeout to complete: an event stream whose client left ends then.
        if self._phase == _BUSY and self._body_done and not self._lingering:
            self._half_closed = True
            if self._current_request is not None:
                # The answer says the connection ends with it.
                self._current_request.must_close = True
            self._set_timer(self.worker.loop.time() + max(self._keepalive, 1), self._keepalive_timeout)
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self.worker.idle.pop(self, None)
        self.worker.connections.discard(self)
        if self._lingering:
            self.worker.lingering -= 1
            self._lingering = False
        if self._started:
            super().connection_lost(exc)
        elif not self._conn_lost_handled:
            self._conn_lost_handled = True
            self._closed = True
            self.worker.nr_conns -= 1
        task = self._task
        if task is not None and not task.done():
            task.add_done_callback(self._release_cycles)
        else:
            self._release_cycles()

    def _release_cycles(self, _task: object = None) -> None:
        """Drop, once the connection is closed and its task has ended, what it holds that refers back to it.

        gunicorn's parser calls back the connection's methods, its request and body receiver hold
        asyncio events and the connection's task, and asyncio's socket transport refers to its own
        read callback: cycles, which only a garbage collection frees, and a process with thousands of
        connections may run one but rarely (``LongLivedObjects``). Without them an ended connection
        is freed as soon as its last reference goes.
        """
        if not self._conn_lost_handled or (self._task is not None and not self._task.done()):
            return
        self._callback_parser = None
        self._body_receiver = None
        self._current_request = None
        self._request_ready = None
        self._flow_control = None
        self._finishing_calls = {}
        self._task = None
        self.reader = None
        self.writer = None
        if self.transport is not None and hasattr(self.transport, "_read_ready_cb"):
            # asyncio's socket transport keeps its own bound read method (``set_protocol``).
            self.transport._read_ready_cb = None

    def _keepalive_timeout(self) -> None:
        if self._conn_lost_handled:
            return
        if self._started:
            super()._keepalive_timeout()
        else:
            self._close_transport()

    # -- gunicorn's parser callbacks and waiting points --------------------------------------------

    def _on_headers_complete(self) -> bool:
        parser = self._callback_parser
        refusal = self._refusal_of_head(parser)
        if refusal is not None:
            status, reason, detail = refusal
            self._refuse(status, reason, detail)
            # Skip the body: nothing more of this request is read.
            return True
        self._cancel_timer()
        self.worker.idle.pop(self, None)
        self._phase = _BUSY
        skip_body = super()._on_headers_complete()
        length = parser.content_length or 0
        if parser.is_chunked or length > 0:
            self._body_done = False
            self._body_received = 0
            expected = length if length else self.limits.max_body_bytes
            self._set_timer(
                self.worker.loop.time() + min(self.limits.body_seconds(expected), self.worker.body_deadline_cap),
                self._body_timed_out,
            )
        else:
            self._body_done = True
        return skip_body

    def _on_body(self, chunk: bytes) -> None:
        if self._closed:
            return
        self._body_received += len(chunk)
        if self._callback_parser.is_chunked:
            self._check_chunk_size()
            if self._closed:
                return
        if self._body_received > self.limits.max_body_bytes:
            self._refuse_too_large()
            return
        super()._on_body(chunk)

    def _on_message_complete(self) -> None:
        if self._closed:
            return
        self._body_done = True
        self._cancel_timer()
        super()._on_message_complete()

    def _arm_keepalive_timer(self) -> None:
        # gunicorn calls this when the connection waits for its next request.
        if self._half_closed or not self.worker.alive:
            self._keepalive_timeout()
            return
        self._become_idle()

    def _close_transport(self) -> None:
        self._cancel_timer()
        self.worker.idle.pop(self, None)
        if not self._error_sent or self._closed or self.transport is None:
            super()._close_transport()
            return
        self._linger()

    def _send_error_response(self, status: int, message: str, extra_headers: tuple[tuple[str, str], ...] = ()) -> None:
        if self._closed:
            # An application call that ended after the connection was refused or cut: nothing to answer.
            return
        if not self._error_sent:
            reason = _GUNICORN_REFUSALS.get(status)
            if reason is not None:
                self._log_refusal(status, reason, message)
        self._error_sent = True
        self._safe_write(json_error_response(status, reason_phrase(status), message, extra_headers))

    def _send_response_start(self, status: int, headers: list, request: object, close: bool = False) -> None:
        super()._send_response_start(status, headers, request, close)
        if self.limits.stream_send_buffer > 0 and not any(name.lower() == b"content-length" for name, _ in headers):
            self._bound_kernel_buffer()
        # gunicorn names only the statuses of its own table and calls the rest (412, 428, 431...)
        # "Unknown"; the application's answers get their standard reason phrase.
        fix = _STATUS_LINE_FIXES.get((request.version, status))
        if fix is not None and self._response_buffer.startswith(fix[0]):
            self._response_buffer = fix[1] + self._response_buffer[len(fix[0]) :]

    # -- writing to a client that does not read ----------------------------------------------------

    def _bound_kernel_buffer(self) -> None:
        # An answer of no announced length (an event stream) may go on for as long as the client
        # stays. The kernel would take up to its autotuned maximum (megabytes on loopback) for a
        # client that does not read, so that a change fanned out to thousands of such streams is
        # copied in full into the kernel at once, holding the event loop for seconds.
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.stream_send_buffer)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.transport is None or self._closed:
            return
        unsent = self.transport.get_write_buffer_size()
        if unsent > self.limits.max_unsent_bytes:
            self._cut_slow_reader(f"{unsent} bytes unsent")
            return
        if self._write_timer is None:
            self._write_timer = self.worker.loop.call_later(self.limits.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()

    def _send_timed_out(self) -> None:
        self._write_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self._cut_slow_reader(f"nothing taken for {self.limits.send_timeout:g}s")

    def _cut_slow_reader(self, why: str) -> None:
        self._log_refusal(0, "slow_reader", why)
        self._cancel_timer()
        self.worker.idle.pop(self, None)
        self._closed = True
        # What waits for the client is dropped: it resumes from its last event (Last-Event-ID).
        self.transport.abort()

    # -- the rules -----------------------------------------------------------------------------------

    def _refusal_of_head(self, parser: object) -> tuple[int, str, str] | None:
        """The refusal (status, reason, detail) a request head deserves before its body is read, if any."""
        length = parser.content_length
        if length is not None:
            if length >= IMPOSSIBLE_LENGTH:
                return 400, "bad_length", f"Content-Length {length} is not a possible length."
            if length > self.limits.max_body_bytes:
                return (
                    413,
                    "body_too_large",
                    body_too_large_message(self.limits.max_body_bytes),
                )
        elif parser.is_chunked:
            for name, value in parser.headers:
                if name == b"transfer-encoding" and value.strip().lower() != b"chunked":
                    return (
                        501,
                        "unsupported_transfer_coding",
                        f"Transfer-Encoding {value.decode('latin-1')!r} is not supported: only chunked is.",
                    )
        return None

    def _check_chunk_size(self) -> None:
        # The pure-Python parser (``http_parser = "python"`` in gunicorn.conf.py) keeps the size of
        # the chunk it reads; one that cannot be possible or fit the limit is refused before its data.
        parser = self._callback_parser
        if parser is None or not parser.is_chunked:
            return
        if parser._chunk_size >= IMPOSSIBLE_LENGTH:
            self._refuse(400, "bad_length", "The chunk size is not a possible length.")
        elif self._body_received + parser._chunk_remaining > self.limits.max_body_bytes:
            self._refuse_too_large()

    def _refuse_too_large(self) -> None:
        self._refuse(413, "body_too_large", body_too_large_message(self.limits.max_body_bytes))

    def _header_timed_out(self) -> None:
        self._timer = None
        if self._phase == _HEAD:
            self._refuse(
                408, "header_timeout", f"The request head did not arrive within {self.limits.header_timeout:g}s."
            )
        else:
            self._idle_timed_out()

    def _idle_timed_out(self) -> None:
        self._timer = None
        if self._phase == _HEAD:
            self._header_timed_out()
            return
        self.worker.idle.pop(self, None)
        # gunicorn's own end of an idle connection: closed, and its request loop woken to finish.
        self._keepalive_timeout()

    def _body_timed_out(self) -> None:
        self._timer = None
        if self._body_done:
            return
        self._refuse(408, "body_timeout", "The request body did not arrive in time.")

    def _refuse(
        self, status: int, reason: str, detail: str, *, extra_headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """Answer ``status`` with ``detail`` in JSON, log and count it, and end the connection."""
        if self._closed:
            return
        self._log_refusal(status, reason, detail)
        self._error_sent = True
        self._safe_write(json_error_response(status, reason_phrase(status), detail, extra_headers))
        self._linger()

    def _log_refusal(self, status: int, reason: str, detail: str) -> None:
        _count_refusal(reason)
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        self.worker.log_refusal(f"Refused ({status or 'closed'} {reason}) {_peer_text(peer)}: {detail}", reason)

    # -- timers and closing --------------------------------------------------------------------------

    def _become_idle(self) -> None:
        self._phase = _IDLE
        idle = self.worker.idle
        idle.pop(self, None)
        idle[self] = None
        keepalive = self._keepalive if self._keepalive > 0 else self.limits.header_timeout
        # Spread by up to a fifth: connections opened together (a client's pool, a flood) would
        # otherwise all close together and come back together, a burst that overflows the accept
        # queue, where a probe's connection is then dropped and retried a second later.
        keepalive *= 1.0 + _IDLE_JITTER * random.random()  # noqa: S311 (spreading timers, not a secret)
        self._set_timer(self.worker.loop.time() + keepalive, self._idle_timed_out)

    def _set_timer(self, when: float, callback: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.worker.loop.call_at(when, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _linger(self) -> None:
        """End the connection after an answer: send it, then drop what the client still sends, for a while.

        Closing at once with unread bytes from the client resets the connection, and the client may
        lose the answer before reading it (a 413 while it still sends its body).
        """
        self._cancel_timer()
        self.worker.idle.pop(self, None)
        transport = self.transport
        self._closed = True
        if self._body_receiver is not None:
            self._body_receiver.signal_disconnect()
        if self._request_ready is not None:
            # gunicorn's request loop wakes, sees the connection closed, and ends.
            self._request_ready.set()
        worker = self.worker
        if worker.lingering >= worker.limits.fd_reserve // 2 or not transport.can_write_eof():
            transport.close()
            return
        worker.lingering += 1
        self._lingering = True
        transport.write_eof()
        transport.resume_reading()
        self._timer = worker.loop.call_later(self.limits.linger, transport.close)


# How long after a recycled process exits its replacement may still be unforked (gunicorn's master
# forks it as soon as it reaps the old one); time.monotonic() is the same clock in every process.
_REPLACEMENT_FORK_SECONDS = 2.0

# The status lines gunicorn writes with the reason "Unknown", by HTTP version and status, and the
# standard ones that replace them.
_STATUS_LINE_FIXES = {
    (version, status.value): (
        f"HTTP/{version[0]}.{version[1]} {status.value} Unknown\r\n".encode(),
        f"HTTP/{version[0]}.{version[1]} {status.value} {status.phrase}\r\n".encode("latin-1"),
    )
    for version in ((1, 0), (1, 1))
    for status in HTTPStatus
}

# Refusals that come in floods (a client opening connections beyond the cap): logged in summary.
_SUMMARIZED_REFUSALS = frozenset({"connection_limit", "idle_closed_at_limit"})

# gunicorn's own refusals, by status, as counted.
_GUNICORN_REFUSALS = {
    400: "malformed_request",
    414: "request_line_too_long",
    431: "header_fields_too_large",
    501: "unsupported_transfer_coding",
}


class ProbeProtocol(LimitedProtocol):
    """A connection of the probe listener (``ServingLimits.probe_bind``), served by ``ProbeServing``: never
    refused at the connection cap, answered 404 for anything but the probe paths, and 503 while the
    process's event loop is stalled."""

    refused_at_cap = False
    worker: ProbeServing

    def _refusal_of_head(self, parser: object) -> tuple[int, str, str] | None:
        path = (parser.path or b"").split(b"?", 1)[0].decode("latin-1")
        if path not in self.limits.probe_paths:
            return 404, "not_a_probe", f"This address answers health probes only: {', '.join(self.limits.probe_paths)}."
        stalled = self.worker.loop_stalled_for()
        if stalled is not None:
            return 503, "loop_stalled", f"This server process's event loop has been stalled for {stalled:.0f}s."
        return super()._refusal_of_head(parser)


class ProbeServing:
    """The probe listener of a process (``ServingLimits.probe_bind``), served on a thread and event loop of its own.

    A process's event loop serves all its connections, and thousands of them busy at once (a change
    fanned out to 10,000 event streams, 8,000 long-polls woken together, a flood closing) keep it
    busy for a second or more: a probe waiting its turn there would be late although the process is
    sound. On a loop of its own, a probe waits only for the interpreter, which the loop's thread gives
    up every ``ServingLimits.switch_interval``. A loop busy for longer than ``STALLED_SECONDS`` (a hung
    process) is reported: the probe is answered 503 ``loop_stalled``.

    It stands in for the worker to ``ProbeProtocol``, with connections, timers and counts of its own
    (its requests do not count towards the recycle) and the worker's configuration, application and
    state for the rest.
    """

    # The worker's loop marks each turn of its serving loop (``AsgiWorker.loop_turned``), once a second.
    STALLED_SECONDS = 5.0

    def __init__(self, worker: AsgiWorker, listeners: list[object]) -> None:
        self._worker = worker
        self._listeners = listeners
        self.loop = asyncio.new_event_loop()
        self.idle: dict[LimitedProtocol, None] = {}
        self.connections: set[LimitedProtocol] = set()
        self.nr_conns = 0
        self.nr = 0
        self.max_requests = sys.maxsize
        self.lingering = 0
        self._servers: list[asyncio.Server] = []
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe-listener", daemon=True)

    def __getattr__(self, name: str) -> object:
        # The worker's configuration (cfg, log, asgi, limits, alive, state...) for the rest.
        return getattr(self._worker, name)

    def loop_stalled_for(self) -> float | None:
        """Seconds since the worker's loop last turned, when more than ``STALLED_SECONDS``; else None."""
        turned = getattr(self._worker, "loop_turned", None)
        if turned is None:
            return None
        since = time.monotonic() - turned
        return since if since > self.STALLED_SECONDS else None

    def start(self) -> None:
        """Start serving the probe listeners (returns once they accept)."""
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop_accepting(self) -> None:
        """Accept no more probes (the drain): the instance's other processes answer them."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._close_servers)

    def stop(self, timeout: float = 2.0) -> None:
        """Close the probe connections and end the thread (waits up to ``timeout`` seconds)."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._stop_now)
        self._thread.join(timeout)

    def _close_servers(self) -> None:
        for server in self._servers:
            server.close()

    def _stop_now(self) -> None:
        self._close_servers()
        for protocol in list(self.connections):
            if protocol.transport is not None:
                protocol.transport.abort()
        if self._stop is not None:
            self._stop.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except Exception:
            self.log.exception("The probe listener failed")
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                pending = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        for listener in self._listeners:
            server = await self.loop.create_server(
                functools.partial(ProbeProtocol, self), sock=listener.sock, start_serving=True
            )
            self._servers.append(server)
        self._ready.set()
        await self._stop.wait()


def _peer_text(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class AsgiWorker(GunicornAsgiWorker):
    """gunicorn's ASGI worker with the limits of ``ServingLimits`` (``LimitedProtocol``), a drain that
    drops nothing, and connections shared out fairly between processes (``PacedAccepts``).

    ``limits`` is set by gunicorn.conf.py's ``post_fork`` hook; without it the defaults apply.
    """

    limits = ServingLimits()
    # A file every process of the instance locks (``may_recycle``); set by gunicorn.conf.py's ``post_fork``.
    recycle_lock_path: str | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._stopping: asyncio.Event | None = None
        self._stop_requested = False
        self._recycle_waiting = False
        self._recycle_lock = None
        self._recycle_lock_held = False
        super().__init__(*args, **kwargs)
        # Connections with no request in progress, the longest idle first (dicts keep their order).
        self.idle: dict[LimitedProtocol, None] = {}
        # Every open connection, for the drain to close what is left at its deadline.
        self.connections: set[LimitedProtocol] = set()
        self.lingering = 0
        # Sockets accepted through ``PacedAccepts`` whose connection asyncio has not made yet.
        self.accepted_unmade = 0
        # The listeners of ``ServingLimits.probe_bind`` (set in ``init_process``).
        self.probe_listeners: set[object] = set()
        # Serves them on a thread of its own (set in ``_serve_limited``), and when the serving loop last
        # turned, for it to tell a stalled loop.
        self.probe_serving: ProbeServing | None = None
        self.loop_turned: float | None = None
        # The others, accepted on through ``PacedAccepts`` at the process's ``AcceptRate``, and the
        # asyncio server now accepting on each (None while its accept rate is spent).
        self.paced_listeners: set[object] = set()
        self.accepting: dict[object, asyncio.Server | None] = {}
        self.accept_rate = AcceptRate(rate=0, burst=1)
        self._draining = False
        self.connection_cap = self.worker_connections
        # Below gunicorn's own wait for body bytes (``timeout``), which would end the request without an answer.
        self.body_deadline_cap = max(float(self.cfg.timeout or 30) - 1.0, 1.0)
        self._accept_errors_logged = 0.0
        # Per refusal reason logged in summary: when its last line was written, and how many since.
        self._summaries: dict[str, tuple[float, int]] = {}

    # ``alive`` is gunicorn's flag for "keep serving"; a signal handler or the request that reaches
    # ``max_requests`` lowers it. As a property, lowering it wakes the serving loop at once, and a
    # recycle waits while another process of the instance starts or drains (``may_recycle``).
    @property
    def alive(self) -> bool:
        return self.__dict__.get("_alive", True)

    @alive.setter
    def alive(self, value: bool) -> None:
        if not value and not self._stop_requested and self.nr >= self.max_requests and not self.may_recycle():
            self._recycle_waiting = True
            # gunicorn checks the limit after every request: lifted, and the serving loop asks for the
            # turn once a second instead.
            self.max_requests = sys.maxsize
            self.log.info("Recycling postponed: another process of this instance is starting or draining")
            return
        self.__dict__["_alive"] = value
        if not value and self._stopping is not None:
            # Also lowered from other threads (the code reloader of ``make run``).
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stopping.set)

    def handle_exit_signal(self) -> None:
        self._stop_requested = True
        super().handle_exit_signal()

    def handle_quit_signal(self) -> None:
        self._stop_requested = True
        super().handle_quit_signal()

    def init_process(self) -> None:
        for listener in self.sockets:
            if self.is_probe_listener(listener):
                # Probes are few and answered at once: accepted as they come.
                self.probe_listeners.add(listener)
            else:
                self.paced_listeners.add(listener)
        if self.recycle_lock_path:
            self._recycle_lock = open(self.recycle_lock_path, "r+b")  # noqa: SIM115 (held until the process exits)
            # Shared while this process starts: no other process begins to recycle meanwhile.
            with contextlib.suppress(OSError):
                fcntl.flock(self._recycle_lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        super().init_process()

    def room(self) -> int:
        """How many more connections this process may open before its connection cap.

        asyncio makes a connection of an accepted socket a loop turn or two later: those accepted and
        not yet made count too, or a burst taken over several turns would pass the cap (and the
        open-file limit) before the count of connections caught up.
        """
        return self.connection_cap - self.nr_conns - self.accepted_unmade

    def _accepted(self) -> None:
        self.accepted_unmade += 1
        self.accept_rate.take()

    async def start_accepting(self, listener: object) -> None:
        """Accept on ``listener`` (a paced one) through an asyncio server of its own, on a duplicate of its socket."""
        if self._draining or self.accepting.get(listener) is not None:
            return
        sock = PacedAccepts.sharing(listener.sock)
        sock.room = self.room
        sock.on_accept = self._accepted
        sock.allowance = self.accept_rate.allowance
        sock.on_spent = functools.partial(self._accept_rate_spent, listener)
        server = await self.loop.create_server(functools.partial(LimitedProtocol, self), sock=sock, start_serving=True)
        self.accepting[listener] = server
        self.servers.append(server)

    def _accept_rate_spent(self, listener: object) -> None:
        # Called from the server's accept callback: the server is closed (the listener stays open and
        # its queue keeps the connections) once that callback returns, and serves again in a while.
        server = self.accepting.get(listener)
        if server is None:
            return
        self.accepting[listener] = None
        self.loop.call_soon(self._stop_accepting, server)
        self.loop.call_later(
            max(self.accept_rate.wait(), 0.01), lambda: self.loop.create_task(self.start_accepting(listener))
        )

    def _stop_accepting(self, server: asyncio.Server) -> None:
        server.close()
        with contextlib.suppress(ValueError):
            self.servers.remove(server)

    def is_probe_listener(self, listener: object) -> bool:
        """Whether ``listener`` (one of gunicorn's sockets) is the probe listener of ``ServingLimits.probe_bind``."""
        if not self.limits.probe_bind:
            return False
        host, _, port = self.limits.probe_bind.rpartition(":")
        address = getattr(listener, "cfg_addr", None)
        return isinstance(address, tuple) and (str(address[0]).strip("[]"), str(address[1])) == (host.strip("[]"), port)

    def may_recycle(self) -> bool:
        """Whether this process may start its recycle now: no other process of the instance is starting
        or draining. Once true, it stays so until the process exits, holding the others back.

        gunicorn starts the replacement of a recycled process only once it has exited, and the
        replacement takes a second or two to load the application: the processes of an instance take
        turns so that never two are missing at once.
        """
        if self._recycle_lock is None or self._recycle_lock_held:
            return True
        try:
            fcntl.flock(self._recycle_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        # The process that recycled last wrote when it exited: until its replacement is forked and
        # holds the lock shared, a moment later, the lock alone does not show it missing.
        self._recycle_lock.seek(0)
        try:
            exited = float(self._recycle_lock.read() or 0)
        except ValueError:
            exited = 0.0
        if time.monotonic() - exited < _REPLACEMENT_FORK_SECONDS:
            fcntl.flock(self._recycle_lock, fcntl.LOCK_UN)
            return False
        self._recycle_lock_held = True
        return True

    def _note_recycle_done(self) -> None:
        """Write when this process, which holds the recycle turn, exits (read by ``may_recycle``)."""
        if not self._recycle_lock_held:
            return
        with contextlib.suppress(OSError):
            self._recycle_lock.seek(0)
            self._recycle_lock.truncate()
            self._recycle_lock.write(str(time.monotonic()).encode())
            self._recycle_lock.flush()

    def open_file_budget(self) -> int:
        """Raise this process's open-file limit as far as the connection cap needs (up to the hard limit),
        and return the connections it allows: the limit minus ``fd_reserve``."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.worker_connections
        wanted = self.worker_connections + self.limits.fd_reserve
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if raised > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
                soft = raised
            except (ValueError, OSError):
                self.log.warning("Could not raise the open-file limit from %d to %d", soft, raised)
        return max(soft - self.limits.fd_reserve, 1)

    def run(self) -> None:
        """Serve until stopped, then drain (gunicorn's ``run``, the worker's documented entry point)."""
        self.connection_cap = min(self.worker_connections, self.open_file_budget())
        # A tenth of a second's worth at once, and at least a turn's.
        self.accept_rate = AcceptRate(
            rate=self.limits.accept_rate,
            burst=max(int(self.limits.accept_rate / 10), PacedAccepts.MAX_ACCEPTS_PER_TURN),
        )
        if self.limits.switch_interval > 0:
            sys.setswitchinterval(self.limits.switch_interval)
        self.free_memory = FreeMemory(kept=self.limits.free_memory_kept)
        self.long_lived = LongLivedObjects(full_every=self.limits.full_collection_seconds)
        self.loop.set_exception_handler(self._loop_exception)
        try:
            self.loop.run_until_complete(self._serve_limited())
        except Exception:
            self.log.exception("Worker exception")
        finally:
            self.long_lived.close()
            self._close_loop()
            self._note_recycle_done()

    async def _serve_limited(self) -> None:
        self._stopping = asyncio.Event()
        if not self.alive:
            self._stopping.set()
        self.loop_turned = time.monotonic()
        for listener in self.sockets:
            if listener in self.paced_listeners:
                await self.start_accepting(listener)
        if self.probe_listeners:
            probes = [listener for listener in self.sockets if listener in self.probe_listeners]
            self.probe_serving = ProbeServing(self, probes)
            self.probe_serving.start()
        self.log.info(
            "ASGI server listening on %s, at most %d connections per process",
            ", ".join(str(listener) for listener in self.sockets),
            self.connection_cap,
        )
        if self._recycle_lock is not None and not self._recycle_lock_held:
            # Accepting now: this process no longer holds the others' recycles back.
            fcntl.flock(self._recycle_lock, fcntl.LOCK_UN)
        while self.alive:
            self.notify()
            self.loop_turned = time.monotonic()
            if self._recycle_waiting and self.may_recycle():
                self.log.info("Autorestarting worker now that no other process is starting or draining")
                self.alive = False
                break
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            self.long_lived.tick()
            if self.free_memory.due():
                await asyncio.to_thread(self.free_memory.release)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=1.0)
        await self.drain()

    async def drain(self) -> None:
        """Stop accepting, tell the application, let requests in progress finish, then close the rest.

        Idle connections close at once, others once their response is complete; event streams and
        long-polls end through ``serving.shutdown``. The heartbeat goes on, so the master never takes
        the drain for a hung worker; what is left at ``graceful_timeout`` (less a second, so that
        the master's own deadline never strikes first) is closed.
        """
        from serving import shutdown

        started = time.monotonic()
        self._draining = True
        for server in self.servers:
            server.close()
        if self.probe_serving is not None:
            self.probe_serving.stop_accepting()
        self.log.info("Draining %d connections", self.nr_conns)
        try:
            shutdown.begin()
        except Exception:
            self.log.exception("serving.shutdown.begin failed")
        for protocol in list(self.idle):
            if protocol._phase == _IDLE:
                protocol._idle_timed_out()
        deadline = started + max(self.cfg.graceful_timeout - 1.0, 0.5)
        while self.nr_conns > 0 and time.monotonic() < deadline and not self._quick_shutdown:
            self.notify()
            self.loop_turned = time.monotonic()
            await asyncio.sleep(0.05)
        if self.nr_conns > 0:
            self.log.warning("Closing %d connections left at the drain deadline", self.nr_conns)
            for task in asyncio.all_tasks(self.loop):
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)
            for protocol in list(self.connections):
                if protocol.transport is not None:
                    protocol.transport.abort()
        self.notify()

    def _close_loop(self) -> None:
        """Cancel what still runs, give it a second to finish, close the loop, the probe listener's and the sockets."""
        if self.probe_serving is not None:
            self.probe_serving.stop()
        try:
            pending = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                gathered = asyncio.gather(*pending, return_exceptions=True)
                try:
                    self.loop.run_until_complete(asyncio.wait_for(gathered, timeout=1.0))
                except (TimeoutError, asyncio.CancelledError):
                    self.log.debug("Tasks still running at exit: %d", len(pending))
            self.loop.close()
        except Exception as error:
            self.log.debug("Cleanup error: %s", error)
        for listener in self.sockets:
            with contextlib.suppress(OSError):
                listener.close()

    def log_refusal(self, line: str, reason: str) -> None:
        """Log one refusal; those of a flood at the connection cap, at most once a second with a count."""
        if reason not in _SUMMARIZED_REFUSALS:
            self.log.warning(line)
            return
        now = time.monotonic()
        last, held = self._summaries.get(reason, (0.0, 0))
        if now - last < 1.0:
            self._summaries[reason] = (last, held + 1)
            return
        self._summaries[reason] = (now, 0)
        self.log.warning(line + (f" (and {held} more since the last such line)" if held else ""))

    def close_oldest_idle(self) -> bool:
        """Close the connection idle the longest, to make room for a new one; whether there was one."""
        while self.idle:
            protocol = next(iter(self.idle))
            del self.idle[protocol]
            if protocol.transport is None or protocol._closed:
                continue
            protocol._log_refusal(0, "idle_closed_at_limit", "idle connection closed for a new one at the limit")
            protocol._keepalive_timeout()
            return True
        return False

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # asyncio pauses accepting for a second when accept() runs out of file descriptors, and
        # reports it here each time; one line per such pause rather than a traceback.
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            now = time.monotonic()
            if now - self._accept_errors_logged >= 1.0:
                self._accept_errors_logged = now
                self.log.warning("Accepting paused for a second: %s (%d connections open)", error, self.nr_conns)
            _count_refusal("accept_failed")
            return
        loop.default_exception_handler(context)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _glibc() -> ctypes.CDLL | None:
    """The C library, when it is glibc recent enough to say how much it holds free (2.33: ``mallinfo2``)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_libc = _glibc()


class FreeMemory:
    """Gives the memory the C allocator holds free back to the system, once ``kept`` more bytes were freed since
    it last did.

    Buffers of thousands of connections (event streams to clients that read slowly, bodies arriving)
    are freed when the connections drain or close, but glibc keeps freed memory in its heaps for
    reuse, and pieces still in use between them keep a heap from shrinking: without this a process
    stays at its peak. ``malloc_trim`` returns the free pages of every heap (they stay counted as
    free in the heap, so what was freed since is what the last count does not hold). Nothing happens
    where the C library is not glibc.
    """

    # A release holds the allocator's locks while it walks the heaps, and so holds back whatever else
    # allocates meanwhile (the event loop included): at most one in this many seconds.
    EVERY_SECONDS = 10.0

    def __init__(self, *, kept: int) -> None:
        self.kept = kept
        self.floor = 0
        self.last = -self.EVERY_SECONDS

    def due(self) -> bool:
        """Whether enough was freed since the last release, and long enough ago, to release again."""
        if _libc is None or self.kept <= 0 or time.monotonic() - self.last < self.EVERY_SECONDS:
            return False
        free = _libc.mallinfo2().fordblks
        self.floor = min(self.floor, free)
        if free - self.floor <= self.kept:
            return False
        self.floor = free
        self.last = time.monotonic()
        return True

    @staticmethod
    def release() -> None:
        """Give the free pages back (blocks for as long as the heaps take to walk: off the event loop)."""
        if _libc is not None:
            _libc.malloc_trim(0)


class LongLivedObjects:
    """Leaves out of garbage collection what outlived a full collection, and collects everything once in a while.

    A full collection traverses every object the process tracks. With thousands of event streams
    open, each holding a few hundred objects (its connection, parser, task and generator), one
    takes 400-500 ms, all the while holding the interpreter: no stream gets its event, no request
    its answer, no probe its reply. Objects that outlived one full collection mostly live on (the
    loaded application, open connections): each full collection, as it ends, moves them to the
    generation collections skip (``gc.freeze``), so the next traverses only what is newer.

    What is left out is still freed when its last reference goes (an ended connection,
    ``LimitedProtocol._release_cycles``), but a cycle among such objects would be kept: every
    ``full_every`` seconds (0: never), ``tick`` collects completely, frozen objects included.
    """

    def __init__(self, *, full_every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.full_every = full_every
        self._clock = clock
        self._last_complete = clock()
        gc.callbacks.append(self._collected)

    @staticmethod
    def _collected(phase: str, info: dict) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    def tick(self) -> None:
        """Collect completely (frozen objects included) when ``full_every`` seconds have passed since the last time."""
        if self.full_every <= 0 or self._clock() - self._last_complete < self.full_every:
            return
        self._last_complete = self._clock()
        gc.unfreeze()
        # A full collection: what outlives it is frozen again as it ends.
        gc.collect()

    def close(self) -> None:
        """Stop freezing after full collections."""
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._collected)


def freeze_loaded_app() -> None:
    """Load every module the URLconf names, then leave what the process holds so far out of garbage collection.

    Called once per worker, after it has loaded the application (``post_worker_init``). Django, DRF
    and the service's modules, some 90,000 objects that live as long as the process, would
    otherwise be traversed by every full collection: a worker holding 2,500 event streams ran one
    every ten changes or so, and the traversal, a few hundred milliseconds, held every stream's
    delivery back. ``gc.freeze`` moves them to a generation that collections skip.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports the views, their serializers and DRF)
    gc.collect()
    gc.freeze()
