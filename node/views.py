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
from node.serializers import NODE_FIELDS, NodeChangeSerializer, NodeSerializer, NodeUpdateSerializer
from node.services import node_update
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


@extend_schema_view(get=node_detail_schema, patch=node_update_schema)
class NodeDetailView(APIView):
    """Read one node, or change its pause and activity state."""

    def get(self, request: Request, pk: int) -> Response:
        node = get_object_or_404(Node, pk=pk)
        return Response(NodeSerializer(node).data)

    def patch(self, request: Request, pk: int) -> Response:
        node = get_object_or_404(Node, pk=pk)
        body = NodeUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = request_actor(request, channel=NodeChange.Channel.API)
        node = node_update(node=node, changes=body.validated_data, actor=actor)
        if prefers_representation(request):
            return Response(NodeSerializer(node).data, headers={"Preference-Applied": "return=representation"})
        return Response(status=status.HTTP_204_NO_CONTENT)


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
