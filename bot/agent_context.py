"""What agents see: the queue of conversations waiting for a person, and everything about one
conversation they need to help without asking the customer to repeat themselves.

The core knows the contact, consent, the conversation's flow and data (and where it was before
the handoff), and the messages both ways with their delivery status. Facts about the customer's
account — subscription, payments, offers shown and their outcome — come from
``ContextProvider``s that the features owning those tables register in
``Services.context_providers``: the console shows whatever sections they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.agent_desk import OPEN_STATES, ReplyCheck, check_reply, in_handoff, owner_has_left
from bot.agent_desk import requested_at as handoff_requested_at
from bot.config import BotConfig
from bot.store.models import (
    ConsentEvent,
    Contact,
    Conversation,
    Handoff,
    HandoffEvent,
    InboundMessage,
    OutboxMessage,
)
from flows.handoff import HandoffFlow

RECENT_MESSAGES = 50
RECENT_CONSENT = 10


@dataclass(frozen=True)
class ContextSection:
    """A titled group of facts for the agent, e.g. "Subscription": [("Plan", "Pro"), …]."""

    title: str
    rows: Sequence[tuple[str, str]]


ContextProvider = Callable[[Session, Contact, datetime], Sequence[ContextSection]]
"""Adds facts about a contact's account (subscription, payments, offers and their outcome) to
the conversation view. Runs in the view's read transaction; returns no sections when it knows
nothing about the contact."""


@dataclass(frozen=True)
class QueueItem:
    """One conversation that is with the team."""

    conversation_id: int
    state: str
    channel: str
    address: str
    profile_name: str | None
    customer_id: str | None
    reason: str
    requested_at: datetime
    agent: str | None
    claimed_at: datetime | None
    last_message: str | None
    last_message_at: datetime | None

    def waiting_seconds(self, now: datetime) -> int:
        """How long the customer has been waiting for a person."""
        return max(0, int((now - self.requested_at).total_seconds()))

    def as_json(self, now: datetime) -> dict[str, Any]:
        """The API's shape."""
        return {
            "conversation_id": self.conversation_id, "state": self.state, "channel": self.channel,
            "address": self.address, "profile_name": self.profile_name,
            "customer_id": self.customer_id, "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
            "waiting_seconds": self.waiting_seconds(now), "agent": self.agent,
            "claimed_at": _iso(self.claimed_at),
            "last_message": self.last_message, "last_message_at": _iso(self.last_message_at),
        }


@dataclass(frozen=True)
class TimelineEntry:
    """A message in or out, or something a person did, in the order it happened."""

    at: datetime
    direction: str
    """``in`` (customer), ``out`` (bot or agent), or ``team`` (notes and actions, internal)."""
    text: str
    kind: str = ""
    """in: the outcome; out: ``reply``/``proactive``…; team: claimed, note, resolved…"""
    status: str = ""
    reason: str = ""
    template: str = ""
    by: str | None = None
    """The agent who wrote or did it."""
    due_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {"at": self.at.isoformat(), "direction": self.direction, "text": self.text,
                "kind": self.kind, "status": self.status or None, "reason": self.reason or None,
                "template": self.template or None, "by": self.by, "due_at": _iso(self.due_at)}


@dataclass
class ConversationContext:
    """Everything the conversation view shows."""

    conversation: Conversation
    contact: Contact
    locale: str
    timeline: list[TimelineEntry]
    consent: list[ConsentEvent]
    reply: ReplyCheck
    record: Handoff | None
    sections: list[ContextSection] = field(default_factory=list)
    owner_left: bool = False
    """The agent who has the conversation has left (deactivated): a colleague may take over."""

    @property
    def in_handoff(self) -> bool:
        """Whether the conversation is with the team now."""
        return in_handoff(self.conversation)

    @property
    def requested_at(self) -> datetime | None:
        """When the current handoff was requested."""
        return handoff_requested_at(self.conversation) if self.in_handoff else None

    @property
    def before(self) -> dict[str, Any] | None:
        """Where the conversation was before it came to the team (flow, state, data)."""
        return self.conversation.data.get("before") if self.in_handoff else None

    def as_json(self) -> dict[str, Any]:
        """The API's shape."""
        conversation, contact, record = self.conversation, self.contact, self.record
        data = {k: v for k, v in conversation.data.items() if k != "before"}
        return {
            "conversation": {"id": conversation.id, "flow": conversation.flow,
                             "state": conversation.state, "data": data, "before": self.before,
                             "in_handoff": self.in_handoff},
            "contact": {"id": contact.id, "channel": contact.channel, "address": contact.address,
                        "profile_name": contact.profile_name, "customer_id": contact.customer_id,
                        "locale": self.locale, "timezone": contact.timezone,
                        "opted_out": contact.opted_out,
                        "last_inbound_at": _iso(contact.last_inbound_at)},
            "consent": [{"action": e.action, "source": e.source, "text": e.text,
                         "at": e.at.isoformat()} for e in self.consent],
            "handoff": None if record is None else {
                "id": record.id, "reason": record.reason, "agent": record.agent,
                "requested_at": record.requested_at.isoformat(),
                "claimed_at": _iso(record.claimed_at),
                "first_response_at": _iso(record.first_response_at),
                "closed_at": _iso(record.closed_at), "outcome": record.outcome,
                "csat": record.csat},
            "reply": {"kind": str(self.reply.kind), "gate": str(self.reply.verdict.action),
                      "reason": self.reply.verdict.reason or None,
                      "until": _iso(self.reply.verdict.until),
                      "templates": [{"key": t.key, "label": t.label, "needs_text": t.needs_text}
                                    for t in self.reply.templates]},
            "account": [{"title": s.title, "rows": [list(row) for row in s.rows]}
                        for s in self.sections],
            "timeline": [entry.as_json() for entry in self.timeline],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def open_handoffs(session: Session) -> list[QueueItem]:
    """Conversations with the team, oldest request first."""
    rows = session.execute(
        select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.flow == HandoffFlow.flow_name, Conversation.state.in_(OPEN_STATES))
    ).all()
    ids = [conversation.id for conversation, _ in rows]
    latest = dict(session.execute(
        select(InboundMessage.conversation_id, func.max(InboundMessage.id))
        .where(InboundMessage.conversation_id.in_(ids)).group_by(InboundMessage.conversation_id)
    ).all()) if ids else {}
    last = {message.conversation_id: message for message in session.scalars(
        select(InboundMessage).where(InboundMessage.id.in_(latest.values())))} if latest else {}
    items = []
    for conversation, contact in rows:
        data = conversation.data
        message = last.get(conversation.id)
        items.append(QueueItem(
            conversation_id=conversation.id, state=conversation.state or "",
            channel=contact.channel, address=contact.address, profile_name=contact.profile_name,
            customer_id=contact.customer_id, reason=str(data.get("reason", "")),
            requested_at=datetime.fromisoformat(data["requested_at"]),
            agent=data.get("agent"),
            claimed_at=datetime.fromisoformat(data["claimed_at"]) if data.get("claimed_at") else None,
            last_message=message.body if message else None,
            last_message_at=message.received_at if message else None))
    return sorted(items, key=lambda item: (item.requested_at, item.conversation_id))


