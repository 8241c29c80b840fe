"""The v6 node endpoints: thin views over the filter set, the serializers and ``node.services``."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from node.actors import request_actor
from node.filters import NodeChangeFilter, NodeFilter
from node.models import Node, NodeChange
from node.schema import node_detail_schema, node_history_schema, node_list_schema, node_update_schema
from node.selectors import node_etag, node_page_etag
from node.serializers import NODE_FIELDS, NodeChangeSerializer, NodeSerializer, NodeUpdateSerializer
from node.services import node_update
from util.conditional import if_match_tags, is_not_modified, not_modified
from util.http import prefers_representation
from util.ordering import OrderParamFilter, OrderTerm
from util.pagination import StrictPageNumberPagination


@extend_schema_view(get=node_list_schema)
class NodeListView(generics.ListAPIView):
    """List nodes, filtered by ``started``/``ended``/``is_active`` and ordered by ``order``."""

    queryset = Node.objects.all()
    serializer_class = NodeSerializer
    pagination_class = StrictPageNumberPagination
    filter_backends = [DjangoFilterBackend, OrderParamFilter]
    filterset_class = NodeFilter
    ordering_fields = NODE_FIELDS
    ordering_aliases = {"host_name": "hostname"}
    ordering_default = (OrderTerm("last_modified"),)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        """The page, with an ``ETag``; 304 without a body when ``If-None-Match`` names it."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        etag = node_page_etag(page, count=self.paginator.page.paginator.count)
        if is_not_modified(request, etag):
            return not_modified(etag)
        response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        response["ETag"] = etag
        return response


@extend_schema_view(get=node_detail_schema, patch=node_update_schema)
class NodeDetailView(APIView):
    """Read one node, or change its pause and activity state.

    Both answer with the node's ``ETag``: ``GET`` with a matching ``If-None-Match`` is a 304, and
    ``PATCH`` with ``If-Match`` applies only while the node is still at one of the given tags (412).
    """

    def get(self, request: Request, pk: int) -> Response:
        node = get_object_or_404(Node, pk=pk)
        etag = node_etag(node)
        if is_not_modified(request, etag):
            return not_modified(etag)
        return Response(NodeSerializer(node).data, headers={"ETag": etag})

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
    """A node's recorded changes, newest first, filtered by ``started``/``ended`` on their time."""

    # The model for schema generation; get_queryset narrows it to one node.
    queryset = NodeChange.objects.none()
    serializer_class = NodeChangeSerializer
    pagination_class = StrictPageNumberPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = NodeChangeFilter

    def get_queryset(self) -> QuerySet[NodeChange]:
        node_id = self.kwargs["pk"]
        if not Node.objects.filter(pk=node_id).exists():
            raise NotFound(f"No node with id {node_id}.")
        return NodeChange.objects.filter(node_id=node_id).order_by("-time", "-id")
