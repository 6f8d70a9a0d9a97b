"""What agents do with a conversation in handoff — claim, reply, note, resolve — and the two jobs
that follow up on it: the return timer that gives a forgotten handoff back to the bot, and the
recording of the customer's rating.

Each action is a function of a session, run in one transaction on a store thread; the console
and the JSON API call the same ones. The conversation's lock is taken before anything is read,
so two agents (or an agent and the return timer) never both act on the same state. Every
message an agent sends is a turn of the handoff flow: rendered, gated and queued like any other.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import gate
from bot.accounts import has_left
from bot.config import BotConfig
from bot.messages import Channel
from bot.outbound_gate import foresee
from bot.processor import TurnProcessor, locale_for
from bot.store.database import lock_conversations
from bot.store.models import Contact, Conversation, Handoff, HandoffEvent, Job, OutboxMessage
from bot.whatsapp_templates import WhatsAppTemplates
from flows.handoff import AGENT_MESSAGE, MAX_REASON_CHARS, HandoffFlow

OPEN_STATES = ("waiting", "with_agent")
REPLY_WINDOW = timedelta(hours=24)
"""An agent's message within this time of the customer's last one answers it (a reply)."""
MAX_REPLY_CHARS = 1600
MAX_NOTE_CHARS = 4000
_CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class DeskError(Exception):
    """An action the desk refuses: an HTTP status, a reason an agent can act on, and details."""

    def __init__(self, status: int, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class OfferedTemplate:
    """An approved WhatsApp template an agent may send outside the 24-hour window."""

    key: str
    """The message key (``handoff.follow_up``)."""
    label: str
    needs_text: bool
    """Whether the template carries the agent's own words (its variables include ``text``)."""


@dataclass(frozen=True)
class ReplyCheck:
    """What the outbound gate will do with an agent's message, known before it is written."""

    kind: gate.Kind
    verdict: gate.Verdict
    templates: tuple[OfferedTemplate, ...]
    """Approved WhatsApp templates an agent may send instead."""


def reply_kind(contact: Contact, now: datetime) -> gate.Kind:
    """A reply when it answers the customer's message of the last 24 hours, else proactive."""
    last = contact.last_inbound_at
    return gate.Kind.REPLY if last is not None and now - last < REPLY_WINDOW else gate.Kind.PROACTIVE


def agent_templates(config: BotConfig, contact: Contact, locale: str) -> tuple[OfferedTemplate, ...]:
    """The approved WhatsApp templates of the handoff's messages in the contact's locale."""
    if contact.channel != Channel.WHATSAPP:
        return ()
    section = config.get(WhatsAppTemplates)
    found = []
    for key in sorted(section.templates):
        approved = section.approved(key, locale)
        if key.startswith(f"{HandoffFlow.flow_name}.") and approved is not None:
            found.append(OfferedTemplate(key, approved.label or key, "text" in approved.variables))
    return tuple(found)


def check_reply(session: Session, config: BotConfig, contact: Contact, locale: str,
                now: datetime, *, template: str | None = None) -> ReplyCheck:
    """What the outbound gate will do with an agent's message (typed, or an approved template)
    to this contact now, with the same facts and rules it applies when the message is queued."""
    kind = reply_kind(contact, now)
    verdict = foresee(session, contact, template=template or AGENT_MESSAGE, locale=locale,
                      kind=kind, is_template=template is not None, now=now, config=config)
    return ReplyCheck(kind, verdict, agent_templates(config, contact, locale))


def in_handoff(conversation: Conversation) -> bool:
    """Whether the conversation is with the team now (waiting or with an agent)."""
    return conversation.flow == HandoffFlow.flow_name and conversation.state in OPEN_STATES


def owner_has_left(session: Session, conversation: Conversation) -> bool:
    """The conversation is with an agent whose console account was deactivated: a colleague
    may take it over."""
    return (in_handoff(conversation) and conversation.state == "with_agent"
            and has_left(session, conversation.data.get("agent", "")))


def _typed(text: str, *, limit: int, what: str) -> str:
    """An agent's text as stored: line breaks as one character (a browser sends CRLF and counts
    one) and trimmed; 422 when longer than ``limit`` or holding a NUL (PostgreSQL cannot)."""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise DeskError(422, f"a {what} may have at most {limit} characters")
    if "\x00" in text:
        raise DeskError(422, f"a {what} may not contain a NUL character")
    return text


