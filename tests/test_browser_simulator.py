"""The sandbox simulator in a real browser: a newcomer runs `bot serve` and chats with the bot."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser import headless_chromium, require_chromium
from tests.serve import ServeProcess

pytestmark = pytest.mark.browser


async def test_newcomer_chats_through_the_simulator(tmp_path) -> None:
    """Type on SMS and get a numbered menu; switch to WhatsApp, tap a button, get the answer."""
    require_chromium()  # skip before starting a server when there is no browser
    server = ServeProcess({"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
                           "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""},
                          tmp_path / "serve.log")
    await server.start()
    try:
        async with headless_chromium() as browser:
            page = await browser.new_page()
            await page.goto(server.url + "/")
            await page.get_by_label("Message").fill("hi")
            await page.get_by_role("button", name="Send").click()
            await expect(page.locator(".bot").last).to_contain_text("1. Billing date")

            await page.get_by_label("Channel").select_option("whatsapp")
            await page.get_by_label("Message").fill("hello")
            await page.get_by_role("button", name="Send").click()
            await page.get_by_role("button", name="Billing date").click()
            await expect(page.locator(".bot").last).to_contain_text("same day each month")
    finally:
        server.stop()
    assert "SANDBOX MODE" in (tmp_path / "serve.log").read_text()
