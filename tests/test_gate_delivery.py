"""The outbound gate end to end: signed webhooks and proactive events in, the real twilio client
and the sender double out — quiet hours, opt-outs, FL caps, SMS budgets and the WhatsApp
fallback chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from statemachine import State

from bot.config import save_section
from bot.consent import ConsentChange, record_consent
from bot.messages import Choice
from bot.store.contacts import load_contacts
from bot.store.models import ConsentEvent, Contact, OutboxMessage
from bot.turn import Turn
from flows.base import Flow
from tests.conftest import live_settings
from tests.twilio_double import Fault

NEW_YORK = "+12125550100"
MIAMI = "+13055550100"
TEMPLATE_SID = "HX" + "ab" * 16


class NoticeFlow(Flow):
    """A stand-in for the subscription flows: each ``send`` event says one proactive notice.

        idle ──send──▶ idle
    """

    flow_name = "notice"
    idle = State(initial=True)
    send = idle.to.itself()

    def on_send(self, turn: Turn, ref: str, topic: str = "notice", menu: bool = False) -> None:
        say = turn.say("faq.answer", answer="Your card was declined.", title="Billing",
                       choices=[Choice("faq:greet", "Main menu")] if menu else None)
        say.business_key = ref
        say.subject = topic


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in New York in July 2026 (EDT, UTC-4)."""
    return datetime(2026, 7, day, hour, minute, tzinfo=UTC) + timedelta(hours=4)


async def _bot(make_bot, database_url, base, clock):
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    services.engine.flows[NoticeFlow.flow_name] = NoticeFlow
    return bot, services


async def _notify(services, channel: str, address: str, ref: str, **kwargs) -> None:
    """Run the notice flow for a contact, as a scheduler job or business event would."""
    now = services.clock.now()

    def run(session):
        contact, _ = load_contacts(session, {(channel, address)}, now)[(channel, address)]
        services.processor.run_event(session, contact, "notice", "send", now, ref=ref, **kwargs)

    await services.store.write(run)


async def _rows(services) -> list[OutboxMessage]:
    return await services.store.read(
        lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))


async def _update_contacts(services, **values) -> None:
    def update(session):
        for contact in session.scalars(select(Contact)):
            for name, value in values.items():
                setattr(contact, name, value)

    await services.store.write(update)


async def _configure(services, section: str, value: dict) -> None:
    await services.store.write(lambda s: save_section(s, section, value, now=services.clock.now(),
                                                      updated_by="op@example.com"))


async def test_night_time_proactive_message_waits_for_the_morning(make_bot, database_url, twilio,
                                                                  clock):
    """A notice at 23:00 in New York is deferred to 08:00 there and sent then, not before."""
    double, base = twilio
    _, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 23))
    await _notify(services, "sms", NEW_YORK, "notice:1")
    [row] = await _rows(services)
    assert (row.status, row.due_at) == ("queued", ny(15, 8))
    assert "quiet hours" in row.status_reason
    assert await services.sender.drain() == 0
    clock.set(ny(15, 7, 59))
    assert await services.sender.drain() == 0
    assert double.messages == []
    clock.set(ny(15, 8))
    assert await services.sender.drain() == 1
    [sent] = double.messages
    assert sent.to == NEW_YORK and "card was declined" in sent.body
    [row] = await _rows(services)
    assert row.status == "sent"


async def test_replies_at_night_are_not_deferred(make_bot, database_url, twilio, clock):
    """Quiet hours are for proactive messages: a customer writing at 03:00 is answered at once."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 3))
    await bot.message(NEW_YORK, "hi")
    assert await services.sender.drain() == 1
    assert len(double.messages) == 1


async def test_stopped_number_gets_nothing_proactive_on_that_channel(make_bot, database_url,
                                                                     twilio, clock):
    """After STOP on SMS a proactive notice is dropped there; the WhatsApp chat still gets it."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 12))
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    await bot.message(NEW_YORK, "STOP")
    await services.sender.drain()
    double.messages.clear()
    await _notify(services, "sms", NEW_YORK, "notice:sms")
    await _notify(services, "whatsapp", NEW_YORK, "notice:wa")
    await services.sender.drain()
    clock.advance(days=1, hours=1)
    await services.sender.drain()
    assert [m.to for m in double.messages] == [f"whatsapp:{NEW_YORK}"]
    rows = {r.business_key: r for r in await _rows(services)}
    assert rows["notice:sms"].status == "dropped"
    assert "opted out of sms" in rows["notice:sms"].status_reason


