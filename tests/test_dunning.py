"""Dunning: one episode per failed invoice, the same no-login link in every message, at most two
SMS, the schedule in the customer's own time, a stop the moment the payment succeeds, the
billing contact and the courtesy notice, and the optional late discount."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.store.models import Contact, Conversation, Customer, DunningEpisode, RetentionEvent
from flows.dunning import DunningConfig, Episode
from tests.business import (
    BILLING_PHONE,
    LA_MORNING,
    PHONE,
    actions,
    configure,
    customer_upserted,
    hand_back,
    jobs,
    outbox,
    payment_failed,
    payment_succeeded,
    retention,
    run_jobs,
    send,
)
from tests.conftest import live_settings

PAY_LINK = re.compile(r"https://bot\.example\.com/pay/[\w.-]+")


def links(text: str) -> list[str]:
    return PAY_LINK.findall(text)


async def _bot(make_bot, database_url, twilio, clock, **customer):
    double, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await send(bot, customer_upserted(**customer))
    return double, bot, services


async def _episode(services, invoice_id: str = "in_1") -> DunningEpisode:
    return await services.store.read(lambda s: s.scalars(
        select(DunningEpisode).where(DunningEpisode.invoice_id == invoice_id)).one())


async def _run(services, address: str, channel: str, event: str, **kwargs):
    """Send a dunning event straight to one contact's conversation (the flow's own rules)."""
    def work(session):
        contact = session.scalars(select(Contact).where(
            Contact.channel == channel, Contact.address == address)).one()
        return services.processor.run_event(session, contact, "dunning", event,
                                            services.clock.now(), **kwargs)
    return await services.store.write(work)


def _episode_view(**changes) -> Episode:
    values = dict(invoice_id="in_1", customer_id="cus_1", amount=Decimal("19.00"), currency="USD",
                  pay_url="https://bot.example.com/pay/token", sms_planned=0, plain_attempts=0,
                  told=False)
    values.update(changes)
    return Episode(**values)


async def test_payment_failed_sends_the_first_notice_and_plans_the_schedule(
        make_bot, database_url, twilio, clock):
    """payment.failed opens one episode; the first notice goes out at once with the payment link
    and the opt-out words, and the reminders are due on days 3 and 7 at the same local time."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    assert (await send(bot, payment_failed()))["status"] == "accepted"
    await services.sender.drain()
    [notice] = double.messages
    assert notice.to == PHONE
    assert "$19.00" in notice.body and "Reply UNSUBSCRIBE to opt out." in notice.body
    [link] = links(notice.body)
    episode = await _episode(services)
    assert (episode.status, episode.opened_at) == ("open", LA_MORNING)
    assert episode.link_expires_at == LA_MORNING + timedelta(days=14)
    planned = {job.key: job.due_at for job in await jobs(services)}
    # 10:00 in Los Angeles every time, across the switch to daylight time on March 8.
    assert planned == {
        "dunning:in_1:remind:2": datetime(2026, 3, 5, 18, 0, tzinfo=UTC),
        "dunning:in_1:remind:3": datetime(2026, 3, 9, 17, 0, tzinfo=UTC),
        "dunning:in_1:lapse": datetime(2026, 3, 16, 18, 0, tzinfo=UTC),
    }
    [row] = await outbox(services)
    assert (row.business_key, row.subject, row.kind) == ("dunning:in_1:1", "dunning:in_1", "proactive")
    assert link.startswith("https://bot.example.com/pay/")


async def test_a_second_failure_of_the_same_invoice_opens_nothing_new(make_bot, database_url,
                                                                      twilio, clock):
    """One episode per invoice: the same invoice failing again sends no second first notice."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await send(bot, payment_failed())
    await services.sender.drain()
    assert len(double.messages) == 1
    assert len(await jobs(services)) == 3


async def test_sms_dunning_stops_at_two_messages_with_the_same_link(make_bot, database_url,
                                                                   twilio, clock):
    """Through the whole schedule an SMS customer gets two messages, both with the same link."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    for days in (3, 4, 10):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
        await services.sender.drain()
    bodies = [m.body for m in double.messages]
    assert len(bodies) == 2
    assert "reminder" in bodies[1]
    assert len({link for body in bodies for link in links(body)}) == 1
    assert [r.template for r in await outbox(services)] == ["dunning.first_notice",
                                                            "dunning.reminder"]


