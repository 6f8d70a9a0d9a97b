"""The tables. Schema changes go through alembic migrations (bot/store/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bot.store.types import JsonType, MutableJsonDict, MutableJsonList, UTCDateTime


def _utc(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Contact(SQLModel, table=True):
    """A customer's address on one channel, with what we know about reaching it."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contact_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=32, description="E.164 number")
    customer_id: str | None = Field(default=None, max_length=128, index=True)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    profile_name: str | None = Field(default=None, max_length=256)
    opted_out: bool = Field(default=False, description="derived from the consent ledger")
    last_inbound_at: datetime | None = _utc()
    created_at: datetime = _utc(nullable=False)


class Conversation(SQLModel, table=True):
    """The bot's side of the dialog with one contact: which flow it is in and where."""

    __tablename__ = "conversation"
    __table_args__ = (
        # The agents' queue: only conversations in handoff are indexed.
        Index("ix_conversation_in_handoff", "state", sqlite_where=text("flow = 'handoff'"),
              postgresql_where=text("flow = 'handoff'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", unique=True)
    flow: str | None = Field(default=None, max_length=32)
    state: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(MutableJsonDict, nullable=False))
    choices: list[dict[str, str]] = Field(
        default_factory=list,
        sa_column=Column(MutableJsonList, nullable=False),
        description="the last offered choices (payload, title); an SMS number answer maps into them",
    )
    misunderstood: int = Field(default=0, description="consecutive turns the bot did not understand")
    updated_at: datetime = _utc(nullable=False)


class InboundMessage(SQLModel, table=True):
    """Every accepted customer message; the unique provider id makes a retried webhook a no-op."""

    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64, unique=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    channel: str = Field(max_length=16)
    body: str = Field(sa_type=Text)
    payload: str | None = Field(default=None, max_length=256)
    media: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    outcome: str = Field(default="handled", max_length=32)
    received_at: datetime = _utc(nullable=False)


TO_LOOK_UP = "status = 'dropped' AND attempt_started_at IS NOT NULL"


class OutboxMessage(SQLModel, table=True):
    """A message to send. Written in the same transaction as the state change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "due_at", sqlite_where=text("status = 'queued'"),
              postgresql_where=text("status = 'queued'")),
        Index("ix_outbox_lease", "lease_until", sqlite_where=text("status = 'sending'"),
              postgresql_where=text("status = 'sending'")),
        Index("ix_outbox_conversation", "conversation_id", "id"),
        Index("ix_outbox_recipient", "to_address", "sent_at"),
        # What was said about a subject (a dunning episode's SMS budget, dropping its queue).
        Index("ix_outbox_subject", "subject", sqlite_where=text("subject IS NOT NULL"),
              postgresql_where=text("subject IS NOT NULL")),
        # Dropped while an attempt was under way: to be looked up at Twilio (few rows).
        Index("ix_outbox_lookup", "attempt_started_at", sqlite_where=text(TO_LOOK_UP),
              postgresql_where=text(TO_LOOK_UP)),
    )

    id: int | None = Field(default=None, primary_key=True)
    business_key: str = Field(max_length=200, unique=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    contact_id: int = Field(foreign_key="contact.id")
    channel: str = Field(max_length=16)
    to_address: str = Field(max_length=32)
    body: str = Field(sa_type=Text)
    choices: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    list_button: str | None = Field(
        default=None, max_length=20,
        description="the label opening a WhatsApp list of the choices (else they are buttons)")
    content_sid: str | None = Field(default=None, max_length=64)
    content_variables: dict[str, str] | None = Field(default=None, sa_column=Column(JsonType))
    kind: str = Field(max_length=16, description="reply | proactive")
    subject: str | None = Field(default=None, max_length=200)
    template: str | None = Field(default=None, max_length=100)
    render_args: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JsonType),
        description="what the message was rendered from (variables, choices, locale), kept on "
                    "WhatsApp rows so the gate's fallback can re-render it for another channel")
    sms_encoding: str | None = Field(default=None, max_length=8, description="GSM-7 | UCS-2")
    sms_segments: int | None = Field(default=None, description="parts the SMS is billed as")
    in_reply_to: int | None = Field(default=None, foreign_key="inbound_message.id")
    status: str = Field(max_length=16, description="queued | sending | sent | delivered | read | "
                        "failed | undelivered | dropped | held")
    status_reason: str | None = Field(default=None, max_length=300)
    due_at: datetime = _utc(nullable=False)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    lease_until: datetime | None = _utc()
    attempt_started_at: datetime | None = _utc()
    withdrawn_at: datetime | None = _utc()
    """When the message was withdrawn (its subject closed: the invoice was paid). It is never
    sent again, even where it turns out to have gone out before."""
    provider_id: str | None = Field(default=None, max_length=64, unique=True)
    error_code: int | None = None
    created_at: datetime = _utc(nullable=False)
    sent_at: datetime | None = _utc()
    updated_at: datetime = _utc(nullable=False)


class DeliveryReport(SQLModel, table=True):
    """Each status callback Twilio sent, kept so a report that beats our own bookkeeping is not lost."""

    __tablename__ = "delivery_report"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64, index=True)
    status: str = Field(max_length=16)
    error_code: int | None = None
    received_at: datetime = _utc(nullable=False)


class ConsentEvent(SQLModel, table=True):
    """The consent ledger: every opt-in and opt-out with its proof. Current consent derives from it."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    channel: str = Field(max_length=16)
    action: str = Field(max_length=16, description="opt_in | opt_out")
    source: str = Field(max_length=16, description="keyword | message | checkout | agent | api | carrier")
    text: str | None = Field(default=None, sa_column=Column(String(500)))
    provider_id: str | None = Field(default=None, max_length=64)
    at: datetime = _utc(nullable=False)


class Job(SQLModel, table=True):
    """A scheduled piece of work (a dunning step, a pause ending…): a row, so a restart loses none."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_due", "due_at", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        # Finding jobs of a dead worker must not scan every scheduled job.
        Index("ix_job_lease", "lease_until", sqlite_where=text("status = 'running'"),
              postgresql_where=text("status = 'running'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    key: str = Field(max_length=200, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    status: str = Field(default="pending", max_length=16, description="pending | running | done | failed")
    due_at: datetime = _utc(nullable=False)
    attempts: int = 0
    lease_until: datetime | None = _utc()
    last_error: str | None = Field(default=None, sa_column=Column(String(500)))
    created_at: datetime = _utc(nullable=False)


class ConsoleUser(SQLModel, table=True):
    """Someone who signs in to the consoles: an agent (answers chats) or an operator (edits the bot)."""

    __tablename__ = "console_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    role: str = Field(max_length=16, description="agent | operator")
    password_hash: str = Field(max_length=300)
    active: bool = True
    created_at: datetime = _utc(nullable=False)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries only the signed id; signing out deletes the row."""

    __tablename__ = "console_session"

    id: str = Field(primary_key=True, max_length=64, description="sha256 of the session token")
    user_id: int = Field(foreign_key="console_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False)


class ConfigEntry(SQLModel, table=True):
    """One section of the settings operators edit at run time (see bot/config.py)."""

    __tablename__ = "config_entry"

    name: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    version: int = Field(description="increases with every save, across sections")
    updated_at: datetime = _utc(nullable=False)
    updated_by: str = Field(max_length=254)


class ContentVersion(SQLModel, table=True):
    """An operator's saved version of a message template (per locale and channel) or of a
    locale's FAQ. The newest version of a scope overrides the file shipped in the repository;
    a version without source puts the shipped file back (a rollback to it)."""

    __tablename__ = "content_version"
    __table_args__ = (UniqueConstraint("kind", "key", "locale", "channel", "version",
                                       name="uq_content_version_scope"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, description="template | faq")
    key: str = Field(max_length=100, description="template key (<flow>.<name>); 'faq' for an FAQ")
    locale: str = Field(max_length=16)
    channel: str = Field(max_length=16, description="sms | whatsapp; empty for an FAQ")
    version: int = Field(description="1, 2, 3… within its scope")
    source: str | None = Field(default=None, sa_type=Text,
                               description="the full text in this locale; None = the shipped file")
    shipped_digest: str = Field(max_length=64, description="sha256 of the shipped file when saved")
    diff: str = Field(sa_type=Text, description="unified diff from the text it replaced")
    note: str | None = Field(default=None, max_length=200)
    author: str = Field(max_length=254)
    created_at: datetime = _utc(nullable=False)


class ConfigChange(SQLModel, table=True):
    """The audit trail of run-time settings: who changed a section, when, from what to what."""

    __tablename__ = "config_change"

    id: int | None = Field(default=None, primary_key=True)
    section: str = Field(max_length=64, index=True)
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    changed_by: str = Field(max_length=254)
    changed_at: datetime = _utc(nullable=False)

class Handoff(SQLModel, table=True):
    """One time a conversation went to a person: who took it, how fast they answered, how it
    ended and how the customer rated it. Written by agents' actions and the return timer; the
    live state (the queue) is the conversation itself."""

    __tablename__ = "handoff"
    __table_args__ = (
        UniqueConstraint("conversation_id", "requested_at", name="uq_handoff_request"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    contact_id: int = Field(foreign_key="contact.id")
    reason: str = Field(max_length=64)
    requested_at: datetime = _utc(nullable=False, index=True)
    claimed_at: datetime | None = _utc()
    agent: str | None = Field(default=None, max_length=254, description="the agent's email")
    first_response_at: datetime | None = _utc()
    closed_at: datetime | None = _utc()
    outcome: str | None = Field(default=None, max_length=16, description="resolved | returned")
    csat: int | None = Field(default=None, description="the customer's 1–5 rating")
    csat_at: datetime | None = _utc()


class HandoffEvent(SQLModel, table=True):
    """What people did with a conversation: claimed, replied, noted, resolved; and the bot
    taking it back. Internal notes live here, never in the customer's messages."""

    __tablename__ = "handoff_event"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    kind: str = Field(max_length=16, description="claimed | replied | note | resolved | returned | rated")
    agent: str | None = Field(default=None, max_length=254)
    text: str | None = Field(default=None, sa_type=Text)
    outbox_key: str | None = Field(default=None, max_length=200,
                                   description="the business key of the message a reply queued")
    at: datetime = _utc(nullable=False)

# -- subscriptions: the events API, the local billing ledger, dunning and retention ---------------


class ProcessedEvent(SQLModel, table=True):
    """A business event accepted by the events API, kept whole (extra fields included); its
    id makes a repeated delivery a no-op."""

    __tablename__ = "processed_event"

    id: str = Field(primary_key=True, max_length=200)
    type: str = Field(max_length=64)
    customer_id: str | None = Field(default=None, max_length=128, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    received_at: datetime = _utc(nullable=False, index=True)


class Customer(SQLModel, table=True):
    """A subscriber as the business describes them, and the local billing ledger's view of
    their subscription (fed by events, changed by the billing actions flows take)."""

    __tablename__ = "customer"

    id: str = Field(primary_key=True, max_length=128)
    plan: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", max_length=16,
                        description="active | trialing | past_due | paused | canceled")
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, max_length=3)
    phone: str | None = Field(default=None, max_length=32, description="E.164; the SMS contact")
    whatsapp: str | None = Field(default=None, max_length=32, description="E.164; the WhatsApp contact")
    # Indexed: a message from a number with no customer of its own looks it up as a billing contact.
    billing_phone: str | None = Field(default=None, max_length=32, index=True,
                                      description="a declared billing contact (gets the dunning)")
    billing_whatsapp: str | None = Field(default=None, max_length=32, index=True)
    current_period_end: datetime | None = _utc()
    trial_ends_at: datetime | None = _utc()
    trial_extended: bool = Field(default=False, description="this trial was extended once already")
    engaged: bool = Field(default=False, description="the business says the customer uses the product")
    paused_until: datetime | None = _utc()
    pause_streak: int = Field(default=0, description="pauses in a row, each soon after the last")
    cancel_at: datetime | None = _utc()
    concession: str | None = Field(default=None, max_length=32,
                                   description="discount | rescue_plan | trial_extension")
    concession_until: datetime | None = _utc()
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class Invoice(SQLModel, table=True):
    """An invoice the business told us about (a failed payment), as the payment page shows it."""

    __tablename__ = "invoice"

    id: str = Field(primary_key=True, max_length=128)
    customer_id: str = Field(foreign_key="customer.id", max_length=128, index=True)
    amount: str = Field(max_length=32, description="decimal text, e.g. 19.00")
    currency: str = Field(max_length=3)
    hosted_url: str | None = Field(default=None, sa_column=Column(String(2000)))
    status: str = Field(default="open", max_length=16, description="open | paid")
    failed_at: datetime | None = _utc()
    paid_at: datetime | None = _utc()
    paid_via: str | None = Field(default=None, max_length=16, description="event | page")
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class DunningEpisode(SQLModel, table=True):
    """The recovery of one failed invoice: opened by payment.failed, closed by the payment
    (recovered), by the payment link running out (lapsed) or by the subscription ending (ended)."""

    __tablename__ = "dunning_episode"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: str = Field(foreign_key="invoice.id", max_length=128, unique=True)
    customer_id: str = Field(foreign_key="customer.id", max_length=128, index=True)
    status: str = Field(default="open", max_length=16, description="open | recovered | lapsed | ended")
    opened_at: datetime = _utc(nullable=False, index=True)
    link_expires_at: datetime = _utc(nullable=False)
    closed_at: datetime | None = _utc()


class BillingAction(SQLModel, table=True):
    """An action taken on a subscription (pause, cancel, plan change…): applied to the local
    ledger in the turn's transaction, then handed to the configured billing port by the relay
    (the operator's webhook gets it once per idempotency key)."""

    __tablename__ = "billing_action"
    __table_args__ = (
        Index("ix_billing_action_due", "due_at", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    customer_id: str = Field(foreign_key="customer.id", max_length=128, index=True)
    action: str = Field(max_length=32)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    status: str = Field(default="pending", max_length=16,
                        description="pending | delivering | applied | delivered | failed")
    attempts: int = 0
    due_at: datetime = _utc(nullable=False)
    lease_until: datetime | None = _utc()
    last_error: str | None = Field(default=None, sa_column=Column(String(500)))
    created_at: datetime = _utc(nullable=False)
    done_at: datetime | None = _utc()


class RetentionEvent(SQLModel, table=True):
    """What happened in a retention conversation — a cancel reason, an offer shown and its
    answer, a pause, a resume — recorded whether or not the customer was saved."""

    __tablename__ = "retention_event"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str | None = Field(default=None, foreign_key="customer.id", max_length=128,
                                    index=True)
    contact_id: int = Field(foreign_key="contact.id")
    kind: str = Field(max_length=32)
    reason: str | None = Field(default=None, max_length=32)
    offer: str | None = Field(default=None, max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    at: datetime = _utc(nullable=False, index=True)
