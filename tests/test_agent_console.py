"""The agent console over HTTP: sign-in and CSRF on every page and form, what the pages show
(queue, context, gate warnings, held messages' reasons, account facts), and the live event
stream — within one process and across processes sharing a database."""

from __future__ import annotations

import asyncio
import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from bot.agent_context import ContextSection
from bot.config import save_section
from bot.handoff_feed import Change, HandoffFeed, Reported, changes_between, read_cursor
from bot.services import build_services
from bot.store.models import ConsoleUser, Contact, Conversation
from bot.web import agent_views
from tests.conftest import live_settings
from tests.consoles import (
    AGENT,
    BEARER,
    OPERATOR,
    OTHER_AGENT,
    desk_bot,
    only_conversation_id,
    sign_in,
    taken_by_another_agent,
)

PAGES = ["/agent", "/agent/queue", "/agent/events", "/agent/conversations/1",
         "/agent/conversations/1/panel"]
FORMS = ["/agent/conversations/1/claim", "/agent/conversations/1/messages",
         "/agent/conversations/1/notes", "/agent/conversations/1/resolve"]


def _text(html: str) -> str:
    """The page's text, tags dropped and spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def test_every_console_page_and_form_needs_a_signed_in_agent(make_bot, database_url, twilio,
                                                                   clock):
    """Anonymous visitors are sent to sign in (pages) or refused (forms); operators may work
    the agent console too."""
    bot, _ = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    for path in PAGES:
        response = await bot.client.get(path, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (302, f"/login?next={path}")
    for path in FORMS:
        assert (await bot.client.post(path, data={"text": "x"})).status == 401
    await sign_in(bot.client, OPERATOR)
    for path in ("/agent", "/agent/queue", "/agent/conversations/1"):
        assert (await bot.client.get(path)).status == 200


async def test_forms_need_the_sessions_csrf_token(make_bot, database_url, twilio, clock):
    """A form posted without the session's token (a cross-site request) changes nothing."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    csrf = await sign_in(bot.client, AGENT)
    for path in FORMS:
        assert (await bot.client.post(path, data={"text": "x"})).status == 403
        assert (await bot.client.post(path, data={"text": "x", "csrf_token": "guess"})).status == 403
    assert (await services.store.read(lambda s: s.scalars(select(Conversation)).one())).state \
        == "waiting"
    claimed = await bot.client.post(FORMS[0], data={"csrf_token": csrf}, allow_redirects=False)
    assert (claimed.status, claimed.headers["Location"]) == (
        303, "/agent/conversations/1?done=claimed")


async def test_the_queue_page_lists_who_waits(make_bot, database_url, twilio, clock):
    """The queue shows each waiting customer's channel, wait, reason and last words."""
    bot, _ = await desk_bot(make_bot, database_url, twilio, clock)
    await sign_in(bot.client, AGENT)
    assert "Nobody is waiting" in await (await bot.client.get("/agent/queue")).text()
    await bot.message("whatsapp:+14155550100", "I want a human")
    clock.advance(minutes=7)
    page = _text(await (await bot.client.get("/agent")).text())
    assert "Ana WhatsApp 7 min" in page and "asked waiting I want a human" in page


async def test_the_conversation_page_gives_the_context_and_the_agent_works_it(
        make_bot, database_url, twilio, clock):
    """The page shows the customer, consent ledger, where the conversation was before, the
    messages with their status, and account facts from a provider; claim, reply, note and
    resolve work from its forms."""
    double, _ = twilio
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    services.context_providers.append(lambda session, contact, now: [ContextSection(
        "Subscription", [("Plan", "Pro"), ("Payment", "failed on Nov 3")])])
    await bot.message("+14155550100", "when will I be charged")
    await bot.message("+14155550100", "Talk to a person", ButtonPayload="handoff:request")
    csrf = await sign_in(bot.client, AGENT)
    conversation_id = await only_conversation_id(services)
    page = _text(await (await bot.client.get(f"/agent/conversations/{conversation_id}")).text())
    assert "Waiting for a person" in page
    assert "Flow faq · answering last_topic \"billing_date\"" in page
    assert "when will I be charged" in page and "bot · queued" in page
    assert "Plan Pro Payment failed on Nov 3" in page
    assert "Consent SMS may be messaged" in page

    base = f"/agent/conversations/{conversation_id}"
    await bot.client.post(f"{base}/claim", data={"csrf_token": csrf})
    await bot.client.post(f"{base}/notes", data={"csrf_token": csrf, "text": "Card issue again"})
    sent = await bot.client.post(f"{base}/messages",
                                 data={"csrf_token": csrf, "text": "I'll check it now.", "key": "f1"})
    assert "Message queued." in await sent.text()
    await bot.client.post(f"{base}/messages",
                          data={"csrf_token": csrf, "text": "I'll check it now.", "key": "f1"})
    await services.sender.drain()
    assert [m.body for m in double.messages].count("I'll check it now.") == 1
    page = _text(await (await bot.client.get(base)).text())
    assert "With you" in page and "Claimed by agent@example.com" in page
    assert "Note · Card issue again" in page and "agent@example.com · sent" in page
    done = _text(await (await bot.client.post(f"{base}/resolve", data={"csrf_token": csrf})).text())
    assert "Resolved: the bot has the conversation again." in done and "With the bot" in done


