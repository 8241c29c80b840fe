"""The browser of the end-to-end tests: a page of a fresh headless Chromium profile."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.tests.admin.browser import chromium_page


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A page of a fresh headless Chromium profile (skipped without Chromium, except in CI)."""
    with chromium_page(tmp_path, monkeypatch) as page:
        yield page
