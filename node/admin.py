from django.contrib import admin

from node.models import Node


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    """Operators' view of the nodes (read-only: changes go through the API or node.services)."""

    list_display = ("hostname", "is_active", "is_paused", "pause_reason", "deprecated", "last_modified")
    list_filter = ("is_active", "is_paused")
    search_fields = ("hostname",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
