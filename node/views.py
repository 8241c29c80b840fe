"""The v6 node endpoints: thin views over the filter set, the selectors, the serializers and ``node.services``."""

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from node.actors import request_actor
from node.filters import NodeChangeFilter, NodeFilter
from node.models import Node, NodeChange
from node.schema import node_detail_schema, node_history_schema, node_list_schema, node_update_schema
from node.selectors import node_etag, node_list_count, node_page_etag, node_rows, node_version_etag
from node.serializers import (
    NODE_FIELDS,
    NodeChangeSerializer,
    NodeSerializer,
    NodeUpdateSerializer,
    node_rows_data,
)
from node.services import node_update
from util.conditional import if_match_tags, is_not_modified, not_modified
from util.filters import FilterSetRunner
from util.http import prefers_representation
from util.ordering import ORDER_PARAM, OrderParamFilter, OrderTerm
from util.pagination import StrictPageNumberPagination
from util.permissions import ModelViewPermission
from util.renderers import OrjsonRenderer

NODE_FILTERS = FilterSetRunner(NodeFilter)


@extend_schema_view(get=node_list_schema)
class NodeListView(generics.ListAPIView):
    """The cluster's nodes, a page at a time: filter with `started`, `ended` and `is_active`, sort with `order`.

    Each page carries an `ETag`; sending it back in `If-None-Match` answers 304 with no body while
    the page is unchanged.
    """

    # Every client polls this list, so it skips model instances and per-field serialization: rows
    # come as tuples, become NodeSerializer's dicts in one step and are written by orjson (the same
    # bytes); the count comes from the counts the database keeps when it can. (The docstring above
    # is what the browsable API and OPTIONS show to users.)

    queryset = Node.objects.all()
    serializer_class = NodeSerializer
    pagination_class = StrictPageNumberPagination
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]
    # Declared for the browsable API and schema; ``filter_queryset`` runs them without per-request setup.
    filter_backends = [DjangoFilterBackend, OrderParamFilter]
    filterset_class = NodeFilter
    ordering_fields = NODE_FIELDS
    ordering_aliases = {"host_name": "hostname"}
    ordering_default = (OrderTerm("last_modified"),)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """``NodeFilter`` then the order, as the filter backends would; keeps the filter values, which choose
        how to count and whether the page's SQL can be compiled once per shape."""
        self.filter_values = NODE_FILTERS.clean(self.request.query_params)
        time_bounded = self.filter_values["started"] is not None or self.filter_values["ended"] is not None
        order = tuple(self.request.query_params.getlist(ORDER_PARAM))
        self.sql_key = None if time_bounded else ("node-list", self.filter_values["is_active"], order)
        return OrderParamFilter().filter_queryset(self.request, NODE_FILTERS.apply(queryset, self.filter_values), self)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        rows = self.filter_queryset(node_rows())
        page = self.paginator.paginate_queryset(
            rows, request, self, count=lambda: node_list_count(rows, filters=self.filter_values), sql_key=self.sql_key
        )
        results = node_rows_data(page)
        etag = node_page_etag(results, count=self.paginator.page.paginator.count)
        if is_not_modified(request, etag):
            return not_modified(etag)
        response = self.get_paginated_response(results)
        response["ETag"] = etag
        return response


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
        rows = node_rows().filter(pk=pk)[:1]
        if not rows:
            raise Http404("No Node matches the given query.")
        node = node_rows_data(rows)[0]
        etag = node_version_etag(node["id"], node["last_modified"])
        if is_not_modified(request, etag):
            return not_modified(etag)
        return Response(node, headers={"ETag": etag})

    def patch(self, request: Request, pk: int) -> Response:
        node = get_object_or_404(Node, pk=pk)
        body = NodeUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = request_actor(request, channel=NodeChange.Channel.API)
        node = node_update(node=node, changes=body.validated_data, actor=actor, if_match=if_match_tags(request))
        headers = {"ETag": node_etag(node)}
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
        if not Node.objects.filter(pk=node_id).exists():
            raise NotFound(f"No node with id {node_id}.")
        return NodeChange.objects.filter(node_id=node_id).order_by("-time", "-id")
