"""The outbound gate against the database: gather the facts, ask the pure rules, apply the
WhatsApp fallback. ``TurnWriter`` runs it when messages are enqueued and ``claim_due`` runs it
again just before they are sent, so both apply the same rules to the same facts.

Runs inside the caller's transaction on a store thread. Facts cost a query only when a rule
needs them: recent sends for proactive messages to FL/OK/MD numbers, earlier SMS on subjects
with an SMS budget (dunning episodes), the customer's other channels for WhatsApp messages
outside the 24-hour window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from bot.config import BotConfig
from bot.gate import (
    Action,
    Kind,
    Outgoing,
    Policy,
    Recipient,
    Verdict,
    decide,
    sms_budget,
    window_open,
)
from bot.messages import Channel
from bot.outbox_drafts import Draft, derived_key, outbox_row
from bot.quiet_hours import QuietHoursConfig
from bot.render import Renderer, RenderError
from bot.state_limits import CAP_PERIOD, restricted_state
from bot.store.contacts import load_contacts
from bot.store.database import lock_conversations
from bot.store.models import ConsentEvent, Contact, OutboxMessage
from bot.whatsapp_templates import WhatsAppTemplates
from flows.handoff import AGENT_MESSAGE

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
WINDOW_CLOSED_CODE = 63016
"""Twilio's "outside the WhatsApp window" error: the row's free-form text was refused."""

STATUS_FOR = {
    Action.SEND: "queued",
    Action.DEFER: "queued",
    Action.DROP: "dropped",
    Action.HOLD: "held",
    Action.REROUTE: "dropped",
}
"""The outbox status a verdict leaves a row in (a rerouted row's reason names its replacement)."""
NOT_OUT = ("dropped", "failed")
"""Statuses of SMS that never went out and never will: they spend no budget."""
WAITING = ("queued", "held")
"""Statuses of SMS not sent yet: they spend the budget only before messages written after them."""


def policy_of(config: BotConfig) -> Policy:
    """The gate's settings from the operators' configuration."""
    quiet = config.get(QuietHoursConfig)
    return Policy(window=quiet.window, fallback_timezone=quiet.fallback_timezone)


def topic(row: dict) -> str:
    """What a message is about, for the per-subject cap (its subject, else its template)."""
    return row.get("subject") or row.get("template") or ""


def gather_facts(session: Session, drafts: Sequence[Draft], now: datetime, config: BotConfig,
                 counted: Collection[int] = ()) -> list[tuple[Outgoing, Recipient]]:
    """What the rules need to know about each draft and its recipient, read in a few queries.
    Rows with an id in ``counted`` (and the drafts' own) are left out: the caller counts them."""
    templates = config.get(WhatsAppTemplates)
    skip = {*counted, *(d.row["id"] for d in drafts if d.row.get("id"))}
    recent = _recent_sends(session, [d for d in drafts if _capped(d)], now, skip)
    earlier_sms = _sms_on_subjects(session, [d for d in drafts if _budgeted(d)], skip)
    alternatives = _other_channels(session, [d for d in drafts if _may_fall_back(d, now)])
    facts = []
    for draft in drafts:
        row, contact = draft.row, draft.contact
        whatsapp = row["channel"] == Channel.WHATSAPP
        message = Outgoing(
            channel=Channel(row["channel"]), kind=Kind(row["kind"]),
            is_template=row.get("content_sid") is not None,
            has_template=whatsapp and templates.approved(row["template"] or "", draft.locale)
            is not None,
            refused_free_form=row.get("error_code") == WINDOW_CLOSED_CODE,
            subject=row.get("subject"),
            sms_on_subject=_sms_before(row, earlier_sms.get(row.get("subject"), ())),
            from_person=row["template"] == AGENT_MESSAGE, queued_at=row.get("created_at"))
        recipient = Recipient(
            address=row["to_address"], opted_out=contact.opted_out,
            last_inbound_at=contact.last_inbound_at, timezone=contact.timezone,
            recent_on_subject=tuple(recent.get((row["to_address"], topic(row)), ())),
            alternatives=tuple(c.id for c in alternatives.get(contact.customer_id, ())
                               if c.id != contact.id))
        facts.append((message, recipient))
    return facts


def foresee(session: Session, contact: Contact, *, template: str, locale: str, kind: Kind,
            is_template: bool, now: datetime, config: BotConfig) -> Verdict:
    """What the gate will do with a message to ``contact`` queued now — followed through a
    deferral to the moment it would go, since quiet hours defer first and the WhatsApp window
    may then hold it. For consoles that must tell a person before they write. A message that
    waits but then goes is answered as DEFER with its sending time."""
    row = {"channel": contact.channel, "kind": str(kind), "to_address": contact.address,
           "template": template, "subject": None, "due_at": now, "error_code": None,
           "content_sid": "approved" if is_template else None}
    draft = Draft(row, contact, None, locale)
    policy = policy_of(config)
    first: Verdict | None = None
    at = now
    for _ in range(4):  # a deferral can only be followed by a send, a hold or another deferral
        [(message, recipient)] = gather_facts(session, [draft], at, config)
        verdict = decide(message, recipient, at, policy)
        if verdict.action is not Action.DEFER or verdict.until is None:
            break
        first = first or verdict
        at = row["due_at"] = verdict.until
    if first is not None and verdict.action is Action.SEND:
        return replace(first, until=at)
    return verdict


def _capped(draft: Draft) -> bool:
    return draft.row["kind"] == Kind.PROACTIVE and restricted_state(draft.row["to_address"]) is not None


def _budgeted(draft: Draft) -> bool:
    return sms_budget(draft.row.get("subject")) is not None


def _may_fall_back(draft: Draft, now: datetime) -> bool:
    contact = draft.contact
    return (draft.row["channel"] == Channel.WHATSAPP and contact.customer_id is not None
            and (draft.row.get("error_code") == WINDOW_CLOSED_CODE
                 or not window_open(contact.last_inbound_at, max(now, draft.row["due_at"]))))


def _recent_sends(session: Session, drafts: list[Draft], now: datetime,
                  skip: Collection[int]) -> dict[tuple[str, str], list[datetime]]:
    """Proactive messages sent (or being sent) to these numbers in the last 24 hours, by topic."""
    if not drafts:
        return {}
    since = now - CAP_PERIOD
    rows = session.execute(
        select(OUTBOX.c.to_address, OUTBOX.c.subject, OUTBOX.c.template, OUTBOX.c.sent_at,
               OUTBOX.c.attempt_started_at)
        .where(OUTBOX.c.to_address.in_({d.row["to_address"] for d in drafts}),
               OUTBOX.c.kind == Kind.PROACTIVE,
               OUTBOX.c.id.not_in(skip or [-1]),
               or_(OUTBOX.c.sent_at > since,
                   and_(OUTBOX.c.status == "sending", OUTBOX.c.attempt_started_at > since))))
    found: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for row in rows:
        found[(row.to_address, topic(row._asdict()))].append(row.sent_at or row.attempt_started_at)
    return found


def _sms_on_subjects(session: Session, drafts: list[Draft],
                     skip: Collection[int]) -> dict[str, list[tuple[int, str]]]:
    """The (id, status) of every SMS on these drafts' subjects that went out or may still go."""
    if not drafts:
        return {}
    rows = session.execute(
        select(OUTBOX.c.subject, OUTBOX.c.id, OUTBOX.c.status)
        .where(OUTBOX.c.subject.in_({d.row["subject"] for d in drafts}),
               OUTBOX.c.channel == Channel.SMS, OUTBOX.c.status.not_in(NOT_OUT),
               OUTBOX.c.id.not_in(skip or [-1])))
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        found[row.subject].append((row.id, row.status))
    return found


def _sms_before(row: dict, sms: Sequence[tuple[int, str]]) -> int:
    """How many of ``sms`` count against ``row``'s budget: all that went out (or are going), and
    those still waiting that were written before it — so a text queued later never blocks an
    earlier one, and a new message counts every one."""
    mine = row.get("id")
    return sum(1 for id_, status in sms if status not in WAITING or mine is None or id_ < mine)


def _other_channels(session: Session, drafts: list[Draft]) -> dict[str | None, list[Contact]]:
    """The consented SMS contacts of these drafts' customers: not opted out, and either opted in
    (the ledger says so) or in conversation with us (they have written to us)."""
    customers = {d.contact.customer_id for d in drafts}
    if not customers:
        return {}
    opted_in = exists().where(ConsentEvent.contact_id == Contact.id, ConsentEvent.action == "opt_in")
    found: dict[str | None, list[Contact]] = defaultdict(list)
    for contact in session.scalars(
            select(Contact).where(Contact.customer_id.in_(customers),
                                  Contact.channel == Channel.SMS, Contact.opted_out.is_(False),
                                  or_(Contact.last_inbound_at.is_not(None), opted_in))
            .order_by(Contact.id)):
        found[contact.customer_id].append(contact)
    return found


@dataclass
class _Batch:
    """What the drafts of one check count for each other: the rows they came from are left out
    of the facts (the table still shows them as they were before this check), and a draft
    decided earlier counts as if already written."""

    ids: set[int]
    sending: defaultdict[tuple[str, str], list[datetime]] = field(
        default_factory=lambda: defaultdict(list))
    """Proactive sends to FL/OK/MD numbers by (number, topic), for the subject cap."""
    sms: Counter[str] = field(default_factory=Counter)
    """SMS not dropped or promised by a reroute, by subject, for the subjects' SMS budgets."""


def _spends_sms(draft: Draft, verdict: Verdict) -> bool:
    """Whether the draft spends an SMS of its subject's budget: an SMS not dropped (queued or
    held rows count, as they do in the table), or a message re-sent by SMS."""
    if not _budgeted(draft):
        return False
    if verdict.action is Action.REROUTE:
        return True
    return draft.row["channel"] == Channel.SMS and STATUS_FOR[verdict.action] not in NOT_OUT


class OutboundGate:
    """Rules on outbox drafts and applies the WhatsApp fallback chain."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def check(self, session: Session, drafts: Sequence[Draft], now: datetime,
              config: BotConfig) -> list[Draft]:
        """Decide every draft — filling its row's status, reason, due time and template columns,
        and its ``verdict`` — and return the drafts the fallback created on another channel,
        already decided themselves."""
        batch = _Batch(ids={d.row["id"] for d in drafts if d.row.get("id")})
        return self._check(session, drafts, now, config, batch)

    def _check(self, session: Session, drafts: Sequence[Draft], now: datetime, config: BotConfig,
               batch: _Batch) -> list[Draft]:
        policy = policy_of(config)
        derived: list[Draft] = []
        for draft, (message, recipient) in zip(
                drafts, gather_facts(session, drafts, now, config, batch.ids), strict=True):
            row = draft.row
            at = max(now, row["due_at"])
            # Messages decided earlier in this batch count towards the cap and the SMS budget
            # as if already written.
            counted = batch.sending[(row["to_address"], topic(row))]
            recipient = replace(recipient, recent_on_subject=recipient.recent_on_subject
                                + tuple(counted))
            message = replace(message, sms_on_subject=message.sms_on_subject
                              + batch.sms[message.subject or ""])
            verdict = decide(message, recipient, at, policy)
            if verdict.as_template:
                self._fill_template(draft, config)
            elif verdict.action is Action.REROUTE:
                verdict, replacement = self._reroute(session, draft, verdict, now)
                if replacement is not None:
                    derived.append(replacement)
            if verdict.action is Action.SEND and _capped(draft):
                counted.append(at)
            if _spends_sms(draft, verdict):
                batch.sms[row["subject"]] += 1
            draft.verdict = verdict
            row["status"] = STATUS_FOR[verdict.action]
            row["status_reason"] = verdict.reason[:300] or None
            if verdict.action is Action.DEFER:
                row["due_at"] = verdict.until
        if derived:
            # The replacements are about to be decided, and counted, as SMS in their own right.
            batch.sms.subtract(d.row["subject"] for d in derived if _budgeted(d))
            self._check(session, derived, now, config, batch)
        return derived

    @staticmethod
    def _fill_template(draft: Draft, config: BotConfig) -> None:
        approved = config.get(WhatsAppTemplates).approved(draft.row["template"], draft.locale)
        assert approved is not None  # has_template said so
        variables = draft.say.variables if draft.say is not None else {}
        draft.row["content_sid"] = approved.content_sid
        draft.row["content_variables"] = approved.content_variables(variables)

    def _reroute(self, session: Session, draft: Draft, verdict: Verdict,
                 now: datetime) -> tuple[Verdict, Draft | None]:
        """The same message, rendered for the customer's other channel, under a derived key."""
        target = session.get(Contact, verdict.reroute_to)
        if draft.say is None or target is None:
            return Verdict(Action.HOLD, "outside the WhatsApp 24-hour window and the message "
                                        "cannot be re-sent on another channel"), None
        channel = Channel(target.channel)
        lock_conversations(session, [f"{channel}:{target.address}"])
        _, conversation = load_contacts(session, {(target.channel, target.address)}, now)[
            (target.channel, target.address)]
        try:
            rendered = self.renderer.render(draft.say, channel, draft.locale)
        except RenderError as error:
            return Verdict(Action.HOLD, f"outside the WhatsApp 24-hour window; rendering for "
                                        f"{channel} failed: {error}"), None
        key = derived_key(draft.row["business_key"], channel)
        row = outbox_row(business_key=key, contact=target, conversation_id=conversation.id,
                         rendered=rendered, say=draft.say, locale=draft.locale,
                         kind=draft.row["kind"], now=now, due_at=draft.row["due_at"],
                         in_reply_to=None)
        # Read back at send time, the message no longer knows its subject; its row does.
        row["subject"] = draft.row.get("subject")
        # A number typed back on SMS must map to this message's choices.
        conversation.choices = [{"payload": c.payload, "title": c.title} for c in rendered.choices]
        return (replace(verdict, reason=f"{verdict.reason} ({key})"),
                Draft(row, target, draft.say, draft.locale))
