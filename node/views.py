"""The v6 node endpoints: thin views over the filter set, the selectors, the serializers and ``node.services``."""

import functools
import time
import weakref
from collections.abc import AsyncIterator, Callable, Hashable
from typing import NamedTuple

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.credentials import Credential, recheck_credentials, request_credential
from accounts.lockout import client_ip
from accounts.permissions import ModelViewPermission
from node.actors import request_actor
from node.filters import NodeChangeFilter, NodeFilter, NodeLivenessFilter
from node.live import process_live
from node.live.limits import (
    CHANGES_MAX_PAGE_SIZE,
    CHANGES_MAX_WAIT_SECONDS,
    CHANGES_PAGE_SIZE,
    beyond_newest_message,
    resume_expired_message,
)
from node.live.long_polls import shared_read, wait_for_change
from node.live.streams import farewell_error, node_event_stream
from node.models import NODE_FIELDS, Node, NodeChange, NodeLiveness
from node.schema import (
    node_changes_schema,
    node_detail_schema,
    node_events_schema,
    node_heartbeats_schema,
    node_history_schema,
    node_list_schema,
    node_liveness_detail_schema,
    node_liveness_list_schema,
    node_register_schema,
    node_update_schema,
)
from node.selectors import (
    NodeListQuery,
    current_change_index,
    liveness_cutoff,
    node_changes,
    node_exists_with_index,
    node_history,
    node_liveness_rows,
    node_row_with_index,
    node_rows,
    node_state_counts,
)
from node.serializers import (
    HeartbeatResultSerializer,
    NodeChangeSerializer,
    NodeHostnamesSerializer,
    NodeLivenessSerializer,
    NodeRegistrationSerializer,
    NodeSerializer,
    NodeUpdateSerializer,
    node_rows_data,
)
from node.services import NodeChanged, node_heartbeat, node_register_named, node_update
from node.versions import node_page_version, node_version, node_version_at
from observability.metrics import WATCH_REFUSALS
from serving import shutdown
from util.conditional import PreconditionFailed, if_match_required_tags, is_not_modified, not_modified
from util.filters import FilterFormBackend, FilterSetRunner
from util.http import EVENT_STREAM, FirstRendererNegotiation, prefers_representation
from util.ordering import ORDER_PARAM, OrderParamFilter, OrderTerm
from util.pagination import StrictPageNumberPagination
from util.query import KnownQueryParams, int_param
from util.renderers import OrjsonRenderer
from util.sqlcache import built_once
from waiting.admission import CLIENT, LimitReached
from waiting.asyncviews import Completion, complete_later
from waiting.fanout import take_turn

NODE_FILTERS = FilterSetRunner(NodeFilter)
PAGE_PARAMS = (StrictPageNumberPagination.page_query_param, StrictPageNumberPagination.page_size_query_param)
REGISTRY_INDEX_HEADER = "X-Registry-Index"
NO_SUCH_NODE = "No Node matches the given query."
# Ids are 64-bit: a larger number names no node (and must not reach the database as a parameter).
MAX_NODE_ID = 2**63 - 1


def node_id_of(pk: str) -> int:
    """The node id of a URL's ``pk`` (digits only, by the URL pattern); 404 for one no node can have."""
    node_id = int(pk)
    if node_id > MAX_NODE_ID:
        raise Http404(NO_SUCH_NODE)
    return node_id


def registry_indexed(response: HttpResponse, index: int) -> HttpResponse:
    """``response`` with the newest change index it reflects, in ``X-Registry-Index``."""
    response[REGISTRY_INDEX_HEADER] = str(index)
    return response


