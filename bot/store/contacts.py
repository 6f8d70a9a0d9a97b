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
    """Contacts and their conversations for (channel, address) keys, created when new."""
    if not keys:
        return {}
    rows = [{"channel": c, "address": a, "opted_out": False, "created_at": now} for c, a in keys]
    session.execute(insert_ignoring_duplicates(session, Contact, ["channel", "address"]), rows)
    contacts = session.scalars(
        select(Contact).where(tuple_(Contact.channel, Contact.address).in_(list(keys)))
    ).all()
    by_id = {contact.id: contact for contact in contacts}
    session.execute(
        insert_ignoring_duplicates(session, Conversation, ["contact_id"]),
        [{"contact_id": cid, "data": {}, "choices": [], "misunderstood": 0, "updated_at": now}
         for cid in by_id],
    )
    conversations = session.scalars(
        select(Conversation).where(Conversation.contact_id.in_(list(by_id)))
    ).all()
    return {
        (by_id[conv.contact_id].channel, by_id[conv.contact_id].address): (
            by_id[conv.contact_id], conv)
        for conv in conversations
    }



def set_contact_locale(session: Session, channel: str, address: str, locale: str,
                       now: datetime) -> Contact:
    """Create the contact if needed and make it speak ``locale``."""
    tag = str(parse_locale(locale))
    contact, _ = load_contacts(session, {(channel, address)}, now)[(channel, address)]
    contact.locale = tag
    return contact
