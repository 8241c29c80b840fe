"""Template tags of the node admin."""

from typing import Any

from django import template
from django.contrib.admin.views.main import ChangeList

from node.admin_display import date_hierarchy_from_range

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def node_date_hierarchy(cl: ChangeList) -> dict[str, Any]:
    """The date drill-down of the node list, without a full-table query (see ``date_hierarchy_from_range``)."""
    return date_hierarchy_from_range(cl)