@extend_schema_view(get=node_list_schema, post=node_register_schema)
class NodeListView(KnownQueryParams, generics.ListAPIView):
    """The cluster's nodes, a page at a time: filter with `started`, `ended`, `is_active`, `is_paused`, `hostname`,
    `id` and `search`, sort with `order`. `POST` `{"hostnames": [...]}` registers nodes (permission `node.add_node`).

    Each page carries an `ETag`; sending it back in `If-None-Match` answers 304 with no body while
    the page is unchanged.
    """

    # Every client polls this list, so it skips model instances and per-field serialization: rows
    # come as tuples, become NodeSerializer's dicts in one step and are written by orjson (the same
    # bytes). ``NodeListQuery`` decides how the page is counted and keys its SQL, compiled once per
    # shape. The filter parameters are documented by ``node.schema``. (The docstring above
    # is what the browsable API and OPTIONS show to users.)

    queryset = Node.objects.all()
    query_params = (*NodeFilter.base_filters, ORDER_PARAM, *PAGE_PARAMS)
    serializer_class = NodeSerializer
    pagination_class = StrictPageNumberPagination
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]
    # The filters are applied by NodeListQuery; FilterFormBackend shows their form in the browsable API.
    filter_backends = [OrderParamFilter, FilterFormBackend]
    filter_form_template = "node/list_filter_form.html"
    ordering_fields = NODE_FIELDS
    ordering_aliases = {"host_name": "hostname"}
    ordering_default = (OrderTerm("last_modified"),)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        query = NodeListQuery.from_values(NODE_FILTERS.clean(request.query_params))
        rows, sql_key, sql_params = self.ordered_rows(query, order=tuple(request.query_params.getlist(ORDER_PARAM)))
        registry_index = 0

        def count() -> int:
            nonlocal registry_index
            total, registry_index = query.count_with_index(rows, sql_key=sql_key, params=sql_params)
            return total

        page = self.paginator.paginate_queryset(
            rows, request, self, count=count, sql_key=sql_key, sql_params=sql_params
        )
        results = node_rows_data(page)
        etag = node_page_version(results, count=self.paginator.page.paginator.count)
        if is_not_modified(request, etag):
            return registry_indexed(not_modified(etag), registry_index)
        response = self.get_paginated_response(results)
        response["ETag"] = etag
        return registry_indexed(response, registry_index)

    def ordered_rows(self, query: NodeListQuery, *, order: tuple[str, ...]) -> tuple[QuerySet, Hashable, tuple]:
        """The rows ``query`` selects in ``order`` (the request's, checked by ``filter_queryset``), the key of
        their SQL and its parameters (``NodeListQuery.sql``).

        A query of fixed filters only (the whole list, ``is_active``, ``is_paused``) is determined by its
        key: its queryset is built once per key and order (``util.sqlcache.built_once``).
        """

        def build() -> tuple[QuerySet, Hashable, tuple]:
            rows, sql_key, sql_params = query.sql(node_rows(), order=order)
            return self.filter_queryset(rows), sql_key, sql_params

        fixed_key = query.fixed_sql_key(order=order)
        if fixed_key is None:
            return build()
        return built_once(fixed_key, build)

    def post(self, request: Request) -> Response:
        body = NodeHostnamesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = request_actor(request, channel=NodeChange.Channel.API)
        try:
            registered = node_register_named(hostnames=body.validated_data["hostnames"], actor=actor)
        except ValueError as exc:
            raise ValidationError({"hostnames": [str(exc)]}) from None
        return Response(NodeRegistrationSerializer(registered).data)


@extend_schema_view(post=node_heartbeats_schema)
class NodeHeartbeatsView(APIView):
    """Heartbeats: `POST` `{"hostnames": [...]}` says those nodes are alive now (permission
    `node.change_nodeliveness`). Sets their last-seen time only: no history record, no change, no event."""

    # The model whose permission a heartbeat needs (node.change_nodeliveness: a POST that changes rows).
    queryset = NodeLiveness.objects.all()
    write_permission_action = "change"
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    def post(self, request: Request) -> Response:
        body = NodeHostnamesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = node_heartbeat(hostnames=body.validated_data["hostnames"])
        return Response(HeartbeatResultSerializer(result).data)


@extend_schema_view(get=node_liveness_list_schema)
class NodeLivenessListView(generics.ListAPIView):
    """Whether each node is alive, a page at a time by id: filter with `state` (online, offline, never), `hostname`
    and `id`."""

    queryset = Node.objects.none()
    serializer_class = NodeLivenessSerializer
    pagination_class = StrictPageNumberPagination
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]
    filter_backends = [DjangoFilterBackend]
    filterset_class = NodeLivenessFilter

    def get_queryset(self) -> QuerySet:
        return node_liveness_rows(cutoff=liveness_cutoff())


@extend_schema_view(get=node_liveness_detail_schema)
class NodeLivenessDetailView(APIView):
    """Whether one node is alive: its state and last heartbeat."""

    queryset = Node.objects.none()
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    def get(self, request: Request, pk: str) -> Response:
        row = node_liveness_rows(cutoff=liveness_cutoff()).filter(pk=node_id_of(pk)).first()
        if row is None:
            raise Http404(NO_SUCH_NODE)
        return Response(NodeLivenessSerializer(row).data)


