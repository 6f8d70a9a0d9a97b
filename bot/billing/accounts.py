"""What flows know about a customer's subscription: a read-only snapshot of the local ledger
at the turn's time, with the status that time implies (a pause that ended is over, a
cancellation past its date is done)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import Customer, RetentionEvent


class Status:
    """Subscription statuses (as the events API spells them)."""

    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELED = "canceled"


def effective_status(customer: Customer, now: datetime) -> str:
    """The status at ``now``: a cancellation past its date is canceled, a pause past its end
    is active again, a trial past its end is active."""
    if customer.status == Status.CANCELED or (
            customer.cancel_at is not None and customer.cancel_at <= now):
        return Status.CANCELED
    if customer.status == Status.PAUSED:
        if customer.paused_until is not None and customer.paused_until <= now:
            return Status.ACTIVE
        return Status.PAUSED
    if customer.status == Status.TRIALING and customer.trial_ends_at is not None \
            and customer.trial_ends_at <= now:
        return Status.ACTIVE
    return customer.status


@dataclass(frozen=True)
class Account:
    """A customer's subscription as of one moment."""

    customer_id: str
    status: str
    plan: str | None
    currency: str | None
    current_period_end: datetime | None
    trial_ends_at: datetime | None
    trial_extended: bool
    engaged: bool
    paused_until: datetime | None
    pause_streak: int
    cancel_at: datetime | None
    concession: str | None
    concession_until: datetime | None
    now: datetime
    offers_shown: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))
    """When each kind of offer was last shown to this customer."""

    @property
    def is_paused(self) -> bool:
        return self.status == Status.PAUSED

    @property
    def is_canceled(self) -> bool:
        return self.status == Status.CANCELED

    @property
    def is_trialing(self) -> bool:
        return self.status == Status.TRIALING

    @property
    def cancellation_pending(self) -> bool:
        """Canceled, but still paid up until ``cancel_at``."""
        return self.cancel_at is not None and self.cancel_at > self.now

    @property
    def has_concession(self) -> bool:
        """A discount, rescue plan or trial extension is still running."""
        return self.concession_until is not None and self.concession_until > self.now

    def access_ends_at(self) -> datetime:
        """When a cancellation asked for now takes effect: the end of the period already paid
        for (or of the trial), else at once."""
        end = self.trial_ends_at if self.is_trialing else self.current_period_end
        return end if end is not None and end > self.now else self.now


def account_of(customer: Customer, now: datetime,
               offers_shown: Mapping[str, datetime] | None = None) -> Account:
    """The snapshot of ``customer`` at ``now``."""
    return Account(
        customer_id=customer.id, status=effective_status(customer, now), plan=customer.plan,
        currency=customer.currency, current_period_end=customer.current_period_end,
        trial_ends_at=customer.trial_ends_at, trial_extended=customer.trial_extended,
        engaged=customer.engaged,
        paused_until=customer.paused_until, pause_streak=customer.pause_streak,
        cancel_at=customer.cancel_at, concession=customer.concession,
        concession_until=customer.concession_until, now=now,
        offers_shown=MappingProxyType(dict(offers_shown or {})))


def load_account(session: Session, customer_id: str | None, now: datetime) -> Account | None:
    """The customer's account at ``now``; None when no such customer is known."""
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    shown = dict(session.execute(
        select(RetentionEvent.offer, func.max(RetentionEvent.at))
        .where(RetentionEvent.customer_id == customer_id, RetentionEvent.kind == "offer_shown")
        .group_by(RetentionEvent.offer)).all())
    return account_of(customer, now, shown)