async def test_whatsapp_dunning_follows_every_step(make_bot, database_url, twilio, clock):
    """A WhatsApp customer is not bound by the SMS budget: every step is planned, each with the
    same link and variables an approved template can use."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock, phone=None,
                                  whatsapp=PHONE)
    await send(bot, payment_failed())
    for days in (3, 7):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
    rows = await outbox(services)
    assert [(r.channel, r.template) for r in rows] == [
        ("whatsapp", "dunning.first_notice"), ("whatsapp", "dunning.reminder"),
        ("whatsapp", "dunning.reminder")]
    assert len({link for r in rows for link in links(r.body)}) == 1


async def test_payment_success_stops_the_sequence_at_once(make_bot, database_url, twilio, clock):
    """payment.succeeded cancels the remaining steps, drops a reminder still queued, and sends
    one confirmation — only one, however often the success is reported."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await services.sender.drain()
    clock.set(LA_MORNING + timedelta(days=3))
    await run_jobs(services)  # the reminder is queued, not sent yet
    await send(bot, payment_succeeded())
    await send(bot, payment_succeeded())
    await services.sender.drain()
    rows = {r.template: r for r in await outbox(services)}
    assert rows["dunning.reminder"].status == "dropped"
    assert rows["dunning.reminder"].status_reason == "the invoice was paid"
    assert [m.body.split(":")[1].strip()[:7] for m in double.messages] == ["your pa", "thanks!"]
    assert "Receipt" in double.messages[-1].body and links(double.messages[-1].body)
    assert {j.key: j.status for j in await jobs(services)} == {
        "dunning:in_1:remind:2": "done", "dunning:in_1:remind:3": "canceled",
        "dunning:in_1:lapse": "canceled"}
    clock.set(LA_MORNING + timedelta(days=20))
    assert await run_jobs(services) == 0
    await services.sender.drain()
    assert len(double.messages) == 2
    episode = await _episode(services)
    assert (episode.status, episode.closed_at) == ("recovered", LA_MORNING + timedelta(days=3))


async def test_no_confirmation_when_no_notice_had_reached_them(make_bot, database_url, twilio,
                                                              clock):
    """A payment that succeeds before the first notice went out drops the notice and sends
    nothing: a thank-you for a failure they never heard of would only confuse."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await send(bot, payment_succeeded())
    await services.sender.drain()
    assert double.messages == []
    assert [(r.template, r.status) for r in await outbox(services)] == [
        ("dunning.first_notice", "dropped")]


async def test_billing_contact_gets_the_dunning_and_the_subscriber_one_courtesy_notice(
        make_bot, database_url, twilio, clock):
    """With a declared billing contact, the dunning goes to them and the subscriber gets one
    courtesy notice; the episode still plans no more than two SMS in all."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                       billing_contact={"phone": BILLING_PHONE})
    await send(bot, payment_failed())
    for days in (0, 3, 7):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
        await services.sender.drain()
    assert [(m.to, m.body.split(":")[1][:16]) for m in double.messages] == [
        (BILLING_PHONE, " your payment of"), (PHONE, " a payment of $1")]
    assert "billing contact" in double.messages[1].body
    assert links(double.messages[0].body) == links(double.messages[1].body)


