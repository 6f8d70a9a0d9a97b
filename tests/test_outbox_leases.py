"""A claimed row belongs to its claim only while the lease lasts: a sender never starts a send
its lease may not cover, and an outcome written late never undoes what happened to the row
meanwhile (another worker's claim, a paid invoice's dropped notice)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.transport import FailureKind, SendFailure
from bot.outbox import claim_due
from bot.sender import OutboxSender
from bot.store.models import OutboxMessage
from tests.conftest import live_settings, truncate_tables
from tests.test_gate_delivery import ny
from tests.twilio_double import Fault

CUSTOMER = "+14155550100"
BEARER = {"Authorization": "Bearer test-api-token"}


async def _outbox(services) -> list[OutboxMessage]:
    return await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))


async def _event(bot, body: dict) -> None:
    response = await bot.client.post("/api/events", json=body, headers=BEARER)
    assert response.status == 202, await response.text()


async def _dunning_customer(bot) -> None:
    """A customer on SMS whose payment has just failed (the first notice is due)."""
    await _event(bot, {"id": "evt_1", "type": "customer.upserted", "customer": {
        "id": "cus_1", "phone": "+12125550100", "locale": "en", "timezone": "America/New_York",
        "plan": "pro", "status": "active",
        "consent": {"sms": True, "source": "checkout", "at": "2026-07-01T10:00:00Z"}}})
    await _event(bot, {"id": "evt_2", "type": "payment.failed", "customer_id": "cus_1",
                       "invoice": {"id": "in_1", "amount": "19.00", "currency": "USD",
                                   "hosted_url": None}})


async def test_a_second_worker_never_resends_what_the_first_still_has_in_flight(
        make_bot, database_url, twilio, clock):
    """Four replies to one number take a second each to send, longer together than the lease:
    the first worker stops starting sends its lease cannot cover, a second worker that looks
    once the lease is over finds nothing of the first's to redo, and each reply goes out once."""
    double, base = twilio
    double.clock = clock.now
    settings = live_settings(database_url, base, send_lease_seconds=3.0, twilio_timeout_seconds=2.0)
    bot, services = await make_bot(settings, clock=clock)
    for text in ("hi", "when will I be charged?", "how do I update my card?", "how do I pause?"):
        await bot.message(CUSTOMER, text)
    first = services.sender
    second = OutboxSender(services.store, services.transport, clock, gate=first.gate,
                          config=first.config, lease=first.lease)
    leased_until = clock.now() + first.lease
    send = services.transport.send
    second_looked = False

    async def slow_send(message):
        nonlocal second_looked
        clock.advance(seconds=1.2)
        if clock.now() > leased_until and not second_looked:
            second_looked = True  # the other worker's pass, while this send is under way
            await second.send_due()
        return await send(message)

    services.transport.send = slow_send
    await first.send_due()
    await first.drain()
    rows = await _outbox(services)
    assert len(double.messages) == 4
    assert [(r.status, r.provider_id) for r in rows] == [("sent", m.sid) for m in double.messages]


async def test_a_notice_in_flight_when_the_invoice_is_paid_is_not_retried(make_bot, database_url,
                                                                         twilio, clock):
    """The payment succeeds while the dunning SMS is being sent and Twilio answers 503: the
    notice is dropped for good, not queued again for the retry."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    clock.set(ny(14, 12))

    await _dunning_customer(bot)
    await services.scheduler.run_due()
    send = services.transport.send

    async def paid_while_sending(message):
        await _event(bot, {"id": "evt_3", "type": "payment.succeeded", "customer_id": "cus_1",
                           "invoice_id": "in_1"})
        services.transport.send = send
        double.fail_next(Fault(503))
        return await send(message)

    services.transport.send = paid_while_sending
    await services.sender.drain()
    for _ in range(3):
        clock.advance(minutes=10)
        await services.scheduler.run_due()
        await services.sender.drain()
    assert double.messages == []
    [notice] = [r for r in await _outbox(services) if r.subject]
    assert (notice.status, notice.status_reason) == ("dropped", "the invoice was paid")
    assert notice.attempt_started_at is None  # looked up at Twilio once: nothing to find


async def test_a_notice_dropped_in_flight_that_reached_twilio_is_recorded_sent(
        make_bot, database_url, twilio, clock):
    """The payment succeeds while the dunning SMS is being sent, and Twilio takes the SMS but
    never answers: once the send's lease is over the sender looks it up, finds it, and records
    it sent (the customer did get it) — without sending it again."""
    double, base = twilio
    double.clock = clock.now
    settings = live_settings(database_url, base, twilio_timeout_seconds=0.2)
    bot, services = await make_bot(settings, clock=clock)
    clock.set(ny(14, 12))
    await _dunning_customer(bot)
    await services.scheduler.run_due()
    send = services.transport.send

    async def paid_while_sending(message):
        await _event(bot, {"id": "evt_3", "type": "payment.succeeded", "customer_id": "cus_1",
                           "invoice_id": "in_1"})
        services.transport.send = send
        double.fail_next(Fault(accept_then_hang=1.0))
        return await send(message)

    services.transport.send = paid_while_sending
    await services.sender.drain()
    [notice] = [r for r in await _outbox(services) if r.subject]
    assert notice.status == "dropped"
    clock.advance(minutes=2)  # the in-flight send's lease is over
    await services.sender.drain()
    [sent] = double.messages
    [notice] = [r for r in await _outbox(services) if r.subject]
    assert (notice.status, notice.provider_id) == ("sent", sent.sid)



async def test_looking_up_a_dropped_notice_never_holds_back_the_customers_replies(
        make_bot, database_url, twilio, clock):
    """A dropped notice whose send got no answer is being looked up at Twilio, and the lookup
    fails: the customer's new reply still goes out in the same pass (the dropped notice is not
    part of the conversation's order)."""
    double, base = twilio
    double.clock = clock.now
    settings = live_settings(database_url, base, twilio_timeout_seconds=0.2)
    bot, services = await make_bot(settings, clock=clock)
    clock.set(ny(14, 12))
    await _dunning_customer(bot)
    await services.scheduler.run_due()
    send = services.transport.send

    async def paid_while_sending(message):
        await _event(bot, {"id": "evt_3", "type": "payment.succeeded", "customer_id": "cus_1",
                           "invoice_id": "in_1"})
        services.transport.send = send
        double.fail_next(Fault(accept_then_hang=1.0))
        return await send(message)

    services.transport.send = paid_while_sending
    await services.sender.drain()
    clock.advance(minutes=2)

    async def lookup_fails(message, since):
        raise SendFailure(FailureKind.AMBIGUOUS, "no answer from Twilio's message list")

    services.transport.find_sent = lookup_fails
    before = len(double.messages)
    await bot.message("+12125550100", "when will I be charged?")
    await services.sender.send_due()
    [reply] = double.messages[before:]
    assert "same day each month" in reply.body
    [notice] = [r for r in await _outbox(services) if r.subject]
    assert notice.status == "dropped"

