"""What the agent console shows about a contact's account: the subscription, the payments being
recovered, and the offers shown with their outcome (a ``ContextProvider``, see agent_context)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.agent_context import ContextSection
from bot.customer_state import subscription_summary
from bot.customers import customer_zone, customers_of_contact
from bot.i18n import format_money
from bot.local_dates import local_day
from bot.store.models import Contact, Customer, DunningEpisode, Invoice, RetentionEvent

RECENT_INVOICES = 5
RECENT_OFFERS = 10


def _day(value: datetime | str | None, zone: ZoneInfo) -> str:
    """The customer's calendar day at ``value`` (the agent reads dates as the customer does)."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{local_day(moment, zone):%Y-%m-%d}"


def account_sections(session: Session, contact: Contact,
                     now: datetime) -> Sequence[ContextSection]:
    """Subscription, payments and offers of the contact's customer (none when unknown); of each
    customer, named in the titles, when the contact is the billing contact of several."""
    customers, billing_contact = customers_of_contact(session, contact)
    if len(customers) == 1:
        return _customer_sections(session, customers[0], billing_contact, now)
    return tuple(ContextSection(f"{section.title} — {customer.id}", section.rows)
                 for customer in customers
                 for section in _customer_sections(session, customer, billing_contact, now))


def _customer_sections(session: Session, customer: Customer, billing_contact: bool,
                       now: datetime) -> list[ContextSection]:
    zone = customer_zone(customer)
    summary = subscription_summary(customer, now)
    subscription = [("Customer", customer.id), ("Plan", summary["plan"] or "—"),
                    ("Status", summary["status"])]
    if billing_contact:
        subscription.append(("This number", "the customer's billing contact"))
    for label, key in (("Period ends", "current_period_end"), ("Trial ends", "trial_ends_at"),
                       ("Paused until", "paused_until"), ("Cancels on", "cancel_at")):
        if summary[key]:
            subscription.append((label, _day(summary[key], zone)))
    if summary["concession"]:
        subscription.append(("Concession", f"{summary['concession']} until "
                                           f"{_day(summary['concession_until'], zone)}"))

    episodes = {e.invoice_id: e for e in session.scalars(
        select(DunningEpisode).where(DunningEpisode.customer_id == customer.id))}
    invoices = session.scalars(
        select(Invoice).where(Invoice.customer_id == customer.id)
        .where(or_(Invoice.status == "open", Invoice.failed_at.is_not(None)))
        .order_by(Invoice.created_at.desc()).limit(RECENT_INVOICES)).all()
    payments = []
    for invoice in invoices:
        amount = format_money(invoice.amount, invoice.currency, "en")
        episode = episodes.get(invoice.id)
        if invoice.status == "paid":
            state = f"paid {_day(invoice.paid_at, zone)}" + (
                f" via {invoice.paid_via}" if invoice.paid_via else "")
        elif episode is not None and episode.status == "open":
            state = (f"failed {_day(invoice.failed_at, zone)}; reminders running, link valid until "
                     f"{_day(episode.link_expires_at, zone)}")
        else:
            state = f"failed {_day(invoice.failed_at, zone)}" + (
                f"; recovery {episode.status}" if episode is not None else "")
        payments.append((f"{invoice.id} ({amount})", state))

    offers = [(f"{_day(event.at, zone)} {event.kind.replace('_', ' ')}",
               " · ".join(part for part in (event.reason and f"reason: {event.reason}",
                                             event.offer and f"offer: {event.offer}") if part)
               or "—")
              for event in session.scalars(
                  select(RetentionEvent).where(RetentionEvent.customer_id == customer.id)
                  .order_by(RetentionEvent.at.desc(), RetentionEvent.id.desc())
                  .limit(RECENT_OFFERS))]
    sections = [ContextSection("Subscription", subscription)]
    if payments:
        sections.append(ContextSection("Payments", payments))
    if offers:
        sections.append(ContextSection("Cancel reasons and offers", offers))
    return sections
