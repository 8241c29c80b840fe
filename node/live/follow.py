"""Following the node changes from the database, page by page, in this thread: the one loop that the
``manage.py nodes watch`` command and the tests use (the server's streams read the pump's log instead)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from node.live.process import process_live
from node.selectors import NodeEventPage, current_change_index, node_events

# How long one wait on the clock lasts at most: a follower with no deadline still looks at the
# database this often, so a notification lost while the listener reconnected is late, never missed.
_LONGEST_WAIT_SECONDS = 5.0


def follow(after: int | None = None, *, until: float | None = None, page_size: int = 500) -> Iterator[NodeEventPage]:
    """The pages of node events after index ``after`` (the newest index when None), read as they commit.

    Reads a page at a time and yields it (an empty page when nothing changed); once caught up, blocks
    this thread on the process's clock watch until a change commits. Ends when ``until`` (a
    ``time.monotonic()`` deadline) has passed with every change up to it read; runs until the caller
    stops iterating when ``until`` is None. Each read is a statement of its own: call it outside a
    transaction.
    """
    watch = process_live().clock_watch()
    # Listening before the first read: a change committed after it cannot be missed.
    watch.ready(timeout=2.0)
    position = current_change_index() if after is None else after
    while True:
        page = node_events(after=position, limit=page_size)
        yield page
        position = page.head
        if page.more:
            continue
        remaining = _LONGEST_WAIT_SECONDS if until is None else until - time.monotonic()
        if remaining <= 0:
            return
        watch.block_until_beyond(position, timeout=min(_LONGEST_WAIT_SECONDS, remaining))
