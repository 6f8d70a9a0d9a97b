"""Customers from the events API: their subscription in the local ledger, their contacts on
each channel, and the consent they gave at checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.accounts import Status
from bot.consent import ConsentChange, record_consent
from bot.events import Consent, CustomerData, SubscriptionData
from bot.local_dates import zone_for
from bot.messages import Channel
from bot.store.contacts import load_contacts
from bot.store.database import lock_conversations
from bot.store.models import ConsentEvent, Contact, Customer

SUBSCRIPTION_FIELDS = ("plan", "status", "currency", "current_period_end", "trial_ends_at",
                       "engaged")


def contact_keys(customer: Customer) -> set[tuple[str, str]]:
    """(channel, address) of everyone the customer's messages may go to."""
    pairs = ((Channel.SMS, customer.phone), (Channel.WHATSAPP, customer.whatsapp),
             (Channel.SMS, customer.billing_phone), (Channel.WHATSAPP, customer.billing_whatsapp))
    return {(str(channel), address) for channel, address in pairs if address}


def customers_of_contact(session: Session, contact: Contact) -> tuple[list[Customer], bool]:
    """The customers behind a contact — the one whose own contact it is, or else every customer
    who declared it as their billing contact (by id) — and whether it is a billing contact."""
    if contact.customer_id is not None:
        own = session.get(Customer, contact.customer_id)
        return ([own] if own is not None else []), False
    column = Customer.billing_whatsapp if contact.channel == "whatsapp" else Customer.billing_phone
    return list(session.scalars(select(Customer).where(column == contact.address)
                                .order_by(Customer.id))), True


def customer_of_contact(session: Session, contact: Contact) -> tuple[Customer | None, bool]:
    """The one customer a contact's messages are about (see ``customers_of_contact``) and whether
    it is the billing contact. None when it is no one's, and when it pays for several customers:
    which subscription such a message means cannot be told, and guessing could pause, cancel or
    discount the wrong one."""
    customers, billing_contact = customers_of_contact(session, contact)
    return (customers[0] if len(customers) == 1 else None), billing_contact


def customer_zone(customer: Customer) -> ZoneInfo:
    """The zone the customer lives in: the one the business told us, else their number's."""
    return zone_for(customer.timezone, customer.phone or customer.whatsapp)


def lock_customer(session: Session, customer: Customer) -> None:
    """Take the locks of all the customer's conversations at once, in the global order."""
    lock_conversations(session, [f"{channel}:{address}" for channel, address in
                                 contact_keys(customer)])


def upsert_customer(session: Session, data: CustomerData, now: datetime) -> Customer:
    """Create or update the customer from ``customer.upserted`` and link their contacts:
    ``phone`` is the SMS contact, ``whatsapp`` the WhatsApp one. Fields the event leaves out
    are left as they are; a contact given as null is unlinked."""
    customer = session.get(Customer, data.id)
    billing = data.billing_contact
    # Every conversation this event may touch is locked before any row changes, in the global
    # order, like an inbound batch does: the two can never wait on each other.
    named = {(str(Channel.SMS), data.phone), (str(Channel.WHATSAPP), data.whatsapp),
             (str(Channel.SMS), billing.phone if billing else None),
             (str(Channel.WHATSAPP), billing.whatsapp if billing else None)}
    keys = {key for key in named if key[1]} | (contact_keys(customer) if customer else set())
    lock_conversations(session, [f"{channel}:{address}" for channel, address in keys])
    if customer is None:
        customer = Customer(id=data.id, status=Status.ACTIVE, created_at=now, updated_at=now)
        session.add(customer)
    given = data.model_fields_set
    for name in ("phone", "whatsapp", "locale", "timezone"):
        if name in given:
            setattr(customer, name, getattr(data, name))
    if "billing_contact" in given:
        customer.billing_phone = billing.phone if billing else None
        customer.billing_whatsapp = billing.whatsapp if billing else None
    _update_subscription(customer, {name: getattr(data, name) for name in SUBSCRIPTION_FIELDS
                                    if name in given}, data.model_extra or {}, now)
    _link_contacts(session, customer, now)
    if data.consent is not None:
        _record_checkout_consent(session, customer, data.consent, now)
    return customer


def update_subscription(session: Session, customer: Customer, data: SubscriptionData,
                        now: datetime) -> None:
    """Apply ``subscription.updated``: what the billing system says the subscription is now."""
    given = data.model_fields_set
    fields = {name: getattr(data, name) for name in (*SUBSCRIPTION_FIELDS, "paused_until",
                                                     "cancel_at") if name in given}
    _update_subscription(customer, fields, {"subscription": data.model_extra or {}}
                         if data.model_extra else {}, now)


def _update_subscription(customer: Customer, fields: dict[str, Any], extra: dict[str, Any],
                         now: datetime) -> None:
    status = fields.get("status")
    if status == Status.TRIALING and customer.status != Status.TRIALING:
        customer.trial_extended = False  # a new trial may be extended once too
    if status in (Status.ACTIVE, Status.TRIALING) and "cancel_at" not in fields:
        customer.cancel_at = None  # resubscribed on the business's side
    for name, value in fields.items():
        setattr(customer, name, bool(value) if name == "engaged" else value)
    if extra:
        customer.extra = {**customer.extra, **extra}
    customer.updated_at = now


def _link_contacts(session: Session, customer: Customer, now: datetime) -> None:
    """The customer's own contacts carry their id, locale and zone; old ones are let go."""
    own = {(str(Channel.SMS), customer.phone), (str(Channel.WHATSAPP), customer.whatsapp)}
    own = {(channel, address) for channel, address in own if address}
    loaded = load_contacts(session, own, now)
    for contact, _ in loaded.values():
        contact.customer_id = customer.id
        contact.locale = customer.locale or contact.locale
        contact.timezone = customer.timezone or contact.timezone
    for contact in session.scalars(select(Contact).where(Contact.customer_id == customer.id)):
        if (contact.channel, contact.address) not in own:
            contact.customer_id = None


def _record_checkout_consent(session: Session, customer: Customer, consent: Consent,
                             now: datetime) -> None:
    """Consent given (or refused) at checkout goes in the ledger when it changes something.
    A later opt-out by the customer (STOP) stands unless the checkout answer is newer."""
    for channel, address, given in ((Channel.SMS, customer.phone, consent.sms),
                                    (Channel.WHATSAPP, customer.whatsapp, consent.whatsapp)):
        if given is None or address is None:
            continue
        contact = session.scalars(select(Contact).where(
            Contact.channel == str(channel), Contact.address == address)).one()
        action = "opt_in" if given else "opt_out"
        latest = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)
                                 .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())).first()
        if latest is not None and (latest.action == action or consent.at is None
                                   or consent.at <= latest.at):
            continue
        text = f"{consent.source} consent for {channel}"
        record_consent(session, contact, ConsentChange(action, consent.source, text), consent.at or now)
