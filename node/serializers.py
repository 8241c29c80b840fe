"""The node's JSON shape, and validation of the PATCH body and of the bodies naming nodes by hostname."""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from node.hostnames import validate_hostname
from node.models import HOSTNAME_MAX_LENGTH, NODE_FIELDS, Node, NodeChange
from node.services.rules import NODE_CHANGES
from util.serializers import ClosedObjectSerializer

# What each field means, in the words of the v6 Node Services reference; the OpenAPI schema shows them.
NODE_FIELD_DESCRIPTIONS = {
    "id": "The unique identifier of the model. Can be passed to the details API call.",
    "hostname": "The full domain-qualified hostname of the node.",
    "pause_reason": (
        "The reason this node is paused if is_paused is true. This is a descriptive field for presentation "
        "to the user. Always null when is_paused is false."
    ),
    "is_paused": (
        "True if the node is paused and will not accept new jobs for execution. Remaining tasks for a "
        "previously executing job will complete."
    ),
    "is_active": "True if the node is actively participating in the cluster.",
    "deprecated": (
        "When the node was removed (is_active == False) from the cluster; null exactly when the node is active."
    ),
    "created": "When the associated database model was initially created.",
    "last_modified": (
        "When the associated database model was last saved. Send it back as `started` to poll for later changes."
    ),
}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "active node",
            value={
                "id": 4,
                "hostname": "host.com",
                "pause_reason": None,
                "is_paused": False,
                "is_active": True,
                "deprecated": None,
                "created": "2015-08-28T18:32:33.954000Z",
                "last_modified": "2015-09-04T13:53:46.670000Z",
            },
        ),
        OpenApiExample(
            "paused and deactivated node",
            value={
                "id": 5,
                "hostname": "node-005.cluster.example.com",
                "pause_reason": "Disk replacement scheduled",
                "is_paused": True,
                "is_active": False,
                "deprecated": "2015-06-17T20:05:16.041000Z",
                "created": "2015-06-15T17:18:52.414000Z",
                "last_modified": "2015-06-17T20:05:16.041000Z",
            },
        ),
    ]
)
class NodeSerializer(serializers.ModelSerializer):
    """A cluster node: the eight fields of the v6 Node Services. Datetimes are ISO-8601 in UTC, ending in `Z`."""

    class Meta:
        model = Node
        fields = NODE_FIELDS
        read_only_fields = NODE_FIELDS
        extra_kwargs = {name: {"help_text": text} for name, text in NODE_FIELD_DESCRIPTIONS.items()}


class NodeChangeSerializer(serializers.ModelSerializer):
    """One history record: what changed on which node, when, by whom and through which channel."""

    class Meta:
        model = NodeChange
        fields = ("id", "node", "time", "action", "actor", "channel", "changes", "request_id")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The unique identifier of the record."},
            "node": {"help_text": "The id of the node that changed."},
            "time": {
                "help_text": "When the change was made: the node's last_modified after it (for a liveness "
                "transition, which leaves last_modified as it is, when it was recorded)."
            },
            "action": {"help_text": "register (the node was added) or update."},
            "actor": {"help_text": "The user name, or for a shell change the command and the operating-system user."},
            "channel": {"help_text": "Where the change came from: api, admin, cli or system."},
            "changes": {"help_text": 'Each changed field with its values: {"field": {"old": ..., "new": ...}}.'},
            "request_id": {"help_text": "The X-Request-ID of the request that made the change, if any."},
        }


class NodeChangesSerializer(serializers.Serializer):
    """A page of the change feed: the nodes changed after an index, oldest change first."""

    index = serializers.IntegerField(
        min_value=0,
        help_text="The change index of the last node in results, or `after` when there is none: send it back as "
        "`after` for the next page.",
    )
    more = serializers.BooleanField(help_text="True when more changes follow at once: ask again without waiting.")
    results = NodeSerializer(many=True, help_text="The changed nodes, each in its latest state, in change order.")


