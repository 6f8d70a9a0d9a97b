"""The events API: validation with field-level reasons, idempotency by event id, customers and
their contacts, checkout consent in the ledger, and what GET /api/customers/{id} shows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.events import (
    CustomerUpserted,
    EventInvalid,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionUpdated,
    parse_event,
)
from bot.store.models import ConsentEvent, Contact, Customer, ProcessedEvent
from tests.business import (
    API_HEADERS,
    BILLING_PHONE,
    LA,
    LA_MORNING,
    PHONE,
    customer_row,
    customer_upserted,
    payment_failed,
    send,
)
from tests.conftest import live_settings

SHAPES = [
    {"id": "evt_1", "type": "customer.upserted", "customer": {
        "id": "cus_1", "phone": "+14155550100", "whatsapp": "+14155550100", "locale": "es",
        "timezone": "America/New_York", "plan": "pro", "status": "active",
        "consent": {"sms": True, "whatsapp": True, "source": "checkout",
                    "at": "2026-11-01T10:00:00Z"},
        "billing_contact": {"phone": "+14155550199"}}},
    {"id": "evt_2", "type": "payment.failed", "customer_id": "cus_1",
     "invoice": {"id": "in_1", "amount": "19.00", "currency": "USD", "hosted_url": None}},
    {"id": "evt_3", "type": "payment.succeeded", "customer_id": "cus_1", "invoice_id": "in_1"},
    {"id": "evt_4", "type": "subscription.updated", "customer_id": "cus_1",
     "subscription": {"status": "paused", "paused_until": "2026-12-01T00:00:00Z"}},
]


def _problems(data) -> dict[str, str]:
    with pytest.raises(EventInvalid) as caught:
        parse_event(data)
    return {p.field: p.reason for p in caught.value.problems}


def test_design_shapes_parse() -> None:
    """The event shapes of the external contract parse into their types, numbers normalized."""
    upserted, failed, succeeded, updated = (parse_event(shape) for shape in SHAPES)
    assert isinstance(upserted, CustomerUpserted) and upserted.customer.locale == "es"
    assert upserted.customer.billing_contact.phone == "+14155550199"
    assert upserted.customer.consent.at == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert isinstance(failed, PaymentFailed) and str(failed.invoice.amount) == "19.00"
    assert isinstance(succeeded, PaymentSucceeded) and succeeded.invoice_id == "in_1"
    assert isinstance(updated, SubscriptionUpdated) and updated.subscription.status == "paused"
    nested = parse_event({"id": "e", "type": "payment.succeeded", "customer_id": "c",
                          "invoice": {"id": "in_9"}})
    assert nested.invoice_id == "in_9"


def test_problems_are_named_field_by_field() -> None:
    """Every problem names its field and says why."""
    assert _problems({"id": "e", "type": "customer.upserted", "customer": {
        "id": "c", "phone": "4155550100", "whatsapp": "+1 415", "timezone": "Mars/Olympus",
        "locale": "zz"}}) == {
        "customer.phone": "'4155550100' is not in international format (+country number)",
        "customer.whatsapp": "not a possible phone number",
        "customer.timezone": "unknown time zone 'Mars/Olympus' (use an IANA name like "
                             "America/New_York)",
        "customer.locale": "unknown locale 'zz'"}
    assert _problems({"id": "e", "type": "payment.failed", "customer_id": "c"}) == {
        "invoice": "Field required"}
    bad_invoice = _problems({"id": "e", "type": "payment.failed", "customer_id": "c", "invoice": {
        "id": "i", "amount": "0", "currency": "XXQ", "hosted_url": "javascript:alert(1)"}})
    assert set(bad_invoice) == {"invoice.amount", "invoice.currency", "invoice.hosted_url"}
    assert _problems({"id": "e", "type": "customer.deleted"})["type"].startswith(
        "unknown event type 'customer.deleted'")
    assert set(_problems({"type": "payment.succeeded", "customer_id": "c"})) == {"id", "invoice_id"}
    assert _problems(["not", "an", "object"]) == {"": "expected a JSON object"}


def test_extra_fields_are_kept() -> None:
    """Fields the contract does not name survive parsing."""
    event = parse_event({**SHAPES[1], "source": "stripe",
                         "invoice": {**SHAPES[1]["invoice"], "attempt": 2}})
    assert event.model_extra == {"source": "stripe"}
    assert event.invoice.model_extra == {"attempt": 2}


async def _bot(make_bot, database_url, twilio, clock):
    _, base = twilio
    clock.set(LA_MORNING)
    return await make_bot(live_settings(database_url, base), clock=clock)


async def test_the_api_wants_the_bearer_token_and_json(make_bot, database_url, twilio, clock):
    """No token is 401, a body that is not JSON is 400, a bad event is 422 with reasons."""
    bot, _ = await _bot(make_bot, database_url, twilio, clock)
    assert (await bot.client.post("/api/events", json=SHAPES[0])).status == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await bot.client.post("/api/events", json=SHAPES[0], headers=wrong)).status == 401
    response = await bot.client.post("/api/events", data=b"{not json", headers=API_HEADERS)
    assert response.status == 400
    response = await bot.client.post("/api/events", json={"id": "e", "type": "payment.failed",
                                                          "customer_id": "c"}, headers=API_HEADERS)
    assert response.status == 422
    assert await response.json() == {"errors": [{"field": "invoice", "reason": "Field required"}]}


async def test_events_are_idempotent_by_id(make_bot, database_url, twilio, clock):
    """The same event twice is accepted twice and applied once; the same id with another body
    is a conflict."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    event = customer_upserted(note="kept as sent")
    assert await send(bot, event) == {"id": event["id"], "status": "accepted"}
    assert await send(bot, event) == {"id": event["id"], "status": "duplicate"}
    changed = {**event, "customer": {**event["customer"], "plan": "max"}}
    response = await bot.client.post("/api/events", json=changed, headers=API_HEADERS)
    assert response.status == 409
    stored = await services.store.read(lambda s: s.get(ProcessedEvent, event["id"]))
    assert stored.payload == event and stored.customer_id == "cus_1"
    assert (await customer_row(services)).plan == "pro"


