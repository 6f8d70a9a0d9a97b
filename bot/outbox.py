"""The outbox's sending side: claim due rows, gate them again, record what sending did.

A claimed row is ``sending`` under a lease, and the sender starts no send its lease may not
cover. A row whose earlier attempt may have reached the provider (the process died mid-send,
or the send timed out) is claimed without the gate: the sender first asks the provider whether
it went out, and only if nothing is found does the row go back to the gate and out again.
Outcomes other than "sent" apply only while the row is still under the claim's lease, so a
late writer never undoes another claim or a drop. A row dropped while such an attempt was under
way is looked up once its lease is over, and recorded sent if the provider has it; it is never
sent again. A message is sent twice only if the provider accepted it but does not list it when
asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    bindparam,
    case,
    exists,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from bot.channels.transport import OutgoingMessage
from bot.config import BotConfig, load_config
from bot.consent import ConsentChange, record_consent
from bot.gate import Action, Kind
from bot.messages import Channel, Choice
from bot.outbound_gate import WINDOW_CLOSED_CODE, OutboundGate
from bot.outbox_drafts import Draft, say_from
from bot.status import FAILED, advances, our_status, status_reason
from bot.store.database import lock_key
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Contact, DeliveryReport, OutboxMessage

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
WINDOW_CLOSED_REASON = "Twilio refused free-form WhatsApp text (63016)"
LOOKUP_HORIZON = timedelta(days=1)
"""How long after an attempt a dropped row is still looked up at the provider."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A row claimed for sending."""

    message: OutgoingMessage
    contact_id: int
    attempts: int
    ambiguous_since: datetime | None
    """Start of an earlier attempt that may have reached the provider: the claim only looks for
    it there (the row was not gated), and the row is gated again if it is not found."""
    lease_until: datetime
    """When the claim's lease runs out: another sender may then claim the row."""
    lookup_only: bool = False
    """The row was dropped while an attempt may have reached the provider: the claim only finds
    out whether it went out, and never sends."""


class Result(StrEnum):
    """What happened to one send."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    NOT_SENT = "not_sent"
    """A dropped row's earlier attempt is not at the provider: the row stays dropped."""


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
    lease_until: datetime | None = None
    """The claim's lease: a retry or failure is written only while the row is still under it."""
    untried: bool = False
    """The claim counted an attempt that was never made (no send started): it is given back."""


CLAIM_COLUMNS = ("id", "business_key", "conversation_id", "contact_id", "channel", "to_address",
                 "body", "choices", "list_button", "content_sid", "content_variables", "kind", "subject",
                 "template", "render_args", "attempts", "status", "attempt_started_at",
                 "error_code", "due_at", "created_at")


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
    rows.sort(key=lambda r: r["id"])
    lease_until = now + lease
    # A row that may already be with the provider is looked up there before the gate rules on
    # it: a message that went out must not be re-sent elsewhere because a rule changed since.
    drafts = _drafts(session, [row for row in rows if row["attempt_started_at"] is None])
    replacements = gate.check(session, list(drafts.values()), now, config) if drafts else []
    claims: list[Claim] = []
    verdicts: list[dict[str, object]] = []
    for row in rows:
        draft = drafts.get(row["id"])
        if draft is None or _sendable(draft):
            claims.append(_claim(row, lease_until))
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
                claims.append(_claim({**draft.row, "id": inserted[draft.row["business_key"]]},
                                     lease_until))
    if verdicts:
        session.connection().execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status=bindparam("s"), status_reason=bindparam("r"), due_at=bindparam("d"),
                lease_until=None, updated_at=now),
            verdicts)
    if claims:
        session.connection().execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
                status=bindparam("st"), lease_until=lease_until, attempts=bindparam("n"),
                attempt_started_at=bindparam("started"), content_sid=bindparam("sid"),
                content_variables=bindparam("cv"), updated_at=now),
            [{"oid": c.message.outbox_id, "st": "dropped" if c.lookup_only else "sending",
              "n": c.attempts, "started": c.ambiguous_since or now,
              "sid": c.message.content_sid, "cv": c.message.content_variables} for c in claims])
    return claims


def _drafts(session: Session, rows: list[dict]) -> dict[int, Draft]:
    """The rows to gate, by id, with their contacts and what they were rendered from."""
    if not rows:
        return {}
    contacts = {c.id: c for c in session.scalars(
        select(Contact).where(Contact.id.in_({row["contact_id"] for row in rows})))}
    drafts = {}
    for row in rows:
        say, locale = say_from(row["render_args"])
        drafts[row["id"]] = Draft(row, contacts[row["contact_id"]], say, locale)
    return drafts


