"""gunicorn settings for the node registry (``make serve`` runs ``gunicorn -c scale_nodes/gunicorn.conf.py``).

Every value can be overridden from the environment (see README.md, "Production"). An instance is
stateless: run as many as needed behind a load balancer, all on the same database.

Graceful restarts: ``kill -HUP <master pid>`` starts fresh workers with the new code and lets the
old ones finish their requests (up to ``graceful_timeout``); ``kill -TERM`` does the same before
exiting. A worker that dies or hangs longer than ``timeout`` is replaced by the master.
"""

import contextlib
import glob
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

# The repository, for scale_nodes.env (the gunicorn script's own directory is what sys.path starts with).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale_nodes.env import env_bool, max_body_bytes
from serving.workers import ServingLimits


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
# A second address for the load balancer's health probes only (serving.workers.ServingLimits.probe_bind).
probe_bind = os.environ.get("GUNICORN_PROBE_BIND", "").strip()
if probe_bind:
    bind.append(probe_bind)

# gunicorn's ASGI worker (GUNICORN_WORKER=asgi, the default): each process runs an event loop that
# holds any number of idle or slow connections (event streams, waiting long-polls, clients sending
# their headers slowly) and one thread for the sync part of each request (scale_nodes.asgi), so a
# process serves requests one at a time like a sync worker while its connections wait for free.
# Sync workers (GUNICORN_WORKER=sync, the former stack) hold a process per connection: a waiting
# or slow client takes a whole worker, and event streams would need one each.
server_kind = os.environ.get("GUNICORN_WORKER", "asgi").strip().lower()
if server_kind not in {"asgi", "sync"}:
    raise ValueError(f"GUNICORN_WORKER must be asgi or sync, got {server_kind!r}.")
threads = _int("GUNICORN_THREADS", 1)
if server_kind == "asgi":
    wsgi_app = "scale_nodes.asgi:application"
    # gunicorn's ASGI worker, answering the requests gunicorn refuses itself in JSON (serving.workers).
    worker_class = "serving.workers.AsgiWorker"
    # One process per core: its event loop never blocks on a request (the sync part runs on the
    # process's thread), so each keeps its core busy, and its idle connections cost memory only.
    workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count())
    # Open connections per process (streams included). Enforced: at the cap the connection idle the
    # longest is closed to make room, or, with none idle, the new one is answered 503. The process
    # raises its open-file limit as far as the cap needs (up to the hard limit), and the cap is at
    # most that limit less GUNICORN_FD_RESERVE, the files kept for the database, logs and listener.
    worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 10_000)
    asgi_lifespan = "off"
    # The pure-Python parser, whatever else is installed: the worker reads the chunk sizes it parses
    # to refuse an impossible or too large one before its data (serving.workers.LimitedProtocol).
    http_parser = "python"
else:
    wsgi_app = "scale_nodes.wsgi:application"
    # Sync workers: one request at a time per process; 2 per core plus one keeps the cores busy while
    # others wait on the database.
    workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
    worker_class = "serving.workers.ThreadWorker" if threads > 1 else "serving.workers.SyncWorker"

# What gunicorn refuses before the service sees a request (answered in JSON by the workers above):
# a request line (method, path and query) over 4094 bytes is a 414; more than 100 header fields, or
# one over 8190 bytes, a 431. gunicorn's defaults, written down so the README can state them.
limit_request_line = 4094

# Connections the kernel holds for the processes to accept (gunicorn's default is 2048; the kernel
# caps it at net.core.somaxconn). A burst of new connections beyond it is dropped, and each dropped
# client, a load balancer's probe among them, tries again only a second later.
backlog = _int("GUNICORN_BACKLOG", 4096)
limit_request_fields = 100
limit_request_field_size = 8190

# A request must finish within `timeout` seconds or its worker is killed and replaced; stopping
# or reloading waits `graceful_timeout` for requests in flight.
# A drain (SIGTERM, recycling) closes what is left one second before `graceful_timeout` (before the
# master's own deadline), and so below `timeout`, which must not be shorter.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
if graceful_timeout > timeout:
    raise ValueError(f"GUNICORN_GRACEFUL_TIMEOUT ({graceful_timeout}) must not exceed GUNICORN_TIMEOUT ({timeout}).")
# A connection with no request in progress is closed after this many seconds (a fresh one too).
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle each worker after this many requests, bounding the harm of any slow leak; 0 turns it off.
# Each worker draws its own limit between max_requests and twice that, so that the processes of an
# instance, which share the load evenly, reach theirs apart: two limits fall within the requests a
# process serves during one recycle (drain and boot, D seconds at r requests a second) with a chance
# of about 2*r*D/jitter, 6% at r=100, D=3 and 10,000, where gunicorn's habit of a tenth gives about
# one half. The ASGI workers also take turns (AsgiWorker.may_recycle): one that reaches its limit
# while another starts or drains serves on until that one is back, so never two are missing at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests)

