"""Invoices in the local ledger: recorded from payment events, shown on the payment page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.store.models import BillingAction, Customer, Invoice


@dataclass(frozen=True)
class PaymentPage:
    """What the no-login payment page may show: one invoice and nothing else."""

    invoice_id: str
    amount: Decimal
    currency: str
    paid: bool
    hosted_url: str | None
    locale: str | None
    """The customer's locale, to speak their language and format their money."""
    requested: bool
    """The page's own form was used already (the operator's backend is collecting it)."""


def payment_request_key(invoice_id: str) -> str:
    """One payment request per invoice: pressing the button again changes nothing."""
    return f"pay_invoice:{invoice_id}"


def payment_page(session: Session, invoice_id: str) -> PaymentPage | None:
    """The page's data for an invoice; None when we know no such invoice."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        return None
    customer = session.get(Customer, invoice.customer_id)
    requested = session.scalar(select(exists().where(
        BillingAction.idempotency_key == payment_request_key(invoice_id))))
    return PaymentPage(invoice.id, Decimal(invoice.amount), invoice.currency,
                       invoice.status == "paid", invoice.hosted_url,
                       customer.locale if customer else None, bool(requested))


def record_failed_invoice(session: Session, customer_id: str, invoice_id: str, amount: Decimal,
                          currency: str, hosted_url: str | None, extra: dict, now: datetime) -> Invoice:
    """Create or refresh an invoice whose payment failed (a paid one stays paid)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        invoice = Invoice(id=invoice_id, customer_id=customer_id, amount=str(amount),
                          currency=currency, status="open", created_at=now)
        session.add(invoice)
    elif invoice.status == "paid":
        return invoice
    invoice.amount, invoice.currency, invoice.hosted_url = str(amount), currency, hosted_url
    invoice.extra = {**invoice.extra, **extra}
    invoice.failed_at = now
    invoice.updated_at = now
    return invoice


def mark_paid(invoice: Invoice, via: str, now: datetime) -> bool:
    """Record the invoice as paid; False when it already was."""
    if invoice.status == "paid":
        return False
    invoice.status, invoice.paid_at, invoice.paid_via, invoice.updated_at = "paid", now, via, now
    return True