async def test_a_payment_for_an_unknown_customer_is_refused_until_the_customer_exists(
        make_bot, database_url, twilio, clock):
    """payment.failed for a customer we never heard of is a 422 and is not recorded, so the
    same event is accepted once the customer arrives."""
    bot, _ = await _bot(make_bot, database_url, twilio, clock)
    event = payment_failed()
    response = await bot.client.post("/api/events", json=event, headers=API_HEADERS)
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == "customer_id"
    await send(bot, customer_upserted())
    assert (await send(bot, event))["status"] == "accepted"


async def test_customer_upserted_links_contacts_per_channel(make_bot, database_url, twilio, clock):
    """phone becomes the SMS contact and whatsapp the WhatsApp one, both carrying the
    customer, locale and zone; a changed phone lets the old contact go."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, customer_upserted(whatsapp="+5511987654321", locale="pt-BR",
                                      timezone="America/Sao_Paulo",
                                      billing_contact={"phone": BILLING_PHONE}))

    def contacts(session):
        return {(c.channel, c.address): (c.customer_id, c.locale, c.timezone)
                for c in session.scalars(select(Contact))}

    assert await services.store.read(contacts) == {
        ("sms", PHONE): ("cus_1", "pt_BR", "America/Sao_Paulo"),
        ("whatsapp", "+5511987654321"): ("cus_1", "pt_BR", "America/Sao_Paulo")}
    customer = await customer_row(services)
    assert (customer.billing_phone, customer.locale) == (BILLING_PHONE, "pt_BR")
    await send(bot, customer_upserted(phone="+14155550111", whatsapp=None))
    linked = await services.store.read(contacts)
    assert linked[("sms", PHONE)][0] is None
    assert linked[("whatsapp", "+5511987654321")][0] is None
    assert linked[("sms", "+14155550111")][0] == "cus_1"


async def test_checkout_consent_is_recorded_only_when_it_changes(make_bot, database_url, twilio,
                                                                clock):
    """Checkout consent becomes a ledger row; sending it again adds nothing; a STOP the customer
    sent later is not undone by an older checkout answer, only by a newer one."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    consent = {"sms": True, "source": "checkout", "at": "2026-03-01T10:00:00Z"}
    await send(bot, customer_upserted(consent=consent))
    await send(bot, customer_upserted(consent=consent))

    async def ledger():
        return await services.store.read(lambda s: [
            (e.action, e.source, e.at) for e in s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))])

    checkout_at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert await ledger() == [("opt_in", "checkout", checkout_at)]
    await bot.message(PHONE, "STOP")
    await send(bot, customer_upserted(consent=consent))
    assert [a for a, _, _ in await ledger()] == ["opt_in", "opt_out"]
    contact = await services.store.read(lambda s: s.scalars(select(Contact)).one())
    assert contact.opted_out
    clock.advance(days=1)
    await send(bot, customer_upserted(consent={**consent, "at": clock.now().isoformat()}))
    assert [a for a, _, _ in await ledger()] == ["opt_in", "opt_out", "opt_in"]