async def test_a_send_not_started_uses_up_no_attempt(make_bot, database_url, twilio, clock):
    """Rows the lease could not cover, and those waiting behind them, were never tried: they keep
    their attempts, so a later 429 is not taken for the last of them."""
    double, base = twilio
    settings = live_settings(database_url, base, send_lease_seconds=3.0, twilio_timeout_seconds=2.0)
    bot, services = await make_bot(settings, clock=clock)
    for text in ("hi", "when will I be charged?", "how do I update my card?", "how do I pause?"):
        await bot.message(CUSTOMER, text)
    send = services.transport.send

    async def slow_send(message):
        clock.advance(seconds=1.2)
        return await send(message)

    services.transport.send = slow_send
    await services.sender.send_due()
    rows = await _outbox(services)
    # The second could start 1.2 s into a 3 s lease, with 2 s to allow for: it waits.
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("queued", 0), ("queued", 0),
                                                      ("queued", 0)]
    assert len(double.messages) == 1


async def test_a_send_has_one_deadline_however_many_requests_it_takes(make_bot, database_url,
                                                                      twilio, clock):
    """A WhatsApp menu is two requests (its content, then the message): together they get the one
    timeout the lease allowed for; past it the send counts as unanswered, to be looked up."""
    double, base = twilio
    settings = live_settings(database_url, base, twilio_timeout_seconds=0.5)
    bot, services = await make_bot(settings, clock=clock)
    await bot.message(CUSTOMER, "hi")
    send = services.transport.send

    async def two_slow_requests(message):
        await asyncio.sleep(0.3)  # within the timeout alone, not together
        await asyncio.sleep(0.3)
        return await send(message)

    services.transport.send = two_slow_requests
    await services.sender.send_due()
    [row] = await _outbox(services)
    assert (row.status, row.attempt_started_at is not None) == ("queued", True)
    assert double.messages == []


async def test_two_senders_never_have_one_customers_replies_in_flight_at_once(
        make_bot, postgres_url, twilio, clock):
    """PostgreSQL (on SQLite one writer means two claims never overlap), two workers: while one
    is claiming a customer's first reply (its transaction still open), the other does not claim
    the second, which would go out beside it."""
    truncate_tables(postgres_url)
    _, base = twilio
    bot, services = await make_bot(live_settings(postgres_url, base), clock=clock)
    await bot.message(CUSTOMER, "when will I be charged?")
    gate, lease = services.sender.gate, timedelta(seconds=60)
    with Session(services.store.writer) as first, Session(services.store.writer) as second:
        claimed_first = claim_due(first, clock.now(), 10, lease, gate=gate)
        await bot.message(CUSTOMER, "how do I pause?")  # committed while the first claims
        claimed_second = claim_due(second, clock.now(), 10, lease, gate=gate)
        second.commit()
        first.commit()
    assert [len(claimed_first), len(claimed_second)] == [1, 0]
    with Session(services.store.writer) as third:  # the first reply is in flight: still nothing
        assert claim_due(third, clock.now(), 10, lease, gate=gate) == []
        third.commit()
