"""Handoff to a person, end to end through the webhook, the agent desk and the scheduler: every
trigger, the bot's silence, agents' replies through the gate, handback with the rating question,
and the return timer — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.agent_desk import DeskError
from bot.config import save_section
from bot.handoff_config import HandoffConfig
from bot.store.models import Contact, Conversation, Handoff, HandoffEvent, Job, OutboxMessage
from bot.whatsapp_templates import WhatsAppTemplates
from tests.business import customer_upserted, send
from tests.conftest import live_settings
from tests.consoles import BEARER

SMS = "+14155550100"
WHATSAPP = "whatsapp:+14155550100"
AGENT = "agent@example.com"
# A Wednesday, 15:00 UTC: inside the default working hours (Mon–Fri 09:00–17:00 UTC).
WORKING = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


async def _bot(make_bot, database_url, twilio, clock, **overrides):
    _, base = twilio
    clock.set(overrides.pop("at", WORKING))
    return await make_bot(live_settings(database_url, base, **overrides), clock=clock)


async def _outbox(services) -> list[OutboxMessage]:
    return await services.store.read(lambda s: list(s.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))))


async def _conversation(services) -> Conversation:
    return await services.store.read(lambda s: s.scalars(select(Conversation)).one())


async def _desk(services, action: str, conversation_id: int, agent: str = AGENT, **kwargs):
    now = services.clock.now()
    return await services.store.write(
        lambda s: getattr(services.desk, action)(s, conversation_id, agent, now, **kwargs))


async def _configure(services, section, **values) -> None:
    now = services.clock.now()
    await services.store.write(lambda s: save_section(s, section.section, values, now=now,
                                                      updated_by="test"))


async def _run_jobs(services) -> int:
    ran = 0
    while (count := await services.scheduler.run_due()) > 0:
        ran += count
    return ran


# -- triggers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "text"), [
    (WHATSAPP, "Can I talk to a person please?"),
    (WHATSAPP, "AGENT"),
    (SMS, "I want a real person"),
    (WHATSAPP, "Quiero hablar con una persona"),
    (SMS, "necesito un asesor"),
    (WHATSAPP, "Quero falar com um atendente"),
    (SMS, "humano por favor"),
])
async def test_an_explicit_ask_in_any_locale_hands_over(make_bot, database_url, twilio, clock,
                                                        address, text):
    """Asking for a person — in English, Spanish or Portuguese — puts the conversation in the
    queue and tells the customer what happens next."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(address, text)
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.state) == ("handoff", "waiting")
    assert conversation.data["reason"] == "asked"
    rows = await _outbox(services)
    assert [r.template for r in rows] == ["handoff.requested"]
    assert "passed this conversation to our team" in rows[0].body or "equipo" in rows[0].body \
        or "equipe" in rows[0].body


@pytest.mark.parametrize("text", [
    "THIS IS RIDICULOUS, I WANT MY MONEY",
    "this app is useless!!!",
    "esto es una estafa!!",
    "ESTOY HARTA DE ESTO",
    "que palhaçada, serviço péssimo",
    "vocês são inúteis 😡",
])
async def test_strong_frustration_hands_over(make_bot, database_url, twilio, clock, text):
    """Strong frustration (a lexicon word plus capitals, "!!" or an angry face, in any locale)
    goes to a person, and the customer hears an apology first."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, text)
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.data["reason"]) == ("handoff", "frustrated")
    assert (await _outbox(services))[-1].template == "handoff.requested"


async def test_mild_annoyance_is_still_the_bots_to_answer(make_bot, database_url, twilio, clock):
    """One word of annoyance without any other signal does not hand over."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "my card was declined, annoying")
    assert (await _conversation(services)).flow == "faq"


async def test_a_reason_sent_in_a_button_is_kept_to_the_records_length(make_bot, database_url,
                                                                        twilio, clock):
    """A customer's handoff button carries its reason; a forged, overlong one is cut to the
    64 characters the handoff record keeps, in the conversation as in the record."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "help", ButtonPayload="handoff:request:" + "x" * 200)
    conversation = await _conversation(services)
    assert conversation.data["reason"] == "x" * 64
    await _desk(services, "claim", conversation.id)
    record = await services.store.read(lambda s: s.scalars(select(Handoff)).one())
    assert record.reason == "x" * 64


async def test_failing_to_understand_twice_in_a_row_hands_over(make_bot, database_url, twilio,
                                                                clock):
    """The first miss offers a person; the second in a row hands over with one message (no
    second "I'm not sure"); an understood message in between resets the count."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "blorp flibbertigibbet")
    await bot.message(SMS, "when will I be charged")
    await bot.message(SMS, "zzq wibble")
    assert (await _conversation(services)).flow == "faq"
    await bot.message(SMS, "quux frobnicate")
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.state) == ("handoff", "waiting")
    assert conversation.data["reason"] == "not_understood"
    assert conversation.misunderstood == 0
    templates = [r.template for r in await _outbox(services)]
    assert templates == ["faq.unsure", "faq.answer", "faq.unsure", "handoff.requested"]
    assert "not managing to help" in (await _outbox(services))[-1].body


