"""Debian's Chromium driven by Playwright (``/usr/bin/chromium``, installed by ``make chromium``; no
browser is ever downloaded). Without it the browser tests are skipped, except in CI, where they must run."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def require_chromium() -> None:
    """Skip the calling test (or fixture) without Chromium; in CI, fail it instead."""
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(f"{CHROMIUM} is missing; CI must run `make chromium` first.")
        pytest.skip(f"{CHROMIUM} is not installed (`make chromium` installs it with apt).")


@contextmanager
def chromium_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A page of a fresh headless Chromium profile in ``tmp_path``."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, and Django refuses synchronous
    # database work while one is running (pytest-django's own, should it happen meanwhile).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # A persistent context is Playwright's way to give Chromium its own --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            timeout=TIMEOUT_MS * 2,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
