"""The outbound gate's pure rules: consent, a question the customer moved on from, SMS budgets,
quiet hours, FL/OK/MD hours and caps, WhatsApp window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.gate import SMS_BUDGETS, Action, Kind, Outgoing, Policy, Recipient, decide, sms_budget
from bot.messages import Channel
from bot.quiet_hours import Window
from bot.state_limits import cap_release, restricted_state

NEW_YORK = "+12125550100"
MIAMI = "+13055550100"
TULSA = "+19185550100"
BALTIMORE = "+14105550100"
SMS_PROACTIVE = Outgoing(Channel.SMS, Kind.PROACTIVE)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def at_new_york(hour: int, minute: int = 0) -> datetime:
    """A July day in New York (EDT, UTC-4)."""
    return utc(2026, 7, 15, hour + 4, minute) if hour < 20 else utc(2026, 7, 16, hour - 20, minute)


def person(address: str = NEW_YORK, **facts) -> Recipient:
    return Recipient(address, facts.pop("opted_out", False), facts.pop("last_inbound_at", None),
                     **facts)


def test_opted_out_contact_gets_only_the_keyword_confirmation() -> None:
    """After STOP, replies and proactive messages are dropped; the confirmation goes."""
    gone = person(opted_out=True)
    noon = at_new_york(12)
    for kind in (Kind.REPLY, Kind.PROACTIVE):
        verdict = decide(Outgoing(Channel.SMS, kind), gone, noon)
        assert verdict.action is Action.DROP and "opted out" in verdict.reason
    assert decide(Outgoing(Channel.SMS, Kind.COMPLIANCE), gone, noon).action is Action.SEND


def test_a_rating_question_is_not_asked_once_the_customer_wrote_after_it_was_queued() -> None:
    """The satisfaction question held for the morning is dropped if the customer wrote since it
    was queued; written before, or another subject (a dunning notice), it goes as usual."""
    queued, noon = at_new_york(19), at_new_york(12) + timedelta(days=1)
    question = Outgoing(Channel.SMS, Kind.PROACTIVE, subject="survey:12", queued_at=queued)
    moved_on = person(last_inbound_at=queued + timedelta(minutes=5))
    verdict = decide(question, moved_on, noon)
    assert verdict.action is Action.DROP and "wrote after it was queued" in verdict.reason
    assert decide(question, person(last_inbound_at=queued - timedelta(minutes=5)),
                  noon).action is Action.SEND
    assert decide(replace(question, subject="dunning:in_1"), moved_on, noon).action is Action.SEND


def test_proactive_at_night_is_deferred_to_the_local_morning_and_replies_are_not() -> None:
    """At 23:00 in New York a dunning notice waits for 08:00; an answer to the customer goes."""
    night = at_new_york(23)
    verdict = decide(SMS_PROACTIVE, person(), night)
    assert verdict.action is Action.DEFER
    assert verdict.until == utc(2026, 7, 16, 12, 0)
    assert "quiet hours" in verdict.reason
    assert decide(Outgoing(Channel.SMS, Kind.REPLY), person(), night).action is Action.SEND
    assert decide(SMS_PROACTIVE, person(), at_new_york(8)).action is Action.SEND


def test_configured_window_is_used() -> None:
    """Operators can narrow the window: 10:00–18:00 defers a 09:00 message to 10:00."""
    policy = Policy(window=Window(time(10, 0), time(18, 0)))
    verdict = decide(SMS_PROACTIVE, person(), at_new_york(9), policy)
    assert (verdict.action, verdict.until) == (Action.DEFER, at_new_york(10))


def test_contact_timezone_wins_over_the_number() -> None:
    """A San Francisco number whose owner lives in Madrid is messaged on Madrid's clock."""
    madrid_night = utc(2026, 7, 15, 23, 0)  # 01:00 in Madrid, 16:00 in San Francisco
    sf = "+14155550100"
    assert decide(SMS_PROACTIVE, person(sf), madrid_night).action is Action.SEND
    verdict = decide(SMS_PROACTIVE, person(sf, timezone="Europe/Madrid"), madrid_night)
    assert (verdict.action, verdict.until) == (Action.DEFER, utc(2026, 7, 16, 6, 0))


def test_number_with_many_zones_waits_until_all_are_open() -> None:
    """An Australian mobile could be anywhere from Sydney to the Cocos Islands: 08:30 in Sydney
    is still night further west, so the message waits for the last zone to open."""
    sydney_morning = utc(2026, 7, 14, 22, 30)  # AEST 08:30, AWST 06:30
    verdict = decide(SMS_PROACTIVE, person("+61412345678"), sydney_morning)
    assert verdict.action is Action.DEFER
    assert verdict.until == utc(2026, 7, 15, 1, 30)  # 08:00 on the Cocos Islands (UTC+6:30)