def _sendable(draft: Draft) -> bool:
    return draft.verdict is not None and draft.verdict.action is Action.SEND


def _claim(row: dict, lease_until: datetime) -> Claim:
    # A row still "sending" after its lease, or queued again after an unanswered attempt,
    # may already be with the provider: its claim only looks there, which is no new attempt.
    ambiguous_since = row.get("attempt_started_at")
    return Claim(
        message=OutgoingMessage(
            outbox_id=row["id"], channel=Channel(row["channel"]), to=row["to_address"],
            body=row["body"], buttons=tuple(Choice(c["payload"], c["title"]) for c in row["choices"]),
            list_button=row["list_button"],
            content_sid=row["content_sid"], content_variables=row["content_variables"]),
        contact_id=row["contact_id"],
        attempts=row.get("attempts", 0) + (0 if ambiguous_since else 1),
        ambiguous_since=ambiguous_since, lease_until=lease_until,
        lookup_only=row["status"] == "dropped")


def _waiting_behind_an_earlier_message(now: datetime) -> Exists:
    """Whether an earlier message to the row's recipient is still in flight, or is a reply
    backing off: the row waits so the recipient gets them in order (found through
    ``ix_outbox_recipient``). A proactive message tried once may since have been deferred by the
    gate for hours (quiet hours): it holds nothing back. A dropped message whose send or lookup
    is under way (leased) holds later ones too, so a lookup never sees them at the provider."""
    earlier = OUTBOX.alias("earlier")
    return exists().where(
        earlier.c.to_address == OUTBOX.c.to_address, earlier.c.channel == OUTBOX.c.channel,
        earlier.c.id < OUTBOX.c.id,
        or_(earlier.c.status == "sending",
            and_(earlier.c.status == "queued", earlier.c.attempts > 0, earlier.c.due_at > now,
                 earlier.c.kind != Kind.PROACTIVE),
            and_(earlier.c.status == "dropped", earlier.c.lease_until > now)))


def _later_message_unresolved() -> Exists:
    """Whether a later message to the row's recipient may be at the provider unrecorded (in
    flight, or queued after an unclear attempt): a lookup waits, or it could take that one's
    provider id for its own (an approved template matches any body)."""
    later = OUTBOX.alias("later")
    return exists().where(
        later.c.to_address == OUTBOX.c.to_address, later.c.channel == OUTBOX.c.channel,
        later.c.id > OUTBOX.c.id,
        or_(later.c.status == "sending",
            and_(later.c.status == "queued", later.c.attempt_started_at.is_not(None))))


def _due_rows(session: Session, now: datetime, limit: int,
              channel: str | None) -> list[dict[str, object]]:
    """Rows whose lease ran out, then due queued rows (of one channel, when given), leaving out
    those that must wait for an earlier message to the same recipient; then dropped rows whose
    last attempt may have reached the provider, to be looked up there."""
    columns = [OUTBOX.c[name] for name in CLAIM_COLUMNS]
    postgres = session.get_bind().dialect.name == "postgresql"
    in_turn = ~_waiting_behind_an_earlier_message(now)
    due = (select(*columns).where(OUTBOX.c.status == "queued", OUTBOX.c.due_at <= now, in_turn)
           .order_by(OUTBOX.c.due_at, OUTBOX.c.id).limit(limit))
    stale = (select(*columns).where(OUTBOX.c.status == "sending", OUTBOX.c.lease_until < now,
                                    in_turn)
             .order_by(OUTBOX.c.id).limit(limit))
    lookups = (select(*columns).where(
        OUTBOX.c.status == "dropped", OUTBOX.c.attempt_started_at >= now - LOOKUP_HORIZON,
        or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < now),
        ~_later_message_unresolved())
        .order_by(OUTBOX.c.attempt_started_at).limit(limit))  # along ix_outbox_lookup
    queries = [stale, due, lookups]
    if channel is not None:
        queries = [query.where(OUTBOX.c.channel == channel) for query in queries]
    if postgres:
        queries = [query.with_for_update(skip_locked=True) for query in queries]
    rows = [dict(row) for query in queries for row in session.execute(query).mappings()][:limit]
    return _recipients_to_ourselves(session, rows, now) if postgres and rows else rows


