"""Run turns inside the caller's transaction: inbound batches and proactive events.

Runs on a store lane's thread. For inbound: a message whose provider id is already recorded
is a retry and does nothing; every new message is recorded, handled and its replies queued
before commit, so an acknowledged message always has its effects. Proactive events (a due
job, a business event) run a flow event for a contact the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from bot.addresses import region_of
from bot.config import ConfigCache
from bot.content_versions import ContentOverrides
from bot.effects import TurnWriter
from bot.engine import ConversationEngine
from bot.faq import FaqLibrary
from bot.i18n import best_locale
from bot.messages import Inbound
from bot.render import Renderer
from bot.store.contacts import load_contacts
from bot.store.database import lock_conversations
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Contact, Conversation, InboundMessage
from bot.turn import Turn

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"


@dataclass
class Batch:
    """Result of one batch: the outcome per message and how many messages became sendable."""

    outcomes: list[str]
    queued: int


def locale_for(contact: Contact, default: str) -> str:
    """The shipped locale to speak with a contact."""
    return best_locale(contact.locale, region_of(contact.address), default)


class TurnProcessor:
    """Turns messages and events into recorded state changes and queued replies."""

    def __init__(self, engine: ConversationEngine, renderer: Renderer, faq: FaqLibrary,
                 default_locale: str, config: ConfigCache, overrides: ContentOverrides) -> None:
        self.engine = engine
        self.renderer = renderer
        self.faq = faq
        self.default_locale = default_locale
        self.config = config
        self.overrides = overrides
        """Operators' edits the renderer and the FAQ read; refreshed here, in the transaction."""

    def process(self, session: Session, items: Sequence[Inbound], now: datetime) -> Batch:
        """Handle ``items`` in arrival order within the caller's transaction."""
        lock_conversations(session, (item.conversation_key for item in items))
        config = self.config.current(session)
        self._refresh_content(session, now)
        loaded = load_contacts(session, {(str(i.channel), i.address) for i in items}, now)
        new_ids = self._record(session, items, loaded, now)
        writer = TurnWriter(self.renderer)
        outcomes: list[str] = []
        for item in items:
            inbound_id = new_ids.pop(item.provider_id, None)
            if inbound_id is None:
                outcomes.append(DUPLICATE)
                continue
            contact, conversation = loaded[(str(item.channel), item.address)]
            contact.last_inbound_at = now
            if item.profile_name and contact.profile_name != item.profile_name:
                contact.profile_name = item.profile_name
            if contact.locale is None:
                # A contact we know nothing about who greets in one of our languages is answered
                # in it from then on ("hola" from a US number).
                contact.locale = self.faq.greeting_locale(item.text)
            locale = locale_for(contact, self.default_locale)
            turn = Turn(contact=contact, conversation=conversation, now=now, locale=locale,
                        faq=self.faq.book(locale), config=config, inbound=item,
                        inbound_id=inbound_id)
            outcome = self.engine.handle_message(turn)
            writer.add(turn)
            outcomes.append(outcome)
        queued = writer.flush(session)
        self._note_outcomes(session, items, outcomes)
        return Batch(outcomes, queued)

    def run_event(self, session: Session, contact: Contact, flow: str, event: str,
                  now: datetime, **kwargs: Any) -> Turn:
        """Send a proactive event to a contact's conversation (a due job, a business event)."""
        lock_conversations(session, [f"{contact.channel}:{contact.address}"])
        _, conversation = load_contacts(session, {(contact.channel, contact.address)}, now)[
            (contact.channel, contact.address)]
        session.refresh(contact)
        self._refresh_content(session, now)
        locale = locale_for(contact, self.default_locale)
        turn = Turn(contact=contact, conversation=conversation, now=now, locale=locale,
                    faq=self.faq.book(locale), config=self.config.current(session))
        self.engine.run(turn, flow, event, **kwargs)
        writer = TurnWriter(self.renderer)
        writer.add(turn)
        writer.flush(session)
        return turn

    def record_failure(self, session: Session, item: Inbound, now: datetime) -> Batch:
        """Record a message whose handling failed, reset its conversation and apologise."""
        lock_conversations(session, [item.conversation_key])
        loaded = load_contacts(session, {(str(item.channel), item.address)}, now)
        new_ids = self._record(session, [item], loaded, now)
        if item.provider_id not in new_ids:
            return Batch([DUPLICATE], 0)
        contact, conversation = loaded[(str(item.channel), item.address)]
        contact.last_inbound_at = now
        conversation.flow, conversation.state = None, None
        conversation.data.clear()
        self._refresh_content(session, now)
        locale = locale_for(contact, self.default_locale)
        turn = Turn(contact=contact, conversation=conversation, now=now, locale=locale,
                    faq=self.faq.book(locale), config=self.config.current(session), inbound=item,
                    inbound_id=new_ids[item.provider_id])
        turn.say("common.error")
        writer = TurnWriter(self.renderer)
        writer.add(turn)
        queued = writer.flush(session)
        self._note_outcomes(session, [item], ["error"])
        return Batch(["error"], queued)

    def _refresh_content(self, session: Session, now: datetime) -> None:
        """Pick up operators' edits and changed files once per batch, in the turn's transaction."""
        self.overrides.refresh(session)
        self.renderer.refresh(now)
        self.faq.refresh()

    @staticmethod
    def _note_outcomes(session: Session, items: Sequence[Inbound], outcomes: list[str]) -> None:
        """Record how each message was handled where it differs from the default."""
        notes = [{"pid": item.provider_id, "o": outcome}
                 for item, outcome in zip(items, outcomes, strict=True)
                 if outcome not in ("handled", DUPLICATE)]
        if notes:
            table = InboundMessage.__table__  # type: ignore[attr-defined]
            session.connection().execute(
                update(table).where(table.c.provider_id == bindparam("pid"))
                .values(outcome=bindparam("o")),
                notes,
            )

    @staticmethod
    def _record(session: Session, items: Sequence[Inbound],
                loaded: dict[tuple[str, str], tuple[Contact, Conversation]],
                now: datetime) -> dict[str, int]:
        """Insert the messages not seen before; returns provider id → row id for the new ones."""
        rows = [{
            "provider_id": item.provider_id,
            "conversation_id": loaded[(str(item.channel), item.address)][1].id,
            "channel": str(item.channel),
            "body": item.text,
            "payload": item.payload,
            "media": [{"url": m.url, "content_type": m.content_type} for m in item.media],
            "outcome": "handled",
            "received_at": now,
        } for item in items]
        statement = insert_ignoring_duplicates(session, InboundMessage, ["provider_id"]).returning(
            InboundMessage.__table__.c.provider_id, InboundMessage.__table__.c.id)  # type: ignore[attr-defined]
        # One statement for the batch; a duplicate (a retry, or a repeat inside the batch) is
        # simply absent from what comes back.
        return dict(session.connection().execute(statement, rows).all())