async def test_plain_words_opt_out_and_are_confirmed_once(make_bot, database_url, twilio, clock):
    """'Please stop texting me' on SMS is recorded like STOP (with its text and MessageSid) and,
    since Twilio only acts on the bare keyword, we confirm it ourselves — once."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 12))
    await bot.message(NEW_YORK, "please stop texting me", sid="SM" + "7" * 32)
    await _notify(services, "sms", NEW_YORK, "notice:after")
    await services.sender.drain()
    assert len(double.messages) == 1 and "unsubscribed" in double.messages[0].body
    ledger = await services.store.read(lambda s: s.scalars(select(ConsentEvent)).one())
    assert (ledger.action, ledger.source, ledger.text, ledger.provider_id) == (
        "opt_out", "message", "please stop texting me", "SM" + "7" * 32)


async def test_florida_number_gets_three_per_day_on_one_subject(make_bot, database_url, twilio,
                                                                clock):
    """A fourth notice on one subject to a Miami number waits until the first is 24 h old; a
    notice on another subject and a New York number are not held back."""
    double, base = twilio
    _, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 10))
    for n in range(3):
        await _notify(services, "sms", MIAMI, f"renewal:sub_1:{n}", topic="renewal:sub_1")
        await services.sender.drain()
        clock.advance(hours=1)
    await _notify(services, "sms", MIAMI, "renewal:sub_1:3", topic="renewal:sub_1")
    await _notify(services, "sms", MIAMI, "survey:1", topic="survey")
    for n in range(4):
        await _notify(services, "sms", NEW_YORK, f"renewal:sub_2:{n}", topic="renewal:sub_2")
    await services.sender.drain()
    rows = {r.business_key: r for r in await _rows(services)}
    assert (rows["renewal:sub_1:3"].status, rows["renewal:sub_1:3"].due_at) == ("queued", ny(15, 10))
    assert "FL limit" in rows["renewal:sub_1:3"].status_reason
    assert rows["survey:1"].status == "sent"
    assert len(double.to(NEW_YORK)) == 4
    assert len(double.to(MIAMI)) == 4
    clock.set(ny(15, 10))
    await services.sender.drain()
    assert len(double.to(MIAMI)) == 5


async def test_a_dunning_episode_gets_two_sms_at_most(make_bot, database_url, twilio, clock):
    """Three texts on one dunning episode written at night: the third is dropped at once with
    the budget as reason, the first two go in the morning; another episode has its own budget."""
    double, base = twilio
    _, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 23))
    for n in range(3):
        await _notify(services, "sms", NEW_YORK, f"dunning:in_1:{n}", topic="dunning:in_1")
    await _notify(services, "sms", NEW_YORK, "dunning:in_2:0", topic="dunning:in_2")
    rows = {r.business_key: r for r in await _rows(services)}
    assert (rows["dunning:in_1:2"].status, rows["dunning:in_1:2"].status_reason) == (
        "dropped", "SMS budget: dunning:in_1 has had its 2 SMS")
    assert [rows[f"dunning:in_1:{n}"].status for n in range(2)] == ["queued", "queued"]
    clock.set(ny(15, 8))
    await services.sender.drain()
    assert [m.to for m in double.messages] == [NEW_YORK] * 3
    assert {r.business_key: r.status for r in await _rows(services)} == {
        "dunning:in_1:0": "sent", "dunning:in_1:1": "sent", "dunning:in_1:2": "dropped",
        "dunning:in_2:0": "sent"}


async def _on_both_channels(bot, services, double, at, *, sms_text: str = "hi") -> None:
    """The customer writes on WhatsApp and by SMS at ``at``; both contacts are linked to one
    customer, and what was sent so far is forgotten."""
    clock = services.clock
    clock.set(at)
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    await bot.message(NEW_YORK, sms_text)
    await services.sender.drain()
    await _update_contacts(services, customer_id="cus_1")
    double.messages.clear()

async def test_a_rerouted_text_and_a_direct_one_share_the_episodes_budget(make_bot, database_url,
                                                                         twilio, clock):
    """An SMS and a WhatsApp notice of one episode wait overnight; by the morning the WhatsApp
    window has closed, so both go by SMS in the same pass — the budget's two texts, no more."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    await _on_both_channels(bot, services, double, ny(14, 7))
    clock.set(ny(14, 21))
    await _notify(services, "sms", NEW_YORK, "dunning:in_1:0", topic="dunning:in_1")
    await _notify(services, "whatsapp", NEW_YORK, "dunning:in_1:1", topic="dunning:in_1")
    await _notify(services, "whatsapp", NEW_YORK, "dunning:in_1:2", topic="dunning:in_1")
    clock.set(ny(15, 8))
    await services.sender.drain()
    assert [m.to for m in double.messages] == [NEW_YORK] * 2
    rows = {r.business_key: r for r in await _rows(services)}
    assert rows["dunning:in_1:1>sms"].status == "sent"
    assert rows["dunning:in_1:2"].status == "dropped"
    assert "SMS budget" in rows["dunning:in_1:2"].status_reason
    assert "dunning:in_1:2>sms" not in rows