def test_no_common_hour_holds_instead_of_dropping() -> None:
    """When the possible zones never share an open hour the message is held for a person."""
    toll_free = "+18005550100"  # any NANP zone, Guam to Hawaii
    verdict = decide(SMS_PROACTIVE, person(toll_free), at_new_york(12),
                     Policy(window=Window(time(9, 0), time(10, 0))))
    assert verdict.action is Action.HOLD and "timezone" in verdict.reason


@pytest.mark.parametrize(("number", "state"), [(MIAMI, "FL"), (TULSA, "OK"), (BALTIMORE, "MD"),
                                               ("+17865550100", "FL"), (NEW_YORK, None),
                                               ("+5511987654321", None)])
def test_restricted_states_by_area_code(number: str, state: str | None) -> None:
    """Florida, Oklahoma and Maryland area codes are recognized, others are not."""
    assert restricted_state(number) == state


def test_restricted_states_keep_eight_to_eight_even_with_a_wider_window() -> None:
    """With a 07:00–21:00 window, 07:30 is fine in New York but waits for 08:00 in Miami."""
    policy = Policy(window=Window(time(7, 0), time(21, 0)))
    early = at_new_york(7, 30)
    assert decide(SMS_PROACTIVE, person(NEW_YORK), early, policy).action is Action.SEND
    verdict = decide(SMS_PROACTIVE, person(MIAMI), early, policy)
    assert (verdict.action, verdict.until) == (Action.DEFER, at_new_york(8))
    assert decide(SMS_PROACTIVE, person(MIAMI), at_new_york(20, 30), policy).action is Action.DEFER


def test_restricted_number_respects_both_its_own_and_the_contacts_zone() -> None:
    """A Miami number whose owner lives in Los Angeles waits for 08:00 in both places."""
    verdict = decide(SMS_PROACTIVE, person(MIAMI, timezone="America/Los_Angeles"),
                     at_new_york(9))
    assert (verdict.action, verdict.until) == (Action.DEFER, at_new_york(11))


def test_fourth_message_on_a_subject_within_a_day_waits() -> None:
    """Three sends on one subject in 24 h: the next waits until the oldest is a day old."""
    now = at_new_york(12)
    recent = (now - timedelta(hours=20), now - timedelta(hours=5), now - timedelta(hours=1))
    verdict = decide(SMS_PROACTIVE, person(MIAMI, recent_on_subject=recent), now)
    assert (verdict.action, verdict.until) == (Action.DEFER, now + timedelta(hours=4))
    assert "FL limit" in verdict.reason
    assert decide(SMS_PROACTIVE, person(MIAMI, recent_on_subject=recent[1:]), now).action \
        is Action.SEND
    # Elsewhere there is no such cap.
    assert decide(SMS_PROACTIVE, person(NEW_YORK, recent_on_subject=recent), now).action \
        is Action.SEND


def test_cap_release_at_night_waits_for_the_morning() -> None:
    """If the cap lifts at 22:00 local, the message waits for 08:00 the next day."""
    now = at_new_york(19)
    recent = (at_new_york(22) - timedelta(hours=24), now - timedelta(hours=2),
              now - timedelta(hours=1))
    verdict = decide(SMS_PROACTIVE, person(TULSA, timezone="America/Chicago",
                                           recent_on_subject=recent), now)
    # Tulsa is Central time: 08:00 CDT is 09:00 in New York.
    assert (verdict.action, verdict.until) == (Action.DEFER, at_new_york(9) + timedelta(days=1))
    assert "OK limit" in verdict.reason


def test_cap_counts_only_the_last_24_hours() -> None:
    """Sends older than a day no longer count."""
    now = at_new_york(12)
    assert cap_release([now - timedelta(hours=25)] * 5, now) is None
    assert cap_release([now - timedelta(hours=23)] * 3, now) == now + timedelta(hours=1)


def test_whatsapp_inside_the_window_is_free_form() -> None:
    """Within 24 h of the customer's last message WhatsApp text goes as it is."""
    now = at_new_york(12)
    verdict = decide(Outgoing(Channel.WHATSAPP, Kind.PROACTIVE),
                     person(last_inbound_at=now - timedelta(hours=23, minutes=59)), now)
    assert verdict == verdict.send()