def _recipients_to_ourselves(session: Session, rows: list[dict[str, object]],
                             now: datetime) -> list[dict[str, object]]:
    """PostgreSQL, several senders: the rows whose recipient no other sender is claiming for at
    this moment (a transaction-scoped lock per recipient, never waited for), still in turn.

    Without it, a sender whose claim of a customer's first reply is not committed yet leaves
    the row merely locked: another sender skips it, sees nothing in flight and claims the second
    reply, and both go out at once."""
    key_of = {row["id"]: lock_key(f"send:{row['channel']}:{row['to_address']}") for row in rows}
    ours = {key for key, taken in session.execute(
        text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": sorted(set(key_of.values()))}) if taken}
    mine = [row for row in rows if key_of[row["id"]] in ours]
    if not mine:
        return []
    # A claim committed between our select and our lock may have put an earlier row in flight.
    in_turn = set(session.scalars(select(OUTBOX.c.id).where(
        OUTBOX.c.id.in_([row["id"] for row in mine]), ~_waiting_behind_an_earlier_message(now))))
    return [row for row in mine if row["id"] in in_turn]


def record_outcomes(session: Session, outcomes: Sequence[SendOutcome], now: datetime) -> None:
    """Write what the sender did; apply delivery reports that arrived before we knew the id.

    "Sent" is written whatever became of the row meanwhile: the message went out. A retry or a
    failure is written only while the row is still this claim's (``sending`` under the lease
    the claim set): otherwise another sender has claimed it since, or it was dropped.
    """
    sent = [o for o in outcomes if o.result is Result.SENT]
    clashes = _record_sent(session, sent, now) if sent else []
    if sent:
        _apply_early_reports(session, [o.provider_id for o in sent
                                       if o.provider_id and o not in clashes], now)
    retry = [o for o in outcomes if o.result is Result.RETRY] + [
        # Another row already holds the id found at the provider: look again.
        SendOutcome(o.outbox_id, Result.RETRY, retry_at=now, lease_until=o.lease_until,
                    ambiguous_since=o.ambiguous_since or now,
                    reason=f"Twilio's {o.provider_id} is recorded for another message")
        for o in clashes]
    if retry:
        session.connection().execute(
            update(OUTBOX).where(*_still_claimed()).values(
                status="queued", due_at=bindparam("due"), status_reason=bindparam("r"),
                error_code=bindparam("code"), attempt_started_at=bindparam("amb"),
                attempts=OUTBOX.c.attempts - bindparam("back"), lease_until=None,
                updated_at=now),
            [{"oid": o.outbox_id, "lease": o.lease_until, "due": o.retry_at, "r": o.reason,
              "code": o.error_code, "amb": o.ambiguous_since, "back": int(o.untried)}
             for o in retry])
    final = [o for o in outcomes if o.result is Result.FAILED]
    if final:
        session.connection().execute(
            update(OUTBOX).where(*_still_claimed()).values(
                status=bindparam("s"), status_reason=bindparam("r"), error_code=bindparam("code"),
                lease_until=None, updated_at=now),
            [{"oid": o.outbox_id, "lease": o.lease_until, "s": str(o.result),
              "r": (o.reason or "")[:300], "code": o.error_code} for o in final])
    not_sent = [o for o in outcomes if o.result is Result.NOT_SENT]
    if not_sent:
        session.connection().execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid"), OUTBOX.c.status == "dropped",
                                 OUTBOX.c.lease_until == bindparam("lease"))
            .values(attempt_started_at=None, lease_until=None, updated_at=now),
            [{"oid": o.outbox_id, "lease": o.lease_until} for o in not_sent])
    for outcome in outcomes:
        if outcome.opted_out_contact is not None:
            record_carrier_opt_out(session, outcome.opted_out_contact, now,
                                   provider_id=outcome.provider_id)


def _still_claimed() -> tuple[ColumnElement[bool], ...]:
    """The row ``oid``, only while it is still under the claim's lease ``lease``."""
    return (OUTBOX.c.id == bindparam("oid"), OUTBOX.c.status == "sending",
            OUTBOX.c.lease_until == bindparam("lease"))


def _record_sent(session: Session, sent: Sequence[SendOutcome],
                 now: datetime) -> list[SendOutcome]:
    """Mark rows sent with their provider ids; returns the outcomes whose id another row holds
    already (a lookup matched the wrong message). Those are tried one by one, so that one clash
    cannot roll back the rest of the batch."""
    statement = update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
        status="sent", provider_id=bindparam("pid"), sent_at=now, lease_until=None,
        status_reason=None, error_code=None, updated_at=now)
    connection = session.connection()

    def written(outcomes: Sequence[SendOutcome]) -> bool:
        try:
            with connection.begin_nested():
                connection.execute(statement, [{"oid": o.outbox_id, "pid": o.provider_id}
                                               for o in outcomes])
        except IntegrityError:
            return False
        return True

    if written(sent):
        return []
    return [outcome for outcome in sent if not written([outcome])]


