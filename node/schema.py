"""The OpenAPI description of the node endpoints: filters, path and headers, answers and examples.

``node.views`` applies these with drf-spectacular's decorators. The generic pieces document
themselves where they are enforced: ``page``/``page_size`` (``util.pagination``), ``order``
(``util.ordering``), the closed PATCH body (declared by ``node.services.rules.NODE_CHANGES``,
rendered by ``util.serializers``), the error bodies and the security of public reads
(``util.schema``). Wording follows the v6 Node Services reference. Every error example here is
checked against a real answer of the service (``node/tests/api/test_schema_examples.py``).
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

from node.live.limits import (
    CHANGES_MAX_PAGE_SIZE,
    CHANGES_MAX_WAIT_SECONDS,
    CHANGES_PAGE_SIZE,
    beyond_newest_message,
    resume_expired_message,
)
from node.models import HOSTNAME_MAX_LENGTH
from node.selectors import LIST_MAX_VALUES, SEARCH_MAX_LENGTH, SEARCH_MIN_LENGTH
from node.serializers import (
    HOSTNAMES_MAX_ITEMS,
    HeartbeatResultSerializer,
    NodeChangeSerializer,
    NodeChangesSerializer,
    NodeHostnamesSerializer,
    NodeLivenessSerializer,
    NodeRegistrationSerializer,
    NodeSerializer,
    NodeUpdateSerializer,
)
from util.request_limits import body_too_large_message
from util.schema import error_response, validation_error_response
from util.values import parse_int_in_range


def _refused(name: str, message: str | None) -> dict:
    """The 400 body of a refused query parameter, as the error handler writes it, for an example."""
    return {"detail": f"{name}: {message}", "errors": {name: [message]}}


def _int_refusal(value: str, *, minimum: int, maximum: int) -> str:
    """The message refusing ``value`` for an integer parameter, written by the parser that refuses it."""
    try:
        parse_int_in_range(value, minimum=minimum, maximum=maximum)
    except ValueError as refusal:
        return str(refusal)
    raise AssertionError(f"{value!r} is accepted from {minimum} to {maximum}")


TAGS = ["nodes"]
_MAX_BODY = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

# A point in time: an ISO-8601 datetime with a zone, or a duration meaning "that long before now".
_INSTANT = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "duration"}]}
_INSTANT_RULES = (
    "A datetime must name its zone (`Z` or `+hh:mm`); a duration (`PT3H0M0S`, `P3D`, `P1M`) means that long "
    "before now. Anything else is a 400."
)
# Swagger UI's "Try it out" fills in each parameter's first example: every pairing of a `started` and an
# `ended` example is a range that a request accepts (`started` before `ended`).
_STARTED_EXAMPLES = [
    OpenApiExample("datetime", value="2015-01-01T00:00:00Z"),
    OpenApiExample("duration before now", value="PT3H0M0S"),
]
_ENDED_EXAMPLES = [
    OpenApiExample("now (a duration of zero before now)", value="PT0S"),
    OpenApiExample("datetime", value="2030-01-01T00:00:00Z"),
]
_INSTANT_EXAMPLES = {"started": _STARTED_EXAMPLES, "ended": _ENDED_EXAMPLES}

LIST_FILTERS = [
    OpenApiParameter(
        "started",
        _INSTANT,
        OpenApiParameter.QUERY,
        description=(
            "The start of the time range to query, on `last_modified` (inclusive). Supports the ISO-8601 date/time "
            "format, (ex: 2015-01-01T00:00:00Z). Supports the ISO-8601 duration format, (ex: PT3H0M0S). "
            f"{_INSTANT_RULES} Must be before `ended`."
        ),
        examples=_STARTED_EXAMPLES,
    ),
    OpenApiParameter(
        "ended",
        _INSTANT,
        OpenApiParameter.QUERY,
        description=(
            "End of the time range to query, on `last_modified` (inclusive); no bound when absent. Supports the "
            "ISO-8601 date/time format, (ex: 2015-01-01T00:00:00Z). Supports the ISO-8601 duration format, "
            f"(ex: PT3H0M0S). {_INSTANT_RULES}"
        ),
        examples=_ENDED_EXAMPLES,
    ),
    OpenApiParameter(
        "is_active",
        OpenApiTypes.BOOL,
        OpenApiParameter.QUERY,
        description=(
            "If true, only active nodes are returned. If false, only inactive nodes. If no value is specified, all "
            "nodes are returned. `t`/`f` and `1`/`0` are accepted too, in any letter case; anything else is a 400."
        ),
    ),
    OpenApiParameter(
        "is_paused",
        OpenApiTypes.BOOL,
        OpenApiParameter.QUERY,
        description=(
            "If true, only paused nodes are returned. If false, only nodes that are not paused. If no value is "
            "specified, all nodes are returned. `t`/`f` and `1`/`0` are accepted too, in any letter case; anything "
            "else is a 400."
        ),
    ),
    OpenApiParameter(
        "hostname",
        # No maxItems: a thousand hostnames of the longest length are far beyond any server's request line.
        {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": HOSTNAME_MAX_LENGTH}},
        OpenApiParameter.QUERY,
        description=(
            "Only the nodes with this hostname, ignoring letter case. Duplicate it for any of several, "
            f"(ex: hostname=gpu-17.example.com&hostname=gpu-18.example.com); at most {LIST_MAX_VALUES} values. "
            f"An empty value, or one longer than {HOSTNAME_MAX_LENGTH} characters, is a 400."
        ),
        style="form",
        explode=True,
    ),
    OpenApiParameter(
        "id",
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": LIST_MAX_VALUES},
        OpenApiParameter.QUERY,
        description=(
            "Only the nodes with this id. Duplicate it for any of several, (ex: id=4&id=17); at most "
            f"{LIST_MAX_VALUES} values. Anything but an integer >= 1 is a 400."
        ),
        style="form",
        explode=True,
    ),
    OpenApiParameter(
        "search",
        {"type": "string", "minLength": SEARCH_MIN_LENGTH, "maxLength": SEARCH_MAX_LENGTH},
        OpenApiParameter.QUERY,
        description=(
            "Only the nodes whose hostname or pause reason contains this text, ignoring letter case, "
            f"(ex: search=rack12). {SEARCH_MIN_LENGTH} to {SEARCH_MAX_LENGTH} characters (a shorter text "
            "cannot use the search index and would scan every node); anything else is a 400."
        ),
    ),
]

NODE_ID = OpenApiParameter(
    "id",
    OpenApiTypes.INT,
    OpenApiParameter.PATH,
    description="The unique identifier of an existing node. The URL works with or without its trailing slash.",
    examples=[OpenApiExample("node 4", value=4)],
)

PREFER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "`return=representation` (RFC 7240) answers 200 with the updated node instead of 204 No Content. "
        "Other preferences are ignored."
    ),
    examples=[OpenApiExample("the updated node in the answer", value="return=representation")],
)
PREFERENCE_APPLIED = OpenApiParameter(
    "Preference-Applied",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="`return=representation`: the preference was honoured.",
    response=[200],
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="`Token`: the scheme to authenticate with.",
    response=[401],
)

ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "The version of the answer, computed from the database (ids and `last_modified`), identical on every "
        "instance. Send it back in `If-None-Match` to poll cheaply, or in `If-Match` to update safely."
    ),
    response=[200, 204, 304],
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="An `ETag` from an earlier answer: while it still matches, the answer is 304 with no body.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "One or more `ETag`s of the node (or `*`): the update applies only while the node still has one of "
        "them, checked on the locked row; otherwise 412 with the current `ETag` and nothing written. An empty "
        "header is a 400."
    ),
)
X_REGISTRY_INDEX = OpenApiParameter(
    "X-Registry-Index",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description=(
        "The newest change index the answer reflects: every change up to it is in the answer. Indexes only grow; "
        "send one as `after` to `GET /v6/nodes/changes/` to follow every later change."
    ),
    response=[200, 204, 304],
)
X_REQUEST_ID = OpenApiParameter(
    "X-Request-ID",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "An id for this request (letters, digits and `._:+=/-`, up to 200): kept when given, else generated; "
        "echoed in the answer, written in the logs and in the node history of the changes it makes."
    ),
)
_NOT_MODIFIED = OpenApiResponse(description="Not modified: the `If-None-Match` tag still matches. No body.")
_UNAVAILABLE = error_response(
    "The database is unavailable; retry after the `Retry-After` seconds. A write is applied entirely or not at all.",
    examples={"database down": "The database is unavailable; retry shortly."},
)

_SERVER_ERROR = error_response(
    "Unexpected failure. It is logged on the server; the answer carries no details.",
    examples={"server error": "Internal server error; the failure has been logged."},
)
_NOT_ACCEPTABLE = error_response(
    "The Accept header names no type the service answers with: JSON (the default), or HTML for browsers.",
    examples={"not acceptable": "Could not satisfy the request Accept header."},
)
_UNAUTHORIZED_READ = error_response(
    "Missing or invalid credentials, only where the deployment sets `PUBLIC_READ_API=false` "
    "(reads then need any authenticated user), or for an invalid token.",
    examples={"invalid token": "Invalid token.", "no credentials": "Authentication credentials were not provided."},
)


def _watch_limited(what: str, setting: str) -> OpenApiResponse:
    """The 429 of a client holding its share of ``what`` (event streams, waiting long-polls)."""
    return error_response(
        f"This client (its user, or without credentials its address) already holds its share of {what} on the "
        "server process that answered: at most `WATCH_MAX_PER_CLIENT` (100 by default) per process. Close one, or "
        "retry after the `Retry-After` seconds.",
        examples={
            "client's share reached": (
                f"Too many {what} from this client: at most 100 per server process (WATCH_MAX_PER_CLIENT). "
                "Close one, or retry after 5 seconds."
            )
        },
    )


def _watch_unavailable(what: str, setting: str) -> OpenApiResponse:
    """The 503 of a database that is down, or of a process holding its maximum of ``what``."""
    return error_response(
        "The database is unavailable, or the server process that answered holds its maximum of "
        f"{what} (`{setting}`, 5000 by default); retry after the `Retry-After` seconds (another instance may "
        "have room).",
        examples={
            "database down": "The database is unavailable; retry shortly.",
            "process full": f"This server process holds its maximum of 5000 {what} ({setting}); retry after 5 seconds.",
        },
    )


node_list_schema = extend_schema(
    summary="Node List",
    description="Returns a list of nodes, a page at a time.",
    tags=TAGS,
    parameters=[*LIST_FILTERS, IF_NONE_MATCH, X_REQUEST_ID, ETAG, X_REGISTRY_INDEX, WWW_AUTHENTICATE],
    responses={
        200: OpenApiResponse(NodeSerializer(many=True), description="A page of nodes."),
        304: _NOT_MODIFIED,
        400: validation_error_response(
            "A query parameter was refused; `detail` and `errors` name it and what it accepts.",
            examples={
                "page size out of range": {
                    "detail": "page_size: expected an integer from 1 to 1000, got '0'.",
                    "errors": {"page_size": ["expected an integer from 1 to 1000, got '0'."]},
                },
                "datetime without zone": {
                    "detail": "started: the datetime '2015-01-01T00:00:00' has no time zone; add Z or an offset "
                    "such as +00:00.",
                    "errors": {
                        "started": [
                            "the datetime '2015-01-01T00:00:00' has no time zone; add Z or an offset such as +00:00."
                        ]
                    },
                },
            },
        ),
        401: _UNAUTHORIZED_READ,
        404: error_response(
            "A page past the last one.",
            examples={"past the last page": "page 7 is past the last page (1) for 9 results."},
        ),
        406: _NOT_ACCEPTABLE,
        500: _SERVER_ERROR,
        503: _UNAVAILABLE,
    },
)

node_detail_schema = extend_schema(
    summary="Node Details",
    description="Returns a specific node: the same eight fields as its entry in the node list.",
    tags=TAGS,
    parameters=[NODE_ID, IF_NONE_MATCH, X_REQUEST_ID, ETAG, X_REGISTRY_INDEX, WWW_AUTHENTICATE],
    responses={
        200: OpenApiResponse(NodeSerializer, description="The node."),
        304: _NOT_MODIFIED,
        401: _UNAUTHORIZED_READ,
        404: error_response("No node has this id.", examples={"unknown node": "No Node matches the given query."}),
        406: _NOT_ACCEPTABLE,
        500: _SERVER_ERROR,
        503: _UNAVAILABLE,
    },
)

node_update_schema = extend_schema(
    summary="Update Node",
    description=(
        "Update one or more fields in an existing node. All fields are optional and additional fields are not "
        "accepted. Applied atomically: `is_paused: false` clears `pause_reason`, and a reason sent for a node "
        "that ends up unpaused is not stored; `is_active` true to false sets `deprecated` to now, false to true "
        "clears it; every accepted update advances `last_modified`. Needs a user with the permission "
        '`node.change_node` ("Can change node"; superusers have it), as the admin does. A refused request writes '
        "nothing."
    ),
    tags=TAGS,
    parameters=[NODE_ID, PREFER, IF_MATCH, X_REQUEST_ID, PREFERENCE_APPLIED, ETAG, X_REGISTRY_INDEX, WWW_AUTHENTICATE],
    request=NodeUpdateSerializer,
    examples=[
        OpenApiExample("pause", value={"is_paused": True, "pause_reason": "Disk replacement"}, request_only=True),
        OpenApiExample("resume", value={"is_paused": False}, request_only=True),
        OpenApiExample("deactivate", value={"is_active": False}, request_only=True),
    ],
    responses={
        204: OpenApiResponse(description="Updated. No body (the default answer, as in the v6 reference)."),
        200: OpenApiResponse(
            NodeSerializer, description="Updated; the node as saved, when asked with `Prefer: return=representation`."
        ),
        400: validation_error_response(
            "The body was refused: not a JSON object, malformed or duplicated-key JSON, no field, an unknown "
            "field, or a value of the wrong type or length. `detail` says what is wrong.",
            examples={
                "unknown field": {
                    "detail": "Unknown field(s): hostname. Only pause_reason, is_paused, is_active can be changed.",
                    "errors": {
                        "non_field_errors": [
                            "Unknown field(s): hostname. Only pause_reason, is_paused, is_active can be changed."
                        ]
                    },
                },
                "not a boolean": {
                    "detail": "is_paused: Must be a JSON boolean (true or false).",
                    "errors": {"is_paused": ["Must be a JSON boolean (true or false)."]},
                },
                "duplicated key": {"detail": "JSON parse error - duplicate key 'is_paused' in an object."},
            },
        ),
        401: error_response(
            "Missing or invalid credentials.",
            examples={
                "no credentials": "Authentication credentials were not provided.",
                "invalid token": "Invalid token.",
            },
        ),
        403: error_response(
            "The user lacks the permission `node.change_node`, or a browser session sent no valid CSRF token.",
            examples={
                "no permission": "This needs the permission node.change_node (“Can change node”), which your user "
                "does not have; an administrator can grant it to you or to one of your groups."
            },
        ),
        404: error_response("No node has this id.", examples={"unknown node": "No Node matches the given query."}),
        412: error_response(
            "`If-Match` names no current tag of the node: it changed since it was read. Nothing was written; "
            "the answer's `ETag` is the current one.",
            examples={
                "changed meanwhile": "node 4 has changed: If-Match does not match its current ETag "
                '"81d603825eee797f7435b656da96fca9"; read it again and retry.'
            },
        ),
        413: error_response(
            f"The body is larger than the {_MAX_BODY} bytes the service accepts; it was not read.",
            examples={"too large": body_too_large_message(_MAX_BODY)},
        ),
        415: error_response(
            "The body is not JSON by its Content-Type, or names a charset other than UTF-8.",
            examples={"not JSON": 'Unsupported media type "text/plain" in request.'},
        ),
        406: _NOT_ACCEPTABLE,
        500: _SERVER_ERROR,
        503: _UNAVAILABLE,
    },
)

_WRITE_UNAUTHORIZED = error_response(
    "Missing or invalid credentials.",
    examples={"no credentials": "Authentication credentials were not provided.", "invalid token": "Invalid token."},
)


def _hostnames_refused(what: str) -> OpenApiResponse:
    """The 400 of a body naming nodes by hostname (registration, heartbeats)."""
    return validation_error_response(
        f"The body was refused and nothing was {what}: not a JSON object, a field other than `hostnames`, "
        f"`hostnames` missing or not an array, no hostname or more than {HOSTNAMES_MAX_ITEMS}, an item that is not a "
        "string or not a valid hostname, or a hostname given twice (in any letter case). `detail` names it.",
        examples={
            "bad hostname": {
                "detail": "hostnames: Item 1, 'bad_host.example.com' is not a valid hostname: each dot-separated "
                "label must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen.",
                "errors": {
                    "hostnames": [
                        "Item 1, 'bad_host.example.com' is not a valid hostname: each dot-separated label must be "
                        "1-63 letters, digits or hyphens, not starting or ending with a hyphen."
                    ]
                },
            },
            "duplicate": {
                "detail": "hostnames: Item 1, 'A.example.com', is given more than once (hostnames ignore letter case).",
                "errors": {
                    "hostnames": ["Item 1, 'A.example.com', is given more than once (hostnames ignore letter case)."]
                },
            },
        },
    )


node_register_schema = extend_schema(
    summary="Register Nodes",
    description=(
        f"Register nodes by hostname, 1 to {HOSTNAMES_MAX_ITEMS} at a time. Idempotent: a hostname already known, in "
        "any letter case, is left as it is and answered under `existing`; each new node is registered active and "
        "unpaused, with its own change index, a history record (channel `api`, the user as actor) and an event. "
        "Every hostname is checked first: one refused hostname is a 400 naming it, and nothing is registered. "
        'Needs a user with the permission `node.add_node` ("Can add node"; superusers have it).'
    ),
    tags=TAGS,
    parameters=[X_REQUEST_ID, WWW_AUTHENTICATE],
    request=NodeHostnamesSerializer,
    examples=[
        OpenApiExample(
            "two nodes", value={"hostnames": ["gpu-17.example.com", "gpu-18.example.com"]}, request_only=True
        ),
        OpenApiExample(
            "one new, one known",
            value={
                "created": [{"id": 18, "hostname": "gpu-18.example.com"}],
                "existing": [{"id": 17, "hostname": "gpu-17.example.com"}],
            },
            response_only=True,
        ),
    ],
    responses={
        200: OpenApiResponse(
            NodeRegistrationSerializer,
            description="The nodes created and those known already, each in the order given.",
        ),
        400: _hostnames_refused("registered"),
        401: _WRITE_UNAUTHORIZED,
        403: error_response(
            "The user lacks the permission `node.add_node`, or a browser session sent no valid CSRF token.",
            examples={
                "no permission": "This needs the permission node.add_node (“Can add node”), which your user "
                "does not have; an administrator can grant it to you or to one of your groups."
            },
        ),
        503: _UNAVAILABLE,
    },
)

node_heartbeats_schema = extend_schema(
    summary="Node Heartbeats",
    description=(
        f"Say that nodes are alive now: 1 to {HOSTNAMES_MAX_ITEMS} hostnames (any letter case), from a node agent "
        "(its own) or a scheduler (a batch). Sets each node's last-seen time and nothing else: no history record, "
        "no change index, no event, `last_modified` unchanged, so heartbeats never wake followers of the change "
        "feed. A node is `online` while its last heartbeat is younger than `NODE_HEARTBEAT_TTL` (30 s by default) "
        "and `offline` after (see `GET /v6/nodes/liveness/`); send one every TTL/3 with some jitter. Going offline "
        "and coming back are recorded as changes. Hostnames that name no node are answered under `unknown` and "
        "are not registered (`POST /v6/nodes/` does that). Needs a user with the permission "
        '`node.change_nodeliveness` ("Can change node liveness"; superusers have it).'
    ),
    tags=TAGS,
    parameters=[X_REQUEST_ID, WWW_AUTHENTICATE],
    request=NodeHostnamesSerializer,
    examples=[
        OpenApiExample(
            "a scheduler's batch", value={"hostnames": ["gpu-17.example.com", "gpu-99.example.com"]}, request_only=True
        ),
        OpenApiExample("one unknown", value={"seen": 1, "unknown": ["gpu-99.example.com"]}, response_only=True),
    ],
    responses={
        200: OpenApiResponse(HeartbeatResultSerializer, description="How many nodes were seen, and the unknown names."),
        400: _hostnames_refused("recorded"),
        401: _WRITE_UNAUTHORIZED,
        403: error_response(
            "The user lacks the permission `node.change_nodeliveness`, or a browser session sent no valid CSRF token.",
            examples={
                "no permission": "This needs the permission node.change_nodeliveness (“Can change node liveness”), "
                "which your user does not have; an administrator can grant it to you or to one of your groups."
            },
        ),
        503: _UNAVAILABLE,
    },
)

_LIVENESS_STATES = (
    "`never` before the node's first heartbeat, `online` while its last heartbeat is younger than "
    "`NODE_HEARTBEAT_TTL` (30 s by default), `offline` after; read from the last heartbeat itself, so it is exact "
    "at the time of the answer."
)
LIVENESS_FILTERS = [
    OpenApiParameter(
        "state",
        {"type": "string", "enum": ["online", "offline", "never"]},
        OpenApiParameter.QUERY,
        description="Only the nodes in this state. Anything else is a 400.",
    ),
    *(parameter for parameter in LIST_FILTERS if parameter.name in ("hostname", "id")),
]

node_liveness_list_schema = extend_schema(
    summary="Node Liveness List",
    description=(
        "Whether each node is alive, a page at a time, ordered by id: its `state` and when its last heartbeat "
        f"arrived (`last_seen`). {_LIVENESS_STATES} Going offline and coming back online are also recorded as "
        "changes of the node (history, change feed, events), once each."
    ),
    tags=TAGS,
    parameters=LIVENESS_FILTERS,
    responses={
        200: OpenApiResponse(NodeLivenessSerializer(many=True), description="A page of nodes' liveness."),
        400: validation_error_response(
            "A query parameter was refused; `detail` and `errors` name it and what it accepts.",
            examples={
                "unknown state": {
                    "detail": "state: Select a valid choice. asleep is not one of the available choices.",
                    "errors": {"state": ["Select a valid choice. asleep is not one of the available choices."]},
                }
            },
        ),
        401: _UNAUTHORIZED_READ,
        404: error_response("`page` is past the last page of the answer."),
        503: _UNAVAILABLE,
    },
)

node_liveness_detail_schema = extend_schema(
    summary="Node Liveness",
    description=f"Whether one node is alive: its `state` and when its last heartbeat arrived. {_LIVENESS_STATES}",
    tags=TAGS,
    parameters=[NODE_ID],
    responses={
        200: OpenApiResponse(NodeLivenessSerializer, description="The node's liveness."),
        401: _UNAUTHORIZED_READ,
        404: error_response("No node has this id.", examples={"unknown node": "No Node matches the given query."}),
        503: _UNAVAILABLE,
    },
)


HISTORY_FILTERS = [
    OpenApiParameter(
        name,
        _INSTANT,
        OpenApiParameter.QUERY,
        description=f"{text} of the time range, on the record `time` (inclusive). {_INSTANT_RULES}",
        examples=_INSTANT_EXAMPLES[name],
    )
    for name, text in (("started", "The start"), ("ended", "The end"))
]

node_history_schema = extend_schema(
    summary="Node History",
    description=(
        "Who changed a node, when and why: its registration and every change of `is_paused`, `pause_reason` or "
        "`is_active` (and of its hostname), through the API, the admin or a command, newest first; and each time "
        'it went offline or came back online (actor and channel `system`, `{"state": {"old", "new"}}`). Each record '
        "is written in the same transaction as the change it describes. The records name users and "
        "operating-system accounts, so they need an authenticated user with the permission `node.view_nodechange` "
        '("Can view node change"; superusers have it), even where node reads are public.'
    ),
    tags=TAGS,
    parameters=[NODE_ID, *HISTORY_FILTERS, X_REQUEST_ID, X_REGISTRY_INDEX, WWW_AUTHENTICATE],
    responses={
        200: OpenApiResponse(NodeChangeSerializer(many=True), description="A page of the node's records."),
        400: validation_error_response(
            "A query parameter was refused; `detail` and `errors` name it and what it accepts.",
            examples={
                "range the wrong way round": {
                    "detail": "started: must be before ended (2026-01-02T00:00:00+00:00 is not before "
                    "2026-01-01T00:00:00+00:00).",
                    "errors": {
                        "started": [
                            "must be before ended (2026-01-02T00:00:00+00:00 is not before 2026-01-01T00:00:00+00:00)."
                        ]
                    },
                },
            },
        ),
        401: error_response(
            "Missing or invalid credentials: the history is never public.",
            examples={
                "no credentials": "Authentication credentials were not provided.",
                "invalid token": "Invalid token.",
            },
        ),
        403: error_response(
            "The user lacks the permission `node.view_nodechange`.",
            examples={
                "no permission": "This needs the permission node.view_nodechange (“Can view node change”), which "
                "your user does not have; an administrator can grant it to you or to one of your groups."
            },
        ),
        404: error_response(
            "No node has this id, or a page past the last one.",
            examples={
                "unknown node": "No node with id 9999.",
                "past the last page": "page 3 is past the last page (1) for 4 results.",
            },
        ),
        406: _NOT_ACCEPTABLE,
        500: _SERVER_ERROR,
        503: _UNAVAILABLE,
    },
)


CHANGES_PARAMETERS = [
    OpenApiParameter(
        "after",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        description=(
            "A change index (`index` of the previous answer, or `X-Registry-Index` of any answer): only nodes changed "
            "after it are returned. 0, the default, returns every node, in change order. An index beyond the newest "
            "is a 400."
        ),
        examples=[OpenApiExample("from the start", value=0)],
    ),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        description=(
            f"At most this many nodes, from 1 to {CHANGES_MAX_PAGE_SIZE} (default {CHANGES_PAGE_SIZE}); `more` says "
            "whether others follow."
        ),
    ),
    OpenApiParameter(
        "wait",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        description=(
            f"Seconds (0 to {CHANGES_MAX_WAIT_SECONDS}, default 0) to wait when nothing changed after `after`: the "
            "answer comes as soon as a change commits, or with empty results once `wait` has passed."
        ),
    ),
]

node_changes_schema = extend_schema(
    summary="Node Changes",
    description=(
        "Follow every change to the nodes, in the order the changes committed, without missing one. Every write "
        "gives each node it changes a new change index, one more than the last; this returns the nodes whose "
        "latest change comes after `after`, each once in its latest state, oldest change first: a node changed "
        "several times since `after` appears once, at the index of its latest change (the event stream, "
        "`GET /v6/nodes/events/`, delivers each change instead). Send `index` back as `after` to go on; "
        "with `wait`, a request that finds nothing new waits for the next commit. "
        "The requests waiting at once are capped per server process and per client (429 or 503 with "
        "`Retry-After`, before the wait); a process that is stopping answers its waiting requests at once, with "
        "what they would get if their `wait` had passed."
    ),
    tags=TAGS,
    parameters=[*CHANGES_PARAMETERS, X_REQUEST_ID, X_REGISTRY_INDEX, WWW_AUTHENTICATE],
    responses={
        200: OpenApiResponse(NodeChangesSerializer, description="The nodes changed after `after`."),
        400: validation_error_response(
            "A query parameter was refused; `detail` and `errors` name it and what it accepts.",
            examples={
                "after beyond the newest change": _refused("after", beyond_newest_message(120, 12)),
                "wait too long": _refused("wait", _int_refusal("90", minimum=0, maximum=CHANGES_MAX_WAIT_SECONDS)),
            },
        ),
        401: _UNAUTHORIZED_READ,
        406: _NOT_ACCEPTABLE,
        429: _watch_limited("waiting long-polls", "CHANGES_MAX_WAITING"),
        500: _SERVER_ERROR,
        503: _watch_unavailable("waiting long-polls", "CHANGES_MAX_WAITING"),
    },
)

EVENTS_EXAMPLE = (
    ": keep-alive\n\n"
    "id: 1201\nevent: node\n"
    'data: {"id":4,"hostname":"node-4.example.com","pause_reason":"Disk replacement","is_paused":true,'
    '"is_active":true,"deprecated":null,"created":"2025-01-01T00:00:00Z","last_modified":"2025-03-01T08:30:00Z"}\n\n'
)

node_events_schema = extend_schema(
    summary="Node Events",
    description=(
        "Every node change as it commits, as Server-Sent Events (`text/event-stream`, for `EventSource` or any SSE "
        "client), in change order with no change missed and none repeated. Each event has `id: <change index>`, "
        "`event: node` and `data:` with the node as in the list, in its state right after that change: a node "
        "changed several times comes once per change, each with its own `id`. Ids increase but skip the indexes "
        "of changes that are not delivered: a write that changed no value (it only moved `last_modified`) comes "
        "only while it is the node's latest change, and changes whose history was pruned do not come. "
        "The event of a liveness transition (a node gone offline, or back online: `GET /v6/nodes/liveness/`) "
        "carries `state` too, `offline` or `online`. "
        "A comment line (`: keep-alive`) "
        "comes at once and then whenever 15 seconds pass without an event. To resume after a disconnect, send the "
        "last `id` received as `Last-Event-ID` (browsers do) or as `after`: every change after it comes first, then "
        "live, as long as it is within the last 10,000 changes (`EVENTS_RETAINED_CHANGES`); from further back the "
        "answer is 410: list the nodes first, then stream from the list's `X-Registry-Index`. With neither, the "
        "stream starts with the changes that commit after it opened. Errors (a bad `after`, missing credentials, a "
        "client or a server process holding its maximum of streams) come as JSON before the stream starts.\n\n"
        "A stream ends when its server process stops (after a `retry:` line: reconnect with `Last-Event-ID`, as "
        '`EventSource` does), and, with a last `event: error` whose `data` is `{"detail": ..., "status": 401 '
        "or 403}`, within 30 seconds (`EVENTS_RECHECK_SECONDS`) of its token being revoked or expiring, its session "
        "ending, or its user being deactivated or losing the permission to read. `HEAD` answers at once with the "
        "stream's headers and no body."
    ),
    tags=TAGS,
    parameters=[
        OpenApiParameter(
            "after",
            OpenApiTypes.INT,
            OpenApiParameter.QUERY,
            description=(
                "A change index (the `id` of the last event received, or `X-Registry-Index` of any answer): the "
                "stream starts with the changes after it, (ex: after=1200). Ignored when `Last-Event-ID` is sent. "
                "Beyond the newest index is a 400; more than 10,000 changes behind it (`EVENTS_RETAINED_CHANGES`) "
                "a 410."
            ),
            # No example: no one index is valid in every registry (Swagger UI would fill it in).
        ),
        OpenApiParameter(
            "Last-Event-ID",
            OpenApiTypes.INT,
            OpenApiParameter.HEADER,
            description="The `id` of the last event received; sent by `EventSource` when it reconnects. Like `after`.",
        ),
        X_REQUEST_ID,
        X_REGISTRY_INDEX,
        WWW_AUTHENTICATE,
    ],
    responses={
        (200, "text/event-stream"): OpenApiResponse(
            OpenApiTypes.STR,
            description="The stream of events; it does not end while the client stays connected.",
            examples=[OpenApiExample("a heartbeat and one change", value=EVENTS_EXAMPLE)],
        ),
        400: validation_error_response(
            "`after` or `Last-Event-ID` was refused; `detail` and `errors` name it and what it accepts.",
            examples={
                "after beyond the newest change": _refused("after", beyond_newest_message(120, 12)),
            },
        ),
        401: _UNAUTHORIZED_READ,
        410: error_response(
            "`after` or `Last-Event-ID` is further back than the changes a stream replays (the last 10,000, "
            "`EVENTS_RETAINED_CHANGES`). List the nodes first (`GET /v6/nodes/`, every page), then open the stream "
            "with `after` set to the `X-Registry-Index` of the list's first answer: nothing is missed.",
            examples={"resume expired": resume_expired_message("after", after=0, newest=12000, retained=10000)},
        ),
        429: _watch_limited("event streams", "EVENTS_MAX_STREAMS"),
        500: _SERVER_ERROR,
        503: _watch_unavailable("event streams", "EVENTS_MAX_STREAMS"),
    },
)
