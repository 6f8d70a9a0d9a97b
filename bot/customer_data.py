"""What we keep about a customer, gathered for their own eyes: the consent page and the JSON
download behind a "what did I agree to?" link.

A customer is every contact (channel + number) sharing the contact's ``customer_id``, or the
contact alone when the business never told us who they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import ConsentEvent, Contact, Conversation, InboundMessage, OutboxMessage

NOT_SENT = ("dropped", "held")
"""Outbox statuses of messages that never reached the customer (left out of their history)."""


def _contacts(session: Session, contact: Contact) -> list[Contact]:
    if contact.customer_id is None:
        return [contact]
    return list(session.scalars(select(Contact).where(Contact.customer_id == contact.customer_id)
                                .order_by(Contact.id)))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def customer_data(session: Session, contact_id: int, now: datetime) -> dict[str, Any] | None:
    """Everything we keep about the customer behind a contact, JSON-ready; None if unknown."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None
    contacts = _contacts(session, contact)
    by_id = {c.id: c for c in contacts}
    ledger = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id.in_(by_id))
                             .order_by(ConsentEvent.at, ConsentEvent.id))
    received = session.execute(
        select(InboundMessage, Conversation.contact_id)
        .join(Conversation, Conversation.id == InboundMessage.conversation_id)
        .where(Conversation.contact_id.in_(by_id)))
    sent = session.scalars(select(OutboxMessage).where(OutboxMessage.contact_id.in_(by_id),
                                                       OutboxMessage.status.not_in(NOT_SENT)))
    messages = [
        {"at": _iso(message.received_at), "direction": "from you", "channel": message.channel,
         "address": by_id[owner].address, "text": message.body, "status": "received"}
        for message, owner in received
    ] + [
        {"at": _iso(message.sent_at or message.created_at), "direction": "to you",
         "channel": message.channel, "address": message.to_address, "text": message.body,
         "status": message.status}
        for message in sent
    ]
    return {
        "generated_at": _iso(now),
        "customer_id": contact.customer_id,
        "channels": [{
            "channel": c.channel, "address": c.address, "subscribed": not c.opted_out,
            "locale": c.locale, "timezone": c.timezone, "name": c.profile_name,
            "first_seen": _iso(c.created_at), "last_message_from_you": _iso(c.last_inbound_at),
        } for c in contacts],
        "consent_history": [{
            "at": _iso(event.at), "channel": event.channel, "address": by_id[event.contact_id].address,
            "action": event.action, "source": event.source, "text": event.text,
            "message_sid": event.provider_id,
        } for event in ledger],
        "messages": sorted(messages, key=lambda m: m["at"] or ""),
    }
