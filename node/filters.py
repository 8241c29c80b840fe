"""Query filters of the node list and of a node's history: the parameters, validated strictly."""

import django_filters
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import In

from node.models import HOSTNAME_MAX_LENGTH, Node, NodeChange, NodeLiveness
from node.selectors import LIST_MAX_VALUES, SEARCH_MAX_LENGTH, SEARCH_MIN_LENGTH, SEARCH_TOO_SHORT, NodeListQuery
from util.filters import (
    Iso8601InstantFilter,
    RepeatedFilter,
    StrictBooleanFilter,
    TextFilter,
    TimeRangeForm,
    positive_int_parser,
    text_parser,
)


class NodeFilter(django_filters.FilterSet):
    """The node list's filter parameters, validated; ``NodeListQuery`` applies them (one name per filter).

    ``started``/``ended`` bound ``last_modified`` (both inclusive); ``is_active`` and ``is_paused``
    select by state; ``hostname`` (repeatable) by exact hostname in any letter case; ``id``
    (repeatable, at most 1000) by id; ``search`` by a text in the hostname or the pause reason (at least
    ``SEARCH_MIN_LENGTH`` characters, so that its index serves it).
    """

    started = Iso8601InstantFilter()
    ended = Iso8601InstantFilter()
    is_active = StrictBooleanFilter()
    is_paused = StrictBooleanFilter()
    hostname = RepeatedFilter(parse=text_parser(max_length=HOSTNAME_MAX_LENGTH), max_values=LIST_MAX_VALUES)
    id = RepeatedFilter(parse=positive_int_parser, max_values=LIST_MAX_VALUES)
    search = TextFilter(min_length=SEARCH_MIN_LENGTH, max_length=SEARCH_MAX_LENGTH, too_short=SEARCH_TOO_SHORT)

    class Meta:
        model = Node
        fields = ["started", "ended", "is_active", "is_paused", "hostname", "id", "search"]
        form = TimeRangeForm

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """The nodes of ``queryset`` that the cleaned parameters select, through ``NodeListQuery``."""
        return NodeListQuery.from_values(self.form.cleaned_data).filter(queryset)


class NodeChangeFilter(django_filters.FilterSet):
    """``started``/``ended`` bound the time of a node's recorded changes (both inclusive)."""

    started = Iso8601InstantFilter(field_name="time", lookup_expr="gte")
    ended = Iso8601InstantFilter(field_name="time", lookup_expr="lte")

    class Meta:
        model = NodeChange
        fields = ["started", "ended"]
        form = TimeRangeForm


class NodeLivenessFilter(django_filters.FilterSet):
    """The liveness list's filters: ``state`` (online, offline or never), ``hostname`` and ``id`` (repeatable, any of
    them, at most 1000 each; hostnames in any letter case)."""

    state = django_filters.ChoiceFilter(choices=NodeLiveness.State.choices)
    hostname = RepeatedFilter(
        parse=text_parser(max_length=HOSTNAME_MAX_LENGTH), max_values=LIST_MAX_VALUES, method="filter_hostname"
    )
    id = RepeatedFilter(parse=positive_int_parser, max_values=LIST_MAX_VALUES, method="filter_id")

    class Meta:
        model = Node
        fields = ["state", "hostname", "id"]

    def filter_hostname(self, queryset: QuerySet, name: str, value: tuple[str, ...]) -> QuerySet:
        return queryset.filter(In(Lower("hostname"), sorted({hostname.lower() for hostname in value})))

    def filter_id(self, queryset: QuerySet, name: str, value: tuple[int, ...]) -> QuerySet:
        return queryset.filter(pk__in=sorted(set(value)))