async def test_refusals_are_shown_on_the_page(make_bot, database_url, twilio, clock):
    """Another agent's conversation: the form answers 409 with the reason, on the page."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    conversation_id, csrf = await taken_by_another_agent(bot, services)
    refused = await bot.client.post(f"/agent/conversations/{conversation_id}/messages",
                                    data={"csrf_token": csrf, "text": "Hi"})
    assert refused.status == 409
    page = await refused.text()
    assert f"{OTHER_AGENT} is handling this conversation" in page
    assert ">Hi</textarea>" in page  # the agent's words are not lost
    missing = await bot.client.get("/agent/conversations/4242")
    assert missing.status == 404


async def test_the_page_warns_before_sending_outside_the_whatsapp_window(make_bot, database_url,
                                                                        twilio, clock):
    """Outside WhatsApp's 24-hour window the page says so before anything is typed, and
    offers the approved templates — or says none is set up; held messages show why."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("whatsapp:+14155550100", "talk to a person")
    now = clock.now()
    await services.store.write(lambda s: save_section(
        s, "handoff", {"return_unclaimed_after_minutes": 7 * 24 * 60}, now=now, updated_by="t"))
    conversation_id = await only_conversation_id(services)
    clock.advance(hours=25)
    await sign_in(bot.client, AGENT)
    page = _text(await (await bot.client.get(f"/agent/conversations/{conversation_id}")).text())
    assert "WhatsApp's 24-hour window is closed (the customer last wrote 1 d ago)" in page
    assert "No approved template is set up for this customer's language (en)" in page
    await services.store.write(lambda s: save_section(s, "whatsapp_templates", {"templates": {
        "handoff.follow_up": {"en": {"content_sid": "HX" + "c" * 32, "label": "Checking in"}}}},
        now=now, updated_by="t"))
    page = await (await bot.client.get(f"/agent/conversations/{conversation_id}/panel")).text()
    assert 'name="template" value="handoff.follow_up"' in page
    assert "Send template: Checking in" in page
    assert "held: outside the WhatsApp 24-hour window" not in _text(page)
    # The bot's handoff message was queued but never sent; a pass of the sender now holds it.
    await services.sender.drain()
    panel = _text(await (await bot.client.get(f"/agent/conversations/{conversation_id}/panel")).text())
    assert "bot · held: outside the WhatsApp 24-hour window" in panel


async def _next_event(stream, timeout: float = 5.0) -> tuple[str, dict]:
    """Read the event stream up to the next named event."""
    name = None
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), timeout)).decode().strip()
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name:
            return name, json.loads(line.split(":", 1)[1])