@extend_schema_view(get=node_detail_schema, patch=node_update_schema)
class NodeDetailView(KnownQueryParams, APIView):
    """One node: read it, or pause, resume, deactivate or reactivate it with `PATCH`.

    Answers carry the node's `ETag`: `GET` with a matching `If-None-Match` is a 304, and `PATCH` with
    `If-Match` applies only while the node still has one of the given tags (else 412). Changing a node
    needs the permission `node.change_node`.
    """

    # The model whose permissions a write needs (node.change_node), as in the admin.
    queryset = Node.objects.all()
    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]

    def get(self, request: Request, pk: int) -> Response:
        # The list's rows path: the very same eight values as the node's list entry, at a fraction of the cost.
        row, registry_index = node_row_with_index(node_id_of(pk))
        if row is None:
            raise Http404(NO_SUCH_NODE)
        node = node_rows_data([row])[0]
        etag = node_version_at(node["id"], node["last_modified"])
        if is_not_modified(request, etag):
            return registry_indexed(not_modified(etag), registry_index)
        return registry_indexed(Response(node, headers={"ETag": etag}), registry_index)

    def browsable_links(self) -> list[tuple[str, str]]:
        """Where a person reading this node in the browsable API goes next: its history."""
        return [("History", reverse("node-history", kwargs={"pk": self.kwargs["pk"]}))]

    def patch(self, request: Request, pk: int) -> Response:
        try:
            body = NodeUpdateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
        except Exception:
            # An unknown node is a 404 whatever the body; only a refused request pays for this check.
            if not node_exists_with_index(node_id_of(pk))[0]:
                raise Http404(NO_SUCH_NODE) from None
            raise
        actor = request_actor(request, channel=NodeChange.Channel.API)
        try:
            node = node_update(
                node=node_id_of(pk),
                changes=body.validated_data,
                actor=actor,
                expected_versions=if_match_required_tags(request),
            )
        except Node.DoesNotExist:
            raise Http404(NO_SUCH_NODE) from None
        except NodeChanged as exc:
            raise PreconditionFailed(
                f"node {exc.node_id} has changed: If-Match does not match its current ETag {exc.current_version}; "
                "read it again and retry.",
                etag=exc.current_version,
            ) from None
        headers = {"ETag": node_version(node), REGISTRY_INDEX_HEADER: str(node.change_index)}
        if prefers_representation(request):
            headers["Preference-Applied"] = "return=representation"
            return Response(NodeSerializer(node).data, headers=headers)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)


@extend_schema_view(get=node_history_schema)
class NodeHistoryView(KnownQueryParams, generics.ListAPIView):
    """Who changed a node, when and why: its recorded changes, newest first; `started` and `ended` bound their time.

    Needs the permission `node.view_nodechange`.
    """

    # The model for schema generation and for the permission (node.view_nodechange); get_queryset narrows it.
    queryset = NodeChange.objects.none()
    query_params = (*NodeChangeFilter.base_filters, *PAGE_PARAMS)
    # Private whatever PUBLIC_READ_API says: the records name the users and operating-system accounts.
    permission_classes = [ModelViewPermission]
    serializer_class = NodeChangeSerializer
    pagination_class = StrictPageNumberPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = NodeChangeFilter

    def browsable_links(self) -> list[tuple[str, str]]:
        """Where a person reading this history in the browsable API goes next: the node itself."""
        return [("Node", reverse("node-detail", kwargs={"pk": self.kwargs["pk"]}))]

    def get_queryset(self) -> QuerySet[NodeChange]:
        node_id = self.kwargs["pk"]
        # Read before the records: they reflect at least every change up to it.
        exists, self.registry_index = node_exists_with_index(node_id_of(node_id))
        if not exists:
            raise NotFound(f"No node with id {node_id}.")
        return node_history(node_id)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        response = super().list(request, *args, **kwargs)
        return registry_indexed(response, self.registry_index)


LAST_EVENT_ID = "Last-Event-ID"
# How long a client refused by a cap is asked to wait before trying again.
WATCH_RETRY_AFTER_SECONDS = 5


def watch_client(request: Request) -> tuple[str, object]:
    """Who a stream or long-poll counts against under ``WATCH_MAX_PER_CLIENT``: its user, else its address."""
    if request.user and request.user.is_authenticated:
        return ("user", request.user.pk)
    return ("address", client_ip(request._request))


