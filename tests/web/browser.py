"""Headless Chromium for the dashboard's browser tests: Playwright driving Debian's /usr/bin/chromium.

Nothing is downloaded: Playwright's Python package drives the system
browser (``apt-get install chromium``). Each page's console errors and
uncaught exceptions are collected so a test can fail on them, and
screenshots go to test-artifacts/web/ (git-ignored; CI keeps them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("PERFMON_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is not None


def playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


class ConsoleWatch:
    """Every console error and uncaught page error a page produced."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self._expected: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def expect_status_error(self, url: str) -> None:
        """A page the test opens knowing it answers 4xx: the browser logs that load as an error."""
        self._expected.append(url)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "?")
        if where in self._expected and "Failed to load resource" in message.text:
            return
        self.errors.append(f"console.error at {where}: {message.text}")


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
