"""The outbox's sending side: claim due rows, gate them again, record what sending did.

A claimed row is ``sending`` under a lease. If the process dies mid-send, the lease runs out
and the next claim treats the row as ambiguous: the sender asks the provider whether it went
out before sending again. Together with the unique business key, nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.channels.transport import OutgoingMessage
from bot.config import BotConfig, load_config
from bot.consent import ConsentChange, record_consent
from bot.gate import Action
from bot.messages import Channel, Choice
from bot.outbound_gate import OutboundGate
from bot.outbox_drafts import Draft, say_from
from bot.status import advances, our_status
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Contact, DeliveryReport, OutboxMessage

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Claim:
    """A row claimed for sending."""

    message: OutgoingMessage
    contact_id: int
    attempts: int
    ambiguous_since: datetime | None
    """Start of an earlier attempt that may have reached the provider; look before resending."""


class Result(StrEnum):
    """What happened to one send."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The result of sending one claimed row."""

    outbox_id: int
    result: Result
    provider_id: str | None = None
    error_code: int | None = None
    reason: str | None = None
    retry_at: datetime | None = None
    ambiguous_since: datetime | None = None
    opted_out_contact: int | None = None


CLAIM_COLUMNS = ("id", "business_key", "conversation_id", "contact_id", "channel", "to_address",
                 "body", "choices", "list_button", "content_sid", "content_variables", "kind", "subject",
                 "template", "render_args", "attempts", "status", "attempt_started_at",
                 "error_code", "due_at")


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta, *,
              gate: OutboundGate, config: BotConfig | None = None,
              per_channel: Mapping[str, int] | None = None) -> list[Claim]:
    """Claim up to ``limit`` due rows (and rows whose lease ran out), gating each again.

    ``per_channel`` caps how many rows of each channel are claimed (the sender's pacing); a
    channel it leaves out is not claimed at all.
    """
    config = config or load_config(session)
    if per_channel is None:
        rows = _due_rows(session, now, limit, None)
    else:
        rows = [row for channel, allowed in per_channel.items() if allowed > 0
                for row in _due_rows(session, now, min(limit, allowed), channel)]
    if not rows:
        return []
    contacts = {c.id: c for c in session.scalars(
        select(Contact).where(Contact.id.in_({row["contact_id"] for row in rows})))}
    drafts = []
    for row in sorted(rows, key=lambda r: r["id"]):
        say, locale = say_from(row["render_args"])
        drafts.append(Draft(row, contacts[row["contact_id"]], say, locale))
    replacements = gate.check(session, drafts, now, config)
    claims: list[Claim] = []
    verdicts: list[dict[str, object]] = []
    for draft in drafts:
        row = draft.row
        if _sendable(draft):
            claims.append(_claim(row))
        else:
            verdicts.append({"oid": row["id"], "s": row["status"], "r": row["status_reason"],
                             "d": max(row["due_at"], now)})
    if replacements:
        # The fallback's rows go out in this same pass when the gate lets them.
        inserted = dict(session.execute(
            insert_ignoring_duplicates(session, OutboxMessage, ["business_key"]).returning(
                OUTBOX.c.business_key, OUTBOX.c.id),
            [draft.row for draft in replacements]).all())
        for draft in replacements:
            if draft.row["business_key"] in inserted and _sendable(draft):
                claims.append(_claim({**draft.row, "id": inserted[draft.row["business_key"]]}))
    if verdicts:
        session.connection().execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status=bindparam("s"), status_reason=bindparam("r"), due_at=bindparam("d"),
                lease_until=None, updated_at=now),
            verdicts)
    if claims:
        session.connection().execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status="sending", lease_until=now + lease, attempts=bindparam("n"),
                attempt_started_at=bindparam("started"), content_sid=bindparam("sid"),
                content_variables=bindparam("cv"), updated_at=now),
            [{"oid": c.message.outbox_id, "n": c.attempts, "started": c.ambiguous_since or now,
              "sid": c.message.content_sid, "cv": c.message.content_variables} for c in claims])
    return claims


def _sendable(draft: Draft) -> bool:
    return draft.verdict is not None and draft.verdict.action is Action.SEND


def _claim(row: dict) -> Claim:
    # A row still "sending" after its lease, or queued again after an unanswered attempt,
    # may already be with the provider.
    return Claim(
        message=OutgoingMessage(
            outbox_id=row["id"], channel=Channel(row["channel"]), to=row["to_address"],
            body=row["body"], buttons=tuple(Choice(c["payload"], c["title"]) for c in row["choices"]),
            list_button=row["list_button"],
            content_sid=row["content_sid"], content_variables=row["content_variables"]),
        contact_id=row["contact_id"], attempts=row.get("attempts", 0) + 1,
        ambiguous_since=row.get("attempt_started_at"))


