"""Prometheus metrics: requests by route, method and status, requests in flight, database failures, and ``/metrics``.

Under gunicorn every worker is a process of its own: the metrics live in prometheus_client's
multiprocess files in ``PROMETHEUS_MULTIPROC_DIR``, which ``scale_nodes/gunicorn.conf.py`` prepares
when the master starts (one empty directory per instance) and from which it drops each dead worker's
gauges, so a scrape answered by any worker shows the whole instance. Without that directory (the
development server, the test suite) the metrics are those of the one process.

Routes are labelled by the name of the URL pattern that answered (``node-detail``), never by the
path (``/v6/nodes/17/``), so the number of series stays bounded whatever clients request; requests
no pattern answered (static files, unknown URLs outside the API) share the route ``unmatched``.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from waiting.asyncviews import when_answered

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
UNMATCHED_ROUTE = "unmatched"

HTTP_REQUESTS = Counter(
    "scale_nodes_http_requests",
    "HTTP requests answered, by route (the URL pattern's name), method and status code.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "scale_nodes_http_request_duration_seconds",
    "Time from a request reaching the service to its response, by route, method and status code.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_REQUESTS_IN_FLIGHT = Gauge(
    "scale_nodes_http_requests_in_flight",
    "Requests being served right now (summed over the live workers).",
    multiprocess_mode="livesum",
)
EVENT_STREAMS_OPEN = Gauge(
    "scale_nodes_event_streams_open",
    "Server-Sent Events streams open right now (summed over the live workers).",
    multiprocess_mode="livesum",
)
LONG_POLLS_WAITING = Gauge(
    "scale_nodes_long_polls_waiting",
    "Requests waiting for a change right now (changes?wait=), summed over the live workers.",
    multiprocess_mode="livesum",
)
DATABASE_ERRORS = Counter(
    "scale_nodes_database_errors",
    "Database failures met while serving: 'unavailable' (unreachable or connection lost: answered 503), "
    "'timeout' (a query cancelled at the statement timeout of API requests: answered 503) "
    "or 'error' (any other database error: answered 500).",
    ["kind"],
)
for _kind in ("unavailable", "timeout", "error"):
    DATABASE_ERRORS.labels(kind=_kind)


WATCH_REFUSALS = Counter(
    "scale_nodes_watch_refusals",
    "Event streams and waiting long-polls refused before they started, by 'watch' ('event streams' or "
    "'waiting long-polls') and 'limit': 'client' (429: the client holds its share, WATCH_MAX_PER_CLIENT) or "
    "'process' (503: the process holds its maximum).",
    ["watch", "limit"],
)
for _watch in ("event streams", "waiting long-polls"):
    for _limit in ("client", "process"):
        WATCH_REFUSALS.labels(watch=_watch, limit=_limit)


SERVER_REFUSALS = Counter(
    "scale_nodes_server_refusals",
    "Connections and requests the server itself refused or cut off, before or outside the application, by "
    "reason: 'connection_limit' (503 at the process's connection cap), 'idle_closed_at_limit' (an idle "
    "connection closed for a new one at the cap), 'accept_failed' (out of file descriptors), 'header_timeout' "
    "and 'body_timeout' (408), 'body_too_large' (413), 'bad_length' (400: an impossible Content-Length or chunk "
    "size), 'unsupported_transfer_coding' (501), 'slow_reader' (a client that does not read what it is sent), "
    "and gunicorn's own refusals: 'malformed_request' (400), 'request_line_too_long' (414), "
    "'header_fields_too_large' (431); 'not_a_probe' (404: another path asked of the probe listener), "
    "'loop_stalled' (503 to a probe: the process's event loop has not turned for 5 s).",
    ["reason"],
)
SERVER_REFUSAL_REASONS = (
    "connection_limit",
    "idle_closed_at_limit",
    "accept_failed",
    "header_timeout",
    "body_timeout",
    "body_too_large",
    "bad_length",
    "unsupported_transfer_coding",
    "slow_reader",
    "malformed_request",
    "request_line_too_long",
    "header_fields_too_large",
    "not_a_probe",
    "loop_stalled",
)
for _reason in SERVER_REFUSAL_REASONS:
    SERVER_REFUSALS.labels(reason=_reason)


def count_server_refusal(reason: str) -> None:
    """Count one connection or request the server refused or cut off, for ``reason`` (``SERVER_REFUSAL_REASONS``)."""
    SERVER_REFUSALS.labels(reason=reason).inc()


def count_database_error(*, unavailable: bool) -> None:
    """Count one database failure: ``unavailable`` when it made the service answer 503."""
    DATABASE_ERRORS.labels(kind="unavailable" if unavailable else "error").inc()


def route_of(request: HttpRequest) -> str:
    """The bounded route label of ``request``: its URL pattern's name (or view), else ``unmatched``."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    return match.view_name or match.route or UNMATCHED_ROUTE


