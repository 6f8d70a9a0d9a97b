"""After a crash or an unanswered send, the sender asks Twilio what went out before it sends
again: each Twilio message is matched to one row, a clash never blocks other customers' rows,
and a message that went out is never re-gated onto another channel."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.outbox import Result, SendOutcome, claim_due, record_outcomes
from bot.store.models import Contact, OutboxMessage
from tests.conftest import live_settings
from tests.test_gate_delivery import NEW_YORK, _bot, _notify, _update_contacts, ny

WHATSAPP = "whatsapp:+14155550100"
LEASE = timedelta(seconds=60)


async def _outbox(services) -> list[OutboxMessage]:
    return await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))


async def _claim_all(services):
    return await services.store.write(lambda s: claim_due(
        s, services.clock.now(), 10, LEASE, gate=services.sender.gate))


async def test_two_buttoned_messages_to_one_customer_each_keep_their_own_twilio_id(
        make_bot, database_url, twilio, clock):
    """A worker claims two greetings (quick-reply buttons) to one WhatsApp customer, gets the
    first to Twilio and dies: after the lease the first is found, the second is sent, once each."""
    double, base = twilio
    double.clock = clock.now
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hello")
    await bot.message(WHATSAPP, "hello")
    claims = await _claim_all(services)
    assert len(claims) == 2
    await services.transport.send(claims[0].message)  # accepted by Twilio, then kill -9
    clock.advance(seconds=61)
    await services.sender.drain()
    rows = await _outbox(services)
    assert len(double.messages) == 2
    assert [(r.status, r.provider_id) for r in rows] == [("sent", m.sid) for m in double.messages]


async def test_two_messages_found_at_twilio_are_matched_oldest_first(
        make_bot, database_url, twilio, clock):
    """A worker gets two identical greetings to one customer through to Twilio and dies: the
    earlier row is matched to the earlier Twilio message and the later row to the later one (so
    delivery reports land on the right rows), and nothing is sent again."""
    double, base = twilio
    double.clock = clock.now
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hello")
    await bot.message(WHATSAPP, "hello")
    claims = await _claim_all(services)
    for claim in claims:
        await services.transport.send(claim.message)  # both accepted by Twilio, then kill -9
        clock.advance(seconds=1)
    clock.advance(seconds=61)
    await services.sender.drain()
    rows = await _outbox(services)
    assert len(double.messages) == 2
    assert [(r.status, r.provider_id) for r in rows] == [("sent", m.sid) for m in double.messages]


async def test_one_clashing_twilio_id_does_not_undo_the_rest_of_the_batch(make_bot, database_url,
                                                                         twilio, clock):
    """Two outcomes naming the same Twilio id: the other rows of the batch are still recorded
    sent, and the row that lost the id goes back to be looked up again."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    for n in range(3):
        await bot.message(f"+1415555010{n}", "hi")
    claims = await _claim_all(services)
    first, second, third = [c.message.outbox_id for c in claims]
    lease_until = claims[0].lease_until
    outcomes = [SendOutcome(first, Result.SENT, "SM" + "1" * 32, lease_until=lease_until),
                SendOutcome(second, Result.SENT, "SM" + "1" * 32, lease_until=lease_until),
                SendOutcome(third, Result.SENT, "SM" + "3" * 32, lease_until=lease_until)]
    await services.store.write(lambda s: record_outcomes(s, outcomes, clock.now()))
    rows = {r.id: r for r in await _outbox(services)}
    assert (rows[first].status, rows[first].provider_id) == ("sent", "SM" + "1" * 32)
    assert (rows[third].status, rows[third].provider_id) == ("sent", "SM" + "3" * 32)
    assert (rows[second].status, rows[second].provider_id) == ("queued", None)
    assert rows[second].attempt_started_at is not None  # still to be looked up at Twilio


async def test_a_delivered_whatsapp_notice_is_not_rerouted_after_the_window_closed(
        make_bot, database_url, twilio, clock):
    """A worker dies after Twilio accepted a WhatsApp notice; when the row is picked up again the
    24-hour window has closed, but the notice is found at Twilio: no SMS copy, nothing dropped."""
    double, base = twilio
    double.clock = clock.now
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 12))
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    await bot.message(NEW_YORK, "hi")
    await _update_contacts(services, customer_id="cus_1")  # one customer on both channels
    await services.sender.drain()
    double.messages.clear()
    clock.set(ny(15, 11, 55))  # the WhatsApp window is still open
    await _notify(services, "whatsapp", NEW_YORK, "notice:wa")
    [claim] = await _claim_all(services)
    await services.transport.send(claim.message)  # delivered on WhatsApp, then kill -9
    clock.set(ny(15, 12, 30))  # back after the lease; the window has closed
    await services.sender.drain()
    assert [m.to for m in double.messages] == [f"whatsapp:{NEW_YORK}"]
    notices = [r for r in await _outbox(services) if r.business_key.startswith("notice")]
    assert [(r.channel, r.status, r.provider_id) for r in notices] == [
        ("whatsapp", "sent", double.messages[0].sid)]


async def test_an_attempt_twilio_never_saw_is_gated_again_before_it_is_sent(
        make_bot, database_url, twilio, clock):
    """A worker dies before its request reached Twilio and the customer opts out meanwhile:
    nothing is found at Twilio, so the gate rules again and the message is not sent."""
    double, base = twilio
    double.clock = clock.now
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(15, 11))
    await bot.message(NEW_YORK, "hi")
    await services.sender.drain()
    double.messages.clear()
    await _notify(services, "sms", NEW_YORK, "notice:sms")
    assert len(await _claim_all(services)) == 1  # claimed, then kill -9 before sending

    def opt_out(session):
        session.scalars(select(Contact)).one().opted_out = True

    await services.store.write(opt_out)
    clock.advance(seconds=61)
    await services.sender.drain()
    assert double.messages == []
    [notice] = [r for r in await _outbox(services) if r.business_key == "notice:sms"]
    assert notice.status == "dropped"

