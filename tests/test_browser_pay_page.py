"""The payment page in a real browser, served by a real ``bot serve``: the business reports a
failed payment, the customer opens the link from their message and pays with one tap."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from tests.browser import CHROMIUM_ARGS, require_chromium
from tests.serve import ServeProcess, free_port

pytestmark = pytest.mark.browser
TOKEN = "browser-test-token"


async def test_customer_pays_from_the_link_in_their_message(tmp_path) -> None:
    """The page shows the amount in the customer's language; paying closes the episode."""
    chromium = require_chromium()
    port = free_port()
    server = ServeProcess({"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
                           "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "",
                           "BOT_API_TOKEN": TOKEN, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
                          tmp_path / "serve.log", port=port)
    await server.start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession(server.url, headers=headers) as api:
            for event in (
                {"id": "evt_1", "type": "customer.upserted", "customer": {
                    "id": "cus_1", "phone": "+5511987654321", "locale": "pt-BR",
                    "timezone": "America/Sao_Paulo"}},
                {"id": "evt_2", "type": "payment.failed", "customer_id": "cus_1",
                 "invoice": {"id": "in_1", "amount": "49.90", "currency": "BRL"}},
            ):
                async with api.post("/api/events", json=event) as response:
                    assert response.status == 202, await response.text()
            async with api.get("/api/customers/cus_1") as response:
                state = await response.json()
            [notice] = state["messages"]
            link = re.search(r"http://127\.0\.0\.1:\d+/pay/\S+", notice["body"]).group(0)

            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=chromium,
                                                           args=CHROMIUM_ARGS)
                page = await browser.new_page()
                await page.goto(link)
                await expect(page.get_by_role("heading")).to_have_text("Pague sua fatura")
                await expect(page.locator(".amount")).to_have_text("R$\xa049,90")
                await page.get_by_role("button", name=re.compile("Pagar agora")).click()
                await expect(page.get_by_role("status")).to_have_text("Esta fatura está paga. Obrigado!")
                await browser.close()

            async with api.get("/api/customers/cus_1") as response:
                state = await response.json()
            assert state["open_episodes"] == []
            assert [a["action"] for a in state["billing_actions"]] == ["pay_invoice"]
    finally:
        server.stop()