async def test_whatsapp_outside_the_window_goes_as_the_approved_template(make_bot, database_url,
                                                                         twilio, clock):
    """Two days after the customer last wrote, a notice goes as the mapped template: ContentSid
    and ContentVariables reach Twilio, no free-form text."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    await _configure(services, "whatsapp_templates", {"templates": {"faq.answer": {"en": {
        "content_sid": TEMPLATE_SID, "variables": ["title", "answer"]}}}})
    clock.set(ny(12, 12))
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    clock.set(ny(14, 12))
    await _notify(services, "whatsapp", NEW_YORK, "notice:1")
    await services.sender.drain()
    sent = double.messages[-1]
    assert sent.content_sid == TEMPLATE_SID
    assert json.loads(sent.content_variables) == {"1": "Billing", "2": "Your card was declined."}
    row = (await _rows(services))[-1]
    assert (row.status, row.content_sid) == ("sent", TEMPLATE_SID)


async def test_whatsapp_outside_the_window_falls_back_to_sms(make_bot, database_url, twilio,
                                                             clock):
    """Without a template, the notice goes to the same customer's consented SMS number — once,
    as a numbered menu that maps back — and the WhatsApp row says where it went."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    await _on_both_channels(bot, services, double, ny(12, 12))
    clock.set(ny(14, 12))
    for _ in range(2):  # a retried event queues nothing twice
        await _notify(services, "whatsapp", NEW_YORK, "notice:1", menu=True)
    await services.sender.drain()
    [sent] = double.messages
    assert sent.to == NEW_YORK and "Reply with a number" in sent.body
    rows = {r.business_key: r for r in await _rows(services)}
    assert rows["notice:1"].status == "dropped"
    assert "notice:1>sms" in rows["notice:1"].status_reason
    assert rows["notice:1>sms"].status == "sent"
    await bot.message(NEW_YORK, "1")
    assert (await _rows(services))[-1].template == "faq.greeting"


