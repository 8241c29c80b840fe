"""The live path: every committed node change pushed to this process's followers as it happens.

Its parts, from the database up:

- ``clock_watch``: waiting on a thread for the registry clock to pass an index (a listening connection
  on PostgreSQL, a poll of the clock elsewhere);
- ``follow``: the one loop that follows the changes from the database, page by page, waiting on the
  clock watch once caught up (``manage.py nodes watch``, and the tests);
- ``encoding``: a change as a Server-Sent Event;
- ``pump``: the process's reader thread, which follows the clock into an in-memory
  ``waiting.fanout.IndexedLog``;
- ``limits``: the caps on open streams and waiting long-polls, and the change feed's limits and the
  messages of its refusals;
- ``streams``: the event streams read from the log, their credential rechecks and farewells;
- ``long_polls``: the change feed's waits on the log, and the read shared by the long-polls one change wakes;
- ``process``: ``Live``, the one object per process that owns the clock watch, the pump and the caps.

Lifecycle: ``process_live()`` gives the process's ``Live``; nothing runs until the first stream or
long-poll starts it (after the server's fork, so each process has its own threads and connection).
``serving.shutdown`` interrupts every wait when the process begins to stop; ``reset()`` stops the
threads and forgets the object (tests, and database switches).
"""

from node.live.follow import follow
from node.live.process import Live, process_live, reset

__all__ = ["Live", "follow", "process_live", "reset"]