async def test_a_customer_who_writes_during_dunning_gets_the_link_again(make_bot, database_url,
                                                                       twilio, clock):
    """A reply to the customer's own message repeats the same link, with a person on offer."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await bot.message(PHONE, "what is this about?")
    await services.sender.drain()
    first, reply = double.messages
    assert links(reply.body) == links(first.body)
    assert "1. Talk to a person" in reply.body


@pytest.mark.parametrize("text", ["I already paid??", "I've paid it yesterday", "ya pagué",
                                  "já paguei"])
async def test_i_already_paid_is_answered_not_met_with_the_same_reminder(make_bot, database_url,
                                                                        twilio, clock, text):
    """"I already paid" is not asked to pay again as if unheard: the customer learns the
    payment has not reached the business yet, that it can take a few minutes, that a person
    can check it — and, in case it did not go through, the same link."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await bot.message(PHONE, text)
    await services.sender.drain()
    first, reply = double.messages
    assert reply.body.startswith("Thanks for letting us know. We haven't received the payment of "
                                 "$19.00 yet")
    assert links(reply.body) == links(first.body)
    assert "1. Talk to a person" in reply.body
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("dunning", "awaiting_payment")


async def test_thanks_during_dunning_is_welcomed_without_the_link_again(make_bot, database_url,
                                                                        twilio, clock):
    """"Thanks" after a notice gets "you're welcome", not the link a second time; the reminders
    go on as planned."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await bot.message(PHONE, "thanks")
    await services.sender.drain()
    _, reply = double.messages
    assert reply.body.startswith("You're welcome!") and not links(reply.body)
    clock.set(LA_MORNING + timedelta(days=3))
    await run_jobs(services)
    assert [row.template for row in await outbox(services)] == [
        "dunning.first_notice", "faq.thanks", "dunning.reminder"]


async def test_opted_out_customer_gets_no_dunning(make_bot, database_url, twilio, clock):
    """A customer who refused SMS at checkout gets no dunning text at all."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                       consent={"sms": False})
    await send(bot, payment_failed())
    await services.sender.drain()
    assert double.messages == []
    assert await outbox(services) == []
    assert (await _episode(services)).status == "open"


async def test_the_link_running_out_lapses_the_episode(make_bot, database_url, twilio, clock):
    """When the link expires unpaid, the episode ends unrecovered and the conversation leaves
    the dunning flow."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    clock.set(LA_MORNING + timedelta(days=14))
    await run_jobs(services)
    episode = await _episode(services)
    assert (episode.status, episode.closed_at) == ("lapsed", LA_MORNING + timedelta(days=14))
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert conversation.flow is None


async def test_a_person_owning_the_conversation_holds_the_dunning_until_handback(
        make_bot, database_url, twilio, clock):
    """While the customer waits for an agent, the bot neither messages them nor takes the
    conversation away from the agents' queue; once the agent hands it back, the first notice
    goes out and the reminders still follow on schedule."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(PHONE, "Talk to a person", ButtonPayload="handoff:request")
    await send(bot, payment_failed())
    clock.advance(minutes=31)
    await run_jobs(services)  # the agent still has it: the notice keeps waiting
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("handoff", "waiting")
    assert [r.template for r in await outbox(services)] == ["handoff.requested"]
    await hand_back(services)
    clock.advance(minutes=31)
    await run_jobs(services)
    await services.sender.drain()
    notice = double.messages[-1]
    assert links(notice.body) and "didn't go through" in notice.body, notice.body
    clock.set(LA_MORNING + timedelta(days=3))
    await run_jobs(services)
    await services.sender.drain()
    reminder = double.messages[-1]
    assert "reminder" in reminder.body and links(reminder.body) == links(notice.body)