def _due_rows(session: Session, now: datetime, limit: int,
              channel: str | None) -> list[dict[str, object]]:
    """Rows whose lease ran out, then due queued rows (of one channel, when given)."""
    columns = [OUTBOX.c[name] for name in CLAIM_COLUMNS]
    postgres = session.get_bind().dialect.name == "postgresql"
    due = (select(*columns).where(OUTBOX.c.status == "queued", OUTBOX.c.due_at <= now)
           .order_by(OUTBOX.c.due_at, OUTBOX.c.id).limit(limit))
    stale = (select(*columns).where(OUTBOX.c.status == "sending", OUTBOX.c.lease_until < now)
             .order_by(OUTBOX.c.id).limit(limit))
    if channel is not None:
        due, stale = due.where(OUTBOX.c.channel == channel), stale.where(OUTBOX.c.channel == channel)
    if postgres:
        due = due.with_for_update(skip_locked=True)
        stale = stale.with_for_update(skip_locked=True)
    rows = list(session.execute(stale).mappings()) + list(session.execute(due).mappings())
    return [dict(row) for row in rows[:limit]]


def record_outcomes(session: Session, outcomes: Sequence[SendOutcome], now: datetime) -> None:
    """Write what the sender did; apply delivery reports that arrived before we knew the id."""
    conn = session.connection()
    sent = [o for o in outcomes if o.result is Result.SENT]
    if sent:
        conn.execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status="sent", provider_id=bindparam("pid"), sent_at=now, lease_until=None,
                status_reason=None, error_code=None, updated_at=now),
            [{"oid": o.outbox_id, "pid": o.provider_id} for o in sent])
        _apply_early_reports(session, [o.provider_id for o in sent if o.provider_id], now)
    retry = [o for o in outcomes if o.result is Result.RETRY]
    if retry:
        conn.execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status="queued", due_at=bindparam("due"), status_reason=bindparam("r"),
                error_code=bindparam("code"), attempt_started_at=bindparam("amb"),
                lease_until=None, updated_at=now),
            [{"oid": o.outbox_id, "due": o.retry_at, "r": o.reason, "code": o.error_code,
              "amb": o.ambiguous_since} for o in retry])
    final = [o for o in outcomes if o.result is Result.FAILED]
    if final:
        conn.execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status=bindparam("s"), status_reason=bindparam("r"), error_code=bindparam("code"),
                lease_until=None, updated_at=now),
            [{"oid": o.outbox_id, "s": str(o.result), "r": (o.reason or "")[:300],
              "code": o.error_code} for o in final])
    for outcome in outcomes:
        if outcome.opted_out_contact is not None:
            record_carrier_opt_out(session, outcome.opted_out_contact, now,
                                   provider_id=outcome.provider_id)


def drop_queued(session: Session, subject: str, reason: str, now: datetime) -> int:
    """Drop every message about ``subject`` that has not gone out yet (queued, or held for a
    WhatsApp window); returns how many. One already being sent is past stopping."""
    result = session.connection().execute(
        update(OUTBOX).where(OUTBOX.c.subject == subject, OUTBOX.c.status.in_(("queued", "held")))
        .values(status="dropped", status_reason=reason[:300], due_at=now, updated_at=now))
    return result.rowcount


def record_carrier_opt_out(session: Session, contact_id: int, now: datetime,
                           provider_id: str | None = None) -> None:
    """Twilio refused because the number opted out (21610): the ledger and the contact agree."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.opted_out:
        return
    record_consent(session, contact, ConsentChange("opt_out", "carrier", "Twilio error 21610",
                                                   provider_id), now)


def _apply_early_reports(session: Session, provider_ids: list[str], now: datetime) -> None:
    reports = session.execute(
        select(DeliveryReport.provider_id, DeliveryReport.status, DeliveryReport.error_code)
        .where(DeliveryReport.provider_id.in_(provider_ids)).order_by(DeliveryReport.id)
    ).all()
    for report in reports:
        apply_status(session, report.provider_id, report.status, report.error_code, now)


def apply_status(session: Session, provider_id: str, twilio_status: str, error_code: int | None,
                 now: datetime) -> bool:
    """Move a sent message's status forward (never back); False when the id is not ours yet."""
    row = session.execute(
        select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.contact_id)
        .where(OUTBOX.c.provider_id == provider_id)).first()
    if row is None:
        return False
    new_status = our_status(twilio_status)
    if advances(row.status, twilio_status) and new_status != row.status:
        session.connection().execute(
            update(OUTBOX).where(OUTBOX.c.id == row.id).values(
                status=new_status, error_code=error_code or None, updated_at=now,
                status_reason=f"Twilio error {error_code}" if error_code else None))
    if error_code == 21610:
        record_carrier_opt_out(session, row.contact_id, now, provider_id=provider_id)
    return True