async def test_the_limit_of_misunderstandings_is_configurable(make_bot, database_url, twilio, clock):
    """With the limit at 3, two misses are answered by the bot and the third hands over."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _configure(services, HandoffConfig, escalate_after_misunderstood=3)
    for text in ("blorp one", "blorp two"):
        await bot.message(SMS, text)
    assert (await _conversation(services)).flow == "faq"
    await bot.message(SMS, "blorp three")
    assert (await _conversation(services)).data["reason"] == "not_understood"


async def test_a_flows_own_route_hands_over_with_its_reason(make_bot, database_url, twilio, clock):
    """A choice another flow offers (``handoff:request:<reason>``) hands over with that reason,
    and the agent sees where the conversation was before."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "when will I be charged")
    await bot.message(WHATSAPP, "Talk to someone", ButtonPayload="handoff:request:missing_feature")
    conversation = await _conversation(services)
    assert conversation.data["reason"] == "missing_feature"
    assert conversation.data["before"] == {"flow": "faq", "state": "answering",
                                           "data": {"last_topic": "billing_date"}}


# -- what the customer is told -------------------------------------------------------------------


async def test_outside_working_hours_the_customer_learns_when_the_team_is_back(
        make_bot, database_url, twilio, clock):
    """On a Saturday the customer is told the team is back on Monday at 9:00 — in their own
    time zone when it is known — and the return timer counts only working time."""
    saturday = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    bot, services = await _bot(make_bot, database_url, twilio, clock, at=saturday)
    await _configure(services, HandoffConfig, timezone="America/New_York",
                     hours={"mon": ["09:00-17:00"], "tue": ["09:00-17:00"]},
                     return_unclaimed_after_minutes=120)
    await services.store.write(lambda s: s.add(Contact(
        channel="sms", address=SMS, timezone="Europe/Lisbon", created_at=saturday)))
    await bot.message(SMS, "talk to a person")
    body = (await _outbox(services))[-1].body
    assert "back Mon, Nov 23, 2:00 PM Western European Standard Time" in body
    conversation = await _conversation(services)
    # Monday 09:00 in New York is 14:00 UTC; two working hours later is 16:00 UTC.
    assert conversation.data["return_at"] == "2026-11-23T16:00:00+00:00"


@pytest.mark.parametrize(("number", "shown"), [
    # No zone on record: a UK mobile's zones (London, Jersey, Guernsey, Man) all read 14:00.
    ("+447911123456", "back Mon, Nov 23, 2:00 PM Greenwich Mean Time"),
    # A Russian mobile may be anywhere from Kaliningrad to Kamchatka: the team's zone, named.
    ("+79161234567", "back Mon, Nov 23, 9:00 AM Eastern Standard Time"),
])
async def test_with_no_zone_on_record_the_opening_is_shown_in_the_numbers_zone_when_it_has_one(
        make_bot, database_url, twilio, clock, number, shown):
    """A customer the business never gave a zone for reads the opening in their number's zone
    when every zone its numbering plan allows agrees, else in the team's zone (named)."""
    saturday = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    bot, services = await _bot(make_bot, database_url, twilio, clock, at=saturday)
    await _configure(services, HandoffConfig, timezone="America/New_York",
                     hours={"mon": ["09:00-17:00"]})
    await bot.message(number, "talk to a person")
    assert shown in (await _outbox(services))[-1].body


async def test_inside_working_hours_no_time_is_promised(make_bot, database_url, twilio, clock):
    """During working hours the message says a person will reply when free, and no opening."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "talk to a person")
    body = (await _outbox(services))[-1].body
    assert "when one is free" in body and "back" not in body


async def test_the_customer_is_answered_in_their_language(make_bot, database_url, twilio, clock):
    """A Spanish speaker hears the handoff message in Spanish."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "hola")
    await bot.message(WHATSAPP, "quiero hablar con un humano")
    assert "equipo" in (await _outbox(services))[-1].body


