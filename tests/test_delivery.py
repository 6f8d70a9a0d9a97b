"""Exactly once, end to end: signed webhook → pipeline → outbox → real twilio client → double."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.channels.twilio_rest import TwilioTransport
from bot.config import save_section
from bot.outbox import claim_due
from bot.store.models import ConsentEvent, Contact, InboundMessage, OutboxMessage
from tests.business import LA_MORNING, customer_upserted, payment_failed, send
from tests.conftest import live_settings, new_sid
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN, Fault

CUSTOMER = "+14155550100"


async def _outbox(services) -> list[OutboxMessage]:
    return await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))


def _transport(settings, timeout: float = 5.0) -> TwilioTransport:
    return TwilioTransport(ACCOUNT_SID, AUTH_TOKEN, base_url=settings.twilio_api_base_url,
                           status_callback=settings.status_callback_url,
                           sms_from=settings.twilio_sms_from, messaging_service_sid=None,
                           whatsapp_from=settings.twilio_whatsapp_from, timeout=timeout)


async def test_sms_reply_is_sent_once_with_status_callback(make_bot, database_url, twilio, clock):
    """A signed SMS gets one reply through the REST API, with our status callback URL."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    assert (await bot.message(CUSTOMER, "hi")).status == 200
    assert await services.sender.drain() == 1
    assert await services.sender.drain() == 0
    [sent] = double.messages
    assert sent.to == CUSTOMER
    assert sent.from_ == "+15005550006"
    assert sent.status_callback == "https://bot.example.com/twilio/status"
    assert "Reply with a number" in sent.body and "1. Billing date" in sent.body
    [row] = await _outbox(services)
    assert (row.status, row.provider_id, row.kind) == ("sent", sent.sid, "reply")


async def test_whatsapp_reply_uses_quick_reply_buttons(make_bot, database_url, twilio, clock):
    """On WhatsApp up to three choices become real buttons (a quick-reply content), and a tap
    comes back as the same payload."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(f"whatsapp:{CUSTOMER}", "hello")
    await services.sender.drain()
    [greeting] = double.messages
    assert greeting.to == f"whatsapp:{CUSTOMER}"
    assert greeting.from_ == "whatsapp:+15005550006"
    content = double.contents[greeting.content_sid]
    assert [a["id"] for a in content["actions"]] == [
        "faq:pick:billing_date", "faq:pick:update_card", "faq:pick:pause_info"]
    assert all(len(a["title"]) <= 20 for a in content["actions"])
    await bot.message(f"whatsapp:{CUSTOMER}", "Billing date", ButtonPayload="faq:pick:billing_date",
                      ButtonText="Billing date")
    await services.sender.drain()
    assert "same day each month" in double.messages[1].body


async def test_retried_sid_does_nothing(make_bot, database_url, twilio, clock):
    """Twilio retrying the same MessageSid gets 200 and causes no second reply."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    sid = new_sid()
    for _ in range(3):
        assert (await bot.message(CUSTOMER, "when will I be charged?", sid=sid)).status == 200
    await services.sender.drain()
    assert len(double.messages) == 1
    inbound = await services.store.read(lambda s: list(s.scalars(select(InboundMessage))))
    assert [m.provider_id for m in inbound] == [sid]


