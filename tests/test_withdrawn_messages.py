"""Messages withdrawn because their subject closed (the invoice was paid): one whose send was
under way is looked up at Twilio but never sent again, never takes another message's Twilio id,
and is never revived by the WhatsApp-window fallback."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.outbox import claim_due, drop_queued
from bot.store.models import OutboxMessage
from tests.conftest import live_settings
from tests.test_gate_delivery import NEW_YORK, TEMPLATE_SID, NoticeFlow, _configure, _notify, ny
from tests.twilio_double import Fault

WHATSAPP = f"whatsapp:{NEW_YORK}"
SUBJECT = "dunning:in_1"


async def _bot(make_bot, database_url, base, clock, **overrides):
    bot, services = await make_bot(live_settings(database_url, base, **overrides), clock=clock)
    services.engine.flows[NoticeFlow.flow_name] = NoticeFlow
    await _configure(services, "whatsapp_templates", {"templates": {"faq.answer": {"en": {
        "content_sid": TEMPLATE_SID, "variables": ["answer"]}}}})
    return bot, services


async def _rows(services) -> list[OutboxMessage]:
    return await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))


async def _drop(services) -> None:
    """What paying the invoice does to its queue (``Dunning.settle``)."""
    await services.store.write(
        lambda s: drop_queued(s, SUBJECT, "the invoice was paid", services.clock.now()))


async def _report(bot, sid: str, status: str, **extra: str) -> int:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}
    return (await bot.post_signed("/twilio/status", form)).status


async def test_a_dropped_notices_lookup_never_takes_a_later_messages_twilio_id(
        make_bot, database_url, twilio, clock):
    """A dropped template notice that never reached Twilio is looked up in the same pass as a
    later message recovered after a crash: the lookup must not record the later message as its
    own, which makes the later message go out a second time."""
    double, base = twilio
    double.clock = clock.now
    _, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 12))
    # No message from the customer in 24 h: WhatsApp messages go as the approved template.
    await _notify(services, "whatsapp", NEW_YORK, "notice:1", topic=SUBJECT)
    send = services.transport.send

    async def paid_while_sending(message):
        await _drop(services)
        await _notify(services, "whatsapp", NEW_YORK, "paid:1", topic="thanks")
        services.transport.send = send
        double.fail_next(Fault(429, 20429, "Too Many Requests"))  # nothing created at Twilio
        return await send(message)

    services.transport.send = paid_while_sending
    assert await services.sender.send_due() == 1
    assert double.messages == []
    clock.advance(seconds=61)  # the notice's lease is over
    # A pass claims the notice's lookup and the confirmation; Twilio takes the confirmation, and
    # the worker dies (kill -9) before recording anything.
    claims = await services.store.write(lambda s: claim_due(
        s, clock.now(), 10, timedelta(seconds=60), gate=services.sender.gate))
    [confirmation_claim] = [c for c in claims if not c.lookup_only]
    await services.transport.send(confirmation_claim.message)
    clock.advance(seconds=90)  # every lease is over: a new worker starts
    await services.sender.drain()
    notice, confirmation = await _rows(services)
    assert len(double.to(WHATSAPP)) == 1, "the confirmation went out twice"
    assert (confirmation.status, confirmation.provider_id) == ("sent", double.messages[0].sid)
    assert notice.status == "dropped"


async def test_a_dropped_notice_found_at_twilio_is_not_sent_again_after_a_63016_report(
        make_bot, database_url, twilio, clock):
    """The invoice is paid while a free-form WhatsApp notice is in flight; Twilio takes it, never
    answers, and reports it refused (63016) before we know its id: once the lookup finds it, the
    early report must not send the dropped notice back to the gate, which sends it again."""
    double, base = twilio
    double.clock = clock.now
    bot, services = await _bot(make_bot, database_url, base, clock, twilio_timeout_seconds=0.2)
    clock.set(ny(14, 12))
    await bot.message(WHATSAPP, "hi")  # the 24-hour window is open: free-form text
    await services.sender.drain()
    before = len(double.messages)
    await _notify(services, "whatsapp", NEW_YORK, "notice:1", topic=SUBJECT)
    send = services.transport.send

    async def paid_while_sending(message):
        await _drop(services)
        services.transport.send = send
        double.fail_next(Fault(accept_then_hang=1.0))
        return await send(message)

    services.transport.send = paid_while_sending
    await services.sender.drain()
    [notice_sent] = double.messages[before:]
    assert await _report(bot, notice_sent.sid, "failed", ErrorCode="63016") == 204
    clock.advance(minutes=2)  # the in-flight send's lease is over: the notice is looked up
    await services.sender.drain()
    notice = (await _rows(services))[-1]
    assert notice.business_key == "notice:1"
    assert double.messages[before:] == [notice_sent], "the dropped notice was sent again"
    assert notice.status not in ("queued", "sending", "sent")


async def test_a_refused_notice_of_a_paid_invoice_is_not_revived_by_a_later_refusal(
        make_bot, database_url, twilio, clock):
    """A notice refused (63016) while a later text looked sent stays failed; the invoice is then
    paid, and the later text is refused too: the paid invoice's notice must not go out again."""
    double, base = twilio
    double.clock = clock.now
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 12))
    await bot.message(WHATSAPP, "hi")
    await services.sender.drain()
    await _notify(services, "whatsapp", NEW_YORK, "notice:1", topic=SUBJECT)
    await _notify(services, "whatsapp", NEW_YORK, "other:1", topic="other")
    await services.sender.drain()
    *_, notice_sent, later_sent = double.messages
    assert await _report(bot, notice_sent.sid, "failed", ErrorCode="63016") == 204
    await _drop(services)  # the invoice is paid
    assert await _report(bot, later_sent.sid, "failed", ErrorCode="63016") == 204
    await services.sender.drain()
    [notice] = [r for r in await _rows(services) if r.subject == SUBJECT]
    assert sum(m.content_sid == TEMPLATE_SID for m in double.messages) == 1  # the later text
    assert notice.status in ("failed", "dropped"), "a paid invoice's notice went out again"
