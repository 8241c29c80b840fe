"""The node model: one machine taking part (or having taken part) in the cluster."""

from django.db import models
from django.db.models.functions import Length, Lower
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

HOSTNAME_MAX_LENGTH = 250
PAUSE_REASON_MAX_LENGTH = 250

# The eight fields of a node in the v6 Node Services, in their order there: every read of nodes
# (list, detail, change feed) and the node's JSON shape use exactly these.
NODE_FIELDS = ("id", "hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified")


class Node(models.Model):
    """A cluster node, known by its hostname.

    Nodes are written only through ``node.services``, which keeps the invariants stated in
    ``node.services.rules``; the check constraints below hold the database to the same ones.
    Hostnames are unique regardless of letter case.
    """

    hostname = models.CharField(max_length=HOSTNAME_MAX_LENGTH)
    # Null, not "", is the contract's "no reason", so the column is nullable.
    pause_reason = models.CharField(max_length=PAUSE_REASON_MAX_LENGTH, null=True, blank=True)  # noqa: DJ001
    is_paused = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    deprecated = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_modified = models.DateTimeField(default=timezone.now, editable=False)
    # The registry clock's index of the node's latest change (``RegistryClock``); unique, as no two
    # changes share one.
    change_index = models.BigIntegerField(unique=True, editable=False)

    class Meta:
        db_table = "node"
        constraints = [
            models.UniqueConstraint(Lower("hostname"), name="node_hostname_unique_ci"),
            models.CheckConstraint(
                condition=GreaterThan(Length("hostname"), 0) & LessThanOrEqual(Length("hostname"), HOSTNAME_MAX_LENGTH),
                name="node_hostname_length",
            ),
            models.CheckConstraint(
                condition=models.Q(pause_reason__isnull=True)
                | LessThanOrEqual(Length("pause_reason"), PAUSE_REASON_MAX_LENGTH),
                name="node_pause_reason_length",
            ),
            models.CheckConstraint(
                condition=models.Q(is_paused=True) | models.Q(pause_reason__isnull=True),
                name="node_pause_reason_only_when_paused",
            ),
            models.CheckConstraint(
                condition=models.Q(is_active=True, deprecated__isnull=True)
                | models.Q(is_active=False, deprecated__isnull=False),
                name="node_deprecated_iff_inactive",
            ),
        ]
        indexes = [
            # The default order and the started/ended filters.
            models.Index(fields=["last_modified", "id"], name="node_last_modified_idx"),
            models.Index(fields=["is_active", "last_modified", "id"], name="node_active_modified_idx"),
            # The paused nodes (a tenth of them or fewer) in the default order, without scanning past the others.
            models.Index(fields=["is_paused", "last_modified", "id"], name="node_paused_modified_idx"),
            models.Index(fields=["created", "id"], name="node_created_idx"),
            models.Index(fields=["deprecated", "id"], name="node_deprecated_idx"),
            models.Index(Lower("pause_reason"), "id", name="node_pause_reason_ci_idx"),
        ]

    def __str__(self) -> str:
        return self.hostname


class NodeChange(models.Model):
    """One recorded change to a node: its registration, or a change of its pause or activity state.

    Written by ``node.services.history`` in the same transaction as the change itself, so a change
    is never recorded without happening, nor happens without being recorded. ``changes`` maps each
    changed field to ``{"old": ..., "new": ...}``. ``time`` is the node's ``last_modified`` after
    the change, which strictly advances per node, so a node's records sort in commit order. A liveness
    transition (``{"state": ...}``, ``node.services.liveness``) changes none of the node's fields: its
    ``time`` is the registry clock's time of the transition, later than every earlier record's.
    """

    class Action(models.TextChoices):
        REGISTER = "register"
        UPDATE = "update"

    class Channel(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        CLI = "cli"
        SYSTEM = "system"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="history")
    time = models.DateTimeField()
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.CharField(max_length=200)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    changes = models.JSONField()
    request_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (null: no request)
    # The registry clock's index of the change; null for records written before the clock existed.
    change_index = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "node_change"
        indexes = [
            models.Index(fields=["node", "time", "id"], name="node_change_node_time_idx"),
            models.Index(fields=["time"], name="node_change_time_idx"),
            # A change by its index: the record behind an entry of the change feed or an event.
            models.Index(fields=["change_index"], name="node_change_index_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} of node {self.node_id} at {self.time.isoformat()} by {self.actor}"


class RegistryClock(models.Model):
    """The one source of order and time for writes to nodes: a single row, locked by every writer.

    A transaction that writes nodes first advances the clock (``node.services.clock``) by the
    number of nodes it writes, taking one ``change_index`` per node (a 64-bit integer that grows
    by one per node written and is never reused) and one time per node, each strictly later than
    every time handed out before (``time_us``, microseconds since the Unix epoch, is the last one).
    The row stays locked until the transaction ends, so writers commit one after the other in
    index order, and index order, ``last_modified`` order and commit order are the same. On
    PostgreSQL a trigger sends ``NOTIFY node_changes`` with the new index on every advance; it is
    delivered when, and only if, the transaction commits.
    """

    change_index = models.BigIntegerField()
    time_us = models.BigIntegerField()

    class Meta:
        db_table = "registry_clock"

    def __str__(self) -> str:
        return f"registry clock at change {self.change_index}"


# The newest change index committed, as a subquery any read can add to its own statement (one snapshot).
CHANGE_INDEX_SQL = f"SELECT change_index FROM {RegistryClock._meta.db_table} WHERE id = 1"  # noqa: S608 (the model's table)


class NodeLiveness(models.Model):
    """Whether a node is alive: when it last sent a heartbeat, and the state last recorded for it.

    Kept apart from ``Node`` so that heartbeats, many per second, write only here: they change no
    field of the node, take no change index and wake no follower. ``last_seen`` is the time of the
    latest heartbeat (set by ``node.services.liveness``); a node without a row has never sent one.
    ``state`` is the state last recorded (``online`` from the first heartbeat; ``offline`` and back
    are recorded transitions, written with their history record), which the reaper compares with
    ``last_seen`` to find the nodes whose state changed. What a reader sees as the state comes from
    ``last_seen`` itself (``node.selectors.liveness_state``), so it is exact at any time.
    No index covers ``last_seen``: every heartbeat rewrites it, and an index on it would make each
    of those updates write the index too.
    """

    class State(models.TextChoices):
        NEVER = "never"
        ONLINE = "online"
        OFFLINE = "offline"

    node = models.OneToOneField(Node, on_delete=models.CASCADE, primary_key=True, related_name="liveness")
    last_seen = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.ONLINE)

    class Meta:
        db_table = "node_liveness"
        verbose_name_plural = "node liveness"

    def __str__(self) -> str:
        return f"node {self.node_id} {self.state}, last seen {self.last_seen.isoformat()}"