async def test_concurrent_messages_of_one_conversation_never_interleave(make_bot, database_url,
                                                                        twilio, clock):
    """A burst of messages from one customer is handled one after another, in arrival order:
    the FAQ's 'not sure' state advances once per message and replies go out in that order."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    # Keep the bot answering every miss (by default the second one in a row goes to a person).
    await services.store.write(lambda s: save_section(
        s, "handoff", {"escalate_after_misunderstood": 10}, now=clock.now(), updated_by="test"))
    others = [f"+1415555{n:04d}" for n in range(20)]
    posts = [bot.message(CUSTOMER, f"zzqx nonsense {n}") for n in range(6)]
    posts += [bot.message(other, "hi") for other in others]
    responses = await asyncio.gather(*posts)
    assert all(r.status == 200 for r in responses)
    await services.sender.drain()
    mine = [m.body for m in double.to(CUSTOMER)]
    assert len(mine) == 6
    assert mine[0].startswith("Sorry, I'm not sure")
    assert all(body.startswith("I still can't find") for body in mine[1:])
    rows = [r for r in await _outbox(services) if r.to_address == CUSTOMER]
    assert [r.in_reply_to for r in rows] == sorted(r.in_reply_to for r in rows)
    assert [r.provider_id for r in rows] == [m.sid for m in double.to(CUSTOMER)]
    assert len(double.messages) == 26


async def test_transient_failures_are_retried_until_sent_once(make_bot, database_url, twilio,
                                                              clock):
    """500, 429 and a queue-overflow code back off and retry; the customer gets one message."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    double.fail_next(Fault(500), Fault(429, 20429, "Too Many Requests"), Fault(503))
    await bot.message(CUSTOMER, "hi")
    waits = []
    for _ in range(4):
        failed_at = clock.now()
        await services.sender.drain()
        [row] = await _outbox(services)
        if row.status == "sent":
            break
        assert row.status == "queued"
        waits.append((row.due_at - failed_at).total_seconds())
        assert await services.sender.drain() == 0  # not due yet: no early retry
        clock.set(row.due_at)
    assert [m.to for m in double.messages] == [CUSTOMER]
    [row] = await _outbox(services)
    assert (row.status, row.attempts) == ("sent", 4)
    # Exponential with jitter: attempt n waits between half and all of 2·2^(n-1) seconds.
    assert [1 <= waits[0] <= 2, 2 <= waits[1] <= 4, 4 <= waits[2] <= 8] == [True] * 3
    # A 5xx may have created the message, so the sender looked before resending.
    assert double.list_requests >= 1


async def test_timeout_after_acceptance_is_reconciled_not_resent(make_bot, database_url, twilio,
                                                                 clock):
    """When Twilio accepts but the answer never arrives, the sender finds the message instead of
    sending it again."""
    double, base = twilio
    settings = live_settings(database_url, base)
    bot, services = await make_bot(settings, clock=clock, transport=_transport(settings, 0.3))
    double.fail_next(Fault(accept_then_hang=2.0))
    await bot.message(CUSTOMER, "hi")
    await services.sender.drain()
    [row] = await _outbox(services)
    assert row.status == "queued" and row.attempt_started_at is not None
    clock.set(row.due_at)
    await services.sender.drain()
    [row] = await _outbox(services)
    assert len(double.messages) == 1
    assert (row.status, row.provider_id) == ("sent", double.messages[0].sid)


