"""Who may read and who may write through the API: Django's model permissions, as the admin checks them.

The permission a request needs is derived from the model of the view's ``queryset`` exactly as
Django's admin derives it (``django.contrib.auth.get_permission_codename``): changing a node needs
``<app>.change_<model>`` through the API as in the admin, and reading a model kept private needs
``<app>.view_<model>``. Superusers hold every permission; others get them from their groups or
directly (admin → Users or Groups → permissions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_permission_codename
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import Model
    from rest_framework.views import APIView

# The model-permission action a write method needs, as the admin's change form and actions need it.
WRITE_ACTIONS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


def model_permission(model: type[Model], action: str) -> str:
    """The permission name (``"node.change_node"``) for ``action`` (add, change, delete, view) on ``model``."""
    return f"{model._meta.app_label}.{get_permission_codename(action, model._meta)}"


class PermissionsModelBackend(ModelBackend):
    """Django's ``ModelBackend``, reading a user's permissions (their own and their groups') in one query.

    Django's backend reads them in two. Either way they are kept on the user object, which lives
    for one request: a permission granted or withdrawn applies from the next request on.
    """

    def get_all_permissions(self, user_obj: AbstractBaseUser | AnonymousUser, obj: Model | None = None) -> set[str]:
        """The ``"<app>.<codename>"`` names of every permission ``user_obj`` holds (none for an object)."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        # The cache ModelBackend.get_all_permissions keeps, under the name it reads.
        if not hasattr(user_obj, "_perm_cache"):
            held = Permission.objects.all()
            if not user_obj.is_superuser:
                held = held.filter(Q(user=user_obj) | Q(group__user=user_obj))
            names = held.values_list("content_type__app_label", "codename").order_by().distinct()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in names}
        return user_obj._perm_cache


def _view_model(view: APIView) -> type[Model]:
    queryset = getattr(view, "queryset", None)
    if queryset is None:
        raise TypeError(f"{type(view).__name__} needs a `queryset` to derive the model permissions it checks.")
    return queryset.model


def _has_method(view: APIView, request: Request) -> bool:
    # Let the view answer 405 with its Allow header rather than a 401/403 for a method it lacks.
    return hasattr(view, request.method.lower())


def _is_authenticated(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated)


class ModelPermissionWritesPublicReads(BasePermission):
    """Writes need the model permission of the write (``PATCH``: ``<app>.change_<model>``) of the view's model.

    A view whose writes are all one kind of write whatever the method names it in
    ``write_permission_action`` (a ``POST`` that changes rows: ``"change"``).

    Reads are public unless ``PUBLIC_READ_API`` is off; then they need any authenticated user. The
    setting is read on every request, so it can be changed per test or per deployment. An
    authenticated user without the permission gets a 403 naming it; an anonymous client a 401.
    """

    # The published contract describes the default deployment, whose reads need no credentials; it
    # must not change with the environment of whoever generates it.
    documented_public_reads = True

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not _has_method(view, request):
            return True
        if request.method in SAFE_METHODS:
            return settings.PUBLIC_READ_API or _is_authenticated(request)
        if not _is_authenticated(request):
            return False
        action = getattr(view, "write_permission_action", None) or WRITE_ACTIONS.get(request.method, "change")
        needed = model_permission(_view_model(view), action)
        if request.user.has_perm(needed):
            return True
        self.message = (
            f"This needs the permission {needed} (“Can {action} {_view_model(view)._meta.verbose_name}”), "
            "which your user does not have; an administrator can grant it to you or to one of your groups."
        )
        return False


class ModelViewPermission(BasePermission):
    """Every request needs an authenticated user with ``<app>.view_<model>`` of the view's model.

    For data that is private whatever ``PUBLIC_READ_API`` says (the change history names users).
    """

    documented_public_reads = False

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not _has_method(view, request):
            return True
        if not _is_authenticated(request):
            return False
        needed = model_permission(_view_model(view), "view")
        if request.user.has_perm(needed):
            return True
        self.message = (
            f"This needs the permission {needed} (“Can view {_view_model(view)._meta.verbose_name}”), "
            "which your user does not have; an administrator can grant it to you or to one of your groups."
        )
        return False
