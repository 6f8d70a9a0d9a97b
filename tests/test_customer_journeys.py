"""The conversation flows as a customer on a phone meets them: changing one's mind,
a subscription that changed behind the conversation's back, events out of order, bad events,
and messages that read as they should."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.i18n import shipped_locales
from bot.messages import Channel, Say
from bot.render import Renderer
from bot.store.models import Conversation, Invoice
from tests.business import (
    API_HEADERS,
    LA_MORNING,
    PHONE,
    actions,
    customer_row,
    customer_upserted,
    outbox,
    payment_failed,
    payment_succeeded,
    send,
)
from tests.conftest import live_settings

PERIOD_END = datetime(2026, 3, 20, 7, 0, tzinfo=UTC)


async def _bot(make_bot, database_url, twilio, clock, **customer):
    double, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    customer.setdefault("current_period_end", PERIOD_END.isoformat())
    await send(bot, customer_upserted(**customer))
    return double, bot, services


async def _say(bot, services, double, text: str, **extra) -> list[str]:
    """Send a customer message; every message the bot answered with."""
    before = len(double.messages)
    await bot.message(PHONE, text, **extra)
    await services.sender.drain()
    return [m.body for m in double.messages[before:]]


async def _conversation(services) -> Conversation:
    return await services.store.read(lambda s: s.scalars(select(Conversation)).one())


@pytest.mark.parametrize(("key", "channel", "variables"), [
    ("handoff.requested", Channel.SMS, {"reason": "not_understood", "opens_at": None}),
    ("handoff.requested", Channel.WHATSAPP, {"reason": "frustrated", "opens_at": "Mon 9:00"}),
    ("survey.question", Channel.SMS, {}),
    ("handoff.follow_up", Channel.SMS, {}),
])
@pytest.mark.parametrize("locale", shipped_locales())
def test_sentences_of_separate_blocks_are_not_run_together(key, channel, variables, locale):
    """Two sentences a template writes in separate blocks never reach the phone glued together."""
    body = Renderer(shipped_locales(), "en").render(Say(key, variables, []), channel, locale).body
    assert re.search(r"[.?!][^\s\d]", body) is None, body


@pytest.mark.parametrize(("start", "answer"), [
    ("cancel my subscription", "menu"), ("cancel my subscription", "hi"),
    ("pause my subscription", "start over"),
])
async def test_a_customer_who_changes_their_mind_mid_flow_gets_the_main_menu(
        make_bot, database_url, twilio, clock, start, answer):
    """"Menu" or a greeting half-way through cancelling or pausing leads to the main menu, not
    to "didn't understand" and a person's queue."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, start)
    [reply] = await _say(bot, services, double, answer)
    assert reply.startswith("Hi! I'm the Support assistant.") and "1. Billing date" in reply
    await _say(bot, services, double, "menu")
    assert (await _conversation(services)).flow == "faq"
    assert await actions(services) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("hi", "Hi! I'm the Support assistant."),
    ("pause my subscription", "You can pause your subscription"),
])
async def test_a_pause_ended_by_the_business_is_not_reported_as_running(
        make_bot, database_url, twilio, clock, text, expected):
    """After the business resumed a paused subscription, the bot neither says it is paused nor
    refuses a new pause."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "1")
    await send(bot, {"id": "evt_resumed", "type": "subscription.updated", "customer_id": "cus_1",
                     "subscription": {"status": "active"}})
    [reply] = await _say(bot, services, double, text)
    assert reply.startswith(expected) and "paused until" not in reply


async def test_a_payment_reported_before_its_failure_opens_no_dunning(make_bot, database_url,
                                                                      twilio, clock):
    """payment.succeeded arriving before the invoice's payment.failed keeps the invoice paid
    and sends no payment request."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_succeeded("in_7"))
    await send(bot, payment_failed("in_7"))
    await services.sender.drain()
    assert await outbox(services) == []
    invoice = await services.store.read(lambda s: s.get(Invoice, "in_7"))
    assert invoice.status == "paid"


@pytest.mark.parametrize("event", [
    {"type": "customer.upserted", "customer": {"id": "cus_1", "status": None}},
    {"type": "subscription.updated", "customer_id": "cus_1", "subscription": {"status": None}},
])
async def test_a_null_subscription_status_is_refused_with_its_reason(make_bot, database_url,
                                                                     twilio, clock, event):
    """A status sent as null is a 422 naming the field, not a server error."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock)
    response = await bot.client.post("/api/events", json={"id": "evt_null", **event},
                                      headers=API_HEADERS)
    assert response.status == 422
    [problem] = (await response.json())["errors"]
    assert problem["field"].endswith("status") and "null" in problem["reason"]
    assert (await customer_row(services)).status == "active"


async def test_a_payer_of_several_subscriptions_is_asked_to_talk_to_a_person(make_bot,
                                                                             database_url,
                                                                             twilio, clock):
    """A number that is the billing contact of two customers asks to pause, then to cancel:
    which subscription it means cannot be told, so nothing is paused or canceled and the bot
    says so and offers a person; the payer of one customer still pauses theirs."""
    payer, payer_of_one = "+14155550188", "+14155550177"
    double, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                       billing_contact={"phone": payer})
    await send(bot, customer_upserted("cus_2", phone="+14155550102",
                                      billing_contact={"phone": payer}))
    await send(bot, customer_upserted("cus_3", phone="+14155550103",
                                      billing_contact={"phone": payer_of_one}))
    for text in ("pause my subscription", "cancel my subscription"):
        before = len(double.messages)
        await bot.message(payer, text)
        await services.sender.drain()
        [reply] = [m.body for m in double.messages[before:]]
        assert reply.startswith("This number pays for more than one subscription, so I can't "
                                "tell which one you mean.")
        assert "Talk to a person" in reply
    assert await actions(services) == []

    await bot.message(payer_of_one, "pause my subscription")
    await bot.message(payer_of_one, "1")
    [action] = await actions(services)
    assert (action.customer_id, action.action) == ("cus_3", "pause")


@pytest.mark.parametrize(("start", "answer", "kept"), [
    ("cancel my subscription", "1", "cancel"),
    ("pause my subscription", "2", "pause"),
])
async def test_a_question_mid_flow_is_answered_and_the_choices_still_stand(
        make_bot, database_url, twilio, clock, start, answer, kept):
    """Asked half-way through cancelling or pausing, a question the FAQ knows gets its answer
    with the choices the flow waits on, not "didn't understand" (two of which queue a person);
    answering a choice afterwards carries on where the flow stood."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    [offer] = await _say(bot, services, double, start)
    choices = offer[offer.index("Reply with a number:"):]
    for question in ("when is my next payment?", "how do I update my card"):
        [reply] = await _say(bot, services, double, question)
        assert "didn't" not in reply
        assert reply.endswith(choices)
    assert "billed on the same day each month" in (await outbox(services))[-2].body
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.misunderstood) == (kept, 0)
    await _say(bot, services, double, answer)
    if kept == "pause":
        [action] = await actions(services)
        assert (action.action, action.params["months"]) == ("pause", 2)
    else:
        assert (await _conversation(services)).state != "asking_reason"