def queue_counts(session: Session) -> dict[str, int]:
    """How many conversations are waiting, and how many are with an agent."""
    counts = dict(session.execute(
        select(Conversation.state, func.count())
        .where(Conversation.flow == HandoffFlow.flow_name, Conversation.state.in_(OPEN_STATES))
        .group_by(Conversation.state)).all())
    return {state: counts.get(state, 0) for state in OPEN_STATES}


def timeline(session: Session, conversation_id: int, limit: int = RECENT_MESSAGES) -> list[TimelineEntry]:
    """The last messages both ways and what the team did, oldest first."""
    inbound = session.scalars(
        select(InboundMessage).where(InboundMessage.conversation_id == conversation_id)
        .order_by(InboundMessage.id.desc()).limit(limit)).all()
    outbound = session.scalars(
        select(OutboxMessage).where(OutboxMessage.conversation_id == conversation_id)
        .order_by(OutboxMessage.id.desc()).limit(limit)).all()
    events = session.scalars(
        select(HandoffEvent).where(HandoffEvent.conversation_id == conversation_id)
        .order_by(HandoffEvent.id.desc()).limit(limit)).all()
    sent_by = {event.outbox_key: event.agent for event in events if event.outbox_key}
    entries = [(m.received_at, 0, m.id, TimelineEntry(
        m.received_at, "in", m.body + "".join(f"\n[{media['content_type']}]" for media in m.media),
        kind=m.outcome)) for m in inbound]
    entries += [(m.created_at, 2, m.id, TimelineEntry(
        m.created_at, "out", m.body, kind=m.kind, status=m.status, reason=m.status_reason or "",
        template=m.template or "", by=sent_by.get(m.business_key),
        due_at=m.due_at if m.status == "queued" and m.due_at > m.created_at else None))
        for m in outbound]
    entries += [(e.at, 1, e.id, TimelineEntry(e.at, "team", e.text or "", kind=e.kind, by=e.agent))
                for e in events if e.kind != "replied"]
    # At one instant: the customer's message, then what a person did, then what went out.
    entries.sort(key=lambda entry: entry[:3])
    return [entry for *_, entry in entries[-limit:]]


def conversation_context(session: Session, conversation_id: int, now: datetime, config: BotConfig,
                         locale_of: Callable[[Contact], str],
                         providers: Sequence[ContextProvider] = ()) -> ConversationContext | None:
    """The conversation view's content; None when there is no such conversation."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    locale = locale_of(contact)
    consent = list(session.scalars(
        select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.id.desc()).limit(RECENT_CONSENT)))
    records = select(Handoff).where(Handoff.conversation_id == conversation_id)
    if in_handoff(conversation):
        # The current handoff's record (none until someone acts on it), not an earlier one's.
        records = records.where(Handoff.requested_at == handoff_requested_at(conversation))
    record = session.scalars(records.order_by(Handoff.id.desc())).first()
    context = ConversationContext(
        conversation=conversation, contact=contact, locale=locale,
        timeline=timeline(session, conversation_id), consent=consent,
        reply=check_reply(session, config, contact, locale, now), record=record,
        owner_left=owner_has_left(session, conversation))
    for provider in providers:
        context.sections.extend(provider(session, contact, now))
    return context