class WatchLimited(APIException):
    """429 (the client holds its share) or 503 (the process is full): a cap on streams or long-polls, named."""

    def __init__(self, refusal: LimitReached, *, setting: str) -> None:
        self.status_code, detail = _limit_refusal(refusal, setting=setting)
        self.wait = WATCH_RETRY_AFTER_SECONDS
        super().__init__(detail)


def _limit_refusal(refusal: LimitReached, *, setting: str) -> tuple[int, str]:
    """The status and detail of a refusal by a cap on ``refusal.name`` (``setting``: the process-wide one), counted
    in ``scale_nodes_watch_refusals_total``."""
    WATCH_REFUSALS.labels(watch=refusal.name, limit=refusal.scope).inc()
    if refusal.scope == CLIENT:
        return status.HTTP_429_TOO_MANY_REQUESTS, (
            f"Too many {refusal.name} from this client: at most {refusal.limit} per server process "
            f"(WATCH_MAX_PER_CLIENT). Close one, or retry after {WATCH_RETRY_AFTER_SECONDS} seconds."
        )
    return status.HTTP_503_SERVICE_UNAVAILABLE, (
        f"This server process holds its maximum of {refusal.limit} {refusal.name} ({setting}); "
        f"retry after {WATCH_RETRY_AFTER_SECONDS} seconds."
    )


class ChangesPage(NamedTuple):
    """What one change-feed answer shows: up to a page and one more of ``NODE_FIELDS`` rows with their change
    index (the extra one says there is more), and the newest index."""

    rows: list[tuple]
    newest: int


def read_changes_page(*, after: int, page_size: int) -> ChangesPage:
    """The nodes changed after ``after``, and the newest index, as ``GET /v6/nodes/changes/`` shows them."""
    newest = current_change_index()
    return ChangesPage(node_changes(after=after, limit=page_size + 1), newest)


def _changes_body(page: ChangesPage, *, after: int, page_size: int) -> tuple[dict, int]:
    """The body of a change-feed answer for ``page``, and its registry index."""
    shown = page.rows[:page_size]
    index = shown[-1][-1] if shown else after
    body = {"index": index, "more": len(page.rows) > len(shown), "results": node_rows_data(row[:-1] for row in shown)}
    return body, max(index, page.newest)


class ChangesAnswer(NamedTuple):
    """A change-feed answer as sent: whether it shows any change, its body, and its registry index."""

    has_changes: bool
    content: bytes
    index: int


def read_changes_answer(*, after: int, page_size: int, render: Callable[[dict], bytes]) -> ChangesAnswer:
    """``read_changes_page``'s answer, rendered by ``render``."""
    page = read_changes_page(after=after, page_size=page_size)
    body, index = _changes_body(page, after=after, page_size=page_size)
    return ChangesAnswer(bool(page.rows), render(body), index)


@extend_schema_view(get=node_changes_schema)
class NodeChangesView(KnownQueryParams, APIView):
    """The nodes changed after a change index, in the order of their changes; optionally waits for one."""

    # Served through ``waiting.asyncviews.awaiting`` (node.urls): an answer with nothing new and time
    # left to wait is handed to ``complete_later``, whose coroutine waits on the event loop, holding
    # no thread and no database connection, and then completes the response. The requests woken by
    # one change with the same question share one read of it and its rendered bytes (``shared_read``)
    # instead of each running the view again.

    renderer_classes = [OrjsonRenderer, BrowsableAPIRenderer]
    query_params = ("after", "page_size", "wait")

    def get(self, request: Request) -> Response:
        query = request.query_params
        after = int_param(query, "after", default=0, minimum=0, maximum=None)
        page_size = int_param(query, "page_size", default=CHANGES_PAGE_SIZE, minimum=1, maximum=CHANGES_MAX_PAGE_SIZE)
        wait = int_param(query, "wait", default=0, minimum=0, maximum=CHANGES_MAX_WAIT_SECONDS)
        page = read_changes_page(after=after, page_size=page_size)
        if beyond := beyond_newest_message(after, page.newest):
            raise ValidationError({"after": [beyond]})
        body, index = _changes_body(page, after=after, page_size=page_size)
        response = registry_indexed(Response(body), index)
        if not page.rows and wait > 0:
            rendering, render = _answer_rendering(request, response)
            complete_later(
                response,
                functools.partial(
                    _answer_after_wait,
                    after=after,
                    page_size=page_size,
                    rendering=rendering,
                    render=render,
                    deadline=time.monotonic() + wait,
                    client=watch_client(request),
                ),
            )
        return response


