"""Launching Debian's Chromium through Playwright for the browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("BOT_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
# Flags for a headless run on a machine without a display or outside network.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def require_chromium() -> str:
    """The Chromium binary, or a skip (a failure where CI requires browsers)."""
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@asynccontextmanager
async def headless_chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright; closed on the way out."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
