"""Caps on what stays open for as long as its client does: a count per process and a count per client.

An event stream or a waiting long-poll costs the process little while it is open, but nothing else
ends it: without a cap, one client (or many) can hold more than the process can serve. A
``ConcurrencyLimiter`` admits a new one only while the process holds fewer than ``total`` and the
client fewer than ``per_client``; each admission is a ``Lease``, given back exactly once however the
stream ends. The counts are exact under concurrency (one lock), and cost one dict entry per client
that holds something.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Literal

PROCESS = "process"
CLIENT = "client"


class LimitReached(Exception):
    """A new admission was refused: ``scope`` is ``"process"`` (the process is full) or ``"client"``."""

    def __init__(self, scope: Literal["process", "client"], limit: int, name: str) -> None:
        super().__init__(scope, limit, name)
        self.scope = scope
        self.limit = limit
        self.name = name

    def __str__(self) -> str:
        return f"{self.name}: {self.scope} limit of {self.limit} reached."


class Lease:
    """One admission; ``release()`` gives it back, at most once however often it is called."""

    __slots__ = ("_key", "_limiter", "_released")

    def __init__(self, limiter: ConcurrencyLimiter, key: Hashable) -> None:
        self._limiter = limiter
        self._key = key
        self._released = False

    def release(self) -> None:
        """Give the admission back (from any thread); later calls do nothing."""
        self._limiter._release(self)

    @property
    def released(self) -> bool:
        """Whether the admission was given back."""
        return self._released


class ConcurrencyLimiter:
    """At most ``total`` admissions at once, and at most ``per_client`` for any one client key.

    ``on_change`` (if given) is called with +1 or -1 on every admission and release, outside the
    lock: a gauge of what is open follows the count exactly.
    """

    def __init__(
        self, *, name: str, total: int, per_client: int, on_change: Callable[[int], None] | None = None
    ) -> None:
        self.name = name
        self._on_change = on_change
        self._lock = threading.Lock()
        self._open = 0
        self._by_client: dict[Hashable, int] = {}
        self.set_limits(total=total, per_client=per_client)

    def set_limits(self, *, total: int, per_client: int) -> None:
        """Change the limits; what is held stays (above a lowered limit, until enough is released).

        Raises ValueError for a negative limit.
        """
        if total < 0 or per_client < 0:
            raise ValueError(f"{self.name}: limits cannot be negative, got total={total}, per_client={per_client}.")
        with self._lock:
            self.total = total
            self.per_client = per_client

    def acquire(self, client: Hashable) -> Lease:
        """Admit one more for ``client``; raises ``LimitReached`` when the process or the client is full.

        The client's own cap is checked first: a client over its share is told so (and to slow down)
        even when the process is also full.
        """
        with self._lock:
            held = self._by_client.get(client, 0)
            if held >= self.per_client:
                raise LimitReached(CLIENT, self.per_client, self.name)
            if self._open >= self.total:
                raise LimitReached(PROCESS, self.total, self.name)
            self._by_client[client] = held + 1
            self._open += 1
        if self._on_change is not None:
            self._on_change(1)
        return Lease(self, client)

    def _release(self, lease: Lease) -> None:
        with self._lock:
            if lease._released:
                return
            lease._released = True
            self._open -= 1
            held = self._by_client[lease._key] - 1
            if held:
                self._by_client[lease._key] = held
            else:
                del self._by_client[lease._key]
        if self._on_change is not None:
            self._on_change(-1)

    @property
    def open(self) -> int:
        """How many admissions are held now."""
        return self._open

    def held_by(self, client: Hashable) -> int:
        """How many admissions ``client`` holds now."""
        with self._lock:
            return self._by_client.get(client, 0)
