"""Reads of nodes that other layers share: the rows of the list, their exact count, lookups by hostname
and the history of a node."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Case, CharField, Count, F, FilteredRelation, Func, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower, Upper
from django.db.models.lookups import Contains, In
from django.utils import timezone

from node.models import CHANGE_INDEX_SQL, HOSTNAME_MAX_LENGTH, NODE_FIELDS, Node, NodeChange, NodeLiveness
from util.sqlcache import rows_with_params, sql_with_params
from util.values import check_length

# Built once: resolving the eight field names costs more than the rest of the query's setup. The
# base queryset is never evaluated itself, only cloned.
_NODE_ROWS = Node.objects.values_list(*NODE_FIELDS)


def node_rows() -> QuerySet:
    """All nodes as tuples of the eight ``NODE_FIELDS``, for ``node_rows_data`` to turn into results."""
    return _NODE_ROWS.all()


def kept_node_count(*, is_active: bool | None = None, is_paused: bool | None = None) -> int | None:
    """The exact number of nodes with the given activity and pause state (None: either) as PostgreSQL keeps it;
    None on other databases."""
    kept = kept_node_count_with_index(is_active=is_active, is_paused=is_paused)
    return None if kept is None else kept[0]


# The kept count of each (is_active, is_paused) combination, None meaning either, as an expression over the
# columns of ``node_count`` (migrations 0003 and 0006): active and inactive nodes, and the paused ones of each.
_KEPT_COUNT_EXPRESSIONS = {
    (None, None): "active + inactive",
    (True, None): "active",
    (False, None): "inactive",
    (None, True): "active_paused + inactive_paused",
    (None, False): "active - active_paused + inactive - inactive_paused",
    (True, True): "active_paused",
    (True, False): "active - active_paused",
    (False, True): "inactive_paused",
    (False, False): "inactive - inactive_paused",
}


def kept_node_count_with_index(
    *, is_active: bool | None = None, is_paused: bool | None = None
) -> tuple[int, int] | None:
    """The exact number of nodes with the given activity and pause state (None: either) as PostgreSQL keeps it,
    and the newest change index.

    One cheap query at any table size. The ``node_count`` row is maintained by triggers in the
    same transaction as every write to ``node`` (migrations 0003 and 0006), so it is what ``COUNT(*)``
    would say in the same snapshot, the snapshot in which the change index is read. Returns None on
    databases that keep no count.
    """
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor != "postgresql":
        return None
    column = _KEPT_COUNT_EXPRESSIONS[(is_active, is_paused)]
    with database.cursor() as cursor:
        cursor.execute(
            f"SELECT {column}, ({CHANGE_INDEX_SQL}) FROM node_count"  # noqa: S608 (one of nine fixed expressions)
        )
        count, index = cursor.fetchone()
    return count, index or 0


def node_state_counts() -> dict[str, int]:
    """How many nodes are active (and not paused), paused (and active) and inactive: each node in one state.

    On PostgreSQL from the kept counts (one cheap query at any size), elsewhere from one counting query.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT active, active_paused, inactive FROM node_count")
            active, paused, inactive = cursor.fetchone()
    else:
        counts = Node.objects.aggregate(
            active=Count("id", filter=Q(is_active=True)),
            paused=Count("id", filter=Q(is_active=True, is_paused=True)),
            inactive=Count("id", filter=Q(is_active=False)),
        )
        active, paused, inactive = counts["active"], counts["paused"], counts["inactive"]
    return {"active": active - paused, "paused": paused, "inactive": inactive}


def counted_with_index(queryset: QuerySet, *, sql_key: Hashable, params: Sequence[object]) -> tuple[int, int]:
    """``COUNT(*)`` of ``queryset`` and the newest change index, in one statement (so in one snapshot).

    ``sql_key`` and ``params`` are those of ``util.sqlcache.sql_with_params``: the key determines the
    rows' SQL and ``params`` are its parameters, so the count's SQL is compiled once per key.
    """
    sql, params = sql_with_params(queryset.order_by().values("pk"), key=("count", sql_key), params=params)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM ({sql}) AS counted), "  # noqa: S608 (the ORM's own SQL, with its parameters)
            f"({CHANGE_INDEX_SQL})",
            params,
        )
        count, index = cursor.fetchone()
    return count, index or 0


