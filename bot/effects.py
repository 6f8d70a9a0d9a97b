"""Persist what turns produced: rendered, gated outbox rows, consent ledger rows, jobs, billing
actions (applied to the local ledger as they are recorded) and retention events.

Rows from a whole batch of turns are written with one multi-row insert per table; a business
key that already exists is skipped, so re-running a turn can never queue a message twice. The
outbound gate (``bot.outbound_gate``) rules on every message before it is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot import gate
from bot.billing.actions import BillingRequest, record_requests
from bot.config import BotConfig
from bot.consent import record_consent
from bot.messages import Channel, Say
from bot.outbound_gate import OutboundGate
from bot.outbox_drafts import Draft, outbox_row
from bot.render import Renderer
from bot.scheduler import ScheduledJob, schedule_jobs
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import OutboxMessage, RetentionEvent
from bot.turn import Turn


class TurnWriter:
    """Collects the effects of several turns and writes them in one go."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.gate = OutboundGate(renderer)
        self.drafts: list[Draft] = []
        self.consent: list[tuple[Any, Any, Any]] = []
        self.jobs: list[ScheduledJob] = []
        self.billing: list[BillingRequest] = []
        self.retention: list[dict[str, Any]] = []
        self._config: BotConfig | None = None
        self._now: datetime | None = None

    def add(self, turn: Turn) -> None:
        """Render the turn's messages and stage every effect for writing (the gate rules on the
        messages when they are written)."""
        contact, conversation = turn.contact, turn.conversation
        channel = Channel(contact.channel)
        offered: list[dict[str, str]] | None = None
        for index, say in enumerate(turn.says):
            rendered = self.renderer.render(say, channel, turn.locale)
            if rendered.choices:
                offered = [{"payload": c.payload, "title": c.title} for c in rendered.choices]
            row = outbox_row(business_key=self._business_key(turn, index, say), contact=contact,
                             conversation_id=conversation.id, rendered=rendered, say=say,
                             locale=turn.locale, kind=str(self._kind(turn, say)), now=turn.now,
                             due_at=max(turn.now, say.not_before or turn.now),
                             in_reply_to=turn.inbound_id)
            self.drafts.append(Draft(row, contact, say, turn.locale))
        if turn.says:
            conversation.choices = offered or []
        conversation.updated_at = turn.now
        self.consent.extend((contact, change, turn.now) for change in turn.consent_changes)
        self.jobs.extend(turn.jobs)
        self.billing.extend(turn.billing)
        self.retention.extend({
            "customer_id": note.customer_id, "contact_id": contact.id, "kind": note.kind,
            "reason": note.reason, "offer": note.offer, "detail": note.detail, "at": turn.now,
        } for note in turn.retention)
        self._config, self._now = turn.config, turn.now

    @staticmethod
    def _kind(turn: Turn, say: Say) -> gate.Kind:
        if say.compliance:
            return gate.Kind.COMPLIANCE
        if say.kind is not None:
            return gate.Kind(say.kind)
        return gate.Kind.REPLY if turn.is_reply else gate.Kind.PROACTIVE

    @staticmethod
    def _business_key(turn: Turn, index: int, say: Say) -> str:
        if say.business_key:
            return say.business_key
        if turn.inbound is not None:
            return f"reply:{turn.inbound.provider_id}:{index}"
        raise ValueError(f"proactive message {say.template!r} needs a business_key")

    def flush(self, session: Session) -> int:
        """Write everything staged; returns how many outbox rows are ready to send."""
        rows: list[dict[str, Any]] = []
        if self.drafts:
            assert self._config is not None and self._now is not None
            derived = self.gate.check(session, self.drafts, self._now, self._config)
            rows = [draft.row for draft in (*self.drafts, *derived)]
            session.execute(insert_ignoring_duplicates(session, OutboxMessage, ["business_key"]),
                            rows)
        for contact, change, at in self.consent:
            record_consent(session, contact, change, at)
        if self.jobs:
            assert self._now is not None
            schedule_jobs(session, self.jobs, self._now)
        record_requests(session, self.billing)
        if self.retention:
            session.execute(RetentionEvent.__table__.insert(), self.retention)  # type: ignore[attr-defined]
        queued = sum(1 for row in rows if row["status"] == "queued")
        self.drafts, self.consent, self.jobs, self.billing, self.retention = [], [], [], [], []
        return queued
