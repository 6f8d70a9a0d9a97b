"""The agent console in a real browser against a real ``bot serve``: an agent signs in, sees a
new escalation appear without reloading, claims it, replies, and the reply reaches Twilio."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser import headless_chromium, require_chromium
from tests.conftest import new_sid
from tests.fakes import twilio_form
from tests.serve import ServeProcess, free_port, post_webhook
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN

pytestmark = pytest.mark.browser
CUSTOMER = "+14155550100"
EMAIL = "ana@example.com"
PASSWORD = "correct horse battery"
REPLY = "Hi, this is Ana from the team. I've refunded the double charge."


async def _until(predicate, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_an_agent_takes_a_live_escalation_and_the_reply_reaches_twilio(twilio, tmp_path):
    """Sign in, watch the queue; a customer asks for a person and their row appears live;
    claim it, reply, and the double receives exactly that reply."""
    require_chromium()  # skip before starting a server when there is no browser
    double, twilio_url = twilio
    port = free_port()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": twilio_url,
           "TWILIO_SMS_FROM": "+15005550006", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
           "BOT_SECRET_KEY": "browser-test", "BOT_LOG_LEVEL": "WARNING"}
    server = ServeProcess(env, tmp_path / "serve.log", port=port)
    await server.start()
    try:
        added = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "users", "add", EMAIL, "--role", "agent", "--password",
            PASSWORD, env=server.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(added.communicate(), 60)
        assert added.returncode == 0, output.decode()
        async with headless_chromium() as browser:
            page = await browser.new_page()
            await page.goto(server.url + "/agent")
            await page.get_by_label("Email").fill(EMAIL)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.locator("#queue")).to_contain_text("Nobody is waiting")
            await page.evaluate("window.loadedOnce = true")

            form = twilio_form(new_sid(), CUSTOMER, "I was charged twice, I want to talk to a person")
            async with aiohttp.ClientSession() as session:
                assert await post_webhook(session, server.url, form) == 200

            row = page.locator("#queue tr", has_text="I was charged twice")
            await expect(row).to_be_visible(timeout=10_000)
            await expect(row).to_contain_text("waiting")
            assert await page.evaluate("window.loadedOnce") is True  # no reload happened

            await row.get_by_role("link").click()
            await page.get_by_role("button", name="Claim").click()
            await expect(page.locator("#handoff-state")).to_have_text("With you")
            await page.get_by_label("Reply to the customer").fill(REPLY)
            await page.get_by_role("button", name="Send reply").click()
            await expect(page.get_by_role("status")).to_have_text("Message queued.")
            await expect(page.locator(".entry.out", has_text=REPLY)).to_be_visible()

        assert await _until(lambda: any(m.body == REPLY for m in double.messages), 15), \
            (tmp_path / "serve.log").read_text()[-2000:]
        replies = [m for m in double.messages if m.body == REPLY]
        assert [m.to for m in replies] == [CUSTOMER]
    finally:
        server.stop()
