"""The plain-DRF reference's permission (``bench.reference_settings``), apart from its views to import early."""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class IsStaffOrReadOnly(BasePermission):
    """Scale's rule: anyone reads, staff users write."""

    def has_permission(self, request: Request, view: object) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)