async def test_ok_and_thanks_mid_flow_offer_the_choices_again_and_queue_no_one(make_bot,
                                                                              database_url,
                                                                              twilio, clock):
    """"ok" and "thanks" while a cancel offer waits are not wrong answers: the choices come
    again, kindly, and however many there are no person is asked for; a choice still counts."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    [offer] = await _say(bot, services, double, "cancel my subscription")
    choices = offer[offer.index("Reply with a number:"):]
    for text in ("ok", "thanks", "👍"):
        [reply] = await _say(bot, services, double, text)
        assert reply == f"Whenever you're ready, choose one of these:\n\n{choices}"
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.state, conversation.misunderstood) == (
        "cancel", "asking_reason", 0)


async def test_no_thanks_mid_flow_is_not_taken_for_a_choice_or_a_courtesy(make_bot, database_url,
                                                                          twilio, clock):
    """"No thanks" to a pending cancel question is neither a choice (cancelling on a guess would
    be worse) nor an "ok": the customer is told the answer did not fit, with the choices."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    [offer] = await _say(bot, services, double, "cancel my subscription")
    choices = offer[offer.index("Reply with a number:"):]
    [reply] = await _say(bot, services, double, "no thanks")
    assert reply.endswith(choices) and "Whenever you're ready" not in reply
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.state, conversation.misunderstood) == (
        "cancel", "asking_reason", 1)


@pytest.mark.parametrize(("start", "text"), [
    ("cancel my subscription", "never mind"),
    ("cancel my subscription", "I changed my mind, keep it"),
    ("quiero cancelar mi suscripción", "olvídalo"),
    ("quero cancelar minha assinatura", "mudei de ideia"),
    ("I want to pause", "forget it"),
    ("I want to pause", "actually don't pause it"),
])
async def test_changing_ones_mind_half_way_leaves_the_subscription_as_it_is(
        make_bot, database_url, twilio, clock, start, text):
    """"Never mind" while pausing or cancelling waits on a choice ends the flow with the
    subscription untouched and says so — not "didn't get that", nor an FAQ answer that happens
    to look alike ("forget it" is not "Forgot password")."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, start)
    [reply] = await _say(bot, services, double, text)
    assert reply.startswith(("OK, nothing has changed", "De acuerdo, no ha cambiado nada",
                             "Tudo bem, nada mudou"))
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.misunderstood) != ("cancel", 1)
    assert conversation.state not in ("asking_reason", "choosing_length")
    assert await actions(services) == []


PHOTO = {"NumMedia": "1", "MediaContentType0": "image/jpeg",
         "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"}


async def test_a_photo_or_voice_note_alone_is_answered_as_such_not_as_a_miss(make_bot, database_url,
                                                                           twilio, clock):
    """The bot reads only text: a photo, voice note or file on its own gets a plain "I can only
    read text" with a person on offer — not "I'm not sure about that one", and never counted as
    a miss. Half-way through a flow the pending choices stay; a caption is read as usual."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    for _ in range(3):
        [reply] = await _say(bot, services, double, "", **PHOTO)
        assert reply.startswith("I can only read text here")
        assert reply.endswith("1. Talk to a person\n2. Main menu")
    assert (await _conversation(services)).misunderstood == 0
    [offer] = await _say(bot, services, double, "cancel my subscription")
    [reply] = await _say(bot, services, double, "", **{**PHOTO, "MediaContentType0": "audio/ogg"})
    assert reply.startswith("I can only read text here")
    assert reply.endswith(offer[offer.index("Reply with a number:"):])
    assert (await _conversation(services)).state == "asking_reason"
    [answer] = await _say(bot, services, double, "when will I be charged?", **PHOTO)
    assert "billed on the same day each month" in answer


async def test_a_choice_typed_in_words_is_taken(make_bot, database_url, twilio, clock):
    """"two months please" answers the pause lengths like "2" (it used to be "didn't get that",
    and the next try queued a person)."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    [done] = await _say(bot, services, double, "two months please")
    assert done.startswith("Done: your subscription is paused until")
    [action] = await actions(services)
    assert (action.action, action.params["months"]) == ("pause", 2)