async def test_a_reminder_due_while_a_person_owns_the_conversation_waits_for_handback(
        make_bot, database_url, twilio, clock):
    """A reminder that falls due while an agent has the conversation is not lost: it goes out
    once the agent hands the conversation back."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    clock.advance(days=3, hours=-1)
    await bot.message(PHONE, "Talk to a person", ButtonPayload="handoff:request")
    clock.advance(hours=1)
    await run_jobs(services)
    assert [r.template for r in await outbox(services)] == ["dunning.first_notice",
                                                            "handoff.requested"]
    await hand_back(services)
    clock.advance(minutes=31)
    await run_jobs(services)
    await services.sender.drain()
    notice, reminder = (m for m in double.messages if links(m.body))
    assert "reminder" in reminder.body and links(reminder.body) == links(notice.body)


async def test_sms_budget_guard(make_bot, database_url, twilio, clock):
    """The flow itself plans no third SMS: with two planned, a reminder says nothing."""
    _, _, services = await _bot(make_bot, database_url, twilio, clock)
    spent = await _run(services, PHONE, "sms", "remind", episode=_episode_view(sms_planned=2),
                       step=3)
    assert spent.says == []
    allowed = await _run(services, PHONE, "sms", "remind", episode=_episode_view(sms_planned=1),
                         step=2)
    assert [s.template for s in allowed.says] == ["dunning.reminder"]


async def test_discount_needs_enabling_two_plain_attempts_and_no_other_concession(
        make_bot, database_url, twilio, clock):
    """The late discount is offered only when enabled, after two plain attempts, and never on
    top of a running concession."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock, phone=None,
                                  whatsapp=PHONE)
    view = _episode_view(plain_attempts=2)
    assert (await _run(services, PHONE, "whatsapp", "offer_discount", episode=view)).says == []
    await configure(services, "dunning", discount_enabled=True)
    early = await _run(services, PHONE, "whatsapp", "offer_discount",
                       episode=_episode_view(plain_attempts=1))
    assert early.says == []
    offered = await _run(services, PHONE, "whatsapp", "offer_discount", episode=view)
    [say] = offered.says
    assert (say.template, say.variables["percent"], say.business_key) == (
        "dunning.discount_offer", 20, "dunning:in_1:discount")
    assert [c.payload for c in say.choices] == ["dunning:claim_discount"]
    await bot.message(f"whatsapp:{PHONE}", "Claim discount", ButtonPayload="dunning:claim_discount")
    [action] = await actions(services)
    assert (action.action, action.params) == (
        "discount", {"percent": 20, "cycles": 1, "invoice_id": "in_1"})
    assert ("offer_accepted", "payment_failed", "discount") in await retention(services)
    [reply] = await outbox(services, template="dunning.discount_claimed")
    assert "20% off" in reply.body and "https://bot.example.com/pay/token" in reply.body
    again = await _run(services, PHONE, "whatsapp", "offer_discount", episode=view)
    assert again.says == []  # the discount is now a running concession


