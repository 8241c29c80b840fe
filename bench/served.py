"""Real servers for the tests and benchmarks: gunicorn instances of the service, and a TCP proxy to cut the database.

Everything binds to 127.0.0.1, and whoever starts a server stops it (by its process id, or by
closing its sockets), even when a test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url
from django.conf import settings
from django.db import connections

from bench.servers import SERVED_STACK, child_pids, start_gunicorn, stop_gunicorn

REPO = Path(settings.BASE_DIR)


@dataclass
class Reply:
    """One HTTP exchange as the client saw it; ``status`` is 0 when the connection failed."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    error: str = ""

    def json(self) -> object:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.status} {self.error or self.body[:300]!r} ({self.seconds:.2f}s)"


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: object = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> Reply:
    """Send one request on a new connection to 127.0.0.1:``port``; connection failures give status 0."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    all_headers = {"Accept": "application/json", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, data, time.monotonic() - started
        )
    except (OSError, http.client.HTTPException) as exc:
        return Reply(0, {}, b"", time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def manage(env: dict[str, str], *args: str) -> str:
    """Run the repository's ``manage.py`` with ``args`` in a fresh process with ``env``; its standard output.

    Fails the test, showing the command's standard error, when the command fails.
    """
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextlib.contextmanager
def fresh_database_url(directory: Path, *, name: str) -> Iterator[str]:
    """The URL of a new, empty database of the configured kind, removed afterwards.

    A SQLite file ``name``.sqlite3 in ``directory``; on PostgreSQL (``DATABASE_URL``) the database
    ``<test database>_<name>`` next to the test database, made anew and dropped at the end.
    """
    # The vendor, not the engine: the service's PostgreSQL engine is a backend of its own (serving.postgresql).
    if connections["default"].vendor != "postgresql":
        yield f"sqlite:///{directory / f'{name}.sqlite3'}"
        return
    import psycopg2

    database = f"{settings.DATABASES['default']['NAME']}_{name}"
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    admin = {"dbname": "postgres", "user": config["USER"], "host": config["HOST"], "port": config["PORT"] or 5432}
    if config["PASSWORD"]:
        admin["password"] = config["PASSWORD"]

    def run(statement: str) -> None:
        connection = psycopg2.connect(**admin)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
        connection.close()

    run(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    run(f'CREATE DATABASE "{database}"')
    try:
        password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
        yield f"postgres://{config['USER']}{password}@{config['HOST']}:{config['PORT'] or 5432}/{database}"
    finally:
        run(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class GunicornInstance:
    """One instance of the service: a gunicorn master with its workers, started with ``make serve``'s config."""

    port: int
    database_url: str
    log_path: Path
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 30.0) -> GunicornInstance:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "scale_nodes.settings",
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": "soak-test-key-" + "x" * 50,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_ROOT": str(self.log_path.parent / "static"),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_MAX_REQUESTS": "0",
            "GUNICORN_TIMEOUT": "30",
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
            "DB_CONNECT_TIMEOUT": "2",
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.process = start_gunicorn(SERVED_STACK, env=env, log=self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn on port {self.port} exited: {self.log_path.read_text()[-2000:]}")
            if (
                request(self.port, "GET", "/healthz", timeout=2).status == 200
                and len(self.worker_pids()) == self.workers
            ):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn on port {self.port} did not start: {self.log_path.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> set[int]:
        return child_pids(self.pid)

    def stop(self) -> None:
        """Stop the master gracefully, then kill it and any worker left, by their ids."""
        if self.process is not None:
            stop_gunicorn(self.process, timeout=15)


class TcpProxy:
    """A TCP forwarder on 127.0.0.1:``port`` to ``target``, that can cut the connection like an outage.

    ``stop()`` closes the listening socket and every open connection (the service's database
    connections die mid-flight, new ones are refused); ``hang()`` instead accepts connections and
    never answers (a database host that vanished from the network); ``start()`` forwards again on
    the same port.
    """

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._forwarding = False

    def start(self, *, forward: bool = True) -> TcpProxy:
        self.stop()
        self._forwarding = forward
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def hang(self) -> None:
        """Accept connections but never forward nor answer them."""
        self.start(forward=False)

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the port bound.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._listener is None:
                return False
            self._sockets.add(sock)
            return True

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            if not self._track(client):
                client.close()
                return
            if not self._forwarding:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            if not self._track(upstream):
                upstream.close()
                client.close()
                return
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@dataclass
class DemoServer:
    """A running demo server (``demo_server``): its base URL and port, and the environment of its commands."""

    url: str
    port: int
    env: dict[str, str]
    instance: GunicornInstance


@contextlib.contextmanager
def demo_server(directory: Path, *, port: int, suffix: str) -> Iterator[DemoServer]:
    """The service as ``make run`` serves it on 127.0.0.1:``port``, stopped afterwards by its process id.

    A fresh database (``fresh_database_url``) migrated and seeded with ``seed_nodes --demo``; gunicorn's ASGI
    worker, one process, ``DEBUG=1``. ``env`` is the environment in which a reader's ``manage.py`` commands
    reach the same database.
    """
    with fresh_database_url(directory, name=suffix) as url:
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "scale_nodes.settings"}
        for name in ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"):
            env.pop(name, None)
        manage({**env, "DEBUG": "1"}, "migrate", "--noinput", "-v", "0")
        manage({**env, "DEBUG": "1"}, "seed_nodes", "--demo", "--if-empty", "--quiet")
        instance = GunicornInstance(
            port=port,
            database_url=url,
            log_path=directory / f"demo-server-{port}.log",
            workers=1,
            extra_env={"DEBUG": "1", "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "WARNING"},
        ).start()
        try:
            yield DemoServer(url=f"http://127.0.0.1:{port}", port=port, env=env, instance=instance)
        finally:
            instance.stop()
