"""The engine's order of business: compliance keywords first, a person's silence, then flows."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.engine import chosen_payload
from bot.keywords import KeywordKind, classify_keyword
from bot.store.models import ConsentEvent, Contact, Conversation, OutboxMessage
from tests.conftest import live_settings, new_sid

SMS = "+14155550100"
WHATSAPP = "whatsapp:+14155550100"


async def _sent(services) -> list[OutboxMessage]:
    return await services.store.read(lambda s: list(s.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))))


async def _ledger(services) -> list[tuple[str, str, str | None]]:
    return await services.store.read(lambda s: [
        (e.action, e.source, e.text) for e in s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))])


def test_keywords_are_single_words_in_any_case_and_punctuation() -> None:
    """STOP, stop., Stop! and localized words are keywords; a sentence containing one is not."""
    assert classify_keyword("STOP") is KeywordKind.OPT_OUT
    assert classify_keyword("  stop. ") is KeywordKind.OPT_OUT
    assert classify_keyword("Cancel!") is KeywordKind.OPT_OUT
    assert classify_keyword("baja") is KeywordKind.OPT_OUT
    assert classify_keyword("Sí") is KeywordKind.OPT_IN
    assert classify_keyword("unstop") is KeywordKind.OPT_IN
    assert classify_keyword("ajuda") is KeywordKind.HELP
    assert classify_keyword("info?") is KeywordKind.HELP
    assert classify_keyword("stop it") is None
    assert classify_keyword("cancel my subscription") is None
    assert classify_keyword("stopwatch") is None


async def test_stop_on_sms_records_and_sends_nothing(make_bot, database_url, twilio, clock):
    """On SMS Twilio confirms STOP itself: we record it with its proof and stay quiet."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    sid = new_sid()
    await bot.message(SMS, "Stop", sid=sid)
    assert await _sent(services) == []
    ledger = await services.store.read(lambda s: s.scalars(select(ConsentEvent)).one())
    assert (ledger.action, ledger.source, ledger.text, ledger.provider_id, ledger.channel) == (
        "opt_out", "keyword", "Stop", sid, "sms")
    contact = await services.store.read(lambda s: s.scalars(select(Contact)).one())
    assert contact.opted_out


async def test_stop_on_whatsapp_sends_exactly_one_confirmation(make_bot, database_url, twilio, clock):
    """On WhatsApp the app confirms an opt-out once, even to a just-opted-out contact; nothing
    else reaches them afterwards."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hi")
    await services.sender.drain()
    await bot.message(WHATSAPP, "STOP")
    await bot.message(WHATSAPP, "when will I be charged?")
    await services.sender.drain()
    rows = await _sent(services)
    assert [r.template for r in rows] == ["faq.greeting", "common.opted_out", "faq.answer"]
    assert [r.status for r in rows] == ["sent", "sent", "dropped"]
    assert "unsubscribed" in double.messages[-1].body
    assert len(double.messages) == 2


async def test_stop_drops_what_was_queued_before_it(make_bot, database_url, twilio, clock):
    """STOP means stop at once: a reply queued before it but not yet sent never goes out."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hi")
    await bot.message(WHATSAPP, "stop")
    await services.sender.drain()
    rows = await _sent(services)
    assert [(r.template, r.status) for r in rows] == [("faq.greeting", "dropped"),
                                                      ("common.opted_out", "sent")]
    assert "opted out" in rows[0].status_reason
    assert len(double.messages) == 1


