"""The one gunicorn launcher of the benchmarks and the tests: servers on loopback, stopped by process id.

``start_gunicorn`` starts a gunicorn master (the served stack with ``SERVED_STACK``, make serve's
config, or any WSGI app with its arguments) and ``stop_gunicorn`` stops it, then any worker it left;
``sync_server`` serves a WSGI app with sync workers for the time of a ``with`` block. This module
imports no Django, so a benchmark's own process can use it before any settings exist.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
if not GUNICORN.exists():
    # Running from another virtual environment: gunicorn sits beside its Python.
    GUNICORN = Path(sys.executable).with_name("gunicorn")
# The arguments of the served stack: make serve's gunicorn config, which reads the rest from the environment.
SERVED_STACK = ("-c", str(ROOT / "scale_nodes" / "gunicorn.conf.py"))
# The environment make serve starts it with (the Makefile's SERVE_ENV), under what the caller sets.
SERVED_ENV = {"PYTHONMALLOC": "malloc"}


def child_pids(pid: int) -> set[int]:
    """The ids of the live child processes of ``pid`` (gunicorn's workers, for a master)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children.add(int(entry.name))
    return children


def start_gunicorn(
    arguments: tuple[str, ...] | list[str], *, env: dict[str, str], cwd: Path = ROOT, log: Path | None = None
) -> subprocess.Popen:
    """Start a gunicorn master with ``arguments`` in a session of its own; its output goes to ``log`` if given.

    The served stack (``SERVED_STACK``) starts in make serve's environment (``SERVED_ENV``) as well.
    """
    if tuple(arguments[:2]) == SERVED_STACK:
        env = {**SERVED_ENV, **env}
    if log is None:
        return subprocess.Popen([str(GUNICORN), *arguments], cwd=cwd, env=env, start_new_session=True)
    with log.open("ab") as output:
        return subprocess.Popen(
            [str(GUNICORN), *arguments],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_gunicorn(process: subprocess.Popen, *, timeout: float = 20.0) -> None:
    """Stop the master gracefully (SIGTERM) within ``timeout``, else kill it; then kill any worker it left."""
    if process.poll() is not None:
        return
    workers = child_pids(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _sync_arguments(app: str, *, port: int, workers: int, cwd: Path) -> list[str]:
    return [
        app,
        f"--workers={workers}",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--timeout=300",
        "--log-level=warning",
        "--chdir",
        str(cwd),
    ]


@contextmanager
def sync_server(app: str, *, port: int, env: dict[str, str], workers: int = 1, cwd: Path = ROOT) -> Iterator[str]:
    """Serve the WSGI ``app`` with gunicorn's sync workers on 127.0.0.1:``port``; yield its base URL, then stop it."""
    process = start_gunicorn(_sync_arguments(app, port=port, workers=workers, cwd=cwd), env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start on port {port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_gunicorn(process)
