"""Who may read and who may write through the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView


class StaffWritesPublicReads(BasePermission):
    """Writes need an authenticated staff user; reads are public unless ``PUBLIC_READ_API`` is off.

    With ``PUBLIC_READ_API`` off, reads need any authenticated user. The setting is read on every
    request, so it can be changed per test or per deployment without a restart of the code path.
    """

    # The published contract describes the default deployment, whose reads need no credentials; it
    # must not change with the environment of whoever generates it.
    documented_public_reads = True

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not hasattr(view, request.method.lower()):
            # Let the view answer 405 with its Allow header rather than a 401/403 for a method it lacks.
            return True
        user = request.user
        authenticated = bool(user and user.is_authenticated)
        if request.method in SAFE_METHODS:
            return settings.PUBLIC_READ_API or authenticated
        return authenticated and user.is_staff
