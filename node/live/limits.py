"""What bounds the live path: the caps on a process's event streams and waiting long-polls, and the change
feed's limits and the messages of its refusals, stated once for the views that apply them and the schema."""

from __future__ import annotations

import threading

from django.conf import settings

from observability.metrics import EVENT_STREAMS_OPEN, LONG_POLLS_WAITING
from waiting.admission import ConcurrencyLimiter

# The change feed's limits (GET /v6/nodes/changes/), enforced by its view and stated by its schema.
CHANGES_PAGE_SIZE = 100
CHANGES_MAX_PAGE_SIZE = 1000
CHANGES_MAX_WAIT_SECONDS = 60


def beyond_newest_message(after: int, newest: int) -> str | None:
    """Why ``after`` cannot be followed (it is past the newest change index), or ``None`` when it can."""
    if after > newest:
        return f"{after} is beyond the newest change index, {newest}."
    return None


def resume_expired_message(name: str, *, after: int, newest: int, retained: int) -> str:
    """Why a stream cannot resume after ``after`` (``name``: the parameter or header that gave it).

    A stream replays at most the last ``retained`` changes; a client further behind lists the nodes
    first, as the message says, and loses nothing.
    """
    return (
        f"{name} {after} is too far back: a stream replays at most the last {retained} changes (from index "
        f"{newest - retained}; the newest is {newest}). List the nodes first (GET /v6/nodes/, every page; "
        "X-Registry-Index of its first answer is the index they reflect), then open the stream with "
        "after=<that index>."
    )


class WatchCaps:
    """The caps of one process on its open event streams and its waiting long-polls; their limits follow the
    settings each time one is handed out, their counts last as long as this object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams = ConcurrencyLimiter(
            name="event streams", total=0, per_client=0, on_change=lambda change: EVENT_STREAMS_OPEN.inc(change)
        )
        self._waiting = ConcurrencyLimiter(
            name="waiting long-polls",
            total=0,
            per_client=0,
            on_change=lambda change: LONG_POLLS_WAITING.inc(change),
        )

    def streams(self) -> ConcurrencyLimiter:
        """The cap on open event streams (``EVENTS_MAX_STREAMS``, ``WATCH_MAX_PER_CLIENT``)."""
        with self._lock:
            self._streams.set_limits(total=settings.EVENTS_MAX_STREAMS, per_client=settings.WATCH_MAX_PER_CLIENT)
            return self._streams

    def waiting(self) -> ConcurrencyLimiter:
        """The cap on waiting long-polls (``CHANGES_MAX_WAITING``, ``WATCH_MAX_PER_CLIENT``)."""
        with self._lock:
            self._waiting.set_limits(total=settings.CHANGES_MAX_WAITING, per_client=settings.WATCH_MAX_PER_CLIENT)
            return self._waiting
