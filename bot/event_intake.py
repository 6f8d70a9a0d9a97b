"""Applying an accepted business event, in one transaction, exactly once per event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.invoices import mark_paid, record_failed_invoice
from bot.config import FieldProblem
from bot.customers import lock_customer, update_subscription, upsert_customer
from bot.dunning import DunningService
from bot.events import (
    CustomerUpserted,
    Event,
    EventInvalid,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionUpdated,
)
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Customer, Invoice, ProcessedEvent

ACCEPTED = "accepted"
DUPLICATE = "duplicate"


class EventConflict(ValueError):
    """An event id arrived again with a different body."""


class EventIntake:
    """Records each event once and applies it."""

    def __init__(self, dunning: DunningService) -> None:
        self.dunning = dunning

    def accept(self, session: Session, event: Event, body: dict[str, Any], now: datetime) -> str:
        """Apply ``event`` unless its id was seen; ``accepted`` or ``duplicate``. Raises
        EventInvalid for an event that does not fit what we know (an unknown customer) and
        EventConflict for a reused id; the caller's transaction then rolls back."""
        customer_id = event.customer_id
        inserted = session.execute(
            insert_ignoring_duplicates(session, ProcessedEvent, ["id"]).returning(
                ProcessedEvent.__table__.c.id),  # type: ignore[attr-defined]
            [{"id": event.id, "type": event.type, "customer_id": customer_id, "payload": body,
              "received_at": now}]).first()
        if inserted is None:
            if session.get(ProcessedEvent, event.id).payload != body:
                raise EventConflict(f"event id {event.id!r} was already used for another event")
            return DUPLICATE
        if isinstance(event, CustomerUpserted):
            self.dunning.end_with_subscription(
                session, upsert_customer(session, event.customer, now), now)
            return ACCEPTED
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise EventInvalid([FieldProblem("customer_id", f"unknown customer {customer_id!r}: "
                                             "send customer.upserted first")])
        lock_customer(session, customer)
        if isinstance(event, SubscriptionUpdated):
            update_subscription(session, customer, event.subscription, now)
            self.dunning.end_with_subscription(session, customer, now)
        elif isinstance(event, PaymentFailed):
            self._payment_failed(session, customer, event, now)
        elif isinstance(event, PaymentSucceeded):
            invoice = session.get(Invoice, event.invoice_id)
            # Most successful payments are renewals we never heard of: nothing to stop.
            if invoice is not None and invoice.customer_id == customer.id:
                self.dunning.settle(session, invoice, "event", now)
        return ACCEPTED

    def _payment_failed(self, session: Session, customer: Customer, event: PaymentFailed,
                        now: datetime) -> None:
        data = event.invoice
        existing = session.get(Invoice, data.id)
        if existing is not None and existing.customer_id != customer.id:
            raise EventInvalid([FieldProblem("invoice.id", "this invoice belongs to another "
                                             "customer")])
        invoice = record_failed_invoice(session, customer.id, data.id, data.amount, data.currency,
                                        data.hosted_url, data.model_extra or {}, now)
        if existing is None and self._reported_paid(session, customer.id, invoice.id):
            # The payment overtook the failure on its way here: there is nothing to collect.
            mark_paid(invoice, "event", now)
        if customer.currency is None:
            customer.currency = invoice.currency
        self.dunning.open(session, customer, invoice, now)

    @staticmethod
    def _reported_paid(session: Session, customer_id: str, invoice_id: str) -> bool:
        """Whether a payment.succeeded for the invoice arrived already (events can come out of
        order; one for an invoice we did not know yet changed nothing then)."""
        paid = session.scalars(select(ProcessedEvent.payload).where(
            ProcessedEvent.customer_id == customer_id,
            ProcessedEvent.type == "payment.succeeded"))
        return any(PaymentSucceeded.model_validate(payload).invoice_id == invoice_id
                   for payload in paid)
