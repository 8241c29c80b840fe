"""Query filters of the node list."""

from util.filters import Iso8601InstantField, StrictBooleanField, TimeRangeForm


class NodeListFilterForm(TimeRangeForm):
    """``started``/``ended`` bound ``last_modified`` (both inclusive); ``is_active`` selects by activity.

    A plain form rather than a django-filter ``FilterSet``: the list is polled by every client and
    a ``FilterSet`` deep-copies its filters and builds a form class on each request, which costs
    more than the rest of the list's Python work together. ``node.selectors.filter_nodes`` applies
    the cleaned values.
    """

    started = Iso8601InstantField(required=False)
    ended = Iso8601InstantField(required=False)
    is_active = StrictBooleanField(required=False)
