"""The outbound gate's SMS budget end to end: a dunning episode reaches the customer by SMS at
most twice, whether the texts come from an SMS conversation or from WhatsApp messages the gate
re-sends by SMS because the 24-hour window is closed."""

from __future__ import annotations

from datetime import timedelta

from bot.messages import Channel
from tests.business import (
    LA_MORNING,
    PHONE,
    configure,
    customer_upserted,
    outbox,
    payment_failed,
    payment_succeeded,
    run_jobs,
    send,
)
from tests.conftest import live_settings

CHECKOUT_CONSENT = {"sms": True, "whatsapp": True, "source": "checkout",
                    "at": "2026-03-01T10:00:00Z"}


async def test_rerouted_dunning_keeps_to_two_sms(make_bot, database_url, twilio, clock):
    """A WhatsApp customer who never wrote to us (window closed, no approved template) gets the
    dunning on their consented SMS number: the first notice and the first reminder, and no
    more — the later reminder and the discount offer are dropped with the budget as reason."""
    double, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await configure(services, "dunning", discount_enabled=True)
    await send(bot, customer_upserted(whatsapp=PHONE, consent=CHECKOUT_CONSENT))
    await send(bot, payment_failed())
    await services.sender.drain()
    for days in (3, 7, 10):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
        await services.sender.drain()
    assert [(m.to, "/pay/" in m.body) for m in double.messages] == [(PHONE, True)] * 2
    sms = await outbox(services, channel=Channel.SMS)
    assert [(r.template, r.status) for r in sms] == [("dunning.first_notice", "sent"),
                                                     ("dunning.reminder", "sent")]
    spent = [r for r in await outbox(services, channel=Channel.WHATSAPP)
             if r.status_reason and "SMS budget" in r.status_reason]
    assert [(r.template, r.status) for r in spent] == [("dunning.reminder", "dropped"),
                                                       ("dunning.discount_offer", "dropped")]


async def test_no_third_sms_even_to_confirm_the_payment(make_bot, database_url, twilio, clock):
    """An SMS customer who had the notice and a reminder is not texted a third time when they
    pay: the confirmation is dropped with the budget as reason (the payment page says it)."""
    double, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await send(bot, customer_upserted())
    await send(bot, payment_failed())
    await services.sender.drain()
    clock.set(LA_MORNING + timedelta(days=3))
    await run_jobs(services)
    await services.sender.drain()
    await send(bot, payment_succeeded())
    await services.sender.drain()
    assert len(double.messages) == 2
    [paid] = await outbox(services, template="dunning.paid")
    assert (paid.status, paid.status_reason) == ("dropped",
                                                 "SMS budget: dunning:in_1 has had its 2 SMS")
