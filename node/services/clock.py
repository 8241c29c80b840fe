"""The registry clock (``node.models.RegistryClock``): every write to nodes takes its order and times here.

``advance(count)`` is the first statement of a writing transaction: it locks the clock's row until
the transaction ends, so writers commit one after the other, and hands out ``count`` change
indexes and ``count`` distinct times, all later than any handed out before. Index order and time
order are therefore commit order, on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)

# One statement on both databases: it takes the row lock, and the times stay strictly increasing
# even when the system clock stands still or steps back. Parameters: count, now, now, count.
ADVANCE_SQL = (
    "UPDATE registry_clock SET change_index = change_index + %s, "
    "time_us = (CASE WHEN %s > time_us THEN %s ELSE time_us + 1 END) + %s - 1 "
    "WHERE id = 1 RETURNING change_index, time_us"
)


def now_us() -> int:
    """The system clock now, in microseconds since the Unix epoch (the registry clock's unit)."""
    return to_time_us(timezone.now())


def to_time(time_us: int) -> dt.datetime:
    """The aware UTC datetime of a clock time (microseconds since the Unix epoch)."""
    return EPOCH + dt.timedelta(microseconds=time_us)


def to_time_us(time: dt.datetime) -> int:
    """The clock time (microseconds since the Unix epoch) of an aware datetime."""
    return (time - EPOCH) // MICROSECOND


@dataclass(frozen=True)
class Stamps:
    """The change indexes and times a writer was handed: ``count`` of each, in order.

    The ``n``-th node written (from 0) takes index ``first_index + n`` and time
    ``first_time + n`` microseconds.
    """

    first_index: int
    first_time: dt.datetime
    count: int

    def index(self, n: int) -> int:
        return self.first_index + n

    def time(self, n: int) -> dt.datetime:
        return self.first_time + n * MICROSECOND

    @property
    def last_index(self) -> int:
        """The newest index handed out, and so the clock's index once the writer commits."""
        return self.first_index + self.count - 1


def advance(count: int) -> Stamps:
    """Lock the clock for the current transaction and take ``count`` indexes and times from it.

    Call inside a transaction, before any other write to nodes, so that the lock orders every
    writer the same way. ``count`` may be 0, to lock the clock before knowing how many nodes will
    be written (a later ``advance`` in the same transaction then hands them out).
    """
    now = now_us()
    with connection.cursor() as cursor:
        cursor.execute(ADVANCE_SQL, [count, now, now, count])
        row = cursor.fetchone()
        if row is None:
            _restart(cursor)
            cursor.execute(ADVANCE_SQL, [count, now, now, count])
            row = cursor.fetchone()
    last_index, last_time_us = row
    # With count 0 nothing is handed out: the clock's time only moves up to just before now.
    return Stamps(first_index=last_index - count + 1, first_time=to_time(last_time_us - count + 1), count=count)


def _restart(cursor: object) -> None:
    """Put the clock's row back after the last change recorded on the nodes (a flushed table, e.g. in tests).

    Of writers doing this at once, one inserts the row and the others wait for it, then use it.
    """
    cursor.execute(
        "INSERT INTO registry_clock (id, change_index, time_us) "
        "SELECT 1, COALESCE(MAX(change_index), 0), %s FROM node WHERE true ON CONFLICT DO NOTHING",
        [to_time_us(timezone.now())],
    )