# -- silence while a person has it ----------------------------------------------------------------


async def test_the_bot_says_nothing_while_waiting_or_with_an_agent(make_bot, database_url, twilio,
                                                                  clock):
    """Questions, greetings, frustration and button taps all go to the agent unanswered;
    only the STOP/START/HELP family is still handled."""
    bot, services = await _bot(make_bot, database_url, twilio, clock,
                               sms_own_keyword_replies=True)
    await bot.message(SMS, "agent please")
    before = len(await _outbox(services))
    for text in ("hi", "when will I be charged", "THIS IS USELESS!!!", "1"):
        response = await bot.message(SMS, text)
        assert response.status == 200
    await bot.message(SMS, "Main menu", ButtonPayload="faq:greet")
    assert len(await _outbox(services)) == before
    await _desk(services, "claim", (await _conversation(services)).id)
    await bot.message(SMS, "are you there?")
    assert len(await _outbox(services)) == before
    await bot.message(SMS, "HELP")
    assert (await _outbox(services))[-1].template == "common.help"
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.state) == ("handoff", "with_agent")


# -- agents -----------------------------------------------------------------------------------


async def test_an_agent_claims_replies_and_the_reply_reaches_twilio(make_bot, database_url, twilio,
                                                                   clock):
    """Claiming is exclusive (another agent gets 409, the same agent again is fine); the reply
    is a gated reply through the outbox and reaches Twilio."""
    double, _ = twilio
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "talk to a person")
    conversation_id = (await _conversation(services)).id
    await _desk(services, "claim", conversation_id)
    await _desk(services, "claim", conversation_id)
    with pytest.raises(DeskError) as taken:
        await _desk(services, "claim", conversation_id, "other@example.com")
    assert taken.value.status == 409 and AGENT in taken.value.reason
    with pytest.raises(DeskError) as not_yours:
        await _desk(services, "reply", conversation_id, "other@example.com", text="hi")
    assert not_yours.value.status == 409

    clock.advance(minutes=3)
    row, created = await _desk(services, "reply", conversation_id, text="Hi Ana, I'm on it.")
    assert created and (row.template, row.kind, row.status) == ("handoff.agent_message", "reply",
                                                                "queued")
    await services.sender.drain()
    assert double.messages[-1].body == "Hi Ana, I'm on it."
    record = await services.store.read(lambda s: s.scalars(select(Handoff)).one())
    assert (record.agent, record.reason) == (AGENT, "asked")
    assert record.first_response_at - record.requested_at == timedelta(minutes=3)


async def test_a_repeated_message_id_sends_once(make_bot, database_url, twilio, clock):
    """Submitting the same reply twice (a double click, a retried request) queues it once."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "talk to a person")
    conversation_id = (await _conversation(services)).id
    first, created = await _desk(services, "reply", conversation_id, text="One", client_key="k1")
    again, created_again = await _desk(services, "reply", conversation_id, text="One",
                                       client_key="k1")
    assert created and not created_again and first.id == again.id
    assert [r.body for r in await _outbox(services)][-1:] == ["One"]
    assert len([r for r in await _outbox(services) if r.template == "handoff.agent_message"]) == 1


async def test_whatsapp_outside_the_window_refuses_free_text_and_offers_templates(
        make_bot, database_url, twilio, clock):
    """Two days after the customer's last message a typed WhatsApp reply is refused before
    anything is queued, naming the window and the approved templates; a template is queued."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "talk to a person")
    conversation_id = (await _conversation(services)).id
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=7 * 24 * 60)
    await _configure(services, WhatsAppTemplates, templates={"handoff.follow_up": {
        "en": {"content_sid": "HX" + "a" * 32, "label": "Follow up"}}})
    clock.advance(hours=48)
    queued = len(await _outbox(services))
    with pytest.raises(DeskError) as held:
        await _desk(services, "reply", conversation_id, text="Sorry for the wait!")
    assert held.value.status == 409 and "24-hour window" in held.value.reason
    assert held.value.details["templates"] == ["handoff.follow_up"]
    assert len(await _outbox(services)) == queued
    with pytest.raises(DeskError) as unknown:
        await _desk(services, "reply", conversation_id, template="dunning.first_notice")
    assert unknown.value.status == 422
    row, _ = await _desk(services, "reply", conversation_id, template="handoff.follow_up")
    assert (row.template, row.kind) == ("handoff.follow_up", "proactive")
    assert "following up on your request" in row.body