# What the ASGI worker allows a client (serving.workers.ServingLimits, where each is explained).
# The body limit is Django's DATA_UPLOAD_MAX_MEMORY_SIZE, read from the same variable.
SERVING_LIMITS = ServingLimits(
    header_timeout=_float("GUNICORN_HEADER_TIMEOUT", 10.0),
    fd_reserve=_int("GUNICORN_FD_RESERVE", 128),
    max_body_bytes=max_body_bytes(),
    body_grace=_float("GUNICORN_BODY_GRACE", 10.0),
    body_min_rate=_int("GUNICORN_BODY_MIN_RATE", 131_072),
    max_unsent_bytes=_int("GUNICORN_MAX_UNSENT_BYTES", 1_048_576),
    send_timeout=_float("GUNICORN_SEND_TIMEOUT", 30.0),
    socket_send_buffer=_int("GUNICORN_SOCKET_SEND_BUFFER", 0),
    write_buffer_high=_int("GUNICORN_WRITE_BUFFER", 8_192),
    stream_send_buffer=_int("GUNICORN_STREAM_SEND_BUFFER", 32_768),
    retry_after=_int("GUNICORN_RETRY_AFTER", 1),
    linger=_float("GUNICORN_LINGER", 2.0),
    free_memory_kept=_int("GUNICORN_FREE_MEMORY_KEPT", 64 * 1024 * 1024),
    full_collection_seconds=_float("GUNICORN_FULL_COLLECTION_SECONDS", 600.0),
    probe_bind=probe_bind,
    switch_interval=_float("GUNICORN_SWITCH_INTERVAL", 0.0005),
    accept_rate=_float("GUNICORN_ACCEPT_RATE", 500.0),
)

# Heartbeat files in memory rather than on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 (gunicorn's documented choice)

# The service itself writes one line per request, with its request id (serving.middleware); the access
# log below is for operators who also want gunicorn's, and names the same id.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Proxies whose X-Forwarded-* headers are trusted (the load balancer's addresses).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn would mark a request HTTPS on an X-Forwarded-Proto: https (or -Protocol, -Ssl) from those
# addresses, and Django would then skip its HTTPS redirect, even with SECURE_PROXY_SSL_HEADER off.
# Both trust the header or neither does: the setting of the Django settings decides for both.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"} if env_bool("SECURE_PROXY_SSL_HEADER", False) else {}

# gunicorn's runtime control socket lives at one shared path by default, which would collide when
# several instances run on one host; it is opt-in here.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or None
control_socket_disable = control_socket is None

proc_name = os.environ.get("GUNICORN_PROC_NAME", "scale-nodes")


# Prometheus metrics across workers (observability.metrics): each worker writes its figures to files in
# PROMETHEUS_MULTIPROC_DIR, and a scrape answered by any worker adds them up. The directory must be
# this instance's alone and start empty: the master empties it (or makes a temporary one, removed
# on exit) before the first worker starts, and drops the gauges of each worker that exits.
_metrics_dir_made = None
# The file the ASGI workers lock so that they recycle one at a time (AsgiWorker.may_recycle).
_recycle_lock = None


def on_starting(server) -> None:
    global _metrics_dir_made, _recycle_lock
    if server_kind == "asgi" and os.environ.get("PYTHONMALLOC") != "malloc":
        # Read by the interpreter as it starts: too late to set here (make serve sets it).
        server.log.warning(
            "PYTHONMALLOC is not malloc: a worker keeps much of the memory of the connections it closed "
            "(README, Serving limits); start gunicorn with PYTHONMALLOC=malloc, as make serve does"
        )
    descriptor, _recycle_lock = tempfile.mkstemp(prefix="scale-nodes-recycle-", suffix=".lock")
    os.close(descriptor)
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = _metrics_dir_made = tempfile.mkdtemp(prefix="scale-nodes-metrics-")
    # Set before any worker starts (and imports prometheus_client), so every worker inherits it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def post_fork(server, worker) -> None:
    worker.limits = SERVING_LIMITS
    worker.recycle_lock_path = _recycle_lock


def post_worker_init(worker) -> None:
    from node import reaper
    from serving.workers import freeze_loaded_app

    freeze_loaded_app()
    # Each worker records the nodes that went offline or came back (node.reaper); the database decides who does.
    reaper.start()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _recycle_lock:
        with contextlib.suppress(OSError):
            os.remove(_recycle_lock)
    if _metrics_dir_made:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