def node_rows_data(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """``NodeSerializer(many=True).data`` for rows of ``NODE_FIELDS`` values, without the per-field work.

    The datetimes stay datetimes: the database hands them over in UTC, and ``OrjsonRenderer``
    writes them exactly as ``NodeSerializer`` does (ISO-8601 ending in ``Z``). Used by the list,
    whose cost per row this keeps to one dict.
    """
    return [dict(zip(NODE_FIELDS, row, strict=True)) for row in rows]


class NodeUpdateSerializer(ClosedObjectSerializer):
    """The PATCH body: a JSON object with at least one of the changeable fields, and nothing else."""

    body = NODE_CHANGES


# At most this many hostnames in one registration or heartbeat body.
HOSTNAMES_MAX_ITEMS = 1000


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": HOSTNAME_MAX_LENGTH},
        "minItems": 1,
        "maxItems": HOSTNAMES_MAX_ITEMS,
        "uniqueItems": True,
    }
)
class HostnameListField(serializers.Field):
    """A JSON array of 1 to ``HOSTNAMES_MAX_ITEMS`` distinct RFC 1123 hostnames (distinct ignoring letter case).

    Every item is checked before anything is written, and a refused item is named in the message.
    """

    def to_internal_value(self, data: object) -> list[str]:
        if not isinstance(data, list):
            raise serializers.ValidationError("Expected a JSON array of hostnames (strings).")
        if not data:
            raise serializers.ValidationError("Give at least one hostname.")
        if len(data) > HOSTNAMES_MAX_ITEMS:
            raise serializers.ValidationError(
                f"At most {HOSTNAMES_MAX_ITEMS} hostnames at a time, got {len(data)}; send them in batches."
            )
        seen: set[str] = set()
        for position, hostname in enumerate(data):
            if not isinstance(hostname, str):
                raise serializers.ValidationError(f"Item {position} is not a string: {json.dumps(hostname)[:60]}.")
            try:
                validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
            except ValueError as exc:
                named = str(exc) if repr(hostname[:60]) in str(exc) else f"{hostname[:60]!r}: {exc}"
                raise serializers.ValidationError(f"Item {position}, {named}") from None
            key = hostname.lower()
            if key in seen:
                raise serializers.ValidationError(
                    f"Item {position}, {hostname[:60]!r}, is given more than once (hostnames ignore letter case)."
                )
            seen.add(key)
        return data

    def to_representation(self, value: list[str]) -> list[str]:
        return value


class NodeHostnamesSerializer(serializers.Serializer):
    """A body naming nodes by hostname: `{"hostnames": [...]}`, 1 to 1,000 distinct hostnames, nothing else."""

    hostnames = HostnameListField(
        help_text="Hostnames (RFC 1123, at most 250 characters), distinct in any letter case."
    )

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = sorted(str(name)[:40] for name in set(data) - {"hostnames"})
            if unknown:
                raise serializers.ValidationError(
                    {"non_field_errors": [f"Unknown field(s): {', '.join(unknown[:10])}. Only hostnames is accepted."]}
                )
        return super().to_internal_value(data)


class RegisteredNodeSerializer(serializers.Serializer):
    """A node named in a registration's answer."""

    id = serializers.IntegerField(help_text="The node's id.")
    hostname = serializers.CharField(help_text="The node's hostname as stored (for a known node, its first spelling).")


class NodeRegistrationSerializer(serializers.Serializer):
    """What a registration did: the nodes it created and those already known, each in the order given."""

    created = RegisteredNodeSerializer(many=True, help_text="The nodes registered by this request.")
    existing = RegisteredNodeSerializer(many=True, help_text="The nodes that were registered already.")


class HeartbeatResultSerializer(serializers.Serializer):
    """What a batch of heartbeats did."""

    seen = serializers.IntegerField(help_text="How many registered nodes the heartbeat named (each counted once).")
    unknown = serializers.ListField(
        child=serializers.CharField(),
        help_text="The hostnames that name no registered node, in the order given: register them first.",
    )


class NodeLivenessSerializer(serializers.Serializer):
    """Whether a node is alive: its state from its last heartbeat."""

    id = serializers.IntegerField(help_text="The node's id.")
    hostname = serializers.CharField(help_text="The node's hostname.")
    state = serializers.ChoiceField(
        choices=["online", "offline", "never"],
        help_text="`never` before the node's first heartbeat, `online` while its last heartbeat is younger than "
        "`NODE_HEARTBEAT_TTL` (30 s by default), `offline` after.",
    )
    last_seen = serializers.DateTimeField(
        allow_null=True, help_text="When the node's last heartbeat arrived; null before the first."
    )
