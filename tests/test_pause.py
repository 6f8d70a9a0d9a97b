"""Pause: one-tap lengths with resume dates and billing up front, the confirmation, the message
on resume day, "resume now" for a paused customer who writes in, and the cap on pauses in a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.store.models import Customer, Job
from flows.pause import PauseConfig, PauseFlow
from tests.business import (
    PHONE,
    actions,
    configure,
    customer_row,
    customer_upserted,
    outbox,
    retention,
    run_jobs,
    send,
)
from tests.conftest import live_settings

# Sunday March 1, 2026, 10:00 in Los Angeles (PST); daylight time starts on March 8.
WINTER_MORNING = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


async def _bot(make_bot, database_url, twilio, clock, **customer):
    double, base = twilio
    clock.set(WINTER_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await send(bot, customer_upserted(**customer))
    return double, bot, services


async def _say(bot, services, double, text: str, **extra) -> str:
    """Send a customer message; the bot's reply (all of it)."""
    before = len(double.messages)
    await bot.message(extra.pop("from_", PHONE), text, **extra)
    await services.sender.drain()
    return "\n---\n".join(m.body for m in double.messages[before:])


async def test_offer_states_each_resume_date_and_what_billing_does(make_bot, database_url,
                                                                  twilio, clock):
    """"Pause my subscription" offers the configured lengths, each with its resume date, and
    says nothing is charged while paused."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    body = await _say(bot, services, double, "I'd like to pause my subscription")
    assert "you won't be charged" in body
    assert "1 month: resumes on April 1, 2026" in body
    assert "3 months: resumes on June 1, 2026" in body
    assert body.endswith("1. 1 month\n2. 2 months\n3. 3 months")


async def test_on_whatsapp_the_lengths_are_buttons(make_bot, database_url, twilio, clock):
    """On WhatsApp each length is one tap."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock, phone=None,
                                       whatsapp=PHONE)
    await _say(bot, services, double, "pause my plan", from_=f"whatsapp:{PHONE}")
    content = double.contents[double.messages[-1].content_sid]
    assert [a["id"] for a in content["actions"]] == ["pause:choose:1", "pause:choose:2",
                                                     "pause:choose:3"]


async def test_choosing_a_length_pauses_until_local_midnight_and_plans_resume_day(
        make_bot, database_url, twilio, clock):
    """Two months from March 1 in Los Angeles: billing pauses until May 1 at local midnight
    (daylight time by then) and the resume-day message is due at 10:00 that day."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    body = await _say(bot, services, double, "2")
    assert body.startswith("Done: your subscription is paused until May 1, 2026.")
    [action] = await actions(services)
    assert (action.action, action.params) == (
        "pause", {"until": "2026-05-01T07:00:00+00:00", "months": 2, "streak": 1})
    customer = await customer_row(services)
    assert (customer.status, customer.paused_until) == ("paused",
                                                        datetime(2026, 5, 1, 7, tzinfo=UTC))
    [job] = await services.store.read(lambda s: list(s.scalars(
        select(Job).where(Job.kind == "pause.resume_day"))))
    assert (job.key, job.due_at) == ("pause:cus_1:2026-05-01", datetime(2026, 5, 1, 17, tzinfo=UTC))
    assert await retention(services) == [("paused", None, None)]


async def test_resume_day_brings_one_message(make_bot, database_url, twilio, clock):
    """On resume day the customer gets one proactive message with the opt-out words, and the
    subscription is active again."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "1")
    clock.set(datetime(2026, 4, 1, 17, tzinfo=UTC))
    await run_jobs(services)
    await services.sender.drain()
    last = double.messages[-1].body
    assert last.startswith("Support: your subscription resumes today, April 1, 2026")
    assert "Reply UNSUBSCRIBE to opt out." in last
    [row] = await outbox(services, template="pause.resume_day")
    assert (row.kind, row.business_key) == ("proactive", f"pause:resume:{row.contact_id}:"
                                                         "2026-04-01T07:00:00+00:00")
    body = await _say(bot, services, double, "when will I be charged?")
    assert "same day each month" in body  # the pause flow let go of the conversation


