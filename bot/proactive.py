"""Proactive flow events (a due job, a business event) for one contact — but never into a
conversation a person owns: the agent talks to the customer, the bot keeps out (a job waits
until the agent hands the conversation back)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.engine import DEFAULT_FLOW, ConversationEngine
from bot.logs import mask_address
from bot.processor import TurnProcessor
from bot.scheduler import RunLater
from bot.store.models import Contact, Conversation

log = logging.getLogger(__name__)

BUSY_FOR = timedelta(minutes=30)
"""How long after their last turn a customer counts as in the middle of another flow."""
LOOK_AGAIN_AFTER = timedelta(minutes=15)
"""How often a job held back by a person owning the conversation looks again: the agent may
hand it back at any moment, so the handoff's own return time is no bound to wait for."""


class ProactiveEvents:
    """Sends flow events to contacts' conversations from outside an inbound message."""

    def __init__(self, processor: TurnProcessor, engine: ConversationEngine) -> None:
        self.processor = processor
        self.engine = engine

    def person_owns(self, conversation: Conversation | None) -> bool:
        """Whether an agent has (or is about to take) the conversation."""
        if conversation is None or conversation.flow is None:
            return False
        flow = self.engine.flows.get(conversation.flow)
        return flow is not None and conversation.state in flow.silences_bot

    def busy_elsewhere(self, conversation: Conversation | None, flow: str, now: datetime) -> bool:
        """Whether the customer is in the middle of another flow with the bot (a cancel, a
        pause…) and touched it lately: starting ``flow`` now would lose their place. The FAQ and
        flows waiting in the background do not count."""
        if conversation is None or conversation.flow in (None, DEFAULT_FLOW, flow):
            return False
        current = self.engine.flows.get(conversation.flow)
        return (current is not None and not current.yields_to_faq
                and now - conversation.updated_at < BUSY_FOR)

    def run(self, session: Session, contact: Contact, flow: str, event: str, now: datetime, *,
            only_within_flow: bool = False, wait_while_busy: bool = False,
            **kwargs: Any) -> bool:
        """Run ``event`` of ``flow`` for ``contact``; False when it was not run.

        ``only_within_flow``: only when the conversation is in this flow already.
        ``wait_while_busy`` (scheduled jobs): when a person owns the conversation or the customer
        is in the middle of another flow, raise RunLater so the job comes back once the agent
        has handed it back, or the customer has had time to finish.
        """
        conversation = session.scalars(
            select(Conversation).where(Conversation.contact_id == contact.id)).first()
        current = conversation.flow if conversation is not None else None
        if wait_while_busy:
            self._wait_if_busy(conversation, flow, now)
        skip = self.person_owns(conversation) or (only_within_flow and current != flow)
        if skip:
            log.info("proactive event not run", extra={
                "flow": flow, "event": event, "conversation_flow": current,
                "to": mask_address(contact.address)})
            return False
        self.processor.run_event(session, contact, flow, event, now, **kwargs)
        return True

    def _wait_if_busy(self, conversation: Conversation | None, flow: str, now: datetime) -> None:
        """Raise RunLater when ``flow`` may not start now: a person owns the conversation, or
        the customer is in the middle of another flow."""
        if conversation is None:
            return
        if self.person_owns(conversation):
            raise RunLater(now + LOOK_AGAIN_AFTER, "a person owns the conversation")
        if self.busy_elsewhere(conversation, flow, now):
            raise RunLater(conversation.updated_at + BUSY_FOR,
                           f"the customer is in the middle of {conversation.flow}")
