"""``make bench-abuse``'s harness: its figures and verdicts, its client processes, and a smoke run end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench.abuse import (
    SECTION,
    ProbeResult,
    healthz_summary,
    log_findings,
    longest_gap,
    merge_tallies,
    statuses_of_metrics,
    verdicts,
)
from bench.served import REPO

PORT = int(os.environ.get("ABUSE_BENCH_PORT", "8863"))


def _probe(sent: float, seconds: float | None, status: int = 200) -> ProbeResult:
    return ProbeResult(sent=sent, seconds=seconds, status=status if seconds is not None else 0)


def test_longest_gap_spans_probes_answered_late_or_not_at_all() -> None:
    probes = [_probe(0.0, 0.01), _probe(1.0, 0.01), _probe(1.5, 2.5), _probe(2.0, None), _probe(4.0, 0.02)]
    assert longest_gap(probes, [(0.0, 5.0)]) == 3.0


def test_longest_gap_runs_to_the_end_of_the_window_when_nothing_answers_again() -> None:
    assert longest_gap([_probe(0.0, 0.01), _probe(1.0, None)], [(0.0, 10.0)]) == 10.0


def test_healthz_summary_counts_an_unanswered_probe_as_the_timeout() -> None:
    summary = healthz_summary([_probe(n * 0.05, 0.002) for n in range(98)] + [_probe(5.0, None), _probe(5.1, 1.5)])
    assert summary["probes"] == 100
    assert summary["unanswered"] == 1
    assert summary["over_1s"] == 2
    assert summary["p50_ms"] == 2.0
    assert summary["max_ms"] == 30_000.0


def test_log_findings_count_worker_timeouts_and_tracebacks_by_their_last_line() -> None:
    log = (
        "[CRITICAL] WORKER TIMEOUT (pid:1)\n"
        'Traceback (most recent call last):\n  File "x.py", line 1\nOSError: [Errno 24] Too many open files\n'
        'Traceback (most recent call last):\n  File "y.py", line 2\nOSError: [Errno 24] Too many open files\n'
    )
    found = log_findings(log)
    assert found["worker_timeouts"] == 1
    assert found["tracebacks"] == 2
    assert found["too_many_open_files"] == 2
    assert found["traceback_endings"] == {"OSError: [Errno 24] Too many open files": 2}


def test_statuses_of_metrics_add_up_every_route_of_a_status() -> None:
    page = (
        'scale_nodes_http_requests_total{method="GET",route="health",status="200"} 10.0\n'
        'scale_nodes_http_requests_total{method="GET",route="node-list",status="200"} 5.0\n'
        'scale_nodes_http_requests_total{method="GET",route="node-list",status="500"} 1.0\n'
        'scale_nodes_http_requests_created{method="GET",route="health",status="200"} 1.7e9\n'
    )
    assert statuses_of_metrics(page) == {"200": 15.0, "500": 1.0}


def test_merge_tallies_adds_counts_of_processes_and_of_merged_tallies() -> None:
    one = {"opened": 3, "statuses": {"200": 2, "429": 1}, "connect_errors": {}, "answer_times": [1.0]}
    two = {"opened": 2, "statuses": {"429": 2}, "connect_errors": {"ECONNREFUSED": 1}, "answer_times": [2.0]}
    merged = merge_tallies([merge_tallies([one]), two])
    assert merged["processes"] == 2
    assert merged["opened"] == 5
    assert merged["statuses"] == {"200": 2, "429": 3}
    assert merged["connect_errors"] == {"ECONNREFUSED": 1}
    assert merged["answer_times"] == [1.0, 2.0]


def _figures(**changes: object) -> dict:
    figures = {
        "healthz": {"probes": 400, "p50_ms": 3.0, "p99_ms": 40.0, "max_ms": 80.0, "over_1s": 0},
        "longest_gap_s": 0.1,
        "list_ratio": 0.9,
        "rss_mb_peak": 180.0,
        "client_statuses": {"200": 1000},
        "server_statuses": {"200": 1000},
        "log": {"worker_timeouts": 0, "tracebacks": 0},
        "per_round": [{"master_exit_s": 1.2, "rss_mb_half_streams": 200.0}],
    }
    return figures | changes


SCALE = {"streams": 10_000}


@pytest.mark.parametrize("scenario", ["idle", "streams", "recycle", "sigterm"])
def test_verdicts_pass_a_scenario_the_instance_took_in_its_stride(scenario: str) -> None:
    rows = verdicts(scenario, _figures(), SCALE)
    assert all(row.met in (True, None) for row in rows), rows


def test_verdicts_fail_a_late_probe_a_slow_list_a_500_and_a_worker_timeout() -> None:
    figures = _figures(
        healthz={"probes": 400, "p50_ms": 3.0, "p99_ms": 900.0, "max_ms": 1500.0, "over_1s": 1},
        list_ratio=0.3,
        client_statuses={"200": 10, "500": 1},
        log={"worker_timeouts": 2, "tracebacks": 3},
        rss_mb_peak=900.0,
    )
    failed = {row.target for row in verdicts("idle", figures, SCALE) if row.met is False}
    assert failed == {
        "/healthz answered within 1 s, every probe",
        "/healthz p99 <= 100 ms",
        "list >= 0.5x undisturbed",
        "RSS <= 300 MB",
        "no 500",
        "no WORKER TIMEOUT",
    }


def test_verdicts_of_sigterm_fail_a_master_that_waits_out_the_graceful_timeout() -> None:
    rows = verdicts("sigterm", _figures(per_round=[{"master_exit_s": 30.2}]), SCALE)
    assert [row.mark for row in rows if row.target.startswith("master exits")] == ["FAIL"]
    assert [row.mark for row in rows if row.target.startswith("/healthz")] == ["n/a", "n/a"]


class _Refusing:
    """A server on 127.0.0.1 that answers every request with 429 and Retry-After, then closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        body = b'{"detail": "too many streams"}'
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(4096)
                    conn.sendall(
                        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                    )
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_a_client_process_counts_refused_streams_by_status() -> None:
    server = _Refusing()
    try:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, the repository's own module)
            [sys.executable, "-m", "bench.abuse_load", "streams", "--port", str(server.port), "--count", "5",
             "--sources", "127.0.0.1", "--setup-seconds", "10", "--max-seconds", "20"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            ready = json.loads(process.stdout.readline())["ready"]
            process.send_signal(signal.SIGTERM)
            done = json.loads(process.communicate(timeout=20)[0].strip().splitlines()[-1])["done"]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    finally:
        server.close()
    assert ready["statuses"] == {"429": 5}, ready
    assert done["statuses"] == {"429": 5}, done
    assert done["closed_by_server"] == 5, done


def test_smoke_run_measures_every_target_and_writes_its_section_beside_the_others(tmp_path: Path) -> None:
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\n## Another benchmark\n\nIts text.\n")
    command = [sys.executable, "-m", "bench.abuse", "--smoke", "--sqlite", "--only", "idle", "longpolls"]
    command += ["--port", str(PORT), "--out-dir", str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr[-3000:]
    marks = re.findall(r"^(PASS|FAIL|n/a) +(idle|longpolls) ", result.stdout, re.M)
    assert len([m for m in marks if m[1] == "idle"]) == 6, result.stdout[:3000]
    assert len([m for m in marks if m[1] == "longpolls"]) == 6, result.stdout[:3000]

    saved = json.loads((tmp_path / "bench" / "abuse.json").read_text())
    for name in ("idle", "longpolls"):
        figures = saved["scenarios"][name]
        assert figures["healthz"]["probes"] > 20, figures["healthz"]
        assert figures["healthz_undisturbed"]["probes"] > 20, figures["healthz_undisturbed"]
        assert min(figures["list_rps_undisturbed"]) > 0, figures
        assert figures["rss_mb_peak"] > 0, figures
    assert saved["scenarios"]["idle"]["per_round"][0]["opened"]["opened"] > 0
    assert saved["scenarios"]["longpolls"]["per_round"][0]["answered"] > 0
    assert (tmp_path / "bench" / "abuse.png").stat().st_size > 0

    (tmp_path / "BENCHMARKS.md").write_text((tmp_path / "BENCHMARKS.md").read_text() + "\n## Yet another\n\nMore.\n")
    rendered = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.abuse", "--render", "--out-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    page = (tmp_path / "BENCHMARKS.md").read_text()
    assert page.count(SECTION) == 1, page
    assert "## Another benchmark\n\nIts text." in page
    assert "## Yet another\n\nMore." in page
    assert "| idle |" in page


def test_a_terminated_run_stops_its_instance_and_clients_and_writes_nothing(tmp_path: Path) -> None:
    import time

    command = [sys.executable, "-m", "bench.abuse", "--smoke", "--sqlite", "--only", "idle"]
    command += ["--port", str(PORT + 1), "--out-dir", str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    try:
        # The scenario starts once the instance serves.
        for line in run.stderr:
            if line.startswith("  idle:"):
                break
        time.sleep(3)
        run.send_signal(signal.SIGTERM)
        _, errors = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 128 + signal.SIGTERM, errors[-3000:]
    assert "stopped by SIGTERM" in errors
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", PORT + 1), timeout=2):
        pass
    assert not (tmp_path / "bench" / "abuse.json").exists()