async def test_discount_step_is_scheduled_only_when_enabled(make_bot, database_url, twilio,
                                                           clock):
    """Enabling the discount adds a late step after the plain reminders."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock, phone=None,
                                  whatsapp=PHONE)
    await configure(services, "dunning", discount_enabled=True, discount_day=9)
    await send(bot, payment_failed())
    keys = {job.key: job.due_at for job in await jobs(services)}
    assert keys["dunning:in_1:discount"] == datetime(2026, 3, 11, 17, 0, tzinfo=UTC)
    for days in (3, 7, 9):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
    assert [r.template for r in await outbox(services)] == [
        "dunning.first_notice", "dunning.reminder", "dunning.reminder", "dunning.discount_offer"]


def test_schedule_must_fit_inside_the_link() -> None:
    """A step after the link expires, or days out of order, are refused."""
    with pytest.raises(ValidationError, match="before the payment link expires"):
        DunningConfig(reminder_days=(3, 20), link_valid_days=14)
    with pytest.raises(ValidationError, match="increasing"):
        DunningConfig(reminder_days=(7, 3))
    assert DunningConfig(reminder_days=()).reminder_days == ()


async def test_another_invoices_payment_leaves_the_conversation_on_this_one(
        make_bot, database_url, twilio, clock):
    """With two invoices in flight, paying the other one confirms it (if they heard of it) but
    the conversation stays on the invoice still due, link and all."""
    _, _, services = await _bot(make_bot, database_url, twilio, clock)
    await _run(services, PHONE, "sms", "open", episode=_episode_view())
    other = _episode_view(invoice_id="in_2", pay_url="https://bot.example.com/pay/other")
    silent = await _run(services, PHONE, "sms", "paid", episode=other)
    told = await _run(services, PHONE, "sms", "paid", episode=Episode(**{**vars(other),
                                                                         "told": True}))
    assert silent.says == []
    assert [(s.template, s.business_key) for s in told.says] == [("dunning.paid", "dunning:in_2:paid")]
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("dunning", "awaiting_payment")
    assert conversation.data["pay_url"] == "https://bot.example.com/pay/token"
    lapsed_other = await _run(services, PHONE, "sms", "lapse", episode=other)
    assert lapsed_other.conversation.state == "awaiting_payment"


async def test_courtesy_respects_the_sms_budget(make_bot, database_url, twilio, clock):
    """The courtesy notice is an SMS of the episode too: with two planned it is not sent."""
    _, _, services = await _bot(make_bot, database_url, twilio, clock)
    spent = await _run(services, PHONE, "sms", "courtesy", episode=_episode_view(sms_planned=2))
    assert spent.says == [] and spent.conversation.flow is None


async def test_a_discount_cannot_be_claimed_on_top_of_another_concession(
        make_bot, database_url, twilio, clock):
    """If a concession started after the offer, tapping the offer applies nothing."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock, phone=None,
                                  whatsapp=PHONE)
    await configure(services, "dunning", discount_enabled=True)
    await _run(services, PHONE, "whatsapp", "offer_discount",
               episode=_episode_view(plain_attempts=2))

    def concede(session):
        customer = session.get(Customer, "cus_1")
        customer.concession, customer.concession_until = "rescue_plan", LA_MORNING + timedelta(days=90)
    await services.store.write(concede)
    await bot.message(f"whatsapp:{PHONE}", "Claim discount", ButtonPayload="dunning:claim_discount")
    assert await actions(services) == []
    assert (await outbox(services))[-1].template == "common.did_not_understand"


async def test_dunning_speaks_the_customers_language_to_both_people(make_bot, database_url,
                                                                    twilio, clock):
    """A Spanish-speaking customer's billing contact gets the dunning in Spanish, amounts
    formatted the Spanish way."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock, locale="es",
                                  billing_contact={"phone": BILLING_PHONE})
    await send(bot, payment_failed())
    assert [(r.to_address, r.body[:48]) for r in await outbox(services)] == [
        (BILLING_PHONE, "Support: no pudimos cobrar tu pago de 19,00 US$."),
        (PHONE, "Support: no pudimos cobrar un pago de 19,00 US$ ")]


async def test_a_question_during_dunning_is_answered_and_the_reminders_go_on(make_bot,
                                                                             database_url,
                                                                             twilio, clock):
    """A customer with a failed payment who asks something the FAQ knows gets the answer, not
    the link again; the next reminder still goes out with the same link."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await services.sender.drain()
    [notice] = double.messages
    await bot.message(PHONE, "how do I change my plan?")
    await services.sender.drain()
    answer = double.messages[-1]
    assert "switch plans any time" in answer.body and not links(answer.body)
    clock.advance(days=3)
    await run_jobs(services)
    await services.sender.drain()
    reminder = double.messages[-1]
    assert reminder is not answer and links(reminder.body) == links(notice.body)