def _answer_rendering(request: Request, response: Response) -> tuple[Hashable, Callable[[dict], bytes]]:
    """How the answer to ``request`` is rendered after its wait: what else than the page its bytes depend on
    (the same for every JSON request of one media type, unique otherwise), and the renderer."""
    renderer = request.accepted_renderer
    if isinstance(renderer, JSONRenderer):
        media_type = request.accepted_media_type
        return media_type, functools.partial(renderer.render, accepted_media_type=media_type)

    def render_page(body: dict) -> bytes:
        # The browsable API renders for its own request and user.
        response.data = body
        return response.rendered_content

    return object(), render_page


async def _answer_after_wait(
    *,
    after: int,
    page_size: int,
    rendering: Hashable,
    render: Callable[[dict], bytes],
    deadline: float,
    client: tuple[str, object],
) -> Completion | None:
    """The answer of a change feed request (an empty page) once a change after ``after`` committed, as a request
    made then would get it; None (the empty page as it is) when ``deadline`` (monotonic) passes or the process
    begins to stop; a 429/503 when the caps on waiting long-polls leave no room."""
    if shutdown.is_stopping():
        return None
    try:
        lease = process_live().caps.waiting().acquire(client)
    except LimitReached as refusal:
        code, detail = _limit_refusal(refusal, setting="CHANGES_MAX_WAITING")
        headers = {"Content-Type": "application/json", "Retry-After": str(WATCH_RETRY_AFTER_SECONDS)}
        return Completion(code, OrjsonRenderer().render({"detail": detail}), headers)
    try:
        while True:
            head = await wait_for_change(after, timeout=max(0.0, deadline - time.monotonic()))
            if head is None:
                return None
            # Every request woken by this change with the same question gets the same bytes.
            answer = await shared_read(
                ("changes", after, page_size, rendering),
                seen=head,
                read=functools.partial(read_changes_answer, after=after, page_size=page_size, render=render),
            )
            # The waiters woken together are answered a slice per turn of the event loop.
            await take_turn()
            if answer.has_changes or time.monotonic() >= deadline or shutdown.is_stopping():
                return Completion(status.HTTP_200_OK, answer.content, {REGISTRY_INDEX_HEADER: str(answer.index)})
    finally:
        lease.release()


def _stream_start(request: Request) -> int | None:
    """The change index a stream starts after: ``Last-Event-ID`` (a reconnecting browser), else ``after``."""
    header = request.headers.get(LAST_EVENT_ID)
    if header is not None:
        return int_param({LAST_EVENT_ID: header.strip()}, LAST_EVENT_ID, default=0, minimum=0, maximum=None)
    if "after" in request.query_params:
        return int_param(request.query_params, "after", default=0, minimum=0, maximum=None)
    return None


class ResumeExpired(APIException):
    """410: a resume from further back than the changes a stream replays; list first, then stream live."""

    status_code = status.HTTP_410_GONE
    default_code = "expired"


async def _no_events() -> AsyncIterator[bytes]:
    """The body of ``HEAD``: none."""
    return
    yield


def _may_follow_events(user: object) -> str | None:
    """Why ``user`` may no longer follow the events (the view's own permission classes decide); None if it may."""
    django_request = HttpRequest()
    django_request.method = "GET"
    request = Request(django_request)
    request.user = user
    view = NodeEventsView()
    for permission in view.get_permissions():
        if not permission.has_permission(request, view):
            return getattr(permission, "message", None) or "You no longer have permission to follow the events."
    return None


def _recheck_stream_credentials(credentials: set[Credential]) -> dict[Credential, bytes]:
    """The final event of the streams whose ``credentials`` no longer hold (``node.live.streams`` rechecks them)."""
    refused = recheck_credentials(credentials, permitted=_may_follow_events)
    return {credential: farewell_error(status=code, detail=detail) for credential, (code, detail) in refused.items()}


