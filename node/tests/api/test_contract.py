"""The published contract, checked against a live server on a seeded database with schemathesis.

Schemathesis' command line runs every operation of the schema served at ``/v6/schema/`` with the
schema's examples, its coverage cases (boundary and invalid values of each parameter, other
methods) and property-based cases, once as a staff user and once anonymously. No answer may be a
5xx, and each must conform to the schema: a documented status, content type, headers and body.
The run is bounded: a fixed number of property-based cases per operation, the same cases on
every run (deterministic generation, so CI does not flake), a timeout per request and a time
limit for the whole run.

To explore beyond the deterministic cases, set ``CONTRACT_SEED`` to any integer: the run then
draws other cases from that seed (``make test`` with a few seeds is a cheap bug hunt), and the
same seed replays them.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.tokens import create_api_token

# Property-based cases per operation; the examples and coverage phases add theirs on top.
FUZZ_CASES = 100
REQUEST_TIMEOUT_SECONDS = 10
# A hard stop for the whole run: --max-time would not do, schemathesis fuzzes until it is spent.
RUN_LIMIT_SECONDS = 150
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # Invalid input (per the schema) is refused with a 4xx, and valid input is never refused for
    # being invalid: the code is exactly as strict as the contract.
    "negative_data_rejection",
    "missing_required_header",
    # Other methods answer 405 with a correct Allow header; credentials the schema requires are enforced.
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
)

# The database is flushed after each test; resetting the sequences gives the demo nodes the ids 1-24,
# so the schema's example id and small generated ids name real nodes.
pytestmark = [pytest.mark.contract, pytest.mark.django_db(transaction=True, reset_sequences=True)]


def _generation_options() -> list[str]:
    seed = os.environ.get("CONTRACT_SEED")
    return [f"--seed={int(seed)}"] if seed else ["--generation-deterministic"]


EVENTS_PATH = "/v6/nodes/events/"


def run_schemathesis(base_url: str, workdir: Path, *options: str) -> subprocess.CompletedProcess:
    """Run ``st run`` on the schema served at ``base_url``; its reports stay in ``workdir``."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base_url}/v6/schema/?format=json",
        f"--checks={','.join(CHECKS)}",
        "--phases=examples,coverage,fuzzing",
        f"--max-examples={FUZZ_CASES}",
        *_generation_options(),
        f"--request-timeout={REQUEST_TIMEOUT_SECONDS}",
        "--workers=1",
        "--no-color",
        # An event stream never ends, so no answer of it can be checked whole; its refusals are
        # tested by the documented-status tests, its stream by node/tests/api/test_events.py.
        f"--exclude-path={EVENTS_PATH}",
        *options,
    ]
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        command, cwd=workdir, capture_output=True, text=True, timeout=RUN_LIMIT_SECONDS, check=False
    )


@pytest.fixture
def seeded_live_server(live_server: object) -> str:
    """The URL of a live server whose database holds the demo nodes of ``make run``."""
    call_command("seed_nodes", "--demo", verbosity=0)
    return live_server.url


def test_every_answer_to_an_anonymous_client_conforms_to_the_schema(seeded_live_server: str, tmp_path: Path) -> None:
    result = run_schemathesis(seeded_live_server, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_answer_to_a_staff_client_conforms_to_the_schema(seeded_live_server: str, tmp_path: Path) -> None:
    user = get_user_model().objects.create_user(
        username="contract-operator", password="unused", is_staff=True, is_superuser=True
    )
    token = create_api_token(user=user, expires_in=None)[1]
    result = run_schemathesis(seeded_live_server, tmp_path, f"--header=Authorization: Token {token}")
    assert result.returncode == 0, result.stdout + result.stderr
