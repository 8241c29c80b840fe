"""Rules the service states in one place only: a second copy in the code would drift from the first.

Each rule is written once (a function or a constant) and used by every layer that applies it; these
tests fail when its words or its SQL appear in a second source file, which is how a copy begins.
The schema's examples are compared with real answers in ``node/tests/api/test_schema_examples.py``.
"""

from pathlib import Path

import pytest

from node.live.limits import (
    CHANGES_MAX_PAGE_SIZE,
    CHANGES_MAX_WAIT_SECONDS,
    CHANGES_PAGE_SIZE,
    beyond_newest_message,
)
from node.models import CHANGE_INDEX_SQL
from node.services import clock
from util.request_limits import body_too_large_message

ROOT = Path(__file__).resolve().parents[2]


def _source_files() -> list[Path]:
    """The project's own Python files, without tests, migrations and the virtual environment."""
    return [
        path for path in ROOT.rglob("*.py") if not {".venv", "tests", "migrations"} & set(path.relative_to(ROOT).parts)
    ]


def _files_saying(text: str) -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in _source_files() if text in path.read_text())


@pytest.mark.parametrize(
    ("text", "home"),
    [
        ("too large: at most", "util/request_limits.py"),
        ("is beyond the newest change index", "node/live/limits.py"),
        ("is too far back: a stream replays", "node/live/limits.py"),
        ("registry_clock SET", "node/services/clock.py"),
    ],
)
def test_rule_is_written_in_one_file(text: str, home: str) -> None:
    assert _files_saying(text) == [home]


def test_the_source_scan_sees_the_service_code() -> None:
    files = {str(path.relative_to(ROOT)) for path in _source_files()}
    assert {"node/views.py", "node/selectors.py", "util/request_limits.py"} <= files
    assert not any("/tests/" in name for name in files)


def test_the_messages_read_as_documented() -> None:
    assert body_too_large_message(2048) == "Request body too large: at most 2048 bytes are accepted."
    assert beyond_newest_message(120, 12) == "120 is beyond the newest change index, 12."
    assert beyond_newest_message(12, 12) is None


def test_clock_is_named_only_by_its_model_and_its_writer() -> None:
    assert _files_saying("registry_clock") == ["node/models.py", "node/services/clock.py"]
    assert CHANGE_INDEX_SQL == "SELECT change_index FROM registry_clock WHERE id = 1"
    from node.services import storage

    assert clock.ADVANCE_SQL in storage._LOCK_SQL


def test_changes_limits_reach_the_published_schema(client) -> None:
    parameters = {
        parameter["name"]: parameter["description"]
        for parameter in client.get("/v6/schema/", HTTP_ACCEPT="application/json").json()["paths"][
            "/v6/nodes/changes/"
        ]["get"]["parameters"]
    }
    assert f"from 1 to {CHANGES_MAX_PAGE_SIZE} (default {CHANGES_PAGE_SIZE})" in parameters["page_size"]
    assert f"(0 to {CHANGES_MAX_WAIT_SECONDS}, default 0)" in parameters["wait"]
