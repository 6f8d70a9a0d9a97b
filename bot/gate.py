"""The outbound gate: whether a message may go to a contact now, later, another way, or not at all.

Pure functions of (message, recipient facts, now, policy). Every sender — bot reply, dunning
step, agent reply, survey — passes here when the message is enqueued and again just before it
is sent (``bot.outbound_gate`` gathers the facts from the database for both). Rules, in order;
the first that does not simply allow the message decides:

1. consent — nothing but a keyword confirmation goes to an opted-out contact (DROP);
2. moved on — a question that only fits until the customer writes again (the satisfaction
   question) is not asked once they have written since it was queued (DROP);
3. SMS budget — a subject with one (a dunning episode: two) gets no SMS beyond it, to anyone, by
   any route (DROP);
4. quiet hours — proactive messages only inside the window in every zone the recipient may be in;
   Florida, Oklahoma and Maryland numbers also 08:00–20:00 and at most 3 per 24 h on one subject
   (DEFER to the next moment all of that allows; HOLD if no such moment exists);
5. WhatsApp window — free-form text only within 24 h of the customer's last message (or until
   Twilio refuses it with 63016); outside it the approved template (SEND ``as_template``), else
   another consented channel of the same customer (REROUTE; never an agent's typed message, and
   only while the subject's SMS budget lasts, else DROP), else HOLD for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.messages import Channel
from bot.quiet_hours import DEFAULT_WINDOW, Window, next_opening, recipient_zones
from bot.state_limits import STATE_WINDOW, SUBJECT_CAP, cap_release, restricted_state

WHATSAPP_WINDOW = timedelta(hours=24)
SMS_BUDGETS: dict[str, int] = {"dunning": 2}
"""At most this many SMS on one subject, by the subject's kind (``dunning:in_1`` is a dunning
episode): the product's promise of two texts per failed payment."""
UNTIL_THE_CUSTOMER_WRITES = frozenset({"survey"})
"""Subject kinds whose message is a question that no longer fits once the customer has written
after it was queued (a rating question held for the morning, when they have moved on)."""


class Kind(StrEnum):
    """Why a message is sent, which decides the rules it meets."""

    REPLY = "reply"
    """Answers the customer's own message (exempt from quiet hours)."""
    PROACTIVE = "proactive"
    """We start it (dunning, resume-day notice, survey)."""
    COMPLIANCE = "compliance"
    """Confirms an opt-out/opt-in keyword; goes even to a contact who just opted out."""


class Action(StrEnum):
    """What the gate decided."""

    SEND = "send"
    DEFER = "defer"
    DROP = "drop"
    HOLD = "hold"
    REROUTE = "reroute"
    """Send it to the customer's other consented channel instead (``Verdict.reroute_to``)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's decision, with the reason an operator or agent will read."""

    action: Action
    reason: str = ""
    until: datetime | None = None
    """DEFER: when to try again."""
    as_template: bool = False
    """SEND: as the approved WhatsApp template, because free-form text would be refused."""
    reroute_to: int | None = None
    """REROUTE: the contact id of the other channel."""

    @classmethod
    def send(cls) -> Verdict:
        return cls(Action.SEND)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What the gate needs to know about a message."""

    channel: Channel
    kind: Kind
    is_template: bool = False
    """Already carries an approved WhatsApp template (ContentSid), allowed outside the window."""
    has_template: bool = False
    """An approved template is mapped for this message and locale (the first fallback)."""
    refused_free_form: bool = False
    """Twilio refused this very message with 63016: the window is closed whatever we recorded."""
    subject: str | None = None
    """What a proactive message is about (``dunning:in_1``), for the subject's SMS budget."""
    sms_on_subject: int = 0
    """SMS on the same subject, to anyone, sent or queued before this message."""
    from_person: bool = False
    """An agent typed it: it stays in its conversation (sent by SMS instead, the customer's
    answer would reach the bot there, not the agent)."""
    queued_at: datetime | None = None
    """When it was written to the outbox."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the gate needs to know about the contact."""

    address: str
    opted_out: bool
    last_inbound_at: datetime | None
    timezone: str | None = None
    """The contact's own IANA zone, when known."""
    recent_on_subject: tuple[datetime, ...] = ()
    """Proactive sends on this message's subject to this number in the last 24 hours."""
    alternatives: tuple[int, ...] = ()
    """Contact ids of the same customer's consented SMS numbers (the WhatsApp fallback)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The operators' settings the rules read."""

    window: Window = DEFAULT_WINDOW
    fallback_timezone: str = "UTC"


DEFAULT_POLICY = Policy()


def decide(message: Outgoing, recipient: Recipient, now: datetime,
           policy: Policy = DEFAULT_POLICY) -> Verdict:
    """Apply every rule in order; the first that does not simply allow the message decides."""
    for rule in (consent_rule, moved_on_rule, sms_budget_rule, quiet_hours_rule,
                 whatsapp_window_rule):
        verdict = rule(message, recipient, now, policy)
        if verdict.action is not Action.SEND or verdict.as_template:
            return verdict
    return Verdict.send()


def subject_kind(subject: str | None) -> str | None:
    """``dunning`` for ``dunning:in_1``; None without a subject."""
    return subject.split(":", 1)[0] if subject else None