async def test_start_resubscribes_only_when_opted_out(make_bot, database_url, twilio, clock):
    """'yes' answers the flow normally; after STOP it opts the contact back in."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "yes")
    assert await _ledger(services) == []
    assert (await _sent(services))[-1].template == "faq.unsure"
    await bot.message(WHATSAPP, "stop")
    await bot.message(WHATSAPP, "YES")
    assert [(a, s) for a, s, _ in await _ledger(services)] == [("opt_out", "keyword"),
                                                              ("opt_in", "keyword")]
    assert (await _sent(services))[-1].template == "common.opted_in"
    contact = await services.store.read(lambda s: s.scalars(select(Contact)).one())
    assert not contact.opted_out


async def test_help_on_sms_is_configurable(make_bot, sqlite_url, twilio, clock):
    """HELP is Twilio's to answer on SMS unless our own keyword replies are turned on."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await bot.message(SMS, "HELP")
    assert await _sent(services) == []
    _, base = twilio
    bot2, services2 = await make_bot(
        live_settings(sqlite_url, base, sms_own_keyword_replies=True), clock=clock)
    await bot2.message("+14155550199", "help")
    assert [r.template for r in await _sent(services2)] == ["common.help"]


async def test_numbered_and_typed_answers_map_to_the_offered_choice(make_bot, database_url,
                                                                    twilio, clock):
    """'2' on SMS and a typed button title on WhatsApp pick the same choice a tap would."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(SMS, "hi")
    await bot.message(SMS, "2.")
    await bot.message(WHATSAPP, "hello")
    await bot.message(WHATSAPP, "update my CARD")
    rows = await _sent(services)
    assert "Account > Payment method" in rows[1].body
    assert "Account > Payment method" in rows[3].body


MONTHS = [{"payload": f"pause:choose:{n}", "title": f"{n} month{'s' if n > 1 else ''}"}
          for n in (1, 2, 3)]
SCORES = [{"payload": f"survey:answer:7.{n}", "title": title}
          for n, title in enumerate(("Very poor", "Poor", "OK", "Good", "Great"), start=1)]
OFFER = [{"payload": "cancel:accept", "title": "Switch plan"},
         {"payload": "cancel:decline", "title": "No, cancel"}]
TOPICS = [{"payload": "faq:pick:cancel_info", "title": "Cancel"},
          {"payload": "handoff:request", "title": "Talk to a person"}]


@pytest.mark.parametrize(("choices", "text", "payload"), [
    (MONTHS, "2", "pause:choose:2"), (MONTHS, "2.", "pause:choose:2"),
    (MONTHS, "2 months", "pause:choose:2"), (MONTHS, "2 months please", "pause:choose:2"),
    (MONTHS, "two months please", "pause:choose:2"), (MONTHS, "Two", "pause:choose:2"),
    (MONTHS, "ok, 3 months", "pause:choose:3"), (MONTHS, "dos meses", None),
    (MONTHS, "4", None), (MONTHS, "2 or 3 months", None), (MONTHS, "not 2 months", None),
    (OFFER, "um", None), (OFFER, "um...", None),  # a hesitation, not "1. Switch plan"
    (SCORES, "ok", "survey:answer:7.3"), (SCORES, "great, thanks!", "survey:answer:7.5"),
    (SCORES, "very poor", "survey:answer:7.1"),
    (OFFER, "switch plan please", "cancel:accept"),
    (OFFER, "I don't want to switch plan", None),
    # "cancel please" is never the topic titled "Cancel": a bare CANCEL opts out, and with
    # words around it the subscription flow reads it.
    (TOPICS, "cancel please", None),
])
def test_a_typed_answer_maps_to_one_offered_choice(choices, text: str, payload: str | None) -> None:
    """A number, the title, or the title with a polite word or a number spelled out; anything
    else (other words around it) is no choice — a negation must never pick one."""
    assert chosen_payload(choices, text) == payload


async def test_stale_button_gets_did_not_understand_with_choices(make_bot, database_url, twilio,
                                                                 clock):
    """An event the current state cannot take is answered, with the choices offered again."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hi")
    await bot.message(WHATSAPP, "Old", ButtonPayload="faq:pick:no_such_topic")
    rows = await _sent(services)
    assert rows[-1].template == "common.did_not_understand"
    assert [c["payload"] for c in rows[-1].choices] == [c["payload"] for c in rows[0].choices]


