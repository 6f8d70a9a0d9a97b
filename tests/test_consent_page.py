"""'What did I agree to?': the chat answer, the no-login consent page and the data download,
with tampered and expired links refused on pages that say nothing about whose link it was."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.consent import consent_page_link
from bot.store.models import Contact, OutboxMessage
from tests.conftest import live_settings

NUMBER = "+14155550100"
WHATSAPP = f"whatsapp:{NUMBER}"


async def _last_body(services) -> str:
    rows = await services.store.read(lambda s: list(s.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))))
    return rows[-1].body


def _path(body: str) -> str:
    match = re.search(r"https://bot\.example\.com(/consent/[\w.-]+)", body)
    assert match, body
    return match.group(1)


async def test_question_in_chat_links_to_history_and_data(make_bot, database_url, twilio, clock):
    """After STOP and START the customer asks what they agreed to: the answer summarizes it and
    links to a page with both changes and a JSON download of their data."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hi")
    await bot.message(WHATSAPP, "STOP", sid="SM" + "1" * 32)
    await bot.message(WHATSAPP, "START")
    await bot.message(WHATSAPP, "What did I agree to?")
    body = await _last_body(services)
    assert body.startswith("You agreed to get messages from Support here")
    path = _path(body)

    page = await bot.client.get(path)
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    assert "What you agreed to" in html and "Stopped messages" in html
    assert "Agreed to messages" in html and "You get our messages here." in html
    assert NUMBER not in html  # masked: a forwarded link shows less
    assert f'href="{path}/data.json"' in html

    download = await bot.client.get(f"{path}/data.json")
    assert download.status == 200
    assert "attachment" in download.headers["Content-Disposition"]
    data = await download.json()
    assert [(c["channel"], c["address"], c["subscribed"]) for c in data["channels"]] == [
        ("whatsapp", NUMBER, True)]
    assert [(e["action"], e["source"], e["text"]) for e in data["consent_history"]] == [
        ("opt_out", "keyword", "STOP"), ("opt_in", "keyword", "START")]
    assert data["consent_history"][0]["message_sid"] == "SM" + "1" * 32
    texts = [(m["direction"], m["text"]) for m in data["messages"]]
    assert ("from you", "What did I agree to?") in texts
    assert any(direction == "to you" and "unsubscribed" in text for direction, text in texts)


async def test_opted_out_customer_is_answered_and_sees_every_channel(make_bot, database_url,
                                                                     twilio, clock):
    """An opted-out customer asking in Spanish is told they are unsubscribed, and the page (in
    Spanish) shows both of the customer's channels."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message("+34612345678", "hola")
    await bot.message("whatsapp:+34612345678", "hola")

    def same_customer(session):
        for contact in session.scalars(select(Contact)):
            contact.customer_id = "cus_9"

    await services.store.write(same_customer)
    await bot.message("whatsapp:+34612345678", "baja")
    await bot.message("whatsapp:+34612345678", "¿A qué acepté?")
    rows = await services.store.read(lambda s: list(s.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))))
    answer = rows[-1]
    assert answer.status == "queued"  # a compliance answer reaches the opted-out contact
    assert answer.body.startswith("Te has dado de baja")
    html = await (await bot.client.get(_path(answer.body))).text()
    assert "Lo que aceptaste" in html
    assert "Aquí no recibes nuestros mensajes." in html and "Aquí recibes nuestros mensajes." in html


async def test_tampered_and_expired_links_are_refused(make_bot, database_url, twilio, clock):
    """A changed token is 404 and an old one 410; neither page names the customer."""
    _, base = twilio
    settings = live_settings(database_url, base)
    bot, services = await make_bot(settings, clock=clock)
    await bot.message(WHATSAPP, "what did I agree to")
    path = _path(await _last_body(services))
    other_contact = consent_page_link(settings.public_base_url, "another-key", 1, clock.now())[0]
    for bad in (path[:-2] + ("AA" if not path.endswith("AA") else "BB"),
                other_contact.removeprefix(settings.public_base_url), "/consent/nonsense"):
        for url in (bad, f"{bad}/data.json"):
            response = await bot.client.get(url)
            assert response.status == 404, url
            text = await response.text()
            assert "Page not found" in text and NUMBER not in text and "Ana" not in text
    clock.advance(days=7)
    for url in (path, f"{path}/data.json"):
        response = await bot.client.get(url, headers={"Accept-Language": "pt-BR,pt;q=0.9"})
        assert response.status == 410
        assert "Este link expirou" in await response.text()