def consent_rule(message: Outgoing, recipient: Recipient, now: datetime,
                 policy: Policy = DEFAULT_POLICY) -> Verdict:
    """Nothing goes to an opted-out contact, except the confirmation of the opt-out itself."""
    if recipient.opted_out and message.kind is not Kind.COMPLIANCE:
        return Verdict(Action.DROP, f"contact opted out of {message.channel}")
    return Verdict.send()


def moved_on_rule(message: Outgoing, recipient: Recipient, now: datetime,
                  policy: Policy = DEFAULT_POLICY) -> Verdict:
    """A question that only fits until the customer writes again is not asked once they have
    written after it was queued (held for the morning, it would land in another conversation)."""
    if (subject_kind(message.subject) in UNTIL_THE_CUSTOMER_WRITES
            and message.queued_at is not None and recipient.last_inbound_at is not None
            and recipient.last_inbound_at > message.queued_at):
        return Verdict(Action.DROP, "the customer wrote after it was queued: the question no "
                                    "longer fits")
    return Verdict.send()


def sms_budget(subject: str | None) -> int | None:
    """How many SMS ``subject`` may have in all; None when it has no budget."""
    kind = subject_kind(subject)
    return None if kind is None else SMS_BUDGETS.get(kind)


def sms_budget_rule(message: Outgoing, recipient: Recipient, now: datetime,
                    policy: Policy = DEFAULT_POLICY) -> Verdict:
    """An SMS on a subject whose budget is spent is dropped, whoever it goes to."""
    if message.channel is not Channel.SMS:
        return Verdict.send()
    return _within_sms_budget(message)


def _within_sms_budget(message: Outgoing) -> Verdict:
    """SEND while one more SMS fits the message's subject budget, else DROP saying so."""
    budget = sms_budget(message.subject)
    if budget is None or message.sms_on_subject < budget:
        return Verdict.send()
    return Verdict(Action.DROP, f"SMS budget: {message.subject} has had its {budget} SMS")


def quiet_hours_rule(message: Outgoing, recipient: Recipient, now: datetime,
                     policy: Policy = DEFAULT_POLICY) -> Verdict:
    """Proactive messages wait for the window (and, in FL/OK/MD, for the subject cap); a reply
    to the customer's own message or a keyword confirmation never waits."""
    if message.kind is not Kind.PROACTIVE:
        return Verdict.send()
    zones = recipient_zones(recipient.timezone, recipient.address, policy.fallback_timezone)
    window: Window | None = policy.window
    earliest = now
    state = restricted_state(recipient.address)
    if state is not None:
        # The state's hours bind wherever the person is; their number's zones count too.
        zones = tuple(dict.fromkeys(zones + recipient_zones(None, recipient.address,
                                                            policy.fallback_timezone)))
        window = policy.window.narrowed_to(STATE_WINDOW)
        earliest = max(now, cap_release(recipient.recent_on_subject, now) or now)
    opening = next_opening(zones, earliest, window) if window is not None else None
    if opening is None:
        return Verdict(Action.HOLD, f"no time is inside {policy.window} in every possible zone "
                                    f"({', '.join(zones)}); set the contact's timezone")
    if opening <= now:
        return Verdict.send()
    if earliest > now:
        reason = f"{state} limit: {SUBJECT_CAP} messages on one subject per 24 hours"
    else:
        reason = f"quiet hours: outside {window} in {', '.join(zones)}"
    return Verdict(Action.DEFER, reason, until=opening)


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether WhatsApp's 24-hour customer service window is open."""
    return last_inbound_at is not None and now - last_inbound_at < WHATSAPP_WINDOW


def whatsapp_window_rule(message: Outgoing, recipient: Recipient, now: datetime,
                         policy: Policy = DEFAULT_POLICY) -> Verdict:
    """WhatsApp free-form text only within 24 h of the customer's last message; outside it the
    approved template, else the customer's other consented channel (by SMS, so within the
    subject's SMS budget: past it the message is dropped), else hold for a person."""
    if message.channel is not Channel.WHATSAPP:
        return Verdict.send()
    if not message.refused_free_form and (
            message.is_template or window_open(recipient.last_inbound_at, now)):
        return Verdict.send()
    if message.has_template and not message.is_template:
        return Verdict(Action.SEND, "outside the WhatsApp 24-hour window: approved template",
                       as_template=True)
    if message.from_person:
        return Verdict(Action.HOLD, "outside the WhatsApp 24-hour window: send an approved "
                                    "template (a typed reply would go by SMS, where the bot, "
                                    "not the agent, would get the answer)")
    if recipient.alternatives:
        budget = _within_sms_budget(message)
        if budget.action is Action.DROP:
            return replace(budget, reason=f"outside the WhatsApp 24-hour window, no approved "
                                          f"template; {budget.reason}")
        return Verdict(Action.REROUTE, "outside the WhatsApp 24-hour window: sent by SMS instead",
                       reroute_to=recipient.alternatives[0])
    return Verdict(Action.HOLD, "outside the WhatsApp 24-hour window, no approved template and "
                                "no other consented channel")