async def test_no_resume_day_message_after_resuming_early(make_bot, database_url, twilio, clock):
    """A customer who resumed early gets no resume-day message for the pause they ended."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "1")
    clock.advance(days=3)
    await _say(bot, services, double, "resume my subscription")
    clock.set(datetime(2026, 4, 1, 17, tzinfo=UTC))
    await run_jobs(services)
    assert await outbox(services, template="pause.resume_day") == []


async def test_a_paused_customer_who_writes_in_gets_resume_now(make_bot, database_url, twilio,
                                                              clock):
    """A paused customer's question is answered and followed by a one-tap "resume now" that
    resumes billing, offered once (their next message is an ordinary one)."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "3")
    clock.advance(days=10)
    body = await _say(bot, services, double, "when will I be charged?")
    answer, offer = body.split("\n---\n")
    assert "same day each month" in answer
    assert offer.startswith("Your subscription is paused until June 1, 2026.")
    assert "1. Resume now\n2. Keep paused\n3. Main menu" in offer
    body = await _say(bot, services, double, "1")
    assert body.startswith("Welcome back! Your subscription is active again")
    assert [a.action for a in await actions(services)] == ["pause", "resume"]
    assert (await customer_row(services)).status == "active"
    assert await retention(services) == [("paused", None, None), ("resumed", None, None)]
    body = await _say(bot, services, double, "hi")
    assert "Resume now" not in body


async def test_thanks_after_pausing_is_welcomed_and_resume_now_waits(make_bot, database_url,
                                                                      twilio, clock):
    """"Thanks" or 👍 right after the confirmation is not a paused customer writing in: no
    offer to resume what they have just paused; their next real message still gets it."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "3")
    assert (await _say(bot, services, double, "thanks!")).startswith("You're welcome!")
    assert await _say(bot, services, double, "👍") == ""
    clock.advance(days=10)
    body = await _say(bot, services, double, "when will I be charged?")
    assert "Your subscription is paused until June 1, 2026." in body


async def test_resume_now_when_not_paused_says_so(make_bot, database_url, twilio, clock):
    """"Resume my subscription" for an active one changes nothing and says why."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    body = await _say(bot, services, double, "resume my subscription")
    assert body.startswith("Your subscription isn't paused")
    assert await actions(services) == []


async def _pause_history(services, streak: int, ended_days_ago: int) -> None:
    end = WINTER_MORNING - timedelta(days=ended_days_ago)

    def record(session):
        customer = session.get(Customer, "cus_1")
        customer.pause_streak, customer.paused_until = streak, end
    await services.store.write(record)


async def test_a_serial_pauser_is_offered_a_smaller_plan_instead(make_bot, database_url, twilio,
                                                                clock):
    """After the cap of pauses in a row, the customer is offered the smaller plan, and taking
    it changes the plan through the billing port."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await configure(services, "pause", right_size_plan="lite", right_size_plan_name="Lite",
                    right_size_prices={"USD": "9.00"})
    await _pause_history(services, streak=2, ended_days_ago=5)
    body = await _say(bot, services, double, "pause my subscription")
    assert body.startswith("You've paused 2 times in a row.")
    assert "Lite costs $9.00 a month" in body
    assert "resumes on" not in body
    # The operator drops the smaller plan while the customer reads: they still get what they saw.
    await configure(services, "pause", right_size_plan="", right_size_prices={})
    done = await _say(bot, services, double, "1")
    assert "Lite" in done and "$9.00" in done
    [action] = await actions(services)
    assert (action.action, action.params) == ("change_plan", {"plan": "lite", "why": "right_size"})
    assert await retention(services) == [("offer_shown", None, "right_size"),
                                         ("offer_accepted", None, "right_size")]


async def test_a_serial_pauser_without_a_smaller_plan_is_offered_a_person(
        make_bot, database_url, twilio, clock):
    """With no smaller plan configured, the cap is explained and a person is offered; a tap on
    an old length button does not get round the cap."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _pause_history(services, streak=2, ended_days_ago=5)
    body = await _say(bot, services, double, "pause my subscription")
    assert "the most we can offer" in body and "1. Talk to a person" in body
    await bot.message(PHONE, "2 months", ButtonPayload="pause:choose:2")
    assert await actions(services) == []


