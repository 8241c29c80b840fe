"""The v6 node endpoints: thin views over the filter set, the selectors, the serializers and ``node.services``."""

import time

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from node.actors import request_actor
from node.events import node_event_stream, wait_for_change
from node.filters import NodeChangeFilter, NodeFilter
from node.models import NODE_FIELDS, Node, NodeChange
from node.schema import (
    node_changes_schema,
    node_detail_schema,
    node_events_schema,
    node_history_schema,
    node_list_schema,
    node_update_schema,
)
from node.selectors import (
    NodeListQuery,
    current_change_index,
    node_changes,
    node_exists_with_index,
    node_history,
    node_row_with_index,
    node_rows,
)
from node.serializers import NodeChangeSerializer, NodeSerializer, NodeUpdateSerializer, node_rows_data
from node.services import NodeChanged, node_update
from node.versions import node_page_version, node_version, node_version_at
from util.conditional import PreconditionFailed, if_match_required_tags, is_not_modified, not_modified
from util.filters import FilterSetRunner
from util.http import EVENT_STREAM, FirstRendererNegotiation, prefers_representation
from util.ordering import ORDER_PARAM, OrderParamFilter, OrderTerm
from util.pagination import StrictPageNumberPagination
from util.permissions import ModelViewPermission
from util.query import int_param
from util.renderers import OrjsonRenderer

NODE_FILTERS = FilterSetRunner(NodeFilter)
REGISTRY_INDEX_HEADER = "X-Registry-Index"
NO_SUCH_NODE = "No Node matches the given query."
# Ids are 64-bit: a larger number names no node (and must not reach the database as a parameter).
MAX_NODE_ID = 2**63 - 1


def node_id_of(pk: str) -> int:
    """The node id of a URL's ``pk`` (digits only, by the URL pattern); 404 for one no node can have."""
    node_id = int(pk)
    if node_id > MAX_NODE_ID:
        raise Http404(NO_SUCH_NODE)
    return node_id


def registry_indexed(response: HttpResponse, index: int) -> HttpResponse:
    """``response`` with the newest change index it reflects, in ``X-Registry-Index``."""
    response[REGISTRY_INDEX_HEADER] = str(index)
    return response


@extend_schema_view(get=node_list_schema)
class NodeListView(generics.ListAPIView):
    """The cluster's nodes, a page at a time: filter with `started`, `ended`, `is_active`, `is_paused`, `hostname`,
    `id` and `search`, sort with `order`.

    Each page carries an `ETag`; sending it back in `If-None-Match` answers 304 with no body while
    the page is unchanged.
    """

    # Every client polls this list, so it skips model instances and per-field serialization: rows
    # come as tuples, become NodeSerializer's dicts in one step and are written by orjson (the same
    # bytes). ``NodeListQuery`` decides how the page is counted and keys its SQL, compiled once per
    # shape. The filter parameters are documented by ``node.schema``. (The docstring above
    # is what the browsable API and OPTIONS show to users.)

    queryset = Node.objects.all()
    serializer_class = NodeSerializer
    pagination_class = StrictPageNumberPagination
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]
    filter_backends = [OrderParamFilter]
    ordering_fields = NODE_FIELDS
    ordering_aliases = {"host_name": "hostname"}
    ordering_default = (OrderTerm("last_modified"),)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        query = NodeListQuery.from_values(NODE_FILTERS.clean(request.query_params))
        order = tuple(request.query_params.getlist(ORDER_PARAM))
        rows, sql_key, sql_params = query.sql(node_rows(), order=order)
        rows = self.filter_queryset(rows)
        registry_index = 0

        def count() -> int:
            nonlocal registry_index
            total, registry_index = query.count_with_index(rows, sql_key=sql_key, params=sql_params)
            return total

        page = self.paginator.paginate_queryset(
            rows, request, self, count=count, sql_key=sql_key, sql_params=sql_params
        )
        results = node_rows_data(page)
        etag = node_page_version(results, count=self.paginator.page.paginator.count)
        if is_not_modified(request, etag):
            return registry_indexed(not_modified(etag), registry_index)
        response = self.get_paginated_response(results)
        response["ETag"] = etag
        return registry_indexed(response, registry_index)


@extend_schema_view(get=node_detail_schema, patch=node_update_schema)
class NodeDetailView(APIView):
    """One node: read it, or pause, resume, deactivate or reactivate it with `PATCH`.

    Answers carry the node's `ETag`: `GET` with a matching `If-None-Match` is a 304, and `PATCH` with
    `If-Match` applies only while the node still has one of the given tags (else 412). Changing a node
    needs the permission `node.change_node`.
    """

    # The model whose permissions a write needs (node.change_node), as in the admin.
    queryset = Node.objects.all()
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    def get(self, request: Request, pk: int) -> Response:
        # The list's rows path: the very same eight values as the node's list entry, at a fraction of the cost.
        row, registry_index = node_row_with_index(node_id_of(pk))
        if row is None:
            raise Http404(NO_SUCH_NODE)
        node = node_rows_data([row])[0]
        etag = node_version_at(node["id"], node["last_modified"])
        if is_not_modified(request, etag):
            return registry_indexed(not_modified(etag), registry_index)
        return registry_indexed(Response(node, headers={"ETag": etag}), registry_index)

    def patch(self, request: Request, pk: int) -> Response:
        try:
            body = NodeUpdateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
        except Exception:
            # An unknown node is a 404 whatever the body; only a refused request pays for this check.
            if not node_exists_with_index(node_id_of(pk))[0]:
                raise Http404(NO_SUCH_NODE) from None
            raise
        actor = request_actor(request, channel=NodeChange.Channel.API)
        try:
            node = node_update(
                node=node_id_of(pk),
                changes=body.validated_data,
                actor=actor,
                expected_versions=if_match_required_tags(request),
            )
        except Node.DoesNotExist:
            raise Http404(NO_SUCH_NODE) from None
        except NodeChanged as exc:
            raise PreconditionFailed(
                f"node {exc.node_id} has changed: If-Match does not match its current ETag {exc.current_version}; "
                "read it again and retry.",
                etag=exc.current_version,
            ) from None
        headers = {"ETag": node_version(node), REGISTRY_INDEX_HEADER: str(node.change_index)}
        if prefers_representation(request):
            headers["Preference-Applied"] = "return=representation"
            return Response(NodeSerializer(node).data, headers=headers)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)


