"""What the API shows about one customer: their subscription, consent ledger, open dunning
episodes, billing actions and message history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, or_, select, tuple_
from sqlalchemy.orm import Session

from bot.billing.accounts import effective_status
from bot.messages import Channel
from bot.store.models import (
    BillingAction,
    ConsentEvent,
    Contact,
    Conversation,
    Customer,
    DunningEpisode,
    InboundMessage,
    Invoice,
    OutboxMessage,
)

HISTORY_LIMIT = 100


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def customer_state(session: Session, customer_id: str, now: datetime) -> dict[str, Any] | None:
    """The customer's state as JSON-ready data; None for an unknown customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    billing = [(str(channel), address) for channel, address in (
        (Channel.SMS, customer.billing_phone), (Channel.WHATSAPP, customer.billing_whatsapp))
        if address]
    contacts = list(session.scalars(select(Contact).where(or_(
        Contact.customer_id == customer_id,
        tuple_(Contact.channel, Contact.address).in_(billing) if billing else false(),
    )).order_by(Contact.id)))
    by_id = {contact.id: contact for contact in contacts}
    conversations = {c.contact_id: c for c in session.scalars(
        select(Conversation).where(Conversation.contact_id.in_(list(by_id))))}
    return {
        "customer": subscription_summary(customer, now),
        "contacts": [{
            "role": "subscriber" if c.customer_id == customer_id else "billing",
            "channel": c.channel, "address": c.address, "opted_out": c.opted_out,
            "locale": c.locale, "timezone": c.timezone, "last_inbound_at": _when(c.last_inbound_at),
            "conversation": ({"flow": conversations[c.id].flow, "state": conversations[c.id].state}
                             if c.id in conversations else None),
        } for c in contacts],
        "consent": [{
            "channel": e.channel, "address": by_id[e.contact_id].address, "action": e.action,
            "source": e.source, "text": e.text, "provider_id": e.provider_id, "at": _when(e.at),
        } for e in session.scalars(select(ConsentEvent).where(
            ConsentEvent.contact_id.in_(list(by_id))).order_by(ConsentEvent.at, ConsentEvent.id))],
        "open_episodes": [{
            "invoice_id": episode.invoice_id, "amount": invoice.amount,
            "currency": invoice.currency, "opened_at": _when(episode.opened_at),
            "link_expires_at": _when(episode.link_expires_at),
        } for episode, invoice in session.execute(
            select(DunningEpisode, Invoice).join(Invoice, Invoice.id == DunningEpisode.invoice_id)
            .where(DunningEpisode.customer_id == customer_id, DunningEpisode.status == "open")
            .order_by(DunningEpisode.opened_at))],
        "billing_actions": [{
            "action": a.action, "params": a.params, "status": a.status,
            "idempotency_key": a.idempotency_key, "created_at": _when(a.created_at),
            "done_at": _when(a.done_at), "last_error": a.last_error,
        } for a in session.scalars(select(BillingAction).where(
            BillingAction.customer_id == customer_id).order_by(BillingAction.id.desc())
            .limit(HISTORY_LIMIT))],
        "messages": _history(session, by_id, conversations),
    }


def subscription_summary(customer: Customer, now: datetime) -> dict[str, Any]:
    """The customer's subscription as JSON-ready data."""
    return {
        "id": customer.id, "plan": customer.plan, "status": effective_status(customer, now),
        "locale": customer.locale, "timezone": customer.timezone, "currency": customer.currency,
        "current_period_end": _when(customer.current_period_end),
        "trial_ends_at": _when(customer.trial_ends_at), "trial_extended": customer.trial_extended,
        "engaged": customer.engaged, "paused_until": _when(customer.paused_until),
        "pause_streak": customer.pause_streak, "cancel_at": _when(customer.cancel_at),
        "concession": customer.concession, "concession_until": _when(customer.concession_until),
        "billing_contact": {"phone": customer.billing_phone, "whatsapp": customer.billing_whatsapp},
        "extra": customer.extra, "updated_at": _when(customer.updated_at),
    }


def _history(session: Session, contacts: dict[int, Contact],
             conversations: dict[int, Conversation]) -> list[dict[str, Any]]:
    """The latest messages both ways with the customer (and their billing contact), oldest
    first."""
    conversation_ids = [c.id for c in conversations.values()]
    address_of = {c.id: contacts[c.contact_id].address for c in conversations.values()}
    # Ordered by time; a message and the replies it caused share one, and the message comes first.
    entries = [((m.received_at, 0, m.id), {
        "direction": "in", "channel": m.channel, "address": address_of[m.conversation_id],
        "body": m.body, "payload": m.payload,
    }) for m in session.scalars(select(InboundMessage).where(
        InboundMessage.conversation_id.in_(conversation_ids))
        .order_by(InboundMessage.id.desc()).limit(HISTORY_LIMIT))]
    entries += [((m.created_at, 1, m.id), {
        "direction": "out", "channel": m.channel, "address": m.to_address, "body": m.body,
        "template": m.template, "kind": m.kind, "status": m.status,
        "status_reason": m.status_reason,
    }) for m in session.scalars(select(OutboxMessage).where(
        OutboxMessage.contact_id.in_(list(contacts)))
        .order_by(OutboxMessage.id.desc()).limit(HISTORY_LIMIT))]
    entries.sort(key=lambda entry: entry[0])
    return [{**row, "at": _when(order[0])} for order, row in entries[-HISTORY_LIMIT:]]
