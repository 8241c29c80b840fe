"""The v6 node endpoints: thin views over the filter set, the serializers and ``node.services``."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from node.filters import NodeFilter
from node.models import Node
from node.schema import node_detail_schema, node_list_schema, node_update_schema
from node.serializers import NODE_FIELDS, NodeSerializer, NodeUpdateSerializer
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
        node = node_update(node=node, changes=body.validated_data, actor=request.user)
        if prefers_representation(request):
            return Response(NodeSerializer(node).data, headers={"Preference-Applied": "return=representation"})
        return Response(status=status.HTTP_204_NO_CONTENT)
