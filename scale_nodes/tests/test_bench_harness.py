"""The benchmark harness runs outside Django: its modules import without settings (``make bench`` once failed so)."""

import os
import re
import subprocess
import sys

from bench.served import REPO

HARNESS = (
    "bench.run",
    "bench.concurrent",
    "bench.cases",
    "bench.report",
    "bench.load",
    "bench.servers",
    "bench.topology",
    "bench.watch",
    "bench.abuse",
    "bench.abuse_load",
    "bench.heartbeats",
)


def test_every_module_of_the_harness_imports_without_django_set_up() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(  # noqa: S603 (this interpreter, the repository's own modules)
        [sys.executable, "-c", "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]", *HARNESS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_one_module_of_the_benchmarks_and_tests_starts_gunicorn() -> None:
    """``bench.servers`` is the one launcher: no other module of the project finds gunicorn's program to run it."""
    finds_gunicorn = re.compile(r'(/|with_name\()\s*"gunicorn"')
    starting = sorted(
        str(path.relative_to(REPO))
        for path in REPO.rglob("*.py")
        if ".venv" not in path.parts and finds_gunicorn.search(path.read_text())
    )
    assert starting == ["bench/servers.py"]