class _AsciiUpper(Func):
    """``UPPER`` of a text that is ASCII, such as a hostname (RFC 1123), under the C collation on PostgreSQL.

    For ASCII the result is that of ``UPPER`` under any collation, but the C collation's upper-casing
    skips the Unicode case rules: a search that reads every hostname costs about half as much.
    """

    function = "UPPER"
    template = '%(function)s((%(expressions)s)::text COLLATE "C")'
    output_field = CharField()


class _UpperContains(Contains):
    """``lhs LIKE UPPER('%text%')`` (PostgreSQL): the text, upper-cased by the database, in an upper-cased ``lhs``.

    What ``icontains`` compiles to, for an ``lhs`` that is upper-cased already (``_AsciiUpper``), so
    that the trigram index on that very expression serves it (migration 0007).
    """

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        return f"LIKE UPPER({rhs})"


# How a filter of the list is counted: from the counts PostgreSQL keeps (only the pause and activity
# state have kept counts), or with ``COUNT(*)``, which each such filter's index must make cheap.
KEPT = "kept"
COUNTED = "counted"
# How a filter shapes the page's SQL: ``FIXED`` ones compile to SQL without parameters (``WHERE
# "node"."is_paused"``), so their values are part of the SQL key; ``PARAMETERS`` ones pass values
# (``"node"."id" IN (%s, %s)``), so only the number of values they pass is.
FIXED = "fixed"
PARAMETERS = "parameters"

# At most this many values of a repeatable filter (`hostname`, `id`).
LIST_MAX_VALUES = 1000
SEARCH_MAX_LENGTH = HOSTNAME_MAX_LENGTH
# A search text needs at least this many characters: the trigram indexes that serve ``search``
# (migration 0007) cannot narrow a shorter one, which would read every node (0.4-0.6 s at a million).
SEARCH_MIN_LENGTH = 3
SEARCH_TOO_SHORT = "shorter texts cannot use the search index and would scan every node."
_DIGITS = re.compile(r"[0-9]+")


def search_index_text(text: str) -> str | None:
    """The part of a search ``text`` that the hostname's trigram index should look up, or None for all of it.

    A GIN index reads the whole posting list of every trigram it is asked for, and hostnames share
    their letters: the naming scheme (``gpu-``, ``rack``, ``.example.com``) recurs in every host,
    while the digits tell hosts apart. For ``gpu-12345`` among a million ``gpu-N``/``cpu-N`` hosts,
    ``GPU``, ``PU-`` and ``U-1`` alone are half a million entries each, and looking them up costs
    many times what ``12345`` costs. So when the text holds a run of at least three digits (a whole
    trigram of them), the index looks up the longest such run, and the whole text is then checked on
    the few rows found. The run is a part of the text, so no matching host is missed. Shorter runs
    (``rack12``, ``.dc1.``) narrow too little to pay for the second check. None when there is no
    such run or it is the whole text.
    """
    runs = [match.group() for match in _DIGITS.finditer(text)]
    narrow = max(runs, key=len, default="")
    if len(narrow) < SEARCH_MIN_LENGTH:
        return None
    return narrow if len(narrow) < len(text) else None


def search_text(text: str) -> str:
    """``text`` as every search of nodes takes it (the API's ``search``, the admin's search box, ``manage.py
    nodes list --search``): ``SEARCH_MIN_LENGTH`` to ``SEARCH_MAX_LENGTH`` characters, else ``ValueError`` saying
    why. ``NodeListQuery(search=text)`` then finds the nodes whose hostname or pause reason contains it."""
    return check_length(text, min_length=SEARCH_MIN_LENGTH, max_length=SEARCH_MAX_LENGTH, too_short=SEARCH_TOO_SHORT)


def _decided(*, count: str, sql: str) -> dict[str, str]:
    """A list filter's ``field`` metadata: how it is counted and how it shapes the SQL."""
    return {"count": count, "sql": sql}


def _distinct(values: Iterable[Hashable] | None) -> tuple | None:
    """``values`` without duplicates, sorted (so equal sets of values are equal filters); None stays None."""
    return None if values is None else tuple(sorted(set(values)))


