"""The operator console in a real browser: an operator edits a template, is refused with the
reason, saves a valid text, and the bot's next reply uses it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from bot.accounts import create_user
from bot.clock import SystemClock
from bot.store.database import Store
from bot.store.migrate import upgrade
from tests.browser import headless_chromium, require_chromium
from tests.consoles import OPERATOR, PASSWORD
from tests.serve import ServeProcess

pytestmark = pytest.mark.browser


async def test_operator_edits_a_template_and_the_bot_uses_it(tmp_path) -> None:
    """A refused edit shows its reason (live and on save); the saved one is the next reply."""
    require_chromium()  # skip before starting a server when there is no browser
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    store = Store(url)
    store.write_sync(lambda s: create_user(s, OPERATOR, "operator", PASSWORD, SystemClock().now()))
    store.close()
    server = ServeProcess({"DATABASE_URL": url, "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""},
                          tmp_path / "serve.log")
    await server.start()
    try:
        async with headless_chromium() as browser:
            page = await browser.new_page()
            await page.goto(server.url + "/admin")
            await page.get_by_label("Email").fill(OPERATOR)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Message templates")).to_be_visible()

            await page.get_by_label("Edit faq.greeting in en on sms").click()
            editor = page.get_by_label("Text in en for sms")
            await expect(editor).to_have_value(
                "Hi! I'm the {{ brand }} assistant. Ask a question or pick a topic.")
            await editor.fill("Hi from {{ brand }}! Reply STOP to quit.")
            await expect(page.locator("#problems")).to_contain_text(
                "“Reply STOP” asks the customer to send a word that opts them out")
            await expect(page.locator("#preview")).to_have_text(
                "Hi from Support! Reply STOP to quit.")
            await page.get_by_role("button", name="Save as version 1").click()
            await expect(page.get_by_role("alert")).to_contain_text("Not saved")
            await expect(page.locator("#problems")).to_contain_text("forbidden")

            await page.get_by_label("Text in en for sms").fill(
                "Hello from the {{ brand }} team! Ask away, or pick a topic.")
            await expect(page.locator("#cost")).to_contain_text("GSM-7, 1 part")
            await page.get_by_role("button", name="Save as version 1").click()
            await expect(page.get_by_role("status")).to_have_text("Saved version 1.")
            await expect(page.locator("table")).to_contain_text(OPERATOR)

            chat = await browser.new_page()
            await chat.goto(server.url + "/")
            await chat.get_by_label("Message").fill("hi")
            await chat.get_by_role("button", name="Send").click()
            await expect(chat.locator(".bot").last).to_contain_text(
                "Hello from the Support team! Ask away, or pick a topic.")
    finally:
        server.stop()
