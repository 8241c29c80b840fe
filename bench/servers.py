"""The benchmarks' gunicorn launcher for WSGI servers: sync workers on loopback, stopped by process id."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _command(app: str, *, port: int, workers: int = 1, cwd: Path = ROOT) -> list[str]:
    return [
        str(Path(sys.executable).parent / "gunicorn"),
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
    process = subprocess.Popen(_command(app, port=port, workers=workers, cwd=cwd), env=env, cwd=cwd)
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
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
