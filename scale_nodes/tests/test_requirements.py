"""The service's requirements are what it needs to run; tests, lint and benchmark tools are development ones.

A production install (``pip install -r requirements.txt``) gets no test runner, linter, browser
driver or plot library, and so no ``requests`` (which schemathesis brings, and which DRF imports
into every process where it is installed). ``make venv`` installs ``requirements-dev.txt``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVELOPMENT_TOOLS = {"pytest", "pytest-django", "playwright", "ruff", "import-linter", "schemathesis", "matplotlib"}


def requirement_names(path: Path) -> set[str]:
    """The distribution names a requirements file lists itself (not those of the files it includes)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>~!\[; ]", line, maxsplit=1)[0].lower())
    return names


def test_the_runtime_requirements_hold_no_development_tool() -> None:
    runtime = requirement_names(ROOT / "requirements.txt")
    assert runtime & DEVELOPMENT_TOOLS == set()
    assert {"django", "djangorestframework", "gunicorn", "psycopg2-binary"} <= runtime


def test_the_development_requirements_include_the_runtime_ones_and_the_tools() -> None:
    text = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in text.splitlines()
    assert requirement_names(ROOT / "requirements-dev.txt") >= DEVELOPMENT_TOOLS
    assert "requirements-dev.txt" in (ROOT / "Makefile").read_text()


def test_the_service_serves_without_requests(tmp_path: Path) -> None:
    # As in a production install, where requests is absent: importing it fails, and the service
    # (DRF included) must not need it to start and answer.
    script = """
import sys
sys.modules["requests"] = None
import django
from django.conf import settings
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
status = Client(HTTP_HOST="127.0.0.1").get("/v6/nodes/").status_code
print(status, "requests" in sys.modules and sys.modules["requests"] is not None)
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scale_nodes.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(  # noqa: S603 (this interpreter, a script of this test)
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["200", "False"], result.stdout
