"""POST /twilio/status: delivery state moves forward only, and early reports are not lost."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import ConsentEvent, Contact, OutboxMessage
from tests.conftest import live_settings, new_sid

CUSTOMER = "+14155550100"


async def _row(services) -> OutboxMessage:
    return await services.store.read(lambda s: s.scalars(select(OutboxMessage)).one())


async def _report(bot, sid: str, status: str, **extra: str) -> int:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}
    return (await bot.post_signed("/twilio/status", form)).status


async def test_status_moves_forward_and_never_back(make_bot, database_url, twilio, clock):
    """sent → delivered → read; a late 'sent' or 'delivered' afterwards changes nothing."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(CUSTOMER, "hi")
    await services.sender.drain()
    sid = double.messages[0].sid
    for status, expected in [("sent", "sent"), ("delivered", "delivered"), ("read", "read"),
                             ("delivered", "read"), ("sent", "read"), ("queued", "read")]:
        assert await _report(bot, sid, status) == 204
        assert (await _row(services)).status == expected


async def test_failure_report_records_its_code(make_bot, database_url, twilio, clock):
    """An undelivered report keeps Twilio's error code; 21610 also opts the contact out."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(CUSTOMER, "hi")
    await services.sender.drain()
    sid = double.messages[0].sid
    assert await _report(bot, sid, "failed", ErrorCode="21610") == 204
    row = await _row(services)
    assert (row.status, row.error_code) == ("failed", 21610)

    def consent(session):
        return (session.scalars(select(Contact)).one().opted_out,
                [(e.action, e.source) for e in session.scalars(select(ConsentEvent))])

    assert await services.store.read(consent) == (True, [("opt_out", "carrier")])


async def test_report_arriving_before_we_recorded_the_send_is_applied(make_bot, database_url,
                                                                      twilio, clock):
    """Twilio can report 'delivered' before the sender has stored the message id."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(CUSTOMER, "hi")
    original_send = services.transport.send

    async def send_then_report(message):
        sid = await original_send(message)
        assert await _report(bot, sid, "delivered") == 204
        return sid

    services.transport.send = send_then_report
    await services.sender.drain()
    assert (await _row(services)).status == "delivered"


async def test_unsigned_or_unknown_status_is_refused(make_bot, sqlite_url, twilio, clock):
    """A status callback without a valid signature is 403; an unknown status is 400."""
    _, base = twilio
    bot, _ = await make_bot(live_settings(sqlite_url, base), clock=clock)
    form = {"MessageSid": new_sid(), "MessageStatus": "delivered"}
    assert (await bot.post_signed("/twilio/status", form, signature="bad")).status == 403
    assert await _report(bot, new_sid(), "vanished") == 400


async def test_window_closed_report_takes_the_whatsapp_fallback(make_bot, database_url, twilio,
                                                                clock):
    """A 63016 that arrives in a status callback is handled like the synchronous one: the message
    goes back to the gate, which holds it (no template, no other channel) instead of failing it."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(f"whatsapp:{CUSTOMER}", "when will I be charged?")
    await services.sender.drain()
    [sent] = double.messages
    assert await _report(bot, sent.sid, "failed", ErrorCode="63016") == 204
    await services.sender.drain()
    row = await _row(services)
    assert (row.status, row.error_code, row.provider_id) == ("held", 63016, None)
    assert len(double.messages) == 1


async def test_window_closed_report_after_a_newer_message_only_fails(make_bot, database_url,
                                                                     twilio, clock):
    """When the conversation has moved on, a late 63016 marks its message failed: resending it
    now would arrive out of turn."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(f"whatsapp:{CUSTOMER}", "when will I be charged?")
    await services.sender.drain()
    await bot.message(f"whatsapp:{CUSTOMER}", "how do I pause?")
    await services.sender.drain()
    first = double.messages[0]
    assert await _report(bot, first.sid, "failed", ErrorCode="63016") == 204
    await services.sender.drain()
    rows = await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))
    assert [(r.status, r.error_code) for r in rows] == [("failed", 63016), ("sent", None)]
    assert len(double.messages) == 2


async def test_two_refused_replies_both_take_the_fallback(make_bot, database_url, twilio, clock):
    """Twilio refuses both replies (63016), the later one reported first: a later message that
    did not reach the customer either does not stop the earlier one's fallback."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(f"whatsapp:{CUSTOMER}", "when will I be charged?")
    await bot.message(f"whatsapp:{CUSTOMER}", "how do I pause?")
    await services.sender.drain()
    first, second = double.messages
    assert await _report(bot, second.sid, "failed", ErrorCode="63016") == 204
    assert await _report(bot, first.sid, "failed", ErrorCode="63016") == 204
    await services.sender.drain()
    rows = await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))
    assert [(r.status, r.error_code) for r in rows] == [("held", 63016), ("held", 63016)]
    assert len(double.messages) == 2


async def test_two_refused_replies_reported_in_send_order_both_take_the_fallback(
        make_bot, database_url, twilio, clock):
    """Twilio refuses both replies (63016), reported in the order they were sent: the later one,
    which only looked sent when the first report came, turns out refused too, so the earlier one
    is not given up — both wait for the fallback, in order."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(f"whatsapp:{CUSTOMER}", "when will I be charged?")
    await bot.message(f"whatsapp:{CUSTOMER}", "how do I pause?")
    await services.sender.drain()
    first, second = double.messages
    assert await _report(bot, first.sid, "failed", ErrorCode="63016") == 204
    assert await _report(bot, second.sid, "failed", ErrorCode="63016") == 204
    await services.sender.drain()
    rows = await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))
    assert [(r.status, r.error_code) for r in rows] == [("held", 63016), ("held", 63016)]
    assert len(double.messages) == 2


async def test_a_refused_reply_stays_given_up_when_a_later_one_was_delivered(
        make_bot, database_url, twilio, clock):
    """Three replies: the second is delivered, then the first and third are refused (63016): the
    third waits for the fallback, the first stays failed (it would arrive out of turn)."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    for question in ("when will I be charged?", "how do I pause?", "I forgot my password"):
        await bot.message(f"whatsapp:{CUSTOMER}", question)
    await services.sender.drain()
    first, second, third = double.messages
    assert await _report(bot, second.sid, "delivered") == 204
    assert await _report(bot, first.sid, "failed", ErrorCode="63016") == 204
    assert await _report(bot, third.sid, "failed", ErrorCode="63016") == 204
    await services.sender.drain()
    rows = await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))
    assert [(r.status, r.error_code) for r in rows] == [
        ("failed", 63016), ("delivered", None), ("held", 63016)]


async def test_every_documented_twilio_status_is_accepted(make_bot, database_url, twilio, clock):
    """Twilio's statuses we do not act on (receiving, received…) answer 204 like the others;
    'canceled' ends a message as failed, 'partially_delivered' counts as delivered."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(CUSTOMER, "hi")
    await services.sender.drain()
    sid = double.messages[0].sid
    for status in ("accepted", "scheduled", "queued", "sending", "sent", "receiving",
                   "received"):
        assert await _report(bot, sid, status) == 204
    assert (await _row(services)).status == "sent"
    assert await _report(bot, sid, "partially_delivered") == 204
    assert (await _row(services)).status == "delivered"
    await bot.message("+14155550111", "hi")
    await services.sender.drain()
    assert await _report(bot, double.messages[1].sid, "canceled") == 204
    canceled = await services.store.read(lambda s: s.scalars(
        select(OutboxMessage).where(OutboxMessage.provider_id == double.messages[1].sid)).one())
    assert (canceled.status, canceled.status_reason) == ("failed", "canceled at Twilio")
