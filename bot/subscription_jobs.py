"""Scheduled subscription moments: the message on a pause's resume day, and the day a
cancellation takes effect (from then on the customer is welcomed back when they write)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.billing.accounts import Status, effective_status
from bot.customers import lock_customer
from bot.proactive import ProactiveEvents
from bot.store.models import Contact, Customer, Job


class SubscriptionJobs:
    """Job handlers for the pause and cancel flows."""

    def __init__(self, proactive: ProactiveEvents) -> None:
        self.proactive = proactive

    def resume_day(self, session: Session, job: Job, now: datetime) -> None:
        """The pause ends today, as planned (not resumed early, not canceled meanwhile)."""
        customer, contact = self._load(session, job)
        if customer is None or contact is None:
            return
        until = datetime.fromisoformat(job.payload["until"])
        if customer.status != Status.PAUSED or customer.paused_until != until \
                or effective_status(customer, now) == Status.CANCELED:
            return
        lock_customer(session, customer)
        self.proactive.run(session, contact, "pause", "resume_day", now, wait_while_busy=True,
                           resume_on=job.payload["until"])

    def cancellation_effective(self, session: Session, job: Job, now: datetime) -> None:
        """The cancellation took effect: the conversation rests where a return is welcomed."""
        customer, contact = self._load(session, job)
        if customer is None or contact is None:
            return
        if customer.cancel_at != datetime.fromisoformat(job.payload["cancel_at"]) \
                or effective_status(customer, now) != Status.CANCELED:
            return
        lock_customer(session, customer)
        self.proactive.run(session, contact, "cancel", "ended", now, wait_while_busy=True)

    @staticmethod
    def _load(session: Session, job: Job) -> tuple[Customer | None, Contact | None]:
        return (session.get(Customer, job.payload["customer_id"]),
                session.get(Contact, job.payload["contact_id"]))