@dataclass(frozen=True)
class NodeListQuery:
    """The filters of the node list, and everything that depends on them: the rows, the SQL key and the count.

    Each field is one filter; None means "not filtered". Every field declares how it is counted
    (``KEPT`` or ``COUNTED``) and how it shapes the SQL (``FIXED`` or ``PARAMETERS``), and
    ``conditions``, ``sql`` and ``count_with_index`` read those declarations, so a filter added
    here has to decide both. The API (``NodeFilter``, which validates the values) and the admin
    filter through this object.

    - ``started``/``ended``: ``last_modified`` bounds, both inclusive;
    - ``is_active``, ``is_paused``: the activity and pause state;
    - ``hostname``: hostnames, any of them, ignoring letter case (served by the unique index on the
      lower-case hostname), kept lower-cased, sorted and without duplicates;
    - ``id``: node ids, any of them, kept sorted and without duplicates (each repeatable filter
      takes at most ``LIST_MAX_VALUES``);
    - ``search``: a text that the hostname or the pause reason contains, ignoring letter case (served
      by trigram indexes on PostgreSQL, migration 0007).
    """

    started: dt.datetime | None = field(default=None, metadata=_decided(count=COUNTED, sql=PARAMETERS))
    ended: dt.datetime | None = field(default=None, metadata=_decided(count=COUNTED, sql=PARAMETERS))
    is_active: bool | None = field(default=None, metadata=_decided(count=KEPT, sql=FIXED))
    is_paused: bool | None = field(default=None, metadata=_decided(count=KEPT, sql=FIXED))
    hostname: tuple[str, ...] | None = field(default=None, metadata=_decided(count=COUNTED, sql=PARAMETERS))
    id: tuple[int, ...] | None = field(default=None, metadata=_decided(count=COUNTED, sql=PARAMETERS))
    search: str | None = field(default=None, metadata=_decided(count=COUNTED, sql=PARAMETERS))

    def __post_init__(self) -> None:
        hostnames = None if self.hostname is None else (name.lower() for name in self.hostname)
        object.__setattr__(self, "hostname", _distinct(hostnames))
        object.__setattr__(self, "id", _distinct(self.id))

    @classmethod
    def filter_names(cls) -> frozenset[str]:
        """The names of the filters, which are also the list's query parameters."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeListQuery:
        """The query of the cleaned filter values ``values``, one per filter name (None: not filtered).

        Raises ``TypeError`` for a name that is no filter here: a filter cannot be given and ignored.
        """
        unknown = set(values) - cls.filter_names()
        if unknown:
            raise TypeError(f"NodeListQuery has no filter {', '.join(sorted(unknown))}")
        return cls(**values)

    def conditions(self, db: str) -> list[tuple[Field, Q, tuple]]:
        """Each given filter, its condition on nodes and the parameters of that condition's SQL on the database ``db``.

        The parameters are those Django compiles the condition with, in order (``sql`` relies on
        them; ``util.sqlcache`` checks them when it first compiles a shape).
        """
        ops = connections[db].ops
        conditions = []
        for given in self._given():
            value = getattr(self, given.name)
            if given.name == "started":
                condition, params = Q(last_modified__gte=value), (ops.adapt_datetimefield_value(value),)
            elif given.name == "ended":
                condition, params = Q(last_modified__lte=value), (ops.adapt_datetimefield_value(value),)
            elif given.name in ("is_active", "is_paused"):
                condition, params = Q(**{given.name: value}), ()
            elif given.name == "hostname":
                condition, params = Q(In(Lower("hostname"), value)), value
            elif given.name == "id":
                condition, params = Q(pk__in=value), value
            elif given.name == "search":
                pattern = f"%{ops.prep_for_like_query(value)}%"
                in_hostname, hostname_params = Q(hostname__icontains=value), (pattern,)
                if connections[db].vendor == "postgresql":
                    in_hostname = Q(_UpperContains(_AsciiUpper("hostname"), value))
                    narrow = search_index_text(value)
                    if narrow is not None:
                        # The index looks up the narrow part; the whole text is checked on what it finds,
                        # through an expression the index does not match (so it is only a filter).
                        in_hostname = Q(_UpperContains(_AsciiUpper("hostname"), narrow)) & Q(
                            _UpperContains(Upper("hostname"), value)
                        )
                        hostname_params = (f"%{ops.prep_for_like_query(narrow)}%", pattern)
                condition, params = in_hostname | Q(pause_reason__icontains=value), (*hostname_params, pattern)
            else:
                raise TypeError(f"NodeListQuery has no condition for its filter {given.name}")
            conditions.append((given, condition, params))
        return conditions

    def _given(self) -> list[Field]:
        return [f for f in _filter_fields(type(self)) if getattr(self, f.name) is not None]

    def filter(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` (of nodes) narrowed to the nodes every given filter selects."""
        for _, condition, _ in self.conditions(queryset.db):
            queryset = queryset.filter(condition)
        return queryset

    def sql(self, queryset: QuerySet, *, order: Hashable) -> tuple[QuerySet, Hashable, tuple]:
        """``filter(queryset)`` for a page in ``order``, the key of its SQL and the SQL's parameters, in order.

        The key determines the SQL (``util.sqlcache``): it holds each ``FIXED`` filter's value and the
        number of parameters of each ``PARAMETERS`` one (values of the same number compile to the same
        SQL), and ``order``. Two queries that differ in a fixed value or in the shape of their SQL
        never share a key.
        """
        shape, params = [], []
        for given, condition, condition_params in self.conditions(queryset.db):
            queryset = queryset.filter(condition)
            value = getattr(self, given.name) if given.metadata["sql"] == FIXED else len(condition_params)
            shape.append((given.name, value))
            params.extend(condition_params)
        return queryset, ("node-list", tuple(shape), order), tuple(params)

    def fixed_sql_key(self, *, order: Hashable) -> Hashable | None:
        """``sql``'s key when only ``FIXED`` filters are given (then the key determines the whole queryset, whose
        SQL takes no parameters), else None."""
        given = self._given()
        if any(f.metadata["sql"] != FIXED for f in given):
            return None
        return ("node-list", tuple((f.name, getattr(self, f.name)) for f in given), order)

    def count_with_index(self, queryset: QuerySet, *, sql_key: Hashable, params: Sequence[object]) -> tuple[int, int]:
        """The exact number of rows of ``queryset`` (``sql``'s result, with its key and parameters), and the
        newest change index, read no later than the count.

        When only kept-count filters are given, the counts PostgreSQL keeps answer at any table size;
        otherwise ``COUNT(*)``, through the index of the filter that narrows it.
        """
        if all(f.metadata["count"] == KEPT for f in self._given()):
            kept = kept_node_count_with_index(is_active=self.is_active, is_paused=self.is_paused)
            if kept is not None:
                return kept
        return counted_with_index(queryset, sql_key=sql_key, params=params)