async def test_whatsapp_outside_the_window_without_fallback_is_held(make_bot, database_url,
                                                                    twilio, clock):
    """No template and no other consented channel: the message is held for a person, and
    nothing is sent that Twilio would refuse."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    await _on_both_channels(bot, services, double, ny(12, 12), sms_text="STOP")
    clock.set(ny(14, 12))
    await _notify(services, "whatsapp", NEW_YORK, "notice:1")
    await services.sender.drain()
    assert double.messages == []
    row = (await _rows(services))[-1]
    assert row.status == "held" and "24-hour window" in row.status_reason


async def test_sms_number_never_consented_is_no_fallback(make_bot, database_url, twilio, clock):
    """A customer's SMS number that never wrote to us nor opted in is not used as a fallback;
    once the ledger holds its opt-in, it is."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(12, 12))
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    await services.sender.drain()
    now = clock.now()
    await services.store.write(lambda s: load_contacts(s, {("sms", NEW_YORK)}, now))
    await _update_contacts(services, customer_id="cus_1")
    clock.set(ny(14, 12))
    await _notify(services, "whatsapp", NEW_YORK, "notice:1")
    assert (await _rows(services))[-1].status == "held"

    def opt_in(session):
        contact = session.scalars(select(Contact).where(Contact.channel == "sms")).one()
        record_consent(session, contact, ConsentChange("opt_in", "checkout"), clock.now())

    await services.store.write(opt_in)
    await _notify(services, "whatsapp", NEW_YORK, "notice:2")
    await services.sender.drain()
    assert [m.to for m in double.messages[1:]] == [NEW_YORK]


async def test_window_closing_while_deferred_is_caught_at_send_time(make_bot, database_url,
                                                                    twilio, clock):
    """A notice deferred overnight is gated again at 08:00: the window closed at 07:00, so it
    goes as the approved template."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    await _configure(services, "whatsapp_templates", {"templates": {"faq.answer": {"en": {
        "content_sid": TEMPLATE_SID, "variables": ["answer"]}}}})
    clock.set(ny(14, 7))
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    await services.sender.drain()
    clock.set(ny(14, 21))
    await _notify(services, "whatsapp", NEW_YORK, "notice:1")
    row = (await _rows(services))[-1]
    assert (row.status, row.content_sid, row.due_at) == ("queued", None, ny(15, 8))
    clock.set(ny(15, 8))
    await services.sender.drain()
    assert double.messages[-1].content_sid == TEMPLATE_SID


async def test_twilio_63016_takes_the_same_fallback(make_bot, database_url, twilio, clock):
    """When Twilio refuses a free-form WhatsApp message with 63016 anyway, it is re-sent on the
    customer's SMS number instead of being retried or lost."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 12))
    await bot.message(NEW_YORK, "hi")
    await services.sender.drain()
    double.messages.clear()
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    await _update_contacts(services, customer_id="cus_1")
    double.fail_next(Fault(400, 63016, "Failed to send freeform message"))
    await services.sender.drain()
    assert [m.to for m in double.messages] == [NEW_YORK]
    whatsapp = next(r for r in await _rows(services) if r.channel == "whatsapp")
    assert (whatsapp.status, whatsapp.error_code) == ("dropped", 63016)
    assert double.requests == 3  # first SMS greeting, the refused WhatsApp, the SMS fallback


async def test_sms_rows_record_encoding_and_segments(make_bot, database_url, twilio, clock):
    """Every SMS row knows its encoding and segment count; WhatsApp rows do not pretend to."""
    _, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    await bot.message(NEW_YORK, "hi")
    await bot.message("+5511987654321", "olá")
    await bot.message(f"whatsapp:{NEW_YORK}", "hi")
    rows = {(r.channel, r.to_address): r for r in await _rows(services)}
    english = rows[("sms", NEW_YORK)]
    assert (english.sms_encoding, english.sms_segments) == ("GSM-7", 1)
    portuguese = rows[("sms", "+5511987654321")]
    assert portuguese.sms_encoding == "UCS-2" and portuguese.sms_segments >= 2
    assert rows[("whatsapp", NEW_YORK)].sms_encoding is None


async def test_stop_please_drops_the_notice_queued_for_the_morning(make_bot, database_url, twilio,
                                                                   clock):
    """'Stop please' at night opts the customer out: the notice waiting for 08:00 never goes and
    only our confirmation is sent."""
    double, base = twilio
    bot, services = await _bot(make_bot, database_url, base, clock)
    clock.set(ny(14, 23))
    await _notify(services, "sms", NEW_YORK, "notice:morning")
    await bot.message(NEW_YORK, "Stop please")
    await services.sender.drain()
    clock.set(ny(15, 9))
    await services.sender.drain()
    assert len(double.messages) == 1 and "unsubscribed" in double.messages[0].body
    rows = {row.business_key: row for row in await _rows(services)}
    assert rows["notice:morning"].status == "dropped"
