from django.urls import re_path

from node.views import NodeChangesView, NodeDetailView, NodeHistoryView, NodeListView

# The trailing slash is optional: a redirect would drop a PATCH body.
urlpatterns = [
    re_path(r"^nodes/?$", NodeListView.as_view(), name="node-list"),
    re_path(r"^nodes/changes/?$", NodeChangesView.as_view(), name="node-changes"),
    re_path(r"^nodes/(?P<pk>[0-9]+)/?$", NodeDetailView.as_view(), name="node-detail"),
    re_path(r"^nodes/(?P<pk>[0-9]+)/history/?$", NodeHistoryView.as_view(), name="node-history"),
]