async def test_bot_is_silent_while_a_person_owns_the_conversation(make_bot, database_url, twilio,
                                                                  clock):
    """After asking for a person, messages are kept for the agent and the bot says nothing —
    except that STOP still works."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "hi")
    await bot.message(WHATSAPP, "Talk to a person", ButtonPayload="handoff:request")
    before = len(await _sent(services))
    await bot.message(WHATSAPP, "hello? my card was declined")
    assert len(await _sent(services)) == before
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.state) == ("handoff", "waiting")
    await bot.message(WHATSAPP, "stop")
    assert (await _sent(services))[-1].template == "common.opted_out"


async def test_flow_error_rolls_back_and_apologizes(make_bot, database_url, twilio, clock,
                                                    monkeypatch):
    """A failing flow callback rolls its turn back; the message is kept and the customer told."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    from flows.faq import FaqFlow

    def broken(self, turn):
        turn.conversation.misunderstood = 99
        raise RuntimeError("boom")

    monkeypatch.setattr(FaqFlow, "on_greet", broken)
    response = await bot.message(SMS, "hi")
    assert response.status == 200
    rows = await _sent(services)
    assert [r.template for r in rows] == ["common.error"]

    def state(session):
        conversation = session.scalars(select(Conversation)).one()
        return conversation.misunderstood, conversation.flow

    assert await services.store.read(state) == (0, None)


async def test_help_reaches_an_opted_out_contact(make_bot, database_url, twilio, clock):
    """HELP is answered after STOP too: who we are and how to opt back in is what an opted-out
    customer needs, and it is the answer to their own message."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(WHATSAPP, "STOP")
    await bot.message(WHATSAPP, "HELP")
    await services.sender.drain()
    rows = await _sent(services)
    assert [(r.template, r.status) for r in rows] == [("common.opted_out", "sent"),
                                                      ("common.help", "sent")]
    assert len(double.messages) == 2


async def test_a_database_failure_is_not_a_flow_error(make_bot, database_url, twilio, clock,
                                                      monkeypatch):
    """The database failing under a turn (a restart, a lock) is not the message's fault: it is
    not acknowledged (503, so Twilio retries it), the conversation keeps its place and the
    customer gets no apology; the retry is handled as usual."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(SMS, "cancel my subscription")
    place = await services.store.read(
        lambda s: (lambda c: (c.flow, c.state))(s.scalars(select(Conversation)).one()))
    process = services.processor.process
    failures = iter([OperationalError("SELECT 1", {}, Exception("server closed the connection"))])

    def flaky(session, items, now):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return process(session, items, now)

    monkeypatch.setattr(services.processor, "process", flaky)
    sid = "SM" + "d" * 32
    assert (await bot.message(SMS, "hi", sid=sid)).status == 503
    assert "common.error" not in [r.template for r in await _sent(services)]
    assert await services.store.read(
        lambda s: (lambda c: (c.flow, c.state))(s.scalars(select(Conversation)).one())) == place
    assert (await bot.message(SMS, "hi", sid=sid)).status == 200
    assert (await _sent(services))[-1].template == "faq.greeting"


async def test_an_opt_out_keyword_wins_over_a_choice_with_the_same_title(make_bot, database_url,
                                                                          twilio, clock):
    """A bare CANCEL opts out even when the last menu offered a choice titled "Cancel" (an
    operator's FAQ topic): Twilio has opted the number out already, so the bot must too."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(SMS, "hi")

    def offer_cancel_topic(session) -> None:
        conversation = session.scalars(select(Conversation)).one()
        conversation.choices = [{"payload": "faq:pick:cancel", "title": "Cancel"},
                                {"payload": "faq:pick:billing", "title": "Yes"}]
    await services.store.write(offer_cancel_topic)
    await bot.message(SMS, "cancel")
    assert await _ledger(services) == [("opt_out", "keyword", "cancel")]
