"""Cancel: started by phrases or a tap, never by the bare keyword; reason first; every reason has
its route; at most one offer; declining cancels in the next reply with the effective date; all
of it recorded; trial extension and win-back once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.store.models import ConsentEvent, Contact, Conversation, Job
from flows.cancel import CancelConfig, CancelFlow
from flows.phrases import reason_named
from tests.business import (
    LA_MORNING,
    PHONE,
    actions,
    configure,
    customer_row,
    customer_upserted,
    hand_back,
    outbox,
    retention,
    run_jobs,
    send,
)
from tests.conftest import live_settings

PERIOD_END = datetime(2026, 3, 20, 7, 0, tzinfo=UTC)  # midnight in Los Angeles


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


async def _rescue_plan(services) -> None:
    await configure(services, "cancel", rescue_plan="saver", rescue_plan_name="Saver",
                    rescue_prices={"USD": "9.00"})


async def test_a_phrase_starts_with_the_reason(make_bot, database_url, twilio, clock):
    """"I want to unsubscribe from the plan" asks for the reason first, one tap per reason."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    [ask] = await _say(bot, services, double, "I want to unsubscribe from the plan")
    assert ask.startswith("Sorry to hear you want to cancel. What's the main reason?")
    assert ask.endswith("1. Too expensive\n2. Not using it\n3. Missing a feature\n"
                        "4. Switching tools\n5. Other reason")
    assert await retention(services) == [("cancel_started", None, None)]


async def test_on_whatsapp_the_reasons_are_a_list_and_a_picked_row_answers(make_bot, database_url,
                                                                           twilio, clock):
    """Five reasons are more than WhatsApp's three buttons: they go out as a list picker, the
    whole text without a numbered menu, and the picked row's id drives the flow."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                       whatsapp="+14155550101")
    await bot.message("whatsapp:+14155550101", "cancel my subscription")
    await services.sender.drain()
    ask = double.messages[-1]
    content = double.contents[ask.content_sid]
    assert content["button"] == "Choose an option"
    assert [(row["item"], row["id"]) for row in content["items"]] == [
        ("Too expensive", "cancel:reason:price"), ("Not using it", "cancel:reason:not_using"),
        ("Missing a feature", "cancel:reason:missing_feature"),
        ("Switching tools", "cancel:reason:switching"), ("Other reason", "cancel:reason:other")]
    assert content["body"].endswith("What's the main reason?") and "1." not in content["body"]
    assert (await outbox(services))[-1].list_button == "Choose an option"

    await bot.message("whatsapp:+14155550101", "Switching tools", ListId="cancel:reason:switching",
                      ListTitle="Switching tools")
    await services.sender.drain()
    assert double.messages[-1].body.startswith("Your subscription is canceled")
    assert [kind for kind, _, _ in await retention(services)] == [
        "cancel_started", "reason", "canceled"]


async def test_the_bare_keyword_is_an_opt_out_never_a_cancellation(make_bot, database_url,
                                                                  twilio, clock):
    """CANCEL (or CANCELAR) alone opts the customer out of messages; the subscription stays."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    for word in ("CANCEL", "cancelar"):
        assert await _say(bot, services, double, word) == []
    ledger = await services.store.read(lambda s: [e.action for e in s.scalars(select(ConsentEvent))])
    assert ledger == ["opt_out", "opt_out"]
    assert await actions(services) == [] and await retention(services) == []
    assert (await customer_row(services)).status == "active"


