"""gunicorn workers whose own error answers are JSON, like the service's.

gunicorn answers some requests itself, before Django sees them: a request line over
``limit_request_line`` (414), too many or too large header fields (431), a malformed request line
or header (400), an unknown ``Transfer-Encoding`` (501), and an application that failed to start
its answer (500). It writes those as small HTML pages through ``gunicorn.util.write_error``,
which its workers call for nothing else; these workers replace it, in their own process, with a
writer of the service's error shape ``{"detail": ...}``. Everything else is gunicorn's own.

gunicorn's ASGI worker (what ``make serve`` runs) parses requests with the same limits and answers
the same refusals through ``ASGIProtocol._send_error_response`` instead; ``AsgiWorker`` replaces
that method the same way.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket

from gunicorn import util
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers.gasgi import ASGIWorker as GunicornAsgiWorker
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

# gunicorn's messages may quote what the client sent; a long one is cut.
_MAX_DETAIL = 300


def json_error_response(status_int: int, reason: str, mesg: str) -> bytes:
    """A complete HTTP/1.1 response (closing the connection) with ``{"detail": ...}`` for a refused request."""
    detail = f"{reason}: {mesg}" if mesg else reason
    if len(detail) > _MAX_DETAIL:
        detail = detail[:_MAX_DETAIL] + "..."
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``: the same answer, as JSON instead of HTML."""
    util.write_nonblock(sock, json_error_response(status_int, reason, mesg))


def _send_json_error_response(
    protocol: ASGIProtocol, status: int, message: str, extra_headers: tuple[tuple[str, str], ...] = ()
) -> None:
    """Drop-in for ``ASGIProtocol._send_error_response``: the same answer, as JSON instead of plain text."""
    response = json_error_response(status, protocol._get_reason_phrase(status), message)
    if extra_headers:
        head, _, body = response.partition(b"\r\n\r\n")
        extra = "".join(f"\r\n{name}: {value}" for name, value in extra_headers).encode("latin-1")
        response = head + extra + b"\r\n\r\n" + body
    protocol._safe_write(response)


class _JsonErrorPages:
    def init_process(self) -> None:
        util.write_error = write_json_error
        super().init_process()


class SyncWorker(_JsonErrorPages, GunicornSyncWorker):
    """gunicorn's sync worker, answering its own errors in JSON."""


class ThreadWorker(_JsonErrorPages, GunicornThreadWorker):
    """gunicorn's threaded (gthread) worker, answering its own errors in JSON."""


class OneAcceptPerTurn(socket.socket):
    """A listening socket that accepts one connection per turn of the event loop.

    All the worker processes of an instance accept on the one socket the master opened, and each
    process's event loop accepts every connection pending when it wakes (asyncio accepts until
    the socket would block). Connections that arrive together, such as a load balancer's pool or
    a client's, then all land in the first process to wake, and the other processes idle while
    that one serves them all. Refusing a second accept in the same turn leaves the rest pending
    for the next turn, when every process that woke competes for them again.
    """

    # Set by an accept, cleared when the event loop comes round again.
    turn_taken = False

    @classmethod
    def taking(cls, listener: socket.socket) -> OneAcceptPerTurn:
        """This kind of socket in place of ``listener``, on the same open file (``listener`` is spent)."""
        return cls(listener.family, listener.type, listener.proto, fileno=listener.detach())

    def accept(self) -> tuple[socket.socket, object]:
        if self.turn_taken:
            raise BlockingIOError
        self.turn_taken = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        return super().accept()

    def _next_turn(self) -> None:
        self.turn_taken = False


class AsgiWorker(GunicornAsgiWorker):
    """gunicorn's ASGI worker, answering its own errors in JSON and sharing connections out fairly
    between processes (``OneAcceptPerTurn``)."""

    def init_process(self) -> None:
        ASGIProtocol._send_error_response = _send_json_error_response
        for listener in self.sockets:
            listener.sock = OneAcceptPerTurn.taking(listener.sock)
        super().init_process()


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
