"""Every write to a node goes through here: the API, the admin and the manage.py commands alike.

- ``rules``: the invariants and what a change may contain, as pure functions (no database).
- ``updates``: changes of state, one node (``node_update``) or many (``node_update_many``).
- ``hostnames``: valid and unique hostnames, and renames.
- ``registration``: new nodes, one (``node_create``) or in bulk (``node_register``, ``node_register_named``).
- ``liveness``: heartbeats (``node_heartbeat``), and the transitions online/offline (``node_liveness_reap``).
- ``history``: the record every write makes of itself, in its own transaction, and pruning.

Functions raise ``ValueError`` for input that breaks a rule, ``NodeChanged`` when a conditional
write finds the node at another version, and ``Node.DoesNotExist`` for a node that is gone.
"""

from node.services.history import node_history_prune
from node.services.hostnames import node_rename, node_validate_hostname
from node.services.liveness import (
    HeartbeatResult,
    Transitions,
    node_deactivate_offline,
    node_heartbeat,
    node_liveness_reap,
)
from node.services.registration import (
    NamedRegistration,
    RegistrationResult,
    node_create,
    node_register,
    node_register_named,
)
from node.services.rules import UPDATABLE_FIELDS
from node.services.updates import BulkUpdateResult, NodeChanged, node_preview, node_update, node_update_many

__all__ = [
    "UPDATABLE_FIELDS",
    "BulkUpdateResult",
    "HeartbeatResult",
    "NamedRegistration",
    "NodeChanged",
    "RegistrationResult",
    "Transitions",
    "node_create",
    "node_deactivate_offline",
    "node_heartbeat",
    "node_history_prune",
    "node_liveness_reap",
    "node_preview",
    "node_register",
    "node_register_named",
    "node_rename",
    "node_update",
    "node_update_many",
    "node_validate_hostname",
]
