"""Query filters of the node list."""

import django_filters

from node.models import Node
from util.filters import Iso8601InstantFilter, StrictBooleanFilter, TimeRangeForm


class NodeFilter(django_filters.FilterSet):
    """``started``/``ended`` bound ``last_modified`` (both inclusive); ``is_active`` selects by activity."""

    started = Iso8601InstantFilter(field_name="last_modified", lookup_expr="gte")
    ended = Iso8601InstantFilter(field_name="last_modified", lookup_expr="lte")
    is_active = StrictBooleanFilter(field_name="is_active")

    class Meta:
        model = Node
        fields = ["started", "ended", "is_active"]
        form = TimeRangeForm