async def test_the_event_stream_announces_new_escalations_and_messages(make_bot, database_url,
                                                                      twilio, clock):
    """A console listening hears at once when a conversation enters the queue and when that
    customer writes again; a conversation page hears about its own conversation."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550199", "hello")  # an unrelated conversation with the bot
    await sign_in(bot.client, AGENT)
    stream = await bot.client.get("/agent/events?conversation=1")
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert (await _next_event(stream))[0] == "ready"
    await bot.message("+14155550100", "AGENT!")
    name, change = await _next_event(stream)
    conversation_id = await services.store.read(lambda s: s.scalars(
        select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id)
        .where(Contact.address == "+14155550100")).one())
    assert (name, change) == ("change", {"conversations": [conversation_id], "queue": True})
    await bot.message("+14155550100", "are you there?")
    assert (await _next_event(stream))[1]["conversations"] == [conversation_id]
    await bot.message("+14155550199", "when will I be charged")
    assert await _next_event(stream) == ("change", {"conversations": [1], "queue": False})
    await bot.client.post("/api/conversations/1/notes", headers=BEARER,
                          json={"text": "watched conversation"})
    assert await _next_event(stream) == ("change", {"conversations": [1], "queue": True})
    stream.close()


async def _signed_out(bot, services, clock, csrf: str) -> None:
    await bot.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)


async def _expired(bot, services, clock, csrf: str) -> None:
    clock.advance(hours=13)


async def _deactivated(bot, services, clock, csrf: str) -> None:
    def deactivate(session):
        session.scalars(select(ConsoleUser).where(ConsoleUser.email == AGENT)).one().active = False
    await services.store.write(deactivate)


@pytest.mark.parametrize("end", [_signed_out, _expired, _deactivated])
async def test_the_event_stream_ends_with_the_agents_session(make_bot, database_url, twilio,
                                                           clock, monkeypatch, end):
    """Signed out, expired or deactivated: at the next keep-alive the stream closes, and
    nothing more is said on it."""
    monkeypatch.setattr(agent_views, "KEEP_ALIVE_SECONDS", 0.05)
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    csrf = await sign_in(bot.client, AGENT)
    stream = await bot.client.get("/agent/events")
    assert (await _next_event(stream))[0] == "ready"
    while await asyncio.wait_for(stream.content.readline(), 5) != b": keep-alive\n":
        pass  # the stream is past its opening and keeps alive
    await end(bot, services, clock, csrf)
    rest = await asyncio.wait_for(stream.content.read(), 5)  # returns once the stream ends
    assert b"event:" not in rest
    stream.close()


async def test_a_change_after_signing_out_is_not_told(make_bot, database_url, twilio, clock):
    """Signed out, the next change ends the stream instead of reaching it (no waiting for the
    keep-alive)."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    csrf = await sign_in(bot.client, AGENT)
    stream = await bot.client.get("/agent/events")
    assert (await _next_event(stream))[0] == "ready"
    await _signed_out(bot, services, clock, csrf)
    await bot.message("+14155550100", "AGENT!")
    rest = await asyncio.wait_for(stream.content.read(), 5)  # returns once the stream ends
    assert b"event:" not in rest
    stream.close()


@pytest.mark.parametrize(("query", "status"), [
    ("conversation=%C2%B2&conversation=x&conversation=1", 200),  # '²' is a digit, not a number
    ("conversation=" + "9" * 40, 200),
    ("&".join(f"conversation={n}" for n in range(1, 52)), 400),
])
async def test_the_event_stream_takes_only_a_few_real_conversation_ids(make_bot, sqlite_url,
                                                                       twilio, clock, query,
                                                                       status):
    """Values that are not conversation ids are ignored; watching dozens at once is refused."""
    bot, _ = await desk_bot(make_bot, sqlite_url, twilio, clock)
    await sign_in(bot.client, AGENT)
    stream = await bot.client.get(f"/agent/events?{query}")
    assert stream.status == status
    if status == 200:
        assert (await _next_event(stream))[0] == "ready"
    stream.close()


async def test_another_process_writing_reaches_the_console(database_url, twilio, clock):
    """Two processes on one database: a customer escalating through one reaches the feed of
    the other, without any in-process signal."""
    _, base = twilio
    settings = live_settings(database_url, base)
    webhook_side = build_services(settings, clock=clock)
    console_side = build_services(settings, clock=clock)
    feed = HandoffFeed(console_side.store, poll_interval=3600)
    await webhook_side.start(worker=False)
    try:
        async with feed.subscribe() as subscription:
            await feed.look()  # the cursor starts here
            from bot.messages import Channel, Inbound
            await webhook_side.pipeline.submit(Inbound(Channel.SMS, "+14155550100",
                                                       "talk to a person", "SM" + "1" * 32))
            await feed.look()
            change = subscription.changes.get_nowait()
            assert change.queue and len(change.conversations) == 1
            await feed.look()
            assert subscription.changes.empty()
    finally:
        await webhook_side.stop()
        console_side.store.close()


async def test_a_queue_change_is_seen_even_when_its_rows_were_numbered_earlier(
        make_bot, database_url, twilio, clock):
    """Row ids can commit out of order on PostgreSQL; the queue's fingerprint still tells the
    consoles that the queue changed when none of the rows read is new to them."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "hello")
    before = await services.store.read(read_cursor)
    await bot.message("+14155550100", "talk to a person")
    after = await services.store.read(read_cursor)
    # As if the new rows had been reported already, or were too far below the cursor to be
    # read again: only the fingerprint differs.
    reported = Reported()
    await services.store.read(lambda s: changes_between(s, after, after, [], reported))
    pretend_old = after[:4] + before[4:]
    change = await services.store.read(
        lambda s: changes_between(s, pretend_old, after, [], reported))
    assert change == Change(frozenset(), True)
    assert await services.store.read(lambda s: changes_between(s, after, after, [], reported)) \
        == Change(frozenset(), False)