@pytest.mark.parametrize(("has_template", "alternatives", "action"), [
    (True, (7,), Action.SEND),
    (False, (7,), Action.REROUTE),
    (False, (), Action.HOLD),
])
def test_whatsapp_outside_the_window_falls_back(has_template, alternatives, action) -> None:
    """Outside the window: the approved template, else another consented channel, else hold."""
    now = at_new_york(12)
    verdict = decide(Outgoing(Channel.WHATSAPP, Kind.PROACTIVE, has_template=has_template),
                     person(last_inbound_at=now - timedelta(hours=24),
                            alternatives=alternatives), now)
    assert verdict.action is action
    assert verdict.as_template is has_template
    assert verdict.reroute_to == (7 if action is Action.REROUTE else None)


def test_an_agents_typed_message_is_held_rather_than_sent_by_sms() -> None:
    """Re-sent by SMS, an agent's text would be answered in a conversation the bot has: it is
    held (the console offers the approved templates instead), whether the window closed before
    it was queued or Twilio refused it later."""
    now = at_new_york(12)
    closed = person(last_inbound_at=now - timedelta(hours=24), alternatives=(7,))
    verdict = decide(Outgoing(Channel.WHATSAPP, Kind.REPLY, from_person=True), closed, now)
    assert (verdict.action, verdict.reroute_to) == (Action.HOLD, None)
    assert "approved template" in verdict.reason
    refused = Outgoing(Channel.WHATSAPP, Kind.REPLY, refused_free_form=True, from_person=True)
    assert decide(refused, person(last_inbound_at=now, alternatives=(7,)),
                  now).action is Action.HOLD
    templated = Outgoing(Channel.WHATSAPP, Kind.REPLY, has_template=True, from_person=True)
    assert decide(templated, closed, now).as_template


def test_twilio_refusal_closes_the_window_whatever_we_recorded() -> None:
    """A 63016 on a free-form message leads to the template; on the template, to the next step."""
    now = at_new_york(12)
    recent_customer = person(last_inbound_at=now - timedelta(hours=1), alternatives=(3,))
    refused = Outgoing(Channel.WHATSAPP, Kind.REPLY, has_template=True, refused_free_form=True)
    assert decide(refused, recent_customer, now).as_template
    template_refused = Outgoing(Channel.WHATSAPP, Kind.REPLY, is_template=True, has_template=True,
                                refused_free_form=True)
    assert decide(template_refused, recent_customer, now).action is Action.REROUTE
    assert decide(Outgoing(Channel.WHATSAPP, Kind.PROACTIVE, is_template=True),
                  person(), now).action is Action.SEND


def test_consent_and_quiet_hours_come_before_the_window() -> None:
    """An opted-out WhatsApp contact is dropped, not rerouted; at night the fallback waits."""
    night = at_new_york(23)
    closed = dict(last_inbound_at=night - timedelta(days=3), alternatives=(5,))
    whatsapp = Outgoing(Channel.WHATSAPP, Kind.PROACTIVE)
    assert decide(whatsapp, person(opted_out=True, **closed), night).action is Action.DROP
    assert decide(whatsapp, person(**closed), night).action is Action.DEFER


def test_a_subject_gets_no_sms_beyond_its_budget() -> None:
    """A dunning episode has two SMS in all: a third is dropped, even as a WhatsApp message's
    SMS fallback; subjects without a budget are not counted."""
    noon = at_new_york(12)
    assert SMS_BUDGETS["dunning"] == 2 and sms_budget("dunning:in_1") == 2
    assert sms_budget("survey:7") is None and sms_budget(None) is None
    second = Outgoing(Channel.SMS, Kind.PROACTIVE, subject="dunning:in_1", sms_on_subject=1)
    assert decide(second, person(), noon).action is Action.SEND
    third = replace(second, sms_on_subject=2)
    verdict = decide(third, person(), noon)
    assert verdict.action is Action.DROP
    assert verdict.reason == "SMS budget: dunning:in_1 has had its 2 SMS"
    assert decide(replace(third, subject="survey:7"), person(), noon).action is Action.SEND
    closed = person(last_inbound_at=noon - timedelta(days=2), alternatives=(7,))
    whatsapp = Outgoing(Channel.WHATSAPP, Kind.PROACTIVE, subject="dunning:in_1")
    assert decide(replace(whatsapp, sms_on_subject=1), closed, noon).action is Action.REROUTE
    spent = decide(replace(whatsapp, sms_on_subject=2), closed, noon)
    assert spent.action is Action.DROP and spent.reroute_to is None
    assert "24-hour window" in spent.reason and "SMS budget" in spent.reason
    assert decide(replace(whatsapp, sms_on_subject=2, has_template=True), closed,
                  noon).as_template


def test_the_sms_budget_drops_before_quiet_hours_defer() -> None:
    """At night a text over the budget is dropped at once rather than kept until the morning."""
    over = Outgoing(Channel.SMS, Kind.PROACTIVE, subject="dunning:in_1", sms_on_subject=2)
    assert decide(over, person(), at_new_york(23)).action is Action.DROP