@extend_schema_view(get=node_history_schema)
class NodeHistoryView(generics.ListAPIView):
    """Who changed a node, when and why: its recorded changes, newest first; `started` and `ended` bound their time.

    Needs the permission `node.view_nodechange`.
    """

    # The model for schema generation and for the permission (node.view_nodechange); get_queryset narrows it.
    queryset = NodeChange.objects.none()
    # Private whatever PUBLIC_READ_API says: the records name the users and operating-system accounts.
    permission_classes = [ModelViewPermission]
    serializer_class = NodeChangeSerializer
    pagination_class = StrictPageNumberPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = NodeChangeFilter

    def get_queryset(self) -> QuerySet[NodeChange]:
        node_id = self.kwargs["pk"]
        # Read before the records: they reflect at least every change up to it.
        exists, self.registry_index = node_exists_with_index(node_id_of(node_id))
        if not exists:
            raise NotFound(f"No node with id {node_id}.")
        return node_history(node_id)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        response = super().list(request, *args, **kwargs)
        return registry_indexed(response, self.registry_index)


CHANGES_PAGE_SIZE = 100
CHANGES_MAX_PAGE_SIZE = 1000
CHANGES_MAX_WAIT_SECONDS = 60
LAST_EVENT_ID = "Last-Event-ID"


@extend_schema_view(get=node_changes_schema)
class NodeChangesView(APIView):
    """The nodes changed after a change index, in the order of their changes; optionally waits for one."""

    # Served through ``util.asyncviews.awaiting`` (node.urls): an answer with nothing new and time
    # left to wait carries ``retry_when``, and the wait happens on the event loop, holding no thread
    # and no database connection; the view then runs again with the deadline kept on the request.

    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    def get(self, request: Request) -> Response:
        query = request.query_params
        after = int_param(query, "after", default=0, minimum=0, maximum=None)
        page_size = int_param(query, "page_size", default=CHANGES_PAGE_SIZE, minimum=1, maximum=CHANGES_MAX_PAGE_SIZE)
        wait = int_param(query, "wait", default=0, minimum=0, maximum=CHANGES_MAX_WAIT_SECONDS)
        django_request = request._request
        deadline = getattr(django_request, "changes_deadline", None)
        if deadline is None:
            deadline = django_request.changes_deadline = time.monotonic() + wait
        newest = current_change_index()
        if after > newest:
            raise ValidationError({"after": [f"{after} is beyond the newest change index, {newest}."]})
        rows = node_changes(after=after, limit=page_size + 1)
        page = rows[:page_size]
        index = page[-1][-1] if page else after
        body = {"index": index, "more": len(rows) > len(page), "results": node_rows_data(row[:-1] for row in page)}
        response = registry_indexed(Response(body), max(index, newest))
        remaining = deadline - time.monotonic()
        if not rows and remaining > 0:
            response.retry_when = lambda: wait_for_change(after, timeout=remaining)
        return response


def _stream_start(request: Request) -> int | None:
    """The change index a stream starts after: ``Last-Event-ID`` (a reconnecting browser), else ``after``."""
    header = request.headers.get(LAST_EVENT_ID)
    if header is not None:
        return int_param({LAST_EVENT_ID: header.strip()}, LAST_EVENT_ID, default=0, minimum=0, maximum=None)
    if "after" in request.query_params:
        return int_param(request.query_params, "after", default=0, minimum=0, maximum=None)
    return None


@extend_schema_view(get=node_events_schema)
class NodeEventsView(APIView):
    """Every node change as it commits, as Server-Sent Events (`text/event-stream`), in change order."""

    # Errors before the stream starts are JSON whatever the client accepts (an EventSource sends
    # Accept: text/event-stream); the stream itself is not rendered by DRF.
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = FirstRendererNegotiation

    def get(self, request: Request) -> StreamingHttpResponse:
        after = _stream_start(request)
        newest = current_change_index()
        if after is None:
            after = newest
        elif after > newest:
            name = LAST_EVENT_ID if LAST_EVENT_ID in request.headers else "after"
            raise ValidationError({name: [f"{after} is beyond the newest change index, {newest}."]})
        stream = node_event_stream(after=after, heartbeat_seconds=settings.EVENTS_HEARTBEAT_SECONDS)
        response = StreamingHttpResponse(stream, content_type=EVENT_STREAM)
        response["Cache-Control"] = "no-cache"
        # nginx and similar proxies would otherwise hold events back in their buffers.
        response["X-Accel-Buffering"] = "no"
        return registry_indexed(response, newest)