def requested_at(conversation: Conversation) -> datetime:
    """When the conversation's current handoff was requested."""
    return datetime.fromisoformat(conversation.data["requested_at"])


def record_for(session: Session, conversation: Conversation, contact: Contact) -> Handoff:
    """The record of the conversation's current handoff, created at the first action on it."""
    at = requested_at(conversation)
    record = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation.id,
                                                   Handoff.requested_at == at)).first()
    if record is None:
        record = Handoff(conversation_id=conversation.id, contact_id=contact.id,
                         reason=str(conversation.data.get("reason", ""))[:MAX_REASON_CHARS],
                         requested_at=at)
        session.add(record)
    return record


class AgentDesk:
    """Agents' actions on conversations in handoff, and the handoff's scheduled jobs."""

    def __init__(self, processor: TurnProcessor) -> None:
        self.processor = processor

    # -- actions ----------------------------------------------------------------------------------

    def claim(self, session: Session, conversation_id: int, agent: str, now: datetime) -> Conversation:
        """Take a waiting conversation, or take over one whose agent has left (deactivated);
        claiming one's own again is a no-op, another agent's is 409."""
        conversation, contact = self._locked(session, conversation_id)
        owner = conversation.data.get("agent")
        if owner != agent and owner_has_left(session, conversation):
            self.processor.run_event(session, contact, HandoffFlow.flow_name, "take_over", now,
                                     agent=agent)
            record_for(session, conversation, contact).agent = agent
            session.add(HandoffEvent(conversation_id=conversation.id, kind="claimed", agent=agent,
                                     text=f"taken over from {owner}, who has left", at=now))
            return conversation
        self._require_open(conversation, agent)
        if conversation.state == "with_agent":
            return conversation
        self.processor.run_event(session, contact, HandoffFlow.flow_name, "claim", now, agent=agent)
        record = record_for(session, conversation, contact)
        record.agent, record.claimed_at = agent, now
        session.add(HandoffEvent(conversation_id=conversation.id, kind="claimed", agent=agent, at=now))
        return conversation

    def reply(self, session: Session, conversation_id: int, agent: str, now: datetime, *,
              text: str = "", template: str | None = None,
              client_key: str | None = None) -> tuple[OutboxMessage, bool]:
        """Send the customer a message (free text, or an approved template outside WhatsApp's
        window); an unclaimed conversation becomes the agent's. Returns the queued message and
        whether it is new: a repeated ``client_key`` returns the one already queued."""
        text = _typed(text, limit=MAX_REPLY_CHARS, what="message")
        if client_key is not None and not _CLIENT_KEY.match(client_key):
            raise DeskError(422, "the message id may have only letters, digits, - and _ (≤ 64)")
        if template is None and not text:
            raise DeskError(422, "write a message first")
        conversation, contact = self._locked(session, conversation_id)
        business_key = f"agent:{conversation.id}:{client_key or secrets.token_urlsafe(12)}"
        already = session.scalars(
            select(OutboxMessage).where(OutboxMessage.business_key == business_key)).first()
        if already is not None:
            self._require_retry(session, conversation, business_key, agent)
            return already, False
        self._require_open(conversation, agent)
        config = self.processor.config.current(session)
        locale = locale_for(contact, self.processor.default_locale)
        check = check_reply(session, config, contact, locale, now, template=template)
        offered = {offer.key: offer for offer in check.templates}
        if template is not None and template not in offered:
            raise DeskError(422, f"{template!r} is not an approved template for this customer",
                            templates=list(offered))
        if template is not None and offered[template].needs_text and not text:
            raise DeskError(422, "this template carries your message: write it first")
        if check.verdict.action in (gate.Action.HOLD, gate.Action.DROP):
            raise DeskError(409, check.verdict.reason, templates=list(offered))
        self.processor.run_event(session, contact, HandoffFlow.flow_name, "reply", now,
                                 agent=agent, text=text, template=template,
                                 business_key=business_key, message_kind=str(check.kind))
        record = record_for(session, conversation, contact)
        record.agent = agent
        record.claimed_at = record.claimed_at or now
        record.first_response_at = record.first_response_at or now
        session.add(HandoffEvent(conversation_id=conversation.id, kind="replied", agent=agent,
                                 outbox_key=business_key, at=now))
        return session.scalars(
            select(OutboxMessage).where(OutboxMessage.business_key == business_key)).one(), True

    def add_note(self, session: Session, conversation_id: int, agent: str, now: datetime, *,
                 text: str) -> HandoffEvent:
        """Keep an internal note on a conversation (never sent to the customer)."""
        text = _typed(text, limit=MAX_NOTE_CHARS, what="note")
        if not text:
            raise DeskError(422, "write the note first")
        if session.get(Conversation, conversation_id) is None:
            raise DeskError(404, f"there is no conversation {conversation_id}")
        note = HandoffEvent(conversation_id=conversation_id, kind="note", agent=agent, text=text,
                            at=now)
        session.add(note)
        session.flush()
        return note

    def resolve(self, session: Session, conversation_id: int, agent: str, now: datetime) -> Handoff:
        """Close the handoff and give the conversation back to the bot, which asks for a rating
        when the agent answered the customer."""
        conversation, contact = self._open(session, conversation_id, agent)
        record = record_for(session, conversation, contact)
        record.agent = record.agent or agent
        record.claimed_at = record.claimed_at or now
        record.closed_at, record.outcome = now, "resolved"
        session.flush()
        self.processor.run_event(session, contact, HandoffFlow.flow_name, "resolve", now,
                                 handoff_id=record.id,
                                 answered=record.first_response_at is not None)
        session.add(HandoffEvent(conversation_id=conversation.id, kind="resolved", agent=agent,
                                 at=now))
        return record

    # -- jobs -------------------------------------------------------------------------------------

    def return_to_bot(self, session: Session, job: Job, now: datetime) -> None:
        """The return timer: unless the handoff moved on since it was set, give the
        conversation back to the bot and tell the customer."""
        conversation = session.get(Conversation, job.payload["conversation_id"])
        if conversation is None:
            return
        conversation, contact = self._locked(session, conversation.id)
        if (not in_handoff(conversation)
                or conversation.data.get("return_at") != job.payload["return_at"]):
            return  # claimed, answered or resolved since: a later timer (or none) applies
        record = record_for(session, conversation, contact)
        record.closed_at, record.outcome = now, "returned"
        self.processor.run_event(session, contact, HandoffFlow.flow_name, "time_out", now)
        session.add(HandoffEvent(conversation_id=conversation.id, kind="returned", at=now))

    @staticmethod
    def record_rating(session: Session, job: Job, now: datetime) -> None:
        """Store the customer's 1–5 answer on the handoff it rates (the first answer counts)."""
        record = session.get(Handoff, job.payload["handoff_id"])
        if (record is None or record.conversation_id != job.payload["conversation_id"]
                or record.csat is not None):
            return
        record.csat, record.csat_at = int(job.payload["score"]), now
        session.add(HandoffEvent(conversation_id=record.conversation_id, kind="rated",
                                 agent=record.agent, text=str(record.csat), at=now))

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _locked(session: Session, conversation_id: int) -> tuple[Conversation, Contact]:
        """The conversation and its contact, read after taking the conversation's lock."""
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise DeskError(404, f"there is no conversation {conversation_id}")
        contact = session.get(Contact, conversation.contact_id)
        assert contact is not None
        lock_conversations(session, [f"{contact.channel}:{contact.address}"])
        session.refresh(conversation)
        session.refresh(contact)
        return conversation, contact

    def _open(self, session: Session, conversation_id: int,
              agent: str) -> tuple[Conversation, Contact]:
        """The conversation, locked, if it is in handoff and not another agent's."""
        conversation, contact = self._locked(session, conversation_id)
        self._require_open(conversation, agent)
        return conversation, contact

    @staticmethod
    def _require_retry(session: Session, conversation: Conversation, business_key: str,
                       agent: str) -> None:
        """A message id seen before is a retry only from the same agent in the same handoff;
        anything else would silently drop the new message, so it is refused."""
        sent = session.scalars(select(HandoffEvent).where(
            HandoffEvent.outbox_key == business_key, HandoffEvent.kind == "replied")).first()
        if sent is None:
            return
        if sent.agent != agent:
            raise DeskError(409, f"this message id was already used by {sent.agent}: "
                                 "give each message its own id", agent=sent.agent)
        if in_handoff(conversation) and sent.at < requested_at(conversation):
            raise DeskError(409, "this message id was already used in an earlier handoff: "
                                 "give each message its own id")

    @staticmethod
    def _require_open(conversation: Conversation, agent: str) -> None:
        if not in_handoff(conversation):
            raise DeskError(409, "this conversation is not with the team: the bot has it")
        owner = conversation.data.get("agent")
        if conversation.state == "with_agent" and owner != agent:
            raise DeskError(409, f"{owner} is handling this conversation", agent=owner)