def request_labels(request: HttpRequest) -> tuple[str, str]:
    """The route and method labels of ``request``."""
    return route_of(request), _method_of(request)


@functools.cache
def request_series(route: str, method: str, status: str) -> tuple[Counter, Histogram]:
    """The request counter's and duration histogram's series of ``route``, ``method`` and ``status``.

    Looked up once per combination, which the labels bound (``route_of``, ``_method_of``, status codes).
    """
    labels = {"route": route, "method": method, "status": status}
    return HTTP_REQUESTS.labels(**labels), HTTP_REQUEST_DURATION.labels(**labels)


def _method_of(request: HttpRequest) -> str:
    method = (request.method or "").upper()
    return method if method in _METHODS else "other"


class _ProcessRegistry(Collector):
    """The metrics of this process alone (prometheus_client's default registry), for single-process serving."""

    def collect(self) -> Iterable:
        return REGISTRY.collect()


def _addresses(entries: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


class MetricsMiddleware:
    """Measure every request, and answer ``GET /metrics`` in the Prometheus text format.

    Outermost in ``MIDDLEWARE``, so the figures cover the whole stack, errors and static files
    included. ``/metrics`` is answered here, before the host check and the HTTPS redirect (a
    Prometheus server scrapes each instance by its address, over plain HTTP), and only to a scraper
    that sends ``Authorization: Bearer <METRICS_TOKEN>`` or connects from ``METRICS_ALLOWED_ADDRESSES``;
    anyone else gets 401 (with a token configured) or 403. ``collectors`` add metrics computed at
    scrape time (``settings.METRICS_COLLECTORS``, dotted paths of collector classes).
    """

    # Async-capable, as every middleware of the service must be (see serving.middleware.RequestLogMiddleware).
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.utils.module_loading import import_string

        self.get_response = get_response
        self.collectors: list[Collector] = [import_string(path)() for path in settings.METRICS_COLLECTORS]
        self.allowed_networks = _addresses(settings.METRICS_ALLOWED_ADDRESSES)
        self.token = settings.METRICS_TOKEN
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        if request.path == METRICS_PATH:
            return self._scrape(request)
        started = self._begin()
        status = "500"
        try:
            response = self.get_response(request)
            status = str(response.status_code)
            if when_answered(response, functools.partial(self._answered, request_labels(request), started)):
                # Counted once the handler answers it, after its wait (waiting.asyncviews).
                status = ""
            return response
        finally:
            if status:
                self._end(request, started, status)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if request.path == METRICS_PATH:
            # The collectors read the database, which only sync code may do.
            return await sync_to_async(self._scrape)(request)
        started = self._begin()
        status = "500"
        try:
            response = await self.get_response(request)
            status = str(response.status_code)
            return response
        finally:
            self._end(request, started, status)

    def _scrape(self, request: HttpRequest) -> HttpResponse:
        response = self.metrics(request)
        HTTP_REQUESTS.labels(route="metrics", method=_method_of(request), status=str(response.status_code)).inc()
        return response

    @staticmethod
    def _begin() -> float:
        HTTP_REQUESTS_IN_FLIGHT.inc()
        return time.perf_counter()

    @classmethod
    def _end(cls, request: HttpRequest, started: float, status: str) -> None:
        cls._answered(request_labels(request), started, int(status))

    @staticmethod
    def _answered(labels: tuple[str, str], started: float, status: int) -> None:
        HTTP_REQUESTS_IN_FLIGHT.dec()
        counter, duration = request_series(*labels, str(status))
        counter.inc()
        duration.observe(time.perf_counter() - started)

    def allowed(self, request: HttpRequest) -> bool:
        """Whether ``request`` may read the metrics: by its bearer token, or by the address it comes from."""
        if self.token:
            scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token.encode()):
                return True
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in self.allowed_networks)

    def metrics(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse("Only GET and HEAD.\n", status=405, content_type="text/plain; charset=utf-8")
            response["Allow"] = "GET, HEAD"
            return response
        if not self.allowed(request):
            if self.token:
                response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
                response["WWW-Authenticate"] = 'Bearer realm="metrics"'
                return response
            return HttpResponse("Not allowed from this address.\n", status=403, content_type="text/plain")
        response = HttpResponse(render_metrics(self.collectors), content_type=CONTENT_TYPE_PLAIN_0_0_4)
        response["Cache-Control"] = "no-store"
        return response


def render_metrics(collectors: Sequence[Collector] = ()) -> bytes:
    """The metrics of the whole instance (every worker's, in multiprocess mode) and of ``collectors``.

    In the classic text format (0.0.4), which every Prometheus version reads.
    """
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
