"""Persist what turns produced: rendered, gated outbox rows, consent ledger rows, jobs, billing
actions (applied to the local ledger as they are recorded) and retention events.

Rows from a whole batch of turns are written with one multi-row insert per table; a business
key that already exists is skipped, so re-running a turn can never queue a message twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot import gate
from bot.billing.actions import BillingRequest, record_requests
from bot.consent import record_consent
from bot.messages import Channel, Say
from bot.render import Renderer
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Job, OutboxMessage, RetentionEvent
from bot.turn import Turn

_STATUS_FOR = {
    gate.Action.SEND: "queued",
    gate.Action.DEFER: "queued",
    gate.Action.DROP: "dropped",
    gate.Action.HOLD: "held",
}


def recipient_of(contact: Any) -> gate.Recipient:
    """The gate's view of a contact."""
    return gate.Recipient(contact.address, contact.opted_out, contact.last_inbound_at)


class TurnWriter:
    """Collects the effects of several turns and writes them in one go."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.outbox: list[dict[str, Any]] = []
        self.consent: list[tuple[Any, Any, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self.billing: list[BillingRequest] = []
        self.retention: list[dict[str, Any]] = []

    def add(self, turn: Turn) -> None:
        """Render and gate the turn's messages and stage every effect for writing."""
        contact, conversation = turn.contact, turn.conversation
        channel = Channel(contact.channel)
        offered: list[dict[str, str]] | None = None
        for index, say in enumerate(turn.says):
            rendered = self.renderer.render(say, channel, turn.locale)
            if rendered.choices:
                offered = [{"payload": c.payload, "title": c.title} for c in rendered.choices]
            self.outbox.append(self._outbox_row(turn, index, say, rendered.body,
                                                rendered.choices if rendered.buttons else ()))
        if turn.says:
            conversation.choices = offered or []
        conversation.updated_at = turn.now
        self.consent.extend((contact, change, turn.now) for change in turn.consent_changes)
        for job in turn.jobs:
            self.jobs.append({
                "kind": job.kind, "key": job.key, "payload": job.payload, "status": "pending",
                "due_at": job.due_at, "attempts": 0, "created_at": turn.now,
            })
        self.billing.extend(turn.billing)
        self.retention.extend({
            "customer_id": contact.customer_id, "contact_id": contact.id, "kind": note.kind,
            "reason": note.reason, "offer": note.offer, "detail": note.detail, "at": turn.now,
        } for note in turn.retention)

    def _outbox_row(self, turn: Turn, index: int, say: Say, body: str,
                    buttons: tuple[Any, ...]) -> dict[str, Any]:
        contact = turn.contact
        if say.compliance:
            kind = gate.Kind.COMPLIANCE
        elif say.kind is not None:
            kind = gate.Kind(say.kind)
        elif turn.is_reply:
            kind = gate.Kind.REPLY
        else:
            kind = gate.Kind.PROACTIVE
        if say.business_key:
            business_key = say.business_key
        elif turn.inbound is not None:
            business_key = f"reply:{turn.inbound.provider_id}:{index}"
        else:
            raise ValueError(f"proactive message {say.template!r} needs a business_key")
        verdict = gate.decide(gate.Outgoing(Channel(contact.channel), kind),
                              recipient_of(contact), turn.now)
        due = verdict.until if verdict.action is gate.Action.DEFER else None
        return {
            "business_key": business_key,
            "conversation_id": turn.conversation.id,
            "contact_id": contact.id,
            "channel": contact.channel,
            "to_address": contact.address,
            "body": body,
            "choices": [{"payload": c.payload, "title": c.title} for c in buttons],
            "kind": str(kind),
            "subject": say.subject,
            "template": say.template,
            "in_reply_to": turn.inbound_id,
            "status": _STATUS_FOR[verdict.action],
            "status_reason": verdict.reason or None,
            "due_at": due or say.not_before or turn.now,
            "attempts": 0,
            "created_at": turn.now,
            "updated_at": turn.now,
        }

    def flush(self, session: Session) -> int:
        """Write everything staged; returns how many outbox rows are ready to send."""
        if self.outbox:
            session.execute(insert_ignoring_duplicates(session, OutboxMessage, ["business_key"]),
                            self.outbox)
        for contact, change, at in self.consent:
            record_consent(session, contact, change, at)
        if self.jobs:
            session.execute(insert_ignoring_duplicates(session, Job, ["key"]), self.jobs)
        record_requests(session, self.billing)
        if self.retention:
            session.execute(RetentionEvent.__table__.insert(), self.retention)  # type: ignore[attr-defined]
        queued = sum(1 for row in self.outbox if row["status"] == "queued")
        self.outbox, self.consent, self.jobs, self.billing, self.retention = [], [], [], [], []
        return queued
