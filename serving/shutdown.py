"""This process is stopping: one flag the server raises when it begins to drain, and the callbacks that watch it.

The serving worker calls ``begin()`` at the moment it stops accepting connections (a SIGTERM, a
recycle after ``max_requests``). Responses that would otherwise last as long as the client stays (an
event stream, a waiting long-poll) watch the flag and end at once, so that a drain lasts as long as
the slowest ordinary request rather than the server's graceful timeout, and the clients reconnect
to a process that is still accepting.

The flag is per process and is never lowered in production: a stopping process does not start again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_stopping = threading.Event()
_callbacks: list[Callable[[], None]] = []
_lock = threading.Lock()


def begin() -> None:
    """Raise the flag and run every registered callback once, on the calling thread.

    A callback that fails is logged and the others still run. Calling ``begin`` again does nothing.
    """
    with _lock:
        if _stopping.is_set():
            return
        _stopping.set()
        callbacks = list(_callbacks)
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logger.exception("a shutdown callback failed: %r", callback)


def is_stopping() -> bool:
    """Whether this process has begun to stop."""
    return _stopping.is_set()


def on_stop(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the process begins to stop (at once, if it already has).

    Callbacks run on the thread that calls ``begin()`` (the server's event loop): they must be quick
    and must not block; to wake waiters of another loop, use that loop's ``call_soon_threadsafe``.
    """
    with _lock:
        if not _stopping.is_set():
            _callbacks.append(callback)
            return
    callback()


def reset() -> None:
    """Lower the flag and forget the callbacks (tests only)."""
    with _lock:
        _stopping.clear()
        _callbacks.clear()
