"""The outbound gate: whether a message may go to a contact now, later, or not at all.

Pure functions of (message, recipient, now). Every sender — bot reply, dunning step, agent
reply, survey — passes here when the message is enqueued and again just before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.messages import Channel

WHATSAPP_WINDOW = timedelta(hours=24)


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


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's decision, with the reason an operator or agent will read."""

    action: Action
    reason: str = ""
    until: datetime | None = None

    @classmethod
    def send(cls) -> Verdict:
        return cls(Action.SEND)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What the gate needs to know about a message."""

    channel: Channel
    kind: Kind
    is_template: bool = False
    """Sent as an approved WhatsApp template (ContentSid), allowed outside the 24 h window."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the gate needs to know about the contact."""

    address: str
    opted_out: bool
    last_inbound_at: datetime | None


def decide(message: Outgoing, recipient: Recipient, now: datetime) -> Verdict:
    """Apply every rule in order; the first that refuses decides."""
    for rule in (consent_rule, whatsapp_window_rule):
        verdict = rule(message, recipient, now)
        if verdict.action is not Action.SEND:
            return verdict
    return Verdict.send()


def consent_rule(message: Outgoing, recipient: Recipient, now: datetime) -> Verdict:
    """Nothing goes to an opted-out contact, except the confirmation of the opt-out itself."""
    if recipient.opted_out and message.kind is not Kind.COMPLIANCE:
        return Verdict(Action.DROP, f"contact opted out of {message.channel}")
    return Verdict.send()


def whatsapp_window_rule(message: Outgoing, recipient: Recipient, now: datetime) -> Verdict:
    """WhatsApp free-form text only within 24 h of the customer's last message."""
    if message.channel is not Channel.WHATSAPP or message.is_template:
        return Verdict.send()
    last = recipient.last_inbound_at
    if last is not None and now - last < WHATSAPP_WINDOW:
        return Verdict.send()
    return Verdict(Action.HOLD, "outside the WhatsApp 24-hour window and no approved template")
