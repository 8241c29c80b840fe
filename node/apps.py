from django.apps import AppConfig


class NodeConfig(AppConfig):
    """The node registry: cluster nodes, their pause and activity state."""

    name = "node"
    default_auto_field = "django.db.models.BigAutoField"
