"""The plain-DRF reference: the node endpoints written the way such endpoints usually are.

A ``ListAPIView`` with a plain ``Serializer``, DRF's ``PageNumberPagination`` and JSON renderer,
model instances, ``COUNT(*)`` and ``OFFSET`` paging, the same filters and the same default order
as the project; a ``RetrieveUpdateAPIView`` for detail and PATCH. Served with
``DJANGO_SETTINGS_MODULE=bench.reference_settings``; never part of the service.
"""

from django.urls import re_path
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer

from node.filters import NodeFilter
from node.models import NODE_FIELDS, Node
from util.ordering import OrderParamFilter, OrderTerm


class ReferenceNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    hostname = serializers.CharField(read_only=True)
    pause_reason = serializers.CharField(allow_null=True, required=False)
    is_paused = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)
    deprecated = serializers.DateTimeField(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    last_modified = serializers.DateTimeField(read_only=True)

    def update(self, instance: Node, validated_data: dict) -> Node:
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        return instance


class ReferencePagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ReferenceNodeList(generics.ListAPIView):
    queryset = Node.objects.all()
    serializer_class = ReferenceNodeSerializer
    pagination_class = ReferencePagination
    renderer_classes = [JSONRenderer]
    filter_backends = [DjangoFilterBackend, OrderParamFilter]
    filterset_class = NodeFilter
    ordering_fields = NODE_FIELDS
    ordering_aliases = {"host_name": "hostname"}
    ordering_default = (OrderTerm("last_modified"),)


class ReferenceNodeDetail(generics.RetrieveUpdateAPIView):
    queryset = Node.objects.all()
    serializer_class = ReferenceNodeSerializer
    renderer_classes = [JSONRenderer]


urlpatterns = [
    re_path(r"^v6/nodes/?$", ReferenceNodeList.as_view()),
    re_path(r"^v6/nodes/(?P<pk>[0-9]+)/?$", ReferenceNodeDetail.as_view()),
]
