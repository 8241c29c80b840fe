"""The v6 node endpoints: thin views over the filter set, the selectors, the serializers and ``node.services``."""

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import generics, status
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from node.filters import NodeFilter
from node.models import Node
from node.selectors import node_list_count, node_rows
from node.serializers import NODE_FIELDS, NodeSerializer, NodeUpdateSerializer, node_rows_data
from node.services import node_update
from util.filters import FilterSetRunner
from util.http import prefers_representation
from util.ordering import ORDER_PARAM, OrderParamFilter, OrderTerm
from util.pagination import StrictPageNumberPagination
from util.renderers import OrjsonRenderer

NODE_FILTERS = FilterSetRunner(NodeFilter)


class NodeListView(generics.ListAPIView):
    """List nodes, filtered by ``started``/``ended``/``is_active`` and ordered by ``order``.

    Every client polls this list, so it skips model instances and per-field serialization: rows
    come as tuples, become ``NodeSerializer``'s dicts in one step and are written by orjson (the
    same bytes); the count comes from the counts the database keeps when it can.
    """

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
        return self.get_paginated_response(node_rows_data(page))


class NodeDetailView(APIView):
    """Read one node, or change its pause and activity state."""

    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    def get(self, request: Request, pk: int) -> Response:
        # The list's rows path: the very same eight values as the node's list entry, at a fraction of the cost.
        rows = node_rows().filter(pk=pk)[:1]
        if not rows:
            raise Http404("No Node matches the given query.")
        return Response(node_rows_data(rows)[0])

    def patch(self, request: Request, pk: int) -> Response:
        node = get_object_or_404(Node, pk=pk)
        body = NodeUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        node = node_update(node=node, changes=body.validated_data, actor=request.user)
        if prefers_representation(request):
            return Response(NodeSerializer(node).data, headers={"Preference-Applied": "return=representation"})
        return Response(status=status.HTTP_204_NO_CONTENT)
