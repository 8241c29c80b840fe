"""Drive one server with one request for a fixed time: wrk when installed, else a small Python client.

One connection at a time, as the server has one sync worker: the figures are the cost of a request,
not of queueing.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class LoadResult:
    """Throughput in requests per second and latency percentiles in milliseconds."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected latency {text!r} in wrk's report")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk(url: str, *, method: str, body: str | None, headers: dict[str, str], seconds: float) -> LoadResult:
    script = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items())
    script += f'wrk.method = "{method}"\n'
    if body is not None:
        script += f"wrk.body = [[{body}]]\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t1", "-c1", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "60s"]
        command += ["-s", lua.name, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"Socket errors: .*?(\d+)", output) if n)
    return LoadResult(
        requests=requests,
        rps=float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)),
        p50_ms=_ms(re.search(r"50%\s+(\S+)", output).group(1)),
        p99_ms=_ms(re.search(r"99%\s+(\S+)", output).group(1)),
        errors=errors,
    )


def _python(url: str, *, method: str, body: str | None, headers: dict[str, str], seconds: float) -> LoadResult:
    host, port_path = url.split("://", 1)[1].split(":", 1)
    port, path = port_path.split("/", 1)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or not latencies:
        sent = time.perf_counter()
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request(method, "/" + path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        latencies.append((time.perf_counter() - sent) * 1000)
        errors += response.status >= 300
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult(len(latencies), len(latencies) / elapsed, statistics.median(latencies), cuts[98], errors)


def drive(url: str, *, method: str, body: str | None, headers: dict[str, str], seconds: float) -> LoadResult:
    """Send ``method url`` back to back for ``seconds`` and measure."""
    if shutil.which("wrk"):
        try:
            result = _wrk(url, method=method, body=body, headers=headers, seconds=seconds)
        except (ValueError, AttributeError):
            result = None
        # wrk's percentiles mean little over a handful of requests (a slow case on a big table).
        if result is not None and result.requests >= 5:
            return result
    return _python(url, method=method, body=body, headers=headers, seconds=seconds)


def ensure_wrk() -> str:
    """Install wrk from the distribution's packages when missing (as root); name the load generator used."""
    if not shutil.which("wrk") and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
    return "wrk" if shutil.which("wrk") else "python http.client"