@pytest.mark.parametrize("reason", ["1", "honestly it's just too expensive for me"])
async def test_too_expensive_gets_the_rescue_plan(make_bot, database_url, twilio, clock, reason):
    """Price (tapped, or said in the customer's own words) → the unlisted cheaper plan; taking
    it changes the plan and the customer stays."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _rescue_plan(services)
    await _say(bot, services, double, "cancel my subscription")
    [offer] = await _say(bot, services, double, reason)
    assert "Saver for $9.00 a month, our lowest price" in offer
    assert offer.endswith("1. Switch plan\n2. No, cancel")
    [done] = await _say(bot, services, double, "1")
    assert done.startswith("Done: you're on Saver at $9.00 a month")
    [action] = await actions(services)
    assert (action.action, action.params) == ("change_plan", {"plan": "saver", "why": "rescue"})
    assert await retention(services) == [
        ("cancel_started", None, None), ("reason", "price", None),
        ("offer_shown", "price", "rescue_plan"), ("offer_accepted", "price", "rescue_plan")]


async def test_the_rescue_plan_taken_is_the_one_offered_even_if_the_settings_changed_since(
        make_bot, database_url, twilio, clock):
    """An operator changing (or clearing) the rescue plan while a customer reads the offer does
    not change what they get: the plan and price they were offered."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _rescue_plan(services)
    await _say(bot, services, double, "cancel my subscription")
    [offer] = await _say(bot, services, double, "1")
    assert "Saver for $9.00 a month" in offer
    await configure(services, "cancel", rescue_plan="", rescue_plan_name="", rescue_prices={})
    [done] = await _say(bot, services, double, "1")
    assert done.startswith("Done: you're on Saver at $9.00 a month")
    [action] = await actions(services)
    assert (action.action, action.params) == ("change_plan", {"plan": "saver", "why": "rescue"})


async def test_declining_the_offer_cancels_in_the_next_reply(make_bot, database_url, twilio, clock):
    """After declining, the very next reply completes the cancellation (its date, access until
    then, no more charges), offers nothing else, and all of it is recorded though nothing was
    saved."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _rescue_plan(services)
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "1")
    replies = await _say(bot, services, double, "2")
    assert replies == ["Your subscription is canceled and ends on March 20, 2026. You keep full "
                       "access until then, and you won't be charged again.\n\n"
                       "Reply with a number:\n1. Main menu"]
    [action] = await actions(services)
    assert (action.action, action.params) == (
        "cancel", {"effective_at": PERIOD_END.isoformat(), "reason": "price"})
    assert await retention(services) == [
        ("cancel_started", None, None), ("reason", "price", None),
        ("offer_shown", "price", "rescue_plan"), ("offer_declined", "price", "rescue_plan"),
        ("canceled", "price", None)]
    customer = await customer_row(services)
    assert (customer.status, customer.cancel_at) == ("active", PERIOD_END)
    ended = await services.store.read(lambda s: s.scalars(
        select(Job).where(Job.kind == "cancel.ended")).one())
    assert ended.due_at == PERIOD_END


@pytest.mark.parametrize("reason", ["4", "5"])
async def test_switching_tools_or_another_reason_is_a_clean_exit(make_bot, database_url, twilio,
                                                                 clock, reason):
    """Switching tools and "other" cancel at once, with no offer and no discount."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _rescue_plan(services)
    await _say(bot, services, double, "cancel my subscription")
    [done] = await _say(bot, services, double, reason)
    assert done.startswith("Your subscription is canceled and ends on March 20, 2026.")
    kinds = [kind for kind, _, _ in await retention(services)]
    assert kinds == ["cancel_started", "reason", "canceled"]


@pytest.mark.parametrize(("text", "reason"), [
    ("it's too expensive", "price"), ("I can't afford it anymore", "price"),
    ("es muy caro", "price"), ("está caro demais", "price"), ("the price went up", "price"),
    ("I don't use it", "not_using"), ("barely using it these days", "not_using"),
    ("ya no lo uso", "not_using"), ("não uso mais", "not_using"),
    ("it doesn't have the features I need", "missing_feature"),
    ("le falta una función", "missing_feature"), ("falta um recurso", "missing_feature"),
    ("switching to another app", "switching"), ("me cambio a otra app", "switching"),
    ("vou mudar para outro aplicativo", "switching"),
    # Two reasons at once, or none: the customer is asked to pick.
    ("it's not too expensive but I don't use it", None), ("found a cheaper app", None),
    ("hmm", None), ("what?", None),
])
def test_a_reason_in_the_customers_own_words(text: str, reason: str | None) -> None:
    """Typed reasons, in every shipped language, are read when they name exactly one reason."""
    assert reason_named(text) == reason


