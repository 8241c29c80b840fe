"""README.md as written: its runnable shell examples, run in order against a demo server, and its metrics table.

Every block of shell commands that follows a ``<!-- readme-test: run -->`` line is run as a reader
would run it: in the repository, in one shell (so ``TOKEN=...`` stays set for the next blocks), in
the order of the README, against the service as ``make run`` serves it (the demo nodes, ``DEBUG=1``),
on 127.0.0.1:``README_EXAMPLES_PORT`` (8870) instead of 8000. Each command must exit 0, each ``curl``
must be answered 2xx or 304, and a JSON answer must be JSON. The streams (``curl -N``, ``nodes watch``)
run for a few seconds and must show an event.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.served import REPO, DemoServer, demo_server, request

PORT = int(os.environ.get("README_EXAMPLES_PORT", "8870"))
README = REPO / "README.md"
MARK = "<!-- readme-test: run -->"
README_BASE = "http://127.0.0.1:8000"
# How long a stream is followed before it is stopped (it runs until interrupted).
STREAM_SECONDS = 4
# A curl stopped by --max-time (a stream), and a command stopped by timeout(1).
CURL_TIMED_OUT, TIMEOUT_STOPPED = 28, 124

# One shell runs every command. ``curl`` is wrapped so that each call leaves its status, content type and
# body in OUT (numbered across subshells through a counter file), and prints its body as curl would.
PRELUDE = r"""
set -u
cd "$REPO"
echo 0 > "$OUT/curls"
curl() {
    local n=$(( $(cat "$OUT/curls") + 1 ))
    echo "$n" > "$OUT/curls"
    command curl --silent --show-error --max-time "$STREAM_SECONDS" --output "$OUT/body.$n" \
        --write-out '%{http_code} %{content_type}' "$@" > "$OUT/status.$n"
    local status=$?
    cat "$OUT/body.$n"
    return $status
}
"""


@dataclass
class Command:
    """One command of a marked block (continuation lines joined), with its README line."""

    line: int
    text: str

    @property
    def is_stream(self) -> bool:
        return "curl -N" in self.text or "nodes watch" in self.text


def runnable_commands(readme: str) -> list[Command]:
    """The commands of every block marked runnable, in order; comment lines and blank lines left out."""
    commands: list[Command] = []
    lines = readme.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != MARK:
            index += 1
            continue
        assert lines[index + 1].startswith("```sh"), f"README line {index + 2}: a marked block must be ```sh"
        index += 2
        pending: list[str] = []
        start = index
        while not lines[index].startswith("```"):
            line = lines[index]
            if not pending:
                start = index
            if pending or (line.strip() and not line.lstrip().startswith("#")):
                pending.append(line.rstrip())
                if not line.rstrip().endswith("\\"):
                    commands.append(Command(line=start + 1, text="\n".join(pending)))
                    pending = []
            index += 1
    return commands


def test_the_readme_has_runnable_blocks_of_curl_and_manage_py() -> None:
    commands = runnable_commands(README.read_text(encoding="utf-8"))
    assert sum("curl " in command.text for command in commands) >= 15, commands
    assert sum("manage.py" in command.text for command in commands) >= 8, commands


@dataclass
class Outcome:
    """What one command did: its exit status, output, and the curl calls it made."""

    command: Command
    status: int
    stdout: str
    stderr: str
    curls: list[tuple[int, str, bytes]]

    def __str__(self) -> str:
        curls = [(status, kind, body[:200]) for status, kind, body in self.curls]
        return (
            f"README line {self.command.line}: {self.command.text}\n-> exit {self.status}; curl: {curls}\n"
            f"stdout: {self.stdout[-600:]}\nstderr: {self.stderr[-1500:]}"
        )


def run_readme(server: DemoServer, commands: list[Command], out: Path) -> list[Outcome]:
    """Run ``commands`` in one bash, against ``server``; what each did."""
    script = [PRELUDE]
    for number, command in enumerate(commands):
        text = command.text.replace(README_BASE, server.url)
        if "nodes watch" in command.text:
            text = f"timeout {STREAM_SECONDS} env {text}"
        script.append(
            f'before=$(cat "$OUT/curls")\n{{\n{text}\n}} > "$OUT/stdout.{number}" 2> "$OUT/stderr.{number}"\n'
            f'echo "{number} $? $before $(cat "$OUT/curls")" >> "$OUT/results"\n'
        )
    env = {**server.env, "REPO": str(REPO), "OUT": str(out), "STREAM_SECONDS": str(STREAM_SECONDS)}
    subprocess.run(  # noqa: S603 (the README's own commands, against our own server)
        ["/bin/bash", "-c", "\n".join(script)], env=env, timeout=60 + 15 * len(commands), check=False
    )
    results = {}
    for line in (out / "results").read_text().splitlines():
        number, status, before, after = map(int, line.split())
        results[number] = (status, range(before + 1, after + 1))
    outcomes = []
    for number, command in enumerate(commands):
        assert number in results, f"the shell stopped before README line {command.line}: {command.text}"
        status, calls = results[number]
        curls = []
        for call in calls:
            code, _, kind = (out / f"status.{call}").read_text().partition(" ")
            curls.append((int(code or 0), kind, (out / f"body.{call}").read_bytes()))
        outcomes.append(
            Outcome(
                command,
                status,
                (out / f"stdout.{number}").read_text(errors="replace"),
                (out / f"stderr.{number}").read_text(errors="replace"),
                curls,
            )
        )
    return outcomes


def answer_body(body: bytes) -> bytes:
    """The body of a curl answer, without the head that ``curl -i`` puts first."""
    if body.startswith(b"HTTP/"):
        return body.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in body else b""
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory.mktemp("readme"), port=PORT, suffix="readme") as server:
        yield server


@pytest.fixture(scope="module")
def outcomes(server: DemoServer, tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    commands = runnable_commands(README.read_text(encoding="utf-8"))
    return run_readme(server, commands, tmp_path_factory.mktemp("readme-run"))


class TestReadmeExamples:
    def test_every_command_succeeds(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            stopped = (CURL_TIMED_OUT if "curl -N" in outcome.command.text else TIMEOUT_STOPPED, 0)
            assert outcome.status in (stopped if outcome.command.is_stream else (0,)), outcome
            assert "Traceback" not in outcome.stderr, outcome

    def test_every_request_is_answered_with_success(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            for status, _kind, _body in outcome.curls:
                assert 200 <= status < 300 or status == 304, outcome

    def test_every_json_answer_is_json(self, outcomes: list[Outcome]) -> None:
        answers = 0
        for outcome in outcomes:
            for status, kind, body in outcome.curls:
                if kind.startswith("application/json") and status != 304:
                    json.loads(answer_body(body))
                    answers += 1
        assert answers >= 12, [str(outcome) for outcome in outcomes]

    def test_the_streams_show_the_changes(self, outcomes: list[Outcome]) -> None:
        streams = [outcome for outcome in outcomes if outcome.command.is_stream]
        assert len(streams) == 2, streams
        for outcome in streams:
            shown = outcome.curls[0][2].decode() if outcome.curls else outcome.stdout
            assert "node-004.cluster.example.com" in shown, outcome

    def test_the_first_change_paused_node_4_and_its_history_says_so(self, outcomes: list[Outcome]) -> None:
        history = next(outcome for outcome in outcomes if "/v6/nodes/4/history/" in outcome.command.text)
        records = json.loads(answer_body(history.curls[0][2]))["results"]
        assert records[0]["actor"] == "admin", records
        assert records[0]["changes"]["pause_reason"] == {"old": None, "new": "Disk replacement"}, records

    def test_the_examples_find_the_demo_nodes_they_name(self, outcomes: list[Outcome]) -> None:
        def results(fragment: str) -> list[dict]:
            outcome = next(outcome for outcome in outcomes if fragment in outcome.command.text)
            return json.loads(answer_body(outcome.curls[0][2]))["results"]

        assert [node["hostname"] for node in results("hostname=NODE-017")] == ["node-017.cluster.example.com"]
        assert sorted(node["id"] for node in results("id=4&id=7")) == [4, 7, 17, 20, 23]
        # node-004 too, paused "for Disk replacement" by the quick start
        assert sorted(node["hostname"] for node in results("search=disk")) == [
            "node-004.cluster.example.com",
            "node-020.cluster.example.com",
        ]
        running = {node["hostname"] for node in results("search=node-01&")}
        assert running == {f"node-0{number}.cluster.example.com" for number in (11, 12, 13, 16, 17, 18, 19)}


def test_the_metrics_table_names_every_family_the_service_serves(server: DemoServer) -> None:
    readme = README.read_text(encoding="utf-8")
    table = readme.split("### Metrics (Prometheus)", 1)[1].split("\n\n| metric |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `(scale_nodes_\w+)`", table, flags=re.M))
    scrape = request(server.port, "GET", "/metrics", headers={"Accept": "text/plain"})
    assert scrape.status == 200, scrape
    served = set(re.findall(r"^# TYPE (scale_nodes_\w+) ", scrape.body.decode(), flags=re.M))
    assert documented == served, (sorted(documented - served), sorted(served - documented))