def drop_queued(session: Session, subject: str, reason: str, now: datetime) -> int:
    """Drop every message about ``subject`` that has not gone out yet (queued, held for a
    WhatsApp window, or being sent); returns how many. A send in flight is past stopping, but
    if it fails it is not retried; if it went out, it is still recorded as sent; if nobody
    knows, it is looked up at the provider once its lease is over (so it keeps the lease).
    Every message about the subject is withdrawn: one Twilio refused is not revived later."""
    session.connection().execute(
        update(OUTBOX).where(OUTBOX.c.subject == subject, OUTBOX.c.status.in_(FAILED),
                             OUTBOX.c.withdrawn_at.is_(None))
        .values(withdrawn_at=now, updated_at=now))
    result = session.connection().execute(
        update(OUTBOX).where(OUTBOX.c.subject == subject,
                             OUTBOX.c.status.in_(("queued", "held", "sending")))
        .values(status="dropped", status_reason=reason[:300], due_at=now, withdrawn_at=now,
                lease_until=case((OUTBOX.c.status == "sending", OUTBOX.c.lease_until)),
                updated_at=now))
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
    """Move a sent message's status forward (never back); False when the id is not ours yet.

    A WhatsApp text Twilio refused as outside the 24-hour window (63016) goes back to the gate,
    which takes the fallback (approved template, another channel, or hold) — unless the
    conversation has moved on, when a late resend would arrive out of turn.
    """
    row = session.execute(
        select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.contact_id, OUTBOX.c.conversation_id,
               OUTBOX.c.channel, OUTBOX.c.content_sid, OUTBOX.c.withdrawn_at)
        .where(OUTBOX.c.provider_id == provider_id)).first()
    if row is None:
        return False
    new_status = our_status(twilio_status)
    if advances(row.status, twilio_status) and new_status != row.status:
        if new_status in FAILED and _refused_free_form(session, row, error_code):
            _back_to_the_gate(session, row.id, now)
            _reconsider_refused_before(session, row, now)
        else:
            session.connection().execute(
                update(OUTBOX).where(OUTBOX.c.id == row.id).values(
                    status=new_status, error_code=error_code or None, updated_at=now,
                    status_reason=status_reason(twilio_status, error_code)))
    if error_code == 21610:
        record_carrier_opt_out(session, row.contact_id, now, provider_id=provider_id)
    return True


def _refused_free_form(session: Session, row: Row, error_code: int | None) -> bool:
    """Whether a failure is Twilio refusing our free-form WhatsApp text, and no later message of
    the conversation has reached the customer (resent after one, it would arrive out of turn;
    later ones refused or still waiting do not count). A withdrawn message is never resent."""
    if (error_code != WINDOW_CLOSED_CODE or row.channel != Channel.WHATSAPP
            or row.content_sid is not None or row.withdrawn_at is not None):
        return False
    reached = or_(OUTBOX.c.status.in_(("delivered", "read")),
                  and_(OUTBOX.c.status == "sent", OUTBOX.c.error_code.is_(None)))
    newer = session.execute(select(OUTBOX.c.id).where(
        OUTBOX.c.conversation_id == row.conversation_id, OUTBOX.c.id > row.id,
        reached).limit(1)).first()
    return newer is None


def _reconsider_refused_before(session: Session, row: Row, now: datetime) -> None:
    """Earlier refused texts of the conversation given up because this one looked as if it had
    reached the customer (Twilio's 'sent' is not delivery) take the fallback after all, unless
    another later message did reach them."""
    earlier = session.execute(
        select(OUTBOX.c.id, OUTBOX.c.conversation_id, OUTBOX.c.channel, OUTBOX.c.content_sid,
               OUTBOX.c.withdrawn_at)
        .where(OUTBOX.c.conversation_id == row.conversation_id, OUTBOX.c.id < row.id,
               OUTBOX.c.status.in_(FAILED), OUTBOX.c.error_code == WINDOW_CLOSED_CODE)
        .order_by(OUTBOX.c.id)).all()
    for refused in earlier:
        if _refused_free_form(session, refused, WINDOW_CLOSED_CODE):
            _back_to_the_gate(session, refused.id, now)


def _back_to_the_gate(session: Session, outbox_id: int, now: datetime) -> None:
    """Queue the row again as refused free-form text; the gate's fallback picks it up."""
    session.connection().execute(
        update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(
            status="queued", due_at=now, provider_id=None, sent_at=None, lease_until=None,
            attempt_started_at=None, error_code=WINDOW_CLOSED_CODE,
            status_reason=WINDOW_CLOSED_REASON, updated_at=now))