async def test_price_without_a_rescue_plan_cancels(make_bot, database_url, twilio, clock):
    """With no rescue plan to offer, the price reason leads straight to the cancellation."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    [done] = await _say(bot, services, double, "Too expensive")
    assert "is canceled and ends on" in done


async def test_not_using_it_is_offered_a_pause(make_bot, database_url, twilio, clock):
    """Not using it → a pause, whose lengths are one tap; taking one pauses and saves them."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    [offer] = await _say(bot, services, double, "2")
    assert "pause for up to 3 months instead" in offer
    assert offer.endswith("1. 1 month\n2. 2 months\n3. 3 months\n4. No, cancel")
    [started] = await _say(bot, services, double, "2")
    assert started.startswith("Done: your subscription is paused until May 2, 2026.")
    assert [a.action for a in await actions(services)] == ["pause"]
    assert await retention(services) == [
        ("cancel_started", None, None), ("reason", "not_using", None),
        ("offer_shown", "not_using", "pause"), ("offer_accepted", "not_using", "pause"),
        ("paused", None, None)]


async def test_a_missing_feature_is_offered_a_person(make_bot, database_url, twilio, clock):
    """Missing a feature → a person can help (handoff) or the customer cancels anyway."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    [offer] = await _say(bot, services, double, "3")
    assert offer.endswith("1. Talk to a person\n2. Cancel anyway")
    [handoff] = await _say(bot, services, double, "1")
    assert "passed this conversation to our team" in handoff
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("handoff", "waiting")
    assert await actions(services) == []


async def test_a_customer_cannot_be_offered_twice(make_bot, database_url, twilio, clock):
    """Declining the pause offer is final: the next reply is the cancellation."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "2")
    [done] = await _say(bot, services, double, "No, cancel")
    assert "is canceled and ends on" in done
    offers = [r for r in await retention(services) if r[0] == "offer_shown"]
    assert len(offers) == 1


async def test_the_rescue_plan_is_offered_at_most_once_a_year(make_bot, database_url, twilio,
                                                             clock):
    """A second price objection within a year is not offered the rescue plan again."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _rescue_plan(services)
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "1")
    await _say(bot, services, double, "2")  # declined: canceled at the period's end
    clock.advance(days=200)
    await send(bot, customer_upserted(status="active", current_period_end=(
        clock.now() + timedelta(days=10)).isoformat()))
    await _say(bot, services, double, "cancel my subscription")
    [done] = await _say(bot, services, double, "1")
    assert "is canceled and ends on" in done
    clock.advance(days=170)
    await send(bot, customer_upserted(status="active", current_period_end=(
        clock.now() + timedelta(days=10)).isoformat()))
    await _say(bot, services, double, "cancel my subscription")
    [offer] = await _say(bot, services, double, "1")
    assert "Saver for $9.00" in offer


async def test_an_engaged_trialist_may_extend_the_trial_once(make_bot, database_url, twilio,
                                                            clock):
    """An engaged trialist put off by the price is offered a longer trial with its new end date;
    accepting extends it, and the same trial is never offered another extension."""
    trial_end = LA_MORNING + timedelta(days=3)
    double, bot, services = await _bot(make_bot, database_url, twilio, clock, status="trialing",
                                       trial_ends_at=trial_end.isoformat(), engaged=True)
    await _say(bot, services, double, "cancel my subscription")
    [offer] = await _say(bot, services, double, "1")
    assert "14 more days of free trial" in offer and "end on March 19, 2026" in offer
    assert offer.endswith("1. Extend my trial\n2. No, cancel")
    # A shorter extension set meanwhile does not change the one offered.
    await configure(services, "cancel", trial_extension_days=7)
    [done] = await _say(bot, services, double, "1")
    assert done.startswith("Done: your free trial now ends on March 19, 2026.")
    [action] = await actions(services)
    assert (action.action, action.params) == (
        "extend_trial", {"until": (trial_end + timedelta(days=14)).isoformat()})
    await _say(bot, services, double, "cancel my subscription")
    [done] = await _say(bot, services, double, "1")
    assert "canceled and ends on March 19, 2026" in done  # the end of the extended trial


async def test_a_trialist_who_is_not_engaged_is_not_offered_an_extension(
        make_bot, database_url, twilio, clock):
    """The extension is for trialists who use the product."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock, status="trialing",
                                       trial_ends_at=(LA_MORNING + timedelta(days=3)).isoformat())
    await _say(bot, services, double, "cancel my subscription")
    [done] = await _say(bot, services, double, "1")
    assert "canceled and ends on March 5, 2026" in done