async def test_a_typed_reply_the_gate_would_send_by_sms_is_refused_like_a_held_one(
        make_bot, database_url, twilio, clock):
    """Outside WhatsApp's window a typed reply to a customer who also has SMS would be sent by
    SMS, into a conversation no agent watches: it is refused (409) naming the window and the
    templates, nothing is queued, and the console offers the templates as it does for a hold."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await send(bot, customer_upserted(phone=SMS, whatsapp=SMS, consent={
        "sms": True, "whatsapp": True, "source": "checkout", "at": "2026-11-01T10:00:00Z"}))
    await bot.message(WHATSAPP, "talk to a person")
    conversation_id = await services.store.read(lambda s: s.scalars(
        select(Conversation.id).where(Conversation.flow == "handoff")).one())
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=7 * 24 * 60)
    clock.advance(hours=48)
    queued = len(await _outbox(services))
    with pytest.raises(DeskError) as held:
        await _desk(services, "reply", conversation_id, text="A refund? Reply yes or no")
    assert held.value.status == 409 and "24-hour window" in held.value.reason
    assert "template" in held.value.reason
    assert len(await _outbox(services)) == queued
    shown = await (await bot.client.get(f"/api/conversations/{conversation_id}",
                                        headers=BEARER)).json()
    assert shown["reply"]["gate"] == "hold"


async def test_an_opted_out_customer_gets_nothing_from_an_agent(make_bot, database_url, twilio,
                                                              clock):
    """After STOP during a handoff, an agent's reply is refused with the reason."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "talk to a person")
    await bot.message(SMS, "STOP")
    with pytest.raises(DeskError) as dropped:
        await _desk(services, "reply", (await _conversation(services)).id, text="Hello?")
    assert dropped.value.status == 409 and "opted out" in dropped.value.reason


async def test_an_sms_reply_after_a_day_is_a_new_message(make_bot, database_url, twilio, clock):
    """More than 24 hours after the customer wrote, an agent's SMS is proactive (quiet hours
    apply); within them it is a reply."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "talk to a person")
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=7 * 24 * 60)
    conversation_id = (await _conversation(services)).id
    clock.advance(hours=23)
    recent, _ = await _desk(services, "reply", conversation_id, text="Checking")
    clock.advance(hours=2)
    later, _ = await _desk(services, "reply", conversation_id, text="Done")
    assert (recent.kind, later.kind) == ("reply", "proactive")


async def test_notes_stay_inside_the_team(make_bot, database_url, twilio, clock):
    """An internal note is kept on the conversation and never sent."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "talk to a person")
    before = len(await _outbox(services))
    note = await _desk(services, "add_note", (await _conversation(services)).id,
                       text="Customer called earlier too")
    assert (note.kind, note.text, note.agent) == ("note", "Customer called earlier too", AGENT)
    assert len(await _outbox(services)) == before
    with pytest.raises(DeskError) as empty:
        await _desk(services, "add_note", note.conversation_id, text="  ")
    assert empty.value.status == 422


# -- handback and the rating ----------------------------------------------------------------------


async def _resolved_after_a_reply(bot, services, address=WHATSAPP):
    await bot.message(address, "talk to a person")
    conversation_id = (await _conversation(services)).id
    await _desk(services, "reply", conversation_id, text="Fixed it for you.")
    services.clock.advance(minutes=10)
    return await _desk(services, "resolve", conversation_id)


