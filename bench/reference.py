"""The plain-DRF reference: the node endpoints written the way such endpoints usually are.

A ``ListAPIView`` with a plain ``Serializer``, DRF's ``PageNumberPagination`` and JSON renderer,
model instances, ``COUNT(*)`` and ``OFFSET`` paging, the same filters and the same default order
as the project; a ``RetrieveAPIView`` for detail. PATCH does what Scale's own node update does:
DRF's ``TokenAuthentication`` and a staff check (``bench.reference_settings``: no middleware), the
body validated by a serializer, ``select_for_update`` of the row, one ``QuerySet.update`` with the
new state and ``last_modified``, and 204. Served with ``DJANGO_SETTINGS_MODULE=bench.reference_settings``;
never part of the service.
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import re_path
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import generics, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

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


class ReferenceNodeUpdateSerializer(serializers.Serializer):
    pause_reason = serializers.CharField(allow_null=True, allow_blank=True, required=False, max_length=250)
    is_paused = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


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


class ReferenceNodeDetail(generics.RetrieveAPIView):
    queryset = Node.objects.all()
    serializer_class = ReferenceNodeSerializer
    renderer_classes = [JSONRenderer]

    def patch(self, request: Request, pk: int) -> Response:
        body = ReferenceNodeUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        with transaction.atomic():
            node = get_object_or_404(Node.objects.select_for_update(), pk=pk)
            now = timezone.now()
            if fields.get("is_paused") is False:
                fields["pause_reason"] = None
            if "is_active" in fields and fields["is_active"] != node.is_active:
                fields["deprecated"] = None if fields["is_active"] else now
            Node.objects.filter(pk=pk).update(**fields, last_modified=now)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    re_path(r"^v6/nodes/?$", ReferenceNodeList.as_view()),
    re_path(r"^v6/nodes/(?P<pk>[0-9]+)/?$", ReferenceNodeDetail.as_view()),
]
