"""The agent sees the customer's account beside the conversation: subscription, the payment
being recovered, and the cancel reasons and offers shown with their outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.account_context import account_sections
from bot.store.models import Contact
from tests.business import (
    BILLING_PHONE,
    LA_MORNING,
    PHONE,
    configure,
    customer_upserted,
    payment_failed,
    payment_succeeded,
    send,
)
from tests.conftest import live_settings


async def _sections(services, address: str) -> dict[str, dict[str, str]]:
    def read(session):
        contact = session.scalars(select(Contact).where(Contact.address == address,
                                                        Contact.channel == "sms")).one()
        return {section.title: dict(section.rows)
                for section in account_sections(session, contact, services.clock.now())}
    return await services.store.read(read)


async def test_subscription_payments_and_offers_are_shown(make_bot, database_url, twilio, clock):
    """After a failed payment and a declined save offer the agent reads the plan and status, the
    invoice under recovery with its link's expiry, and the reason and offer with their outcome."""
    _, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await send(bot, customer_upserted(plan="pro", billing_contact={"phone": BILLING_PHONE}))
    await send(bot, payment_failed("in_9", amount="19.00"))
    await configure(services, "cancel", rescue_plan="saver", rescue_plan_name="Saver",
                    rescue_prices={"USD": "9.00"})
    for text in ("cancel my subscription", "1", "2"):
        await bot.message(PHONE, text)

    sections = await _sections(services, PHONE)
    assert sections["Subscription"]["Customer"] == "cus_1"
    assert sections["Subscription"]["Plan"] == "pro"
    assert "Cancels on" in sections["Subscription"]
    [(invoice, state)] = sections["Payments"].items()
    assert invoice == "in_9 ($19.00)"
    assert state.startswith("failed ") and "reminders running, link valid until" in state
    offers = list(sections["Cancel reasons and offers"].items())
    assert ("offer declined" in offers[1][0] or "offer declined" in offers[0][0])
    assert any(value == "reason: price · offer: rescue_plan" for _, value in offers)

    billing = await _sections(services, BILLING_PHONE)
    assert billing["Subscription"]["This number"] == "the customer's billing contact"

    await send(bot, payment_succeeded("in_9"))
    [(_, state)] = (await _sections(services, PHONE))["Payments"].items()
    assert state.startswith("paid ") and "via event" in state


async def test_dates_are_the_customers_own_days(make_bot, database_url, twilio, clock):
    """Dates are shown as the customer's calendar days: a payment failing at 21:00 in Los
    Angeles failed that day, though it was already the next day in UTC."""
    _, base = twilio
    clock.set(datetime(2026, 3, 3, 5, 0, tzinfo=UTC))  # March 2, 21:00 in Los Angeles
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await send(bot, customer_upserted())
    await send(bot, payment_failed("in_9"))
    [(_, state)] = (await _sections(services, PHONE))["Payments"].items()
    assert state == "failed 2026-03-02; reminders running, link valid until 2026-03-16"


async def test_a_contact_without_an_account_shows_nothing(make_bot, database_url, twilio, clock):
    """A number no business event mentioned has no account sections (the core context stays)."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message("+14155550123", "hi")

    def read(session):
        contact = session.scalars(select(Contact)).one()
        return account_sections(session, contact, clock.now())

    assert await services.store.read(read) == ()


async def test_a_payer_of_several_customers_shows_each_account(make_bot, database_url, twilio,
                                                              clock):
    """The agent talking to the billing contact of two customers sees both subscriptions, each
    named, with the failed payment under the customer whose invoice it is."""
    _, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await send(bot, customer_upserted(plan="pro", billing_contact={"phone": BILLING_PHONE}))
    await send(bot, customer_upserted("cus_2", phone="+14155550102", plan="basic",
                                      billing_contact={"phone": BILLING_PHONE}))
    await send(bot, payment_failed("in_7", customer_id="cus_2"))

    sections = await _sections(services, BILLING_PHONE)
    assert list(sections) == ["Subscription — cus_1", "Subscription — cus_2", "Payments — cus_2"]
    assert sections["Subscription — cus_1"]["Plan"] == "pro"
    assert sections["Subscription — cus_2"]["Plan"] == "basic"
    assert list(sections["Payments — cus_2"]) == ["in_7 ($19.00)"]
