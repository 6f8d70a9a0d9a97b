"""Contact look-ups shared by the CLI, the API and the flows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from bot.i18n import parse_locale
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Contact, Conversation


def load_contacts(session: Session, keys: set[tuple[str, str]], now: datetime) -> dict[
        tuple[str, str], tuple[Contact, Conversation]]:
    """Contacts and their conversations for (channel, address) keys, created when new.

    One query when every contact is known (the usual case); new ones are inserted with
    ON CONFLICT DO NOTHING, so two processes creating the same contact cannot clash.
    """
    if not keys:
        return {}
    found = _load(session, keys)
    missing_contacts = keys - found.keys()
    if missing_contacts:
        session.connection().execute(
            insert_ignoring_duplicates(session, Contact, ["channel", "address"]),
            [{"channel": c, "address": a, "opted_out": False, "created_at": now}
             for c, a in missing_contacts])
    found.update(_load(session, missing_contacts))
    no_conversation = [contact.id for contact, conversation in found.values()
                       if conversation is None]
    if no_conversation:
        session.connection().execute(
            insert_ignoring_duplicates(session, Conversation, ["contact_id"]),
            [{"contact_id": cid, "data": {}, "choices": [], "misunderstood": 0,
              "updated_at": now} for cid in no_conversation])
        found.update(_load(session, {k for k, (_, c) in found.items() if c is None}))
    return found  # type: ignore[return-value]


def _load(session: Session, keys: set[tuple[str, str]]) -> dict[
        tuple[str, str], tuple[Contact, Conversation | None]]:
    if not keys:
        return {}
    rows = session.execute(
        select(Contact, Conversation)
        .outerjoin(Conversation, Conversation.contact_id == Contact.id)
        .where(tuple_(Contact.channel, Contact.address).in_(list(keys)))
    ).all()
    return {(contact.channel, contact.address): (contact, conversation)
            for contact, conversation in rows}


def set_contact_locale(session: Session, channel: str, address: str, locale: str,
                       now: datetime) -> Contact:
    """Create the contact if needed and make it speak ``locale``."""
    tag = str(parse_locale(locale))
    contact, _ = load_contacts(session, {(channel, address)}, now)[(channel, address)]
    contact.locale = tag
    return contact
