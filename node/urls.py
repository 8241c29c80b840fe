from django.urls import re_path

from node.views import (
    NodeChangesView,
    NodeDetailView,
    NodeEventsView,
    NodeHeartbeatsView,
    NodeHistoryView,
    NodeListView,
    NodeLivenessDetailView,
    NodeLivenessListView,
)
from waiting.asyncviews import awaiting

# The trailing slash is optional: a redirect would drop a PATCH body.
urlpatterns = [
    re_path(r"^nodes/?$", NodeListView.as_view(), name="node-list"),
    # Waiting long-polls wait on the event loop (waiting.asyncviews); the event stream is async itself.
    re_path(r"^nodes/changes/?$", awaiting(NodeChangesView.as_view()), name="node-changes"),
    re_path(r"^nodes/events/?$", NodeEventsView.as_view(), name="node-events"),
    re_path(r"^nodes/heartbeats/?$", NodeHeartbeatsView.as_view(), name="node-heartbeats"),
    re_path(r"^nodes/liveness/?$", NodeLivenessListView.as_view(), name="node-liveness-list"),
    re_path(r"^nodes/(?P<pk>[0-9]+)/?$", NodeDetailView.as_view(), name="node-detail"),
    re_path(r"^nodes/(?P<pk>[0-9]+)/history/?$", NodeHistoryView.as_view(), name="node-history"),
    re_path(r"^nodes/(?P<pk>[0-9]+)/liveness/?$", NodeLivenessDetailView.as_view(), name="node-liveness"),
]