async def test_subscription_updated_changes_the_ledger(make_bot, database_url, twilio, clock):
    """subscription.updated says what the subscription is now; a new trial may be extended
    again; extra fields are kept."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, customer_upserted())
    await services.store.write(lambda s: setattr(s.get(Customer, "cus_1"), "trial_extended", True))
    await send(bot, {"id": "evt_sub", "type": "subscription.updated", "customer_id": "cus_1",
                     "subscription": {"status": "trialing", "trial_ends_at": "2026-03-20T00:00:00Z",
                                      "seats": 3}})
    customer = await customer_row(services)
    assert (customer.status, customer.trial_extended) == ("trialing", False)
    assert customer.trial_ends_at == datetime(2026, 3, 20, tzinfo=UTC)
    assert customer.extra == {"subscription": {"seats": 3}}


async def test_customer_state_shows_subscription_consent_episodes_and_history(
        make_bot, database_url, twilio, clock):
    """GET /api/customers/{id} answers with the subscription, the consent ledger, the open
    episodes and the messages both ways; an unknown id is 404."""
    bot, _ = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, customer_upserted(consent={"sms": True}))
    await send(bot, payment_failed())
    clock.advance(minutes=5)
    await bot.message(PHONE, "how do I pay?")
    response = await bot.client.get("/api/customers/cus_1", headers=API_HEADERS)
    state = await response.json()
    assert response.status == 200
    assert state["customer"]["status"] == "active" and state["customer"]["timezone"] == LA
    assert [(c["action"], c["source"]) for c in state["consent"]] == [("opt_in", "checkout")]
    assert [(e["invoice_id"], e["amount"], e["currency"]) for e in state["open_episodes"]] == [
        ("in_1", "19.00", "USD")]
    assert [(m["direction"], m.get("template")) for m in state["messages"]] == [
        ("out", "dunning.first_notice"), ("in", None), ("out", "dunning.link_again")]
    assert state["contacts"][0]["conversation"] == {"flow": "dunning", "state": "awaiting_payment"}
    missing = await bot.client.get("/api/customers/cus_404", headers=API_HEADERS)
    assert missing.status == 404
    assert (await bot.client.get("/api/customers/cus_1")).status == 401


async def test_customer_state_includes_the_billing_contact(make_bot, database_url, twilio, clock):
    """The billing contact's dunning shows in the customer's history, marked as such."""
    bot, _ = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, customer_upserted(billing_contact={"phone": BILLING_PHONE}))
    await send(bot, payment_failed())
    state = await (await bot.client.get("/api/customers/cus_1", headers=API_HEADERS)).json()
    assert [(c["role"], c["address"]) for c in state["contacts"]] == [
        ("subscriber", PHONE), ("billing", BILLING_PHONE)]
    assert [(m["address"], m["template"]) for m in state["messages"]] == [
        (BILLING_PHONE, "dunning.first_notice"), (PHONE, "dunning.courtesy")]