@pytest.mark.parametrize("problem_details", [False, True])
async def test_permanent_errors_are_not_retried(make_bot, database_url, twilio, clock,
                                                problem_details):
    """21610 marks the contact opted out (with a ledger row); 21211 is recorded, never retried
    — in Twilio's classic error body and in RFC 9457 problem details alike."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    double.fail_next(Fault(400, 21610, "Attempt to send to unsubscribed recipient",
                           problem_details=problem_details))
    await bot.message(CUSTOMER, "hi")
    double.fail_next(Fault(400, 21211, "Invalid 'To' Phone Number",
                           problem_details=problem_details))
    await bot.message("+14155550111", "hi")
    await services.sender.drain()
    clock.advance(hours=1)
    assert await services.sender.drain() == 0
    assert double.requests == 2 and double.messages == []
    rows = {r.to_address: r for r in await _outbox(services)}
    assert (rows[CUSTOMER].status, rows[CUSTOMER].error_code) == ("failed", 21610)
    assert (rows["+14155550111"].status, rows["+14155550111"].error_code) == ("failed", 21211)
    assert "Invalid 'To'" in rows["+14155550111"].status_reason

    def consent(session):
        contact = session.scalars(select(Contact).where(Contact.address == CUSTOMER)).one()
        ledger = session.scalars(select(ConsentEvent)).all()
        return contact.opted_out, [(e.action, e.source) for e in ledger]

    assert await services.store.read(consent) == (True, [("opt_out", "carrier")])


async def test_window_closed_error_holds_the_message(make_bot, database_url, twilio, clock):
    """63016 (outside WhatsApp's window) is not retried: the message is held for a person."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    double.fail_next(Fault(400, 63016, "Failed to send freeform message"))
    await bot.message(f"whatsapp:{CUSTOMER}", "hi")
    await services.sender.drain()
    [row] = await _outbox(services)
    assert (row.status, row.error_code) == ("held", 63016)


async def test_crash_mid_send_is_recovered_without_a_second_send(make_bot, database_url, twilio,
                                                                  clock):
    """A sender that dies after Twilio accepted (rows left 'sending') is recovered when the lease
    runs out: what went out is found and recorded, what did not is sent — each exactly once."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(CUSTOMER, "hi")
    await bot.message("+14155550111", "hi")
    claims = await services.store.write(
        lambda s: claim_due(s, clock.now(), 10, timedelta(seconds=60), gate=services.sender.gate))
    assert len(claims) == 2
    await services.transport.send(claims[0].message)  # accepted by Twilio, then the crash
    assert await services.sender.drain() == 0  # leased: nobody else touches them yet
    clock.advance(seconds=61)
    # One is found at Twilio; the other is not, so it goes back through the gate and out.
    assert await services.sender.drain() == 3
    assert sorted(m.to for m in double.messages) == sorted([CUSTOMER, "+14155550111"])
    rows = await _outbox(services)
    assert {r.status for r in rows} == {"sent"}
    assert {r.provider_id for r in rows} == {m.sid for m in double.messages}


async def test_template_message_sends_content_sid_and_variables(make_bot, database_url, twilio,
                                                                clock):
    """A row carrying an approved template goes out as ContentSid + ContentVariables."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(f"whatsapp:{CUSTOMER}", "hi")

    def to_template(session):
        row = session.scalars(select(OutboxMessage)).one()
        row.content_sid = "HX" + "1" * 32
        row.content_variables = {"1": "19,00 €"}

    await services.store.write(to_template)
    await services.sender.drain()
    [sent] = double.messages
    assert sent.content_sid == "HX" + "1" * 32
    assert json.loads(sent.content_variables) == {"1": "19,00 €"}


async def test_a_later_reply_waits_for_an_earlier_one_backing_off(make_bot, database_url, twilio,
                                                                  clock):
    """A reply refused with 429 backs off; the customer's next reply, due at once, waits for it,
    so Twilio gets them in the order they were written."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    double.fail_next(Fault(429, 20429, "Too Many Requests"))
    await bot.message(CUSTOMER, "hi")
    await services.sender.drain()  # the greeting: 429, backs off
    await bot.message(CUSTOMER, "when will I be charged?")
    assert await services.sender.drain() == 0  # the answer waits for the greeting
    clock.advance(seconds=10)
    await services.sender.drain()
    rows = await _outbox(services)
    assert [r.status for r in rows] == ["sent", "sent"]
    assert [r.provider_id for r in rows] == [m.sid for m in double.messages]


async def test_a_notice_deferred_to_the_morning_does_not_hold_back_tonights_replies(
        make_bot, database_url, twilio, clock):
    """A payment notice refused with 429 just before 20:00 waits for the morning (quiet hours);
    the customer writing at 21:00 is still answered at once: only a message backing off holds
    later replies back, not one the gate moved to tomorrow."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    clock.set(LA_MORNING.replace(hour=3, minute=59, second=50))  # 19:59:50 in Los Angeles
    await send(bot, customer_upserted())
    double.fail_next(Fault(429, 20429, "Too Many Requests"))
    await send(bot, payment_failed())
    await services.sender.drain()
    clock.advance(minutes=1)
    await services.sender.drain()  # the retry meets quiet hours: deferred to 08:00
    [notice] = await _outbox(services)
    assert (notice.status, notice.attempts) == ("queued", 1)
    assert notice.due_at == LA_MORNING.replace(hour=16)
    clock.set(LA_MORNING.replace(hour=5))  # 21:00
    await bot.message(CUSTOMER, "when will I be charged?")
    assert await services.sender.drain() == 1
    [answer] = double.messages  # the notice still waits for 08:00
    assert answer.body.startswith("You're billed on the same day each month")


async def test_retry_after_from_twilio_is_respected(make_bot, database_url, twilio, clock):
    """A 429 with Retry-After: 30 is not retried sooner than 30 seconds later."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    double.fail_next(Fault(429, 20429, "Too Many Requests", retry_after="30"))
    await bot.message(CUSTOMER, "hi")
    await services.sender.drain()
    [row] = await _outbox(services)
    assert row.status == "queued"
    assert (row.due_at - clock.now()).total_seconds() >= 30