async def test_a_reminder_waits_while_the_customer_is_cancelling(make_bot, database_url, twilio,
                                                                 clock):
    """A reminder due while the customer is half-way through cancelling waits for them to
    finish instead of losing their place; an abandoned cancel does not hold it back for long."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    clock.advance(days=3, minutes=-5)
    await bot.message(PHONE, "cancel my subscription")  # asked for a reason, then silence
    clock.advance(minutes=5)
    await run_jobs(services)
    await services.sender.drain()
    assert "What's the main reason?" in double.messages[-1].body  # no reminder yet
    await bot.message(PHONE, "2")  # the cancel flow still has their answer's context
    await services.sender.drain()
    assert "pause" in double.messages[-1].body.lower()
    clock.advance(minutes=31)
    await run_jobs(services)
    await services.sender.drain()
    reminder = double.messages[-1]
    assert links(reminder.body), reminder.body


async def test_a_payment_failing_while_the_customer_is_cancelling_waits_for_them(
        make_bot, database_url, twilio, clock):
    """The first notice of a payment that fails while the customer is half-way through
    cancelling does not cut in: it goes out once they have finished, and not if they pay first."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(PHONE, "cancel my subscription")
    await send(bot, payment_failed())
    await services.sender.drain()
    assert "What's the main reason?" in double.messages[-1].body  # no notice in between
    await bot.message(PHONE, "2")
    await services.sender.drain()
    assert "pause" in double.messages[-1].body.lower()  # their answer kept its context
    await run_jobs(services)
    assert not any(links(m.body) for m in double.messages)
    clock.advance(minutes=31)
    await run_jobs(services)
    await services.sender.drain()
    notice = double.messages[-1]
    assert links(notice.body) and "didn't go through" in notice.body, notice.body
    assert (await _episode(services)).status == "open"


async def test_a_deferred_notice_is_dropped_when_the_invoice_is_paid(make_bot, database_url,
                                                                     twilio, clock):
    """Paying before the waiting notice goes out cancels it with the rest of the sequence."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(PHONE, "cancel my subscription")
    await send(bot, payment_failed())
    await send(bot, payment_succeeded())
    clock.advance(minutes=31)
    await run_jobs(services)
    await services.sender.drain()
    assert not any(links(m.body) for m in double.messages)
    assert (await _episode(services)).status == "recovered"


async def test_a_billing_contact_is_offered_the_discount_and_can_claim_it(make_bot, database_url,
                                                                          twilio, clock):
    """A billing contact (no customer of their own) gets every step of the dunning, the late
    discount included, and claiming it asks the billing port for the customer's discount."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                  billing_contact={"whatsapp": BILLING_PHONE})
    await configure(services, "dunning", discount_enabled=True)
    await send(bot, payment_failed())
    for days in (3, 7, 10):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
    assert [(r.channel, r.to_address, r.template) for r in await outbox(services)] == [
        ("whatsapp", BILLING_PHONE, "dunning.first_notice"),
        ("sms", PHONE, "dunning.courtesy"),
        ("whatsapp", BILLING_PHONE, "dunning.reminder"),
        ("whatsapp", BILLING_PHONE, "dunning.reminder"),
        ("whatsapp", BILLING_PHONE, "dunning.discount_offer")]
    await bot.message(f"whatsapp:{BILLING_PHONE}", "Claim discount",
                      ButtonPayload="dunning:claim_discount")
    [action] = await actions(services)
    assert (action.customer_id, action.action, action.params) == (
        "cus_1", "discount", {"percent": 20, "cycles": 1, "invoice_id": "in_1"})
    [reply] = await outbox(services, template="dunning.discount_claimed")
    assert reply.to_address == BILLING_PHONE and "20% off" in reply.body