@extend_schema_view(get=node_events_schema)
class NodeEventsView(KnownQueryParams, APIView):
    """Every node change as it commits, as Server-Sent Events (`text/event-stream`), in change order."""

    # Errors before the stream starts are JSON whatever the client accepts (an EventSource sends
    # Accept: text/event-stream); the stream itself is not rendered by DRF.
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = FirstRendererNegotiation
    query_params = ("after",)

    def get(self, request: Request) -> StreamingHttpResponse:
        after, newest = self._start(request)
        try:
            lease = process_live().caps.streams().acquire(watch_client(request))
        except LimitReached as refusal:
            raise WatchLimited(refusal, setting="EVENTS_MAX_STREAMS") from None
        stream = node_event_stream(
            after=after,
            heartbeat_seconds=settings.EVENTS_HEARTBEAT_SECONDS,
            lease=lease,
            credential=request_credential(request),
            recheck=_recheck_stream_credentials,
        )
        # The stream releases its place when it ends; a stream that never started (its client left
        # before the first event) releases it when it is collected.
        weakref.finalize(stream, lease.release)
        return self._stream_response(stream, newest)

    def head(self, request: Request) -> StreamingHttpResponse:
        """The answer a ``GET`` would start with, at once and without a body (nor a place under the caps)."""
        _after, newest = self._start(request)
        return self._stream_response(_no_events(), newest)

    @staticmethod
    def _start(request: Request) -> tuple[int, int]:
        """The index the stream starts after, and the newest index; 400 beyond the newest, 410 too far back."""
        after = _stream_start(request)
        newest = current_change_index()
        name = LAST_EVENT_ID if LAST_EVENT_ID in request.headers else "after"
        if after is None:
            after = newest
        elif beyond := beyond_newest_message(after, newest):
            raise ValidationError({name: [beyond]})
        elif newest - after > settings.EVENTS_RETAINED_CHANGES:
            raise ResumeExpired(
                resume_expired_message(name, after=after, newest=newest, retained=settings.EVENTS_RETAINED_CHANGES)
            )
        return after, newest

    @staticmethod
    def _stream_response(stream: AsyncIterator[bytes], newest: int) -> StreamingHttpResponse:
        response = StreamingHttpResponse(stream, content_type=EVENT_STREAM)
        response["Cache-Control"] = "no-cache"
        # nginx and similar proxies would otherwise hold events back in their buffers.
        response["X-Accel-Buffering"] = "no"
        return registry_indexed(response, newest)


# Where the landing page points people: (key, path, title). The paths are fixed by the URL
# configuration; the JSON answer gives them as absolute URLs.
SERVICE_LINKS = (
    ("nodes", "/v6/nodes/", "The nodes, a page at a time: filter, sort, and open one to see or change it"),
    ("events", "/v6/nodes/events/", "Every change as it happens (Server-Sent Events)"),
    ("changes", "/v6/nodes/changes/", "Every change since an index (long-poll with wait=)"),
    ("docs", "/v6/docs/", "Swagger UI: the API reference, with “Try it out”"),
    ("redoc", "/v6/redoc/", "Redoc: the API reference to read"),
    ("schema", "/v6/schema/", "The OpenAPI 3 schema (YAML; JSON with ?format=json)"),
    ("admin", "/admin/", "The admin: pause, resume, deactivate and reactivate nodes, API tokens, users"),
    ("healthz", "/healthz", "Liveness probe"),
    ("readyz", "/readyz", "Readiness probe: the database answers and is migrated"),
    ("metrics", "/metrics", "Prometheus metrics (this host, or a scraper with the metrics token)"),
)


class ServiceIndexView(APIView):
    """What this service is and where to go from here: the API, its docs, the admin, health and metrics,
    and how many nodes it holds. HTML for people; JSON for clients that ask for `application/json`."""

    # Open to everyone: it names links; the node counts follow PUBLIC_READ_API, as the list does.
    permission_classes: list = []
    renderer_classes = [TemplateHTMLRenderer, OrjsonRenderer]
    template_name = "node/service_index.html"
    # A page for people, not an endpoint of the v6 contract.
    schema = None

    def get_view_name(self) -> str:
        # The browsable API's breadcrumbs start here.
        return "Home"

    def get(self, request: Request) -> Response:
        counts = None
        if settings.PUBLIC_READ_API or (request.user and request.user.is_authenticated):
            counts = node_state_counts()
        data = {
            "service": "Scale node registry",
            "api": "v6 Node Services",
            "description": "The node registry of the Scale cluster scheduler: list, inspect, pause and resume, "
            "deactivate and reactivate the cluster's nodes, and follow their changes.",
            "nodes": None if counts is None else {"total": sum(counts.values()), **counts},
            "links": {
                key: {"href": request.build_absolute_uri(path), "title": title} for key, path, title in SERVICE_LINKS
            },
        }
        return Response(data, template_name=self.template_name)