@functools.cache
def _filter_fields(query_class: type[NodeListQuery]) -> tuple[Field, ...]:
    """The filters of ``query_class`` (its dataclass fields), read once."""
    return fields(query_class)


def nodes_with_hostnames(hostnames: Iterable[str]) -> QuerySet[Node]:
    """The nodes whose hostname is one of ``hostnames``, ignoring letter case, annotated with ``hostname_key``.

    ``hostname_key`` is the lower-case hostname, the key of the unique index that serves this lookup.
    """
    keys = {hostname.lower() for hostname in hostnames}
    return Node.objects.annotate(hostname_key=Lower("hostname")).filter(hostname_key__in=keys)


# The keys travel as one text, split in the database: thousands of names cost one parameter to send
# and to parse, where a list of them costs one each. The lateral lookup probes the unique index once
# per key whatever the statistics say: a table growing under a bulk registration, not analysed yet,
# would otherwise be read whole for every batch.
_KNOWN_KEYS_SQL = (
    "SELECT names.key FROM unnest(string_to_array(%s, E'\\n')) AS names (key) "
    "CROSS JOIN LATERAL (SELECT FROM node WHERE lower(hostname) = names.key LIMIT 1) AS known"
)


def known_hostname_keys(hostnames: Iterable[str]) -> set[str]:
    """The lower-case forms of those ``hostnames`` that a node has already, in any letter case.

    The same answer as ``nodes_with_hostnames``, for thousands of names at once (a registration
    batch); served by the same unique index.
    """
    keys = {hostname.lower() for hostname in hostnames}
    joined = "\n".join(keys)
    # A name with a line break in it (never a valid hostname) would split in two: the ORM takes those.
    if connection.vendor != "postgresql" or not keys or joined.count("\n") != len(keys) - 1:
        return set(nodes_with_hostnames(keys).values_list("hostname_key", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(_KNOWN_KEYS_SQL, [joined])
        return {key for (key,) in cursor.fetchall()}


def node_history(node_id: int) -> QuerySet[NodeChange]:
    """The recorded changes of the node ``node_id``, newest first."""
    return NodeChange.objects.filter(node_id=node_id).order_by("-time", "-id")


def current_change_index() -> int:
    """The newest change index committed: every change up to it is visible to reads that start after this one."""
    with connection.cursor() as cursor:
        cursor.execute(CHANGE_INDEX_SQL)
        row = cursor.fetchone()
    return row[0] if row else 0


def node_exists_with_index(node_id: int) -> tuple[bool, int]:
    """Whether the node ``node_id`` exists, and the newest change index, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM node WHERE id = %s), ({CHANGE_INDEX_SQL})",  # noqa: S608 (a fixed statement)
            [node_id],
        )
        exists, index = cursor.fetchone()
    return bool(exists), index or 0


def _node_row_with_index(node_id: int) -> QuerySet:
    return (
        node_rows()
        .filter(pk=node_id)
        .annotate(registry_index=RawSQL(CHANGE_INDEX_SQL, ()))  # noqa: S611 (a fixed statement)
        .values_list(*NODE_FIELDS, "registry_index")[:1]
    )


def node_row_with_index(node_id: int) -> tuple[tuple | None, int]:
    """The ``NODE_FIELDS`` values of the node ``node_id`` (None when there is none), and the newest change index.

    Both come from one statement, so the node is exactly as it was once that change committed.
    The statement is compiled once (``util.sqlcache``).
    """
    rows = rows_with_params(_node_row_with_index, key="node-detail", params=(node_id,))
    if not rows:
        return None, current_change_index()
    return rows[0][:-1], rows[0][-1] or 0


def node_changes(*, after: int, limit: int) -> list[tuple]:
    """The ``NODE_FIELDS`` values and change index of the nodes whose latest change is after ``after``, oldest first.

    At most ``limit`` nodes, served by the unique index on ``change_index``.
    """
    return list(
        Node.objects.filter(change_index__gt=after)
        .order_by("change_index")
        .values_list(*NODE_FIELDS, "change_index")[:limit]
    )


# The fields a history record's ``old`` values restore, going back from a node's current row.
_RESTORED_FIELDS = ("pause_reason", "is_paused", "is_active")
# ``deprecated`` of a state that only a record older than those read can tell (see ``_fill_deprecated``).
_UNKNOWN = object()


class RecordedChange(NamedTuple):
    """The history record of one change, as an event carries it: who made it, how, and what it changed."""

    action: str
    actor: str
    channel: str
    changes: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class NodeEvent:
    """One committed change of a node: its change index, the ``NODE_FIELDS`` values right after it, and its record.

    ``record`` is None for a write that changed no value (it advanced ``last_modified`` only, and
    the history records nothing of it).
    """

    index: int
    node: tuple
    record: RecordedChange | None


@dataclass(frozen=True)
class NodeEventPage:
    """The changes after a position up to ``head``, in index order; ``more`` when changes beyond ``head`` committed."""

    events: list[NodeEvent]
    head: int
    more: bool


# One statement, so one snapshot: the registry clock, a page of history records after the position
# (by the index on their time: times and indexes grow together, and the time of the newest node
# changed no later than the position bounds them from below), and a page of the nodes changed since,
# by the unique index on their latest change (those whose latest change recorded nothing).
_EVENT_PAGE_SQL = f"""
SELECT 0, change_index, NULL FROM ({CHANGE_INDEX_SQL}) AS clock
UNION ALL SELECT * FROM (
    SELECT 1, change_index, node_id FROM node_change
    WHERE change_index > %s AND "time" > COALESCE(
        (SELECT last_modified FROM node WHERE change_index <= %s ORDER BY change_index DESC LIMIT 1), %s
    )
    ORDER BY "time" LIMIT %s
) AS records
UNION ALL SELECT * FROM (
    SELECT 2, change_index, id FROM node WHERE change_index > %s ORDER BY change_index LIMIT %s
) AS nodes
"""  # noqa: S608 (a fixed statement)
_CLOCK, _RECORD, _NODE = 0, 1, 2
# Earlier than any change: the lower bound of the records' times when no node changed up to the position.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def node_events(*, after: int, limit: int) -> NodeEventPage:
    """Every committed change after index ``after``, each with the node as it was right after it, oldest first.

    A page covers the changes up to a head chosen so that none before it is missing: the history
    records of at most ``limit`` changes, and of at most ``limit`` nodes changed since. Each event
    is rebuilt from the node's current row and the ``old`` values of its later records, read in one
    statement per page (two in all; a third when a reactivation hides when a node was deactivated).
    A write that changed no value leaves no record: it shows as an event only while it is the node's
    latest change. Records removed by pruning are not delivered.
    """
    params = [after, after, connection.ops.adapt_datetimefield_value(_EPOCH), limit, after, limit]
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_PAGE_SQL, params)
        read = cursor.fetchall()
    newest = next((index for source, index, _ in read if source == _CLOCK), 0) or 0
    records = sorted((index, node_id) for source, index, node_id in read if source == _RECORD)
    latest = sorted((index, node_id) for source, index, node_id in read if source == _NODE)
    # Complete up to the last record read when the page of records is full, and up to the last node
    # read when the page of nodes is: a change beyond either may hide one not read yet before it.
    head = newest
    if len(records) >= limit:
        head = min(head, records[-1][0])
    if len(latest) >= limit:
        head = min(head, latest[-1][0])
    recorded = {index for index, _ in records}
    node_ids = {node_id for index, node_id in records if index <= head}
    node_ids |= {node_id for index, node_id in latest if index <= head and index not in recorded}
    events = _rebuilt_events(node_ids, after=after, head=head) if node_ids else []
    return NodeEventPage(events=events, head=max(head, after), more=head < newest)


def _rebuilt_events(node_ids: set[int], *, after: int, head: int) -> list[NodeEvent]:
    """The events of the nodes ``node_ids`` in ``(after, head]``, from their rows and records after ``after``.

    One statement reads each node's current row with its records after ``after``, so both come
    from the same snapshot.
    """
    later = FilteredRelation("history", condition=Q(history__change_index__gt=after))
    rows = (
        Node.objects.filter(pk__in=node_ids)
        .annotate(later=later)
        .order_by("pk", "later__change_index")
        .values_list(
            *NODE_FIELDS,
            "change_index",
            "later__change_index",
            "later__time",
            "later__action",
            "later__actor",
            "later__channel",
            "later__changes",
        )
    )
    by_node: dict[int, tuple[tuple, int, list[tuple]]] = {}
    for row in rows:
        node, index, record = row[: len(NODE_FIELDS)], row[len(NODE_FIELDS)], row[len(NODE_FIELDS) + 1 :]
        entry = by_node.setdefault(node[0], (node, index, []))
        if record[0] is not None:
            entry[2].append(record)
    built: list[tuple[int, dict[str, Any], RecordedChange | None]] = []
    for node, index, records in by_node.values():
        built.extend(_states_after(node, index=index, records=records, after=after, head=head))
    unknown = {state["id"] for _, state, _ in built if state["deprecated"] is _UNKNOWN}
    if unknown:
        deactivated = _deactivation_times(unknown, after=after)
        for _, state, _ in built:
            if state["deprecated"] is _UNKNOWN:
                state["deprecated"] = deactivated.get(state["id"], state["created"])
    built.sort(key=lambda event: event[0])
    return [
        NodeEvent(index=index, node=tuple(state[name] for name in NODE_FIELDS), record=record)
        for index, state, record in built
    ]


def _states_after(
    node: tuple, *, index: int, records: list[tuple], after: int, head: int
) -> list[tuple[int, dict[str, Any], RecordedChange | None]]:
    """The node's changes in ``(after, head]``: each index, the node's fields right after it, and its record.

    ``node`` is the node's current row, at change ``index``; ``records`` are its records after
    ``after`` as ``(change_index, time, action, actor, channel, changes)``, oldest first. Going back
    from the current row, each record's ``old`` values give the state before it. ``deprecated`` is
    ``_UNKNOWN`` where a reactivation hides when the node was deactivated, before ``after``.
    """
    state = dict(zip(NODE_FIELDS, node, strict=True))
    states: list[tuple[int, dict[str, Any], RecordedChange | None]] = []
    if after < index <= head and index not in {record[0] for record in records}:
        states.append((index, dict(state), None))
    # Each state waiting for the time of the deactivation that a later reactivation undid.
    waiting: list[dict[str, Any]] = []
    for record_index, time, action, actor, channel, changes in reversed(records):
        if record_index > index:
            continue
        state["last_modified"] = time
        if changes.get("is_active", {}).get("new") is False:
            for waiter in waiting:
                waiter["deprecated"] = time
            waiting.clear()
            state["deprecated"] = time
        if record_index <= head:
            after_change = dict(state)
            states.append((record_index, after_change, RecordedChange(action, actor, channel, changes)))
            if after_change["deprecated"] is _UNKNOWN:
                waiting.append(after_change)
        for name in _RESTORED_FIELDS:
            if name in changes:
                state[name] = changes[name]["old"]
        if "is_active" in changes:
            state["deprecated"] = _UNKNOWN if changes["is_active"]["old"] is False else None
    states.reverse()
    return states


def _deactivation_times(node_ids: set[int], *, after: int) -> dict[int, dt.datetime]:
    """The time of the latest deactivation (or inactive registration) of each of ``node_ids`` up to index ``after``.

    Read only for a node inactive after a change and reactivated later; a node whose deactivation
    was pruned from the history has none here.
    """
    times: dict[int, dt.datetime] = {}
    older = (
        NodeChange.objects.filter(node_id__in=node_ids, change_index__lte=after)
        .order_by("node_id", "-change_index")
        .values_list("node_id", "time", "changes")
    )
    for node_id, time, changes in older.iterator(chunk_size=2000):
        if node_id not in times and changes.get("is_active", {}).get("new") is False:
            times[node_id] = time
    return times


# A node's liveness as the API shows it, in this order.
LIVENESS_FIELDS = ("id", "hostname", "state", "last_seen")


def liveness_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """The oldest heartbeat that still makes a node online at ``now`` (default: now): ``NODE_HEARTBEAT_TTL`` before."""
    return (now or timezone.now()) - dt.timedelta(seconds=settings.NODE_HEARTBEAT_TTL)


def liveness_state(cutoff: dt.datetime) -> Case:
    """The state of a node (an expression over ``Node``): ``never`` without a heartbeat, ``online`` while its last
    one is at ``cutoff`` or later, ``offline`` before."""
    return Case(
        When(liveness__last_seen__isnull=True, then=Value(NodeLiveness.State.NEVER.value)),
        When(liveness__last_seen__gte=cutoff, then=Value(NodeLiveness.State.ONLINE.value)),
        default=Value(NodeLiveness.State.OFFLINE.value),
        output_field=CharField(),
    )


def node_liveness_rows(*, cutoff: dt.datetime) -> QuerySet:
    """Every node's ``LIVENESS_FIELDS`` as dicts, by id; ``state`` as ``liveness_state(cutoff)`` says.

    The state is read from the last heartbeat itself, so it is exact whenever it is read, whether or not
    the transition has been recorded yet.
    """
    return (
        Node.objects.annotate(last_seen=F("liveness__last_seen"), state=liveness_state(cutoff))
        .values(*LIVENESS_FIELDS)
        .order_by("id")
    )


def liveness_counts(*, cutoff: dt.datetime) -> dict[str, int]:
    """How many nodes are online, offline and have never sent a heartbeat, at ``cutoff``."""
    seen = NodeLiveness.objects.aggregate(
        online=Count("pk", filter=Q(last_seen__gte=cutoff)), offline=Count("pk", filter=Q(last_seen__lt=cutoff))
    )
    never = Node.objects.count() - seen["online"] - seen["offline"]
    return {"online": seen["online"], "offline": seen["offline"], "never": max(never, 0)}
