"""Sandbox mode: no credentials, a console sender, and a simulator page to chat through."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.settings import Settings
from bot.store.models import Contact


async def _wait_for_replies(client, params: dict, count: int) -> list[dict]:
    for _ in range(100):
        response = await client.get("/sandbox/messages", params=params)
        messages = (await response.json())["messages"]
        if len(messages) >= count:
            return messages
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} replies, have {messages}")


async def test_simulator_chats_over_sms_and_whatsapp(make_bot, sqlite_url) -> None:
    """The page's endpoints take the webhook's path and the worker 'sends' to the console."""
    bot, services = await make_bot(Settings(database_url=sqlite_url), worker=True)
    assert services.settings.sandbox
    page = await bot.client.get("/")
    assert page.status == 200
    assert "Support bot — sandbox" in await page.text()

    sms = {"channel": "sms", "phone": "+15555550100"}
    assert (await bot.client.post("/sandbox/messages", json={**sms, "text": "hi"})).status == 200
    [greeting] = await _wait_for_replies(bot.client, sms, 1)
    assert "1. Billing date" in greeting["body"] and greeting["buttons"] == []

    whatsapp = {"channel": "whatsapp", "phone": "+15555550100"}
    await bot.client.post("/sandbox/messages", json={**whatsapp, "text": "hello"})
    [menu] = await _wait_for_replies(bot.client, whatsapp, 1)
    tap = menu["buttons"][0]
    await bot.client.post("/sandbox/messages", json={**whatsapp, "text": tap["title"],
                                                    "payload": tap["payload"]})
    replies = await _wait_for_replies(bot.client, {**whatsapp, "after": menu["id"]}, 1)
    assert "same day each month" in replies[0]["body"]


async def test_sandbox_input_is_checked(make_bot, sqlite_url) -> None:
    """Bad numbers and bad JSON get a 400 with the reason."""
    bot, _ = await make_bot(Settings(database_url=sqlite_url))
    bad = await bot.client.post("/sandbox/messages", json={"channel": "sms", "phone": "12"})
    assert bad.status == 400
    assert "international format" in await bad.text()
    assert (await bot.client.post("/sandbox/messages", data=b"{nope",
                                  headers={"Content-Type": "application/json"})).status == 400
    assert (await bot.client.get("/sandbox/messages", params={"channel": "fax",
                                                               "phone": "+15555550100"})).status == 400


async def test_simulator_refuses_posts_another_site_can_forge(make_bot, sqlite_url) -> None:
    """A text/plain or form post (which any web page can send to 127.0.0.1 without asking) is not
    taken as a customer's message: only JSON, which needs a CORS preflight we never grant."""
    bot, services = await make_bot(Settings(database_url=sqlite_url))
    body = '{"channel": "sms", "phone": "+14155550100", "text": "STOP"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        forged = await bot.client.post("/sandbox/messages", data=body,
                                       headers={"Content-Type": content_type})
        assert forged.status == 400
        assert "application/json" in await forged.text()
    assert await services.store.read(
        lambda session: session.scalar(select(func.count()).select_from(Contact))) == 0


async def test_sandbox_routes_do_not_exist_with_credentials(make_bot, sqlite_url, twilio) -> None:
    """With Twilio credentials there is no simulator and no unsigned way in."""
    from tests.conftest import live_settings

    _, base = twilio
    bot, _ = await make_bot(live_settings(sqlite_url, base))
    assert (await bot.client.get("/")).status == 404
    assert (await bot.client.post("/sandbox/messages", json={})).status in (404, 405)


async def test_health_and_metrics(make_bot, sqlite_url) -> None:
    """/healthz checks the database; /metrics counts inbound, outbound and outbox depth."""
    bot, services = await make_bot(Settings(database_url=sqlite_url), worker=True)
    health = await bot.client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok", "database": "ok"})
    await bot.client.post("/sandbox/messages", json={"channel": "sms", "phone": "+15555550100",
                                                     "text": "hi"})
    await _wait_for_replies(bot.client, {"channel": "sms", "phone": "+15555550100"}, 1)
    text = await (await bot.client.get("/metrics")).text()
    assert 'bot_inbound_messages_total{channel="sms",outcome="handled"} 1.0' in text
    assert 'bot_outbound_messages_total{result="sent"} 1.0' in text
    assert 'bot_outbox_depth{status="sent"} 1.0' in text
    assert "bot_webhook_latency_seconds_bucket" in text
    services.store.writer.dispose()
    services.store.reader.dispose()