async def test_pauses_far_apart_are_not_in_a_row(make_bot, database_url, twilio, clock):
    """A pause long after the last one ended starts a new streak."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _pause_history(services, streak=2, ended_days_ago=60)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "1")
    [action] = await actions(services)
    assert action.params["streak"] == 1


async def test_pause_needs_a_live_subscription(make_bot, database_url, twilio, clock):
    """A number no customer owns is offered a person; a canceled subscription cannot pause."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    body = await _say(bot, services, double, "pause my subscription", from_="+14155550777")
    assert body.startswith("I can't find a subscription for this number.")
    await send(bot, {"id": "evt_cancel", "type": "subscription.updated", "customer_id": "cus_1",
                     "subscription": {"status": "canceled"}})
    body = await _say(bot, services, double, "pause my subscription")
    assert body.startswith("Your subscription is already canceled.")
    assert await actions(services) == []


async def test_the_faq_answer_about_pausing_leads_to_the_flow(make_bot, database_url, twilio,
                                                             clock):
    """The FAQ's "Pause or cancel" answer offers both flows; its pause choice starts a pause."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "hi")
    body = await _say(bot, services, double, "3")  # Pause or cancel
    assert "1. Pause my plan\n2. Cancel my plan\n3. Talk to a person" in body
    body = await _say(bot, services, double, "1")
    assert "1 month: resumes on April 1, 2026" in body


async def test_lengths_are_configurable(make_bot, database_url, twilio, clock):
    """Operators choose the lengths offered."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await configure(services, "pause", lengths_months=[6, 1])
    body = await _say(bot, services, double, "pause my subscription")
    assert body.endswith("1. 1 month\n2. 6 months")
    with pytest.raises(Exception, match="1 to 12"):
        PauseConfig(lengths_months=(1, 13))


@pytest.mark.parametrize(("text", "event"), [
    ("Can I pause my subscription?", "offer"), ("pause", "offer"),
    ("I need a break for a while", "offer"), ("quiero pausar mi suscripción", "offer"),
    ("como pauso mi suscripción", "offer"), ("quero pausar a assinatura", "offer"),
    ("resume my subscription", "resume_now"), ("reanudar mi suscripción", "resume_now"),
    ("quero retomar minha assinatura", "resume_now"),
    ("pause the music", None), ("stop", None), ("when will I be charged", None),
    ("don't pause my subscription", None), ("no quiero pausar mi suscripción", None),
    ("I don't want to cancel, I want to pause", "offer"),
])
def test_pause_phrases(text: str, event: str | None) -> None:
    """Pausing and resuming are recognized in every shipped language, and only them."""
    detected = PauseFlow.detect(text, "en")
    assert (detected[0] if detected else None) == event


async def test_asking_to_pause_while_paused_offers_to_resume_or_stay(make_bot, database_url,
                                                                    twilio, clock):
    """A paused customer asking to pause is offered "resume now"; "keep paused" changes nothing."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "pause my subscription")
    await _say(bot, services, double, "1")
    body = await _say(bot, services, double, "pause my subscription")
    assert body.startswith("Your subscription is paused until April 1, 2026.")
    body = await _say(bot, services, double, "2")
    assert body.startswith("OK, your subscription stays paused until April 1, 2026.")
    assert [a.action for a in await actions(services)] == ["pause"]


async def test_declining_a_smaller_plan_changes_nothing(make_bot, database_url, twilio, clock):
    """"No thanks" to the smaller plan leaves the subscription as it is, and is recorded."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await configure(services, "pause", right_size_plan="lite", right_size_prices={"USD": "9.00"})
    await _pause_history(services, streak=2, ended_days_ago=5)
    await _say(bot, services, double, "pause my subscription")
    body = await _say(bot, services, double, "2")
    assert body.startswith("OK, nothing has changed.")
    assert await actions(services) == []
    assert await retention(services) == [("offer_shown", None, "right_size"),
                                         ("offer_declined", None, "right_size")]


@pytest.mark.parametrize("text", ["I want to pause", "I'd like to pause for a bit",
                                  "need to pause", "Quiero pausar", "quero pausar", "pause"])
def test_asking_to_pause_in_plain_words_starts_the_pause_flow(text: str) -> None:
    """A customer who says they want to pause is offered the pause, as one who says they want
    to cancel is taken to the cancel flow — not given the FAQ's general answer."""
    assert PauseFlow.detect(text, "en") == ("offer", {})


@pytest.mark.parametrize("text", ["how long can I pause?", "what happens when I pause"])
def test_a_question_about_pausing_is_left_to_the_faq(text: str) -> None:
    """A question about pausing is answered by the FAQ, not taken as a request to pause now."""
    assert PauseFlow.detect(text, "en") is None