async def test_a_subscription_canceled_during_dunning_ends_it_at_once(make_bot, database_url,
                                                                      twilio, clock):
    """subscription.updated canceled closes the episode unrecovered: the queued reminder is
    dropped, the later steps canceled, the conversation leaves the invoice, and paying later
    brings no "your subscription carries on" message."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await services.sender.drain()
    clock.set(LA_MORNING + timedelta(days=3))
    await run_jobs(services)  # the reminder is queued, not sent yet
    await send(bot, {"id": "evt_end", "type": "subscription.updated", "customer_id": "cus_1",
                     "subscription": {"status": "canceled"}})
    rows = {r.template: r for r in await outbox(services)}
    assert (rows["dunning.reminder"].status, rows["dunning.reminder"].status_reason) == (
        "dropped", "the subscription ended")
    assert {j.key: j.status for j in await jobs(services)} == {
        "dunning:in_1:remind:2": "done", "dunning:in_1:remind:3": "canceled",
        "dunning:in_1:lapse": "canceled"}
    episode = await _episode(services)
    assert (episode.status, episode.closed_at) == ("ended", LA_MORNING + timedelta(days=3))
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert conversation.flow != "dunning"
    await send(bot, payment_succeeded())
    clock.set(LA_MORNING + timedelta(days=20))
    await run_jobs(services)
    await services.sender.drain()
    assert [m.body.split(":")[1].strip()[:7] for m in double.messages] == ["your pa"]


async def test_a_cancellation_taking_effect_stops_the_later_steps(make_bot, database_url,
                                                                  twilio, clock):
    """A cancellation at the period's end takes effect with no event: the next step finds the
    subscription ended, sends nothing and closes the episode."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, payment_failed())
    await send(bot, {"id": "evt_cancel_at", "type": "subscription.updated",
                     "customer_id": "cus_1", "subscription": {
                         "cancel_at": (LA_MORNING + timedelta(days=2)).isoformat()}})
    clock.set(LA_MORNING + timedelta(days=3))
    await run_jobs(services)
    await services.sender.drain()
    assert [r.template for r in await outbox(services)] == ["dunning.first_notice"]
    assert (await _episode(services)).status == "ended"
    assert {j.key: j.status for j in await jobs(services)} == {
        "dunning:in_1:remind:2": "done", "dunning:in_1:remind:3": "canceled",
        "dunning:in_1:lapse": "canceled"}


async def test_no_dunning_for_a_subscription_that_has_ended(make_bot, database_url, twilio,
                                                           clock):
    """A payment failing after the subscription ended opens no episode and sends nothing: a
    reminder to keep a subscription they no longer have would be untrue."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock, status="canceled")
    assert (await send(bot, payment_failed()))["status"] == "accepted"
    await services.sender.drain()
    assert double.messages == [] and await outbox(services) == []
    assert await jobs(services) == []


async def test_a_billing_contact_paying_for_two_customers_claims_the_discount_of_the_invoice(
        make_bot, database_url, twilio, clock):
    """One payer (a parent, a company) is the billing contact of two customers and only the
    second one's payment fails: the discount they claim, and its retention record, are that
    customer's, never the other subscription's."""
    _, bot, services = await _bot(make_bot, database_url, twilio, clock, customer_id="cus_a",
                                  billing_contact={"whatsapp": BILLING_PHONE})
    await send(bot, customer_upserted("cus_b", phone="+14155550102",
                                      billing_contact={"whatsapp": BILLING_PHONE}))
    await configure(services, "dunning", discount_enabled=True)
    await send(bot, payment_failed("in_b", customer_id="cus_b"))
    for days in (3, 7, 10):
        clock.set(LA_MORNING + timedelta(days=days))
        await run_jobs(services)
    [offer] = await outbox(services, template="dunning.discount_offer")
    assert offer.to_address == BILLING_PHONE
    await bot.message(f"whatsapp:{BILLING_PHONE}", "Claim discount",
                      ButtonPayload="dunning:claim_discount")
    [action] = await actions(services)
    assert (action.customer_id, action.action, action.params["invoice_id"]) == (
        "cus_b", "discount", "in_b")
    assert await services.store.read(lambda s: [
        (event.customer_id, event.kind) for event in s.scalars(
            select(RetentionEvent).order_by(RetentionEvent.id))]) == [
        ("cus_b", "offer_shown"), ("cus_b", "offer_accepted")]
    [claimed] = await outbox(services, template="dunning.discount_claimed")
    assert claimed.to_address == BILLING_PHONE