async def test_a_cancellation_without_a_paid_period_is_immediate(make_bot, database_url, twilio,
                                                                clock):
    """With no paid period left, the cancellation takes effect today and says so; a return is
    welcomed from the next day on."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                       current_period_end=None)
    await _say(bot, services, double, "cancel my subscription")
    [done] = await _say(bot, services, double, "4")
    assert done.startswith("Your subscription is canceled as of today, March 2, 2026. Your "
                           "access ends now")
    assert (await customer_row(services)).status == "canceled"
    await run_jobs(services)
    [thanks] = await _say(bot, services, double, "hi")
    assert "Welcome back" not in thanks  # not a return: they just left
    [job] = await services.store.read(lambda s: list(s.scalars(
        select(Job).where(Job.kind == "cancel.ended"))))
    assert (job.status, job.due_at) == ("pending", LA_MORNING + timedelta(days=1))


async def test_asking_again_after_cancelling_says_when_it_ends(make_bot, database_url, twilio,
                                                              clock):
    """A customer whose cancellation is pending is told when it ends, and nothing is redone."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "5")
    [again] = await _say(bot, services, double, "cancel my subscription")
    assert again.startswith("Your subscription is already canceled and ends on March 20, 2026.")
    assert len(await actions(services)) == 1


async def test_a_returning_customer_is_welcomed_back_once_per_return(make_bot, database_url,
                                                                    twilio, clock):
    """Once the cancellation took effect, the customer's next message is welcomed back with a
    one-tap resubscribe; afterwards the bot answers as usual."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "4")
    clock.set(PERIOD_END)
    await run_jobs(services)
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("cancel", "former")
    assert await outbox(services, template="cancel.welcome_back") == []  # nothing proactive
    clock.advance(days=30)
    [welcome] = await _say(bot, services, double, "hello")
    assert welcome.startswith("Welcome back! Want to pick up your subscription again? Choose "
                              "Resubscribe")  # not "one tap": an SMS has no buttons
    assert welcome.endswith("1. Resubscribe\n2. Main menu")
    [back] = await _say(bot, services, double, "1")
    assert back.startswith("You're back!")
    assert [a.action for a in await actions(services)] == ["cancel", "resubscribe"]
    customer = await customer_row(services)
    assert (customer.status, customer.cancel_at) == ("active", None)
    [hello] = await _say(bot, services, double, "hello")
    assert "Welcome back" not in hello
    assert await retention(services) == [
        ("cancel_started", None, None), ("reason", "switching", None),
        ("canceled", "switching", None), ("offer_shown", None, "win_back"),
        ("offer_accepted", None, "win_back"), ("resubscribed", None, None)]


@pytest.mark.parametrize(("text", "cancels"), [
    ("cancel my subscription", True), ("I want to unsubscribe from the plan", True),
    ("please cancel my membership", True), ("how do I cancel my subscription?", True),
    ("quiero cancelar mi suscripción", True), ("darme de baja del plan", True),
    ("quero cancelar minha assinatura", True), ("cancelar o plano", True),
    ("CANCEL", False), ("cancelar", False), ("stop texting me", False),
    ("cancel the last message", False), ("unsubscribe", False),
    ("I don't want to cancel my subscription", False), ("no quiero cancelar mi suscripción", False),
    ("não vou cancelar minha assinatura", False), ("I don't want to cancel, I want to pause", False),
])
def test_cancel_phrases(text: str, cancels: bool) -> None:
    """Cancellation phrases in every shipped language start the flow; keywords and talk about
    messages do not."""
    assert (CancelFlow.detect(text, "en") is not None) is cancels


async def test_no_subscription_no_cancellation(make_bot, database_url, twilio, clock):
    """A number no customer owns cannot cancel anything and is offered a person."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    before = len(double.messages)
    await bot.message("+14155550777", "cancel my subscription")
    await services.sender.drain()
    [reply] = [m.body for m in double.messages[before:]]
    assert reply.startswith("I can't find a subscription for this number.")
    assert "1. Talk to a person" in reply