async def test_resolving_hands_back_and_asks_one_rating_question(make_bot, database_url, twilio,
                                                                clock):
    """Resolve gives the conversation back to the bot, which asks 1–5 once; the answer is
    recorded on the handoff and thanked; the bot answers questions again."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    record = await _resolved_after_a_reply(bot, services)
    conversation = await _conversation(services)
    assert conversation.flow is None
    question = (await _outbox(services))[-1]
    assert question.template == "survey.question" and question.kind == "proactive"
    assert [c["payload"] for c in conversation.choices] == [
        f"survey:answer:{record.id}.{score}" for score in range(1, 6)]
    await bot.message(WHATSAPP, "4")
    assert (await _outbox(services))[-1].template == "survey.thanks"
    await _run_jobs(services)
    rated = await services.store.read(lambda s: s.get(Handoff, record.id))
    assert (rated.csat, rated.outcome, rated.agent) == (4, "resolved", AGENT)
    await bot.message(WHATSAPP, "when will I be charged")
    assert (await _outbox(services))[-1].template == "faq.answer"


@pytest.mark.parametrize("writes_meanwhile", [True, False])
async def test_a_rating_question_held_for_the_morning_is_dropped_if_the_customer_wrote_since(
        make_bot, database_url, twilio, clock, writes_meanwhile):
    """Resolved at 07:00 in Los Angeles, the question waits for 08:00 (quiet hours). A customer
    who writes in the meantime has moved on — by then they may be back in the queue — so it is
    dropped with its reason; one who did not hears it at 08:00."""
    double, _ = twilio
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _resolved_after_a_reply(bot, services, SMS)
    question = (await _outbox(services))[-1]
    assert (question.template, question.status) == ("survey.question", "queued")
    assert question.due_at == datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
    if writes_meanwhile:
        clock.advance(minutes=5)
        await bot.message(SMS, "thanks!")
    clock.set(datetime(2026, 11, 18, 16, 1, tzinfo=UTC))
    await services.sender.drain()
    question = await services.store.read(lambda s: s.get(OutboxMessage, question.id))
    asked = [m for m in double.messages if m.body.startswith("Thanks for talking with our team")]
    if writes_meanwhile:
        assert question.status == "dropped" and "wrote" in question.status_reason
        assert asked == []
    else:
        assert question.status == "sent" and len(asked) == 1


async def test_no_answer_to_the_rating_is_fine(make_bot, database_url, twilio, clock):
    """A customer who ignores the question simply talks to the bot; nothing is recorded."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    record = await _resolved_after_a_reply(bot, services)
    await bot.message(WHATSAPP, "how do I update my card")
    assert (await _outbox(services))[-1].template == "faq.answer"
    await _run_jobs(services)
    assert (await services.store.read(lambda s: s.get(Handoff, record.id))).csat is None


async def test_a_detractor_rating_goes_back_to_a_person(make_bot, database_url, twilio, clock):
    """A 1 or 2 is recorded and puts the conversation back in the queue, with an apology."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    record = await _resolved_after_a_reply(bot, services, SMS)
    await bot.message(SMS, "1")
    conversation = await _conversation(services)
    assert (conversation.flow, conversation.state, conversation.data["reason"]) == (
        "handoff", "waiting", "detractor")
    assert "sorry we didn't get it right" in (await _outbox(services))[-1].body
    await _run_jobs(services)
    assert (await services.store.read(lambda s: s.get(Handoff, record.id))).csat == 1


async def test_a_rating_counts_once_and_only_for_its_own_conversation(make_bot, database_url, twilio,
                                                                     clock):
    """A second answer does not change the first; a forged answer for another conversation's
    handoff is ignored."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    record = await _resolved_after_a_reply(bot, services)
    await bot.message(WHATSAPP, "5", ButtonPayload=f"survey:answer:{record.id}.5")
    await bot.message(WHATSAPP, "3", ButtonPayload=f"survey:answer:{record.id}.3")
    await bot.message("whatsapp:+14155550111", "x", ButtonPayload=f"survey:answer:{record.id}.1")
    await _run_jobs(services)
    assert (await services.store.read(lambda s: s.get(Handoff, record.id))).csat == 5


async def test_resolving_without_answering_asks_nothing(make_bot, database_url, twilio, clock):
    """An agent who resolves without writing to the customer gets no rating question for it;
    the bot just says it is back."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(SMS, "talk to a person")
    await _desk(services, "resolve", (await _conversation(services)).id)
    assert (await _outbox(services))[-1].template == "handoff.resolved"
    with pytest.raises(DeskError) as gone:
        await _desk(services, "resolve", (await _conversation(services)).id)
    assert gone.value.status == 409


# -- the return timer -----------------------------------------------------------------------------


async def test_an_unclaimed_handoff_returns_to_the_bot_after_the_set_working_time(
        make_bot, database_url, twilio, clock):
    """Nobody claims it: after the configured working minutes the bot takes it back and says
    so; the record says it was returned."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=30)
    await bot.message(SMS, "talk to a person")
    clock.advance(minutes=29)
    await _run_jobs(services)
    assert (await _conversation(services)).state == "waiting"
    clock.advance(minutes=1)
    assert await _run_jobs(services) == 1
    conversation = await _conversation(services)
    assert conversation.flow is None
    assert (await _outbox(services))[-1].template == "handoff.returned"
    record = await services.store.read(lambda s: s.scalars(select(Handoff)).one())
    assert (record.outcome, record.agent, record.claimed_at) == ("returned", None, None)
    await bot.message(SMS, "when will I be charged")
    assert (await _outbox(services))[-1].template == "faq.answer"


