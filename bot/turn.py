"""One turn of a conversation: what flows read (contact, conversation, message, time) and the
effects they leave (things to say, consent changes, jobs), persisted together in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import object_session

from bot.billing.accounts import Account, load_account
from bot.billing.actions import BillingRequest
from bot.consent import ConsentChange
from bot.customers import customers_of_contact
from bot.messages import Channel, Choice, Inbound, Say
from bot.retention import RetentionNote
from bot.scheduler import ScheduledJob

if TYPE_CHECKING:
    from bot.config import BotConfig
    from bot.faq import FaqBook
    from bot.store.models import Contact, Conversation


@dataclass
class Turn:
    """The context of one event in one conversation, and the effects it produced."""

    contact: Contact
    conversation: Conversation
    now: datetime
    locale: str
    faq: FaqBook
    config: BotConfig
    """The operators' current settings (``turn.config.get(PauseConfig)``)."""
    inbound: Inbound | None = None
    inbound_id: int | None = None
    says: list[Say] = field(default_factory=list)
    consent_changes: list[ConsentChange] = field(default_factory=list)
    jobs: list[ScheduledJob] = field(default_factory=list)
    billing: list[BillingRequest] = field(default_factory=list)
    retention: list[RetentionNote] = field(default_factory=list)

    @property
    def channel(self) -> Channel:
        """The channel this conversation is on."""
        return Channel(self.contact.channel)

    @property
    def offered_choices(self) -> list[Choice]:
        """The choices the conversation's last message offered (what a number answers)."""
        return [Choice(c["payload"], c["title"]) for c in self.conversation.choices]

    @property
    def is_reply(self) -> bool:
        """Whether this turn answers a customer's own message (exempt from quiet hours)."""
        return self.inbound is not None

    def say(self, template: str, /, choices: list[Choice] | None = None, **variables: Any) -> Say:
        """Queue a message rendered from ``template`` (``<flow>.<name>``) with ``variables``."""
        message = Say(template, variables, list(choices or ()))
        self.says.append(message)
        return message

    def confirm(self, template: str, /, **variables: Any) -> Say:
        """Queue the confirmation of a compliance keyword (it reaches a just-opted-out contact)."""
        message = self.say(template, **variables)
        message.compliance = True
        return message

    def record_consent(self, action: str, source: str, text: str | None = None) -> None:
        """Add an opt-in/opt-out to the ledger (with this message as proof), effective now."""
        provider_id = self.inbound.provider_id if self.inbound else None
        self.consent_changes.append(ConsentChange(action, source, text, provider_id))
        # The rest of this turn (and the gate at enqueue) must already see the new consent.
        self.contact.opted_out = action == "opt_out"

    def schedule(self, kind: str, key: str, due_at: datetime, **payload: Any) -> None:
        """Schedule work for later; the key makes scheduling it twice a no-op."""
        self.jobs.append(ScheduledJob(kind, key, due_at, payload))

    @cached_property
    def _customers(self) -> tuple[str, ...]:
        """Ids of the customers behind this contact (see ``customers_of_contact``), read on first
        use in the turn's transaction."""
        session = object_session(self.contact)
        if session is None:
            return (self.contact.customer_id,) if self.contact.customer_id else ()
        customers, _ = customers_of_contact(session, self.contact)
        return tuple(customer.id for customer in customers)

    @property
    def customer_id(self) -> str | None:
        """The customer this contact's messages are about: theirs as their own contact or as the
        billing contact they declared; None when neither, or when the contact pays for several
        customers (which one a message means cannot be told)."""
        return self._customers[0] if len(self._customers) == 1 else None

    @property
    def pays_for_several(self) -> bool:
        """Whether this contact is the billing contact of more than one customer."""
        return len(self._customers) > 1

    @cached_property
    def account(self) -> Account | None:
        """The subscription of the customer this contact's messages are about (None when there
        is no one such customer), as the billing ledger knows it now. Read on first use, in the
        turn's transaction."""
        session = object_session(self.contact)
        if session is None:
            return None
        return load_account(session, self.customer_id, self.now)

    def account_of(self, customer_id: str | None) -> Account | None:
        """The subscription of a customer this contact stands for, although it may pay for others
        too (the one whose invoice a dunning message is about); ``account`` when None."""
        if customer_id is None or customer_id == self.customer_id:
            return self.account
        session = object_session(self.contact)
        if session is None or customer_id not in self._customers:
            return None
        return load_account(session, customer_id, self.now)

    def request_billing(self, action: str, /, customer_id: str | None = None,
                        **params: Any) -> None:
        """Ask the billing port for ``action`` on a subscription (``pause``, ``cancel``…) in
        answer to their message: that of ``customer_id`` (one this contact stands for), else of
        the customer this contact's messages are about. The message's id makes the action's
        idempotency key."""
        customer_id = customer_id or self.customer_id
        if customer_id is None or self.inbound is None or customer_id not in self._customers:
            raise ValueError(f"billing action {action!r} needs a customer's own message")
        key = f"{action}:{customer_id}:{self.inbound.provider_id}"
        self.billing.append(BillingRequest(customer_id, action, params, key, self.now))

    def record_retention(self, kind: str, /, reason: str | None = None, offer: str | None = None,
                         customer_id: str | None = None, **detail: Any) -> None:
        """Note a retention event (a cancel reason, an offer shown, its answer…) of
        ``customer_id``, else of the customer this contact's messages are about."""
        self.retention.append(RetentionNote(kind, reason, offer, detail,
                                            customer_id or self.customer_id))