async def test_resubscribing_an_active_subscription_changes_nothing(make_bot, database_url,
                                                                   twilio, clock):
    """An old "resubscribe" tap on an active subscription says so and records nothing."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    [reply] = await _say(bot, services, double, "Resubscribe", ButtonPayload="cancel:resubscribe")
    assert reply.startswith("Your subscription is already active")
    assert await actions(services) == [] and await retention(services) == []


def test_offer_prices_are_per_known_currency() -> None:
    """A rescue price is stored under its ISO currency code; unknown codes and non-positive
    prices are refused."""
    assert CancelConfig(rescue_prices={"usd": "9.00"}).rescue_prices == {"USD": Decimal("9.00")}
    with pytest.raises(ValidationError, match="not an ISO 4217"):
        CancelConfig(rescue_prices={"zzz": "9"})
    with pytest.raises(ValidationError, match="more than zero"):
        CancelConfig(rescue_prices={"EUR": "0"})


async def test_the_welcome_back_comes_once_per_return_on_any_channel(make_bot, database_url,
                                                                     twilio, clock):
    """A former subscriber welcomed on one channel is not welcomed again on another."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock,
                                       whatsapp="+14155550101")
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "4")
    clock.set(PERIOD_END + timedelta(days=2))
    await run_jobs(services)
    [welcome] = await _say(bot, services, double, "hello")
    assert welcome.startswith("Welcome back!")

    def rest_on_whatsapp(session):
        conversation = session.scalars(select(Conversation).join(
            Contact, Contact.id == Conversation.contact_id).where(Contact.channel == "whatsapp")).one()
        conversation.flow, conversation.state = "cancel", "former"
    await services.store.write(rest_on_whatsapp)
    before = len(double.messages)
    await bot.message("whatsapp:+14155550101", "hello")
    await services.sender.drain()
    [reply] = [m.body for m in double.messages[before:]]
    assert "Welcome back" not in reply and "assistant" in reply


async def test_a_cancellation_taking_effect_while_an_agent_has_the_chat_waits_for_handback(
        make_bot, database_url, twilio, clock):
    """The conversation is the agent's when the cancellation takes effect: it is left alone, and
    once the agent hands it back it rests where a return is welcomed."""
    double, bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _say(bot, services, double, "cancel my subscription")
    await _say(bot, services, double, "4")
    clock.set(PERIOD_END - timedelta(hours=1))
    await bot.message(PHONE, "Talk to a person", ButtonPayload="handoff:request")
    clock.set(PERIOD_END)
    await run_jobs(services)
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("handoff", "waiting")
    await hand_back(services)
    clock.advance(minutes=20)
    await run_jobs(services)
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("cancel", "former")