async def test_a_silent_agent_also_hands_back_but_each_reply_restarts_the_timer(
        make_bot, database_url, twilio, clock):
    """After a claim the agent's silence is timed from their last claim or reply; an earlier
    timer that fires does nothing."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=30,
                     return_silent_after_minutes=60)
    await bot.message(SMS, "talk to a person")
    conversation_id = (await _conversation(services)).id
    clock.advance(minutes=10)
    await _desk(services, "claim", conversation_id)
    clock.advance(minutes=50)
    await _desk(services, "reply", conversation_id, text="Still looking")
    clock.advance(minutes=59)
    await _run_jobs(services)
    assert (await _conversation(services)).state == "with_agent"
    clock.advance(minutes=1)
    await _run_jobs(services)
    assert (await _conversation(services)).flow is None
    assert (await _outbox(services))[-1].template == "handoff.returned"
    events = await services.store.read(lambda s: [e.kind for e in s.scalars(
        select(HandoffEvent).order_by(HandoffEvent.id))])
    assert events == ["claimed", "replied", "returned"]
    jobs = await services.store.read(lambda s: sorted(j.status for j in s.scalars(select(Job))))
    assert jobs == ["done", "done", "done"]


async def test_a_template_that_carries_the_agents_words_needs_them(make_bot, database_url, twilio,
                                                                   clock):
    """With ``handoff.agent_message`` approved (its text in placeholder 1), an agent outside the
    window may send their own words in it — but not an empty one."""
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "talk to a person")
    conversation_id = (await _conversation(services)).id
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=7 * 24 * 60)
    await _configure(services, WhatsAppTemplates, templates={"handoff.agent_message": {
        "en": {"content_sid": "HX" + "d" * 32, "variables": ["text"], "label": "Agent note"}}})
    clock.advance(hours=30)
    with pytest.raises(DeskError) as empty:
        await _desk(services, "reply", conversation_id, template="handoff.agent_message")
    assert empty.value.status == 422 and "write it first" in empty.value.reason
    row, _ = await _desk(services, "reply", conversation_id, template="handoff.agent_message",
                         text="Your refund went out today.")
    assert (row.template, row.body, row.kind) == ("handoff.agent_message",
                                                  "Your refund went out today.", "proactive")


async def test_the_return_timer_counts_working_time_across_a_dst_weekend(make_bot, database_url,
                                                                         twilio, clock):
    """Asked at 16:30 New York on the Friday before the clocks go back, with two working hours
    to wait: the bot takes it back on Monday at 10:30 local, which is 15:30 UTC (not 14:30)."""
    friday = datetime(2026, 10, 30, 20, 30, tzinfo=UTC)  # 16:30 EDT
    bot, services = await _bot(make_bot, database_url, twilio, clock, at=friday)
    await _configure(services, HandoffConfig, timezone="America/New_York",
                     return_unclaimed_after_minutes=120)
    await bot.message(SMS, "talk to a person")
    clock.set(datetime(2026, 11, 2, 15, 29, tzinfo=UTC))
    await _run_jobs(services)
    assert (await _conversation(services)).state == "waiting"
    clock.set(datetime(2026, 11, 2, 15, 30, tzinfo=UTC))
    await _run_jobs(services)
    assert (await _conversation(services)).flow is None
    assert (await _outbox(services))[-1].template == "handoff.returned"


async def test_at_night_outside_the_window_a_typed_reply_is_still_refused(make_bot, database_url,
                                                                          twilio, clock):
    """Quiet hours would only defer a message at 02:00 the customer's time, but the WhatsApp
    window would then hold it: the agent is told before anything is queued, as the gate will do."""
    clock.set(datetime(2026, 11, 24, 18, 0, tzinfo=UTC))  # 10:00 in San Francisco
    bot, services = await _bot(make_bot, database_url, twilio, clock)
    await bot.message(WHATSAPP, "talk to a person")
    conversation_id = (await _conversation(services)).id
    await _configure(services, HandoffConfig, return_unclaimed_after_minutes=7 * 24 * 60)
    clock.set(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))  # two days later, 02:00 there
    queued = len(await _outbox(services))
    with pytest.raises(DeskError) as held:
        await _desk(services, "reply", conversation_id, text="Sorry for the wait!")
    assert held.value.status == 409 and "24-hour window" in held.value.reason
    assert len(await _outbox(services)) == queued
