"""The browser both site tests drive: Debian's Chromium through Playwright, one per session."""

from __future__ import annotations

import os
import shutil

import pytest


def _chromium() -> str | None:
    return os.environ.get("FREQLENS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Chromium, headless; skipped without it outside CI, a failure in CI (`make browser` installs it)."""
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI: `make browser` installs Debian's chromium")
        pytest.skip("no Chromium found (install Debian's chromium, or set FREQLENS_CHROMIUM)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield browser
        browser.close()
