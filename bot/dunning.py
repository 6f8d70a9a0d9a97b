"""Dunning episodes: opened by ``payment.failed`` (one per invoice), advanced by scheduler jobs,
closed by the payment — from the event or the payment page — by the link running out, or by
the subscription ending (the bot recovers subscriptions; a former subscriber's debt is the
business's own to collect, and "your subscription carries on" or "off your next bill" would
no longer be true).

Who hears about it: a declared billing contact gets the dunning and the subscriber one
courtesy notice; otherwise the subscriber gets it, on their preferred reachable channel. The
dunning flow decides what each step says; this module decides to whom, and stops it all the
moment the invoice is paid.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from bot.billing.accounts import Status, effective_status
from bot.billing.actions import BillingRequest, record_requests
from bot.billing.invoices import mark_paid, payment_request_key
from bot.billing.ledger import Action
from bot.config import ConfigCache
from bot.customers import customer_zone, lock_customer
from bot.links import issue_link_token, read_link_token
from bot.local_dates import days_later
from bot.messages import Channel
from bot.outbox import drop_queued
from bot.proactive import ProactiveEvents
from bot.scheduler import RunLater, ScheduledJob, schedule_jobs
from bot.store.contacts import load_contacts
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Contact, Customer, DunningEpisode, Invoice, Job, OutboxMessage
from flows.dunning import DunningConfig, Episode, dunning_subject

log = logging.getLogger(__name__)

PAY_PURPOSE = "pay"
PLAIN_STEPS = ("dunning.first_notice", "dunning.reminder")
DEFERRED_NOTICE_JOB = "dunning.notice"
REMIND_JOB = "dunning.remind"
DISCOUNT_JOB = "dunning.discount"
LAPSE_JOB = "dunning.lapse"
NOT_DELIVERED = ("dropped", "failed", "undelivered")
REACHED = ("sent", "delivered", "read")


def pay_token(secret_key: str, invoice_id: str, expires_at: datetime) -> str:
    """The payment link's token: bound to one invoice, for payment only, until ``expires_at``."""
    return issue_link_token(secret_key, PAY_PURPOSE, invoice_id, expires_at)


def invoice_of_token(secret_key: str, token: str, now: datetime) -> str:
    """The invoice a payment token opens; LinkInvalid or LinkExpired otherwise."""
    return read_link_token(secret_key, PAY_PURPOSE, token, now)


class DunningService:
    """Opens, advances and closes dunning episodes."""

    def __init__(self, proactive: ProactiveEvents, config: ConfigCache, secret_key: str,
                 public_base_url: str) -> None:
        self.proactive = proactive
        self.config = config
        self._secret_key = secret_key
        self.public_base_url = public_base_url.rstrip("/")

    def pay_url(self, episode: DunningEpisode) -> str:
        """The episode's payment link — the same in every message of the episode."""
        token = pay_token(self._secret_key, episode.invoice_id, episode.link_expires_at)
        return f"{self.public_base_url}/pay/{token}"

    # -- the episode's life ------------------------------------------------------------------------

    def open(self, session: Session, customer: Customer, invoice: Invoice, now: datetime) -> bool:
        """Open the invoice's episode, plan its steps and send its first notice; False if it
        was open already, the invoice is paid or the subscription has ended."""
        if invoice.status == "paid":
            return False
        if effective_status(customer, now) == Status.CANCELED:
            log.info("no dunning: the subscription has ended",
                     extra={"customer_id": customer.id, "invoice_id": invoice.id})
            return False
        config = self.config.current(session).get(DunningConfig)
        episode = DunningEpisode(invoice_id=invoice.id, customer_id=customer.id, status="open",
                                 opened_at=now,
                                 link_expires_at=now + timedelta(days=config.link_valid_days))
        inserted = session.execute(
            insert_ignoring_duplicates(session, DunningEpisode, ["invoice_id"]).returning(
                DunningEpisode.__table__.c.id),  # type: ignore[attr-defined]
            [episode.model_dump(exclude={"id"})]).first()
        if inserted is None:
            return False
        episode = session.get(DunningEpisode, inserted[0])
        self._plan(session, episode, config, customer, now)
        primary, courtesy = self.recipients(session, customer, config, now)
        if primary is None:
            log.warning("no reachable contact for a failed payment",
                        extra={"customer_id": customer.id, "invoice_id": invoice.id})
            return True
        self._notify(session, primary, "open", episode, now)
        if courtesy is not None:
            self._notify(session, courtesy, "courtesy", episode, now)
        return True

    def settle(self, session: Session, invoice: Invoice, via: str, now: datetime) -> bool:
        """The invoice is paid: stop its dunning at once (cancel its jobs, drop what is still
        queued) and confirm once. False when it was paid already."""
        if not mark_paid(invoice, via, now):
            return False
        episode = self._open_episode(session, invoice.id)
        if episode is None:
            return True
        dropped = self._close(session, episode, "recovered", "the invoice was paid", now)
        primary, _ = self._recipients_of(session, episode, now)
        if primary is not None:
            self._run(session, primary, "paid", episode, now)
        log.info("dunning stopped: invoice paid",
                 extra={"invoice_id": invoice.id, "via": via, "dropped": dropped})
        return True

    def end_with_subscription(self, session: Session, customer: Customer, now: datetime) -> bool:
        """When the customer's subscription has ended (canceled, or a cancellation that took
        effect), close their open episodes unrecovered at once: remaining steps canceled,
        anything still queued dropped, the conversation no longer about the invoice. True when
        the subscription has ended."""
        if effective_status(customer, now) != Status.CANCELED:
            return False
        for episode in session.scalars(select(DunningEpisode).where(
                DunningEpisode.customer_id == customer.id, DunningEpisode.status == "open")):
            dropped = self._close(session, episode, "ended", "the subscription ended", now)
            primary, _ = self._recipients_of(session, episode, now)
            if primary is not None:
                self._run(session, primary, "lapse", episode, now, only_within_flow=True)
            log.info("dunning stopped: subscription ended",
                     extra={"invoice_id": episode.invoice_id, "dropped": dropped})
        return True

    def pay_on_page(self, session: Session, invoice_id: str, *, settles: bool,
                    now: datetime) -> bool:
        """The payment page's own form was used: record the request (once per invoice), and
        when the port ``settles`` on the page (the local ledger) the invoice is paid now. Does
        nothing for a paid invoice or one with the provider's page; False when unknown."""
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            return False
        if invoice.status == "paid" or invoice.hosted_url:
            return True
        lock_customer(session, session.get(Customer, invoice.customer_id))
        record_requests(session, [BillingRequest(
            invoice.customer_id, Action.PAY_INVOICE,
            {"invoice_id": invoice.id, "amount": invoice.amount, "currency": invoice.currency},
            payment_request_key(invoice.id), now)])
        if settles:
            self.settle(session, invoice, "page", now)
        return True

    # -- scheduler jobs --------------------------------------------------------------------------

    def deferred_notice(self, session: Session, job: Job, now: datetime) -> None:
        """A first or courtesy notice that waited for the customer to finish another flow, or
        for an agent to hand the conversation back."""
        episode = self._live_episode(session, job.payload["invoice_id"], now)
        if episode is None:
            return
        primary, courtesy = self._recipients_of(session, episode, now)
        contact = primary if job.payload["event"] == "open" else courtesy
        if contact is not None:
            self._run(session, contact, job.payload["event"], episode, now, wait_while_busy=True)

    def remind(self, session: Session, job: Job, now: datetime) -> None:
        """A later step of the schedule."""
        self._step(session, job, "remind", now, step=job.payload["step"])

    def offer_discount(self, session: Session, job: Job, now: datetime) -> None:
        """The optional late step with a one-cycle discount."""
        self._step(session, job, "offer_discount", now)

    def lapse(self, session: Session, job: Job, now: datetime) -> None:
        """The payment link ran out with the invoice unpaid: the episode ends unrecovered."""
        episode = self._live_episode(session, job.payload["invoice_id"], now)
        if episode is None:
            return
        episode.status, episode.closed_at = "lapsed", now
        primary, _ = self._recipients_of(session, episode, now)
        if primary is not None:
            self._run(session, primary, "lapse", episode, now, only_within_flow=True)

    def _step(self, session: Session, job: Job, event: str, now: datetime, **kwargs: object) -> None:
        episode = self._live_episode(session, job.payload["invoice_id"], now)
        if episode is None:
            return
        primary, _ = self._recipients_of(session, episode, now)
        if primary is not None:
            self._run(session, primary, event, episode, now, wait_while_busy=True, **kwargs)

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _plan(session: Session, episode: DunningEpisode, config: DunningConfig,
              customer: Customer, now: datetime) -> None:
        """Schedule the episode's later steps — the reminders and the discount at the same
        time of day in the customer's zone, and the link's lapse — as it opens, whether or not
        the first notice can go out now: a notice that waits (an agent has the conversation)
        must not take the rest of the dunning with it."""
        invoice_id, zone = episode.invoice_id, customer_zone(customer)
        subject = dunning_subject(invoice_id)
        steps = [ScheduledJob(REMIND_JOB, f"{subject}:remind:{step}", days_later(now, day, zone),
                              {"invoice_id": invoice_id, "step": step})
                 for step, day in enumerate(config.reminder_days, start=2)]
        if config.discount_enabled:
            steps.append(ScheduledJob(DISCOUNT_JOB, f"{subject}:discount",
                                      days_later(now, config.discount_day, zone),
                                      {"invoice_id": invoice_id}))
        steps.append(ScheduledJob(LAPSE_JOB, f"{subject}:lapse", episode.link_expires_at,
                                  {"invoice_id": invoice_id}))
        schedule_jobs(session, steps, now)

    @staticmethod
    def _open_episode(session: Session, invoice_id: str) -> DunningEpisode | None:
        return session.scalars(select(DunningEpisode).where(
            DunningEpisode.invoice_id == invoice_id, DunningEpisode.status == "open")).first()

    def _live_episode(self, session: Session, invoice_id: str,
                      now: datetime) -> DunningEpisode | None:
        """The invoice's open episode, unless its subscription has ended meanwhile (a
        cancellation at the period's end takes effect with no event: it is noticed here)."""
        episode = self._open_episode(session, invoice_id)
        if episode is None or self.end_with_subscription(
                session, session.get(Customer, episode.customer_id), now):
            return None
        return episode

    @staticmethod
    def _close(session: Session, episode: DunningEpisode, status: str, reason: str,
               now: datetime) -> int:
        """Close the episode: cancel its remaining steps and drop its queued messages (how many
        were dropped is returned)."""
        episode.status, episode.closed_at = status, now
        subject = dunning_subject(episode.invoice_id)
        session.execute(update(Job).where(
            Job.status == "pending", Job.key.startswith(f"{subject}:", autoescape=True)
        ).values(status="canceled", lease_until=None))
        return drop_queued(session, subject, reason, now)

    def _recipients_of(self, session: Session, episode: DunningEpisode,
                       now: datetime) -> tuple[Contact | None, Contact | None]:
        """``recipients`` of the episode's customer under the current settings."""
        customer = session.get(Customer, episode.customer_id)
        config = self.config.current(session).get(DunningConfig)
        return self.recipients(session, customer, config, now)

    def recipients(self, session: Session, customer: Customer, config: DunningConfig,
                   now: datetime) -> tuple[Contact | None, Contact | None]:
        """Who gets the dunning, and who (if anyone) gets the courtesy notice."""
        lock_customer(session, customer)
        subscriber = self._reachable(session, customer, customer.phone, customer.whatsapp,
                                     config, now)
        billing = self._reachable(session, customer, customer.billing_phone,
                                  customer.billing_whatsapp, config, now)
        if billing is not None:
            return billing, subscriber
        return subscriber, None

    @staticmethod
    def _reachable(session: Session, customer: Customer, phone: str | None, whatsapp: str | None,
                   config: DunningConfig, now: datetime) -> Contact | None:
        """One person's contact on the preferred channel, else the other; never an opted-out one."""
        keys = [(str(Channel.SMS), phone), (str(Channel.WHATSAPP), whatsapp)]
        if config.preferred_channel == Channel.WHATSAPP:
            keys.reverse()
        keys = [(channel, address) for channel, address in keys if address]
        if not keys:
            return None
        loaded = load_contacts(session, set(keys), now)
        for key in keys:
            contact = loaded[key][0]
            if contact.locale is None:
                contact.locale = customer.locale
            if contact.timezone is None:
                contact.timezone = customer.timezone
            if not contact.opted_out:
                return contact
        return None

    def _notify(self, session: Session, contact: Contact, event: str, episode: DunningEpisode,
                now: datetime) -> None:
        """Send a notice now or, when the customer is half-way through another flow (a cancel,
        a pause) or an agent has the conversation, from a job once they have finished: the
        notice must not lose their place nor cut in on the agent, nor be lost."""
        try:
            self._run(session, contact, event, episode, now, wait_while_busy=True)
        except RunLater as later:
            schedule_jobs(session, [ScheduledJob(
                DEFERRED_NOTICE_JOB, f"{dunning_subject(episode.invoice_id)}:{event}", later.at,
                {"invoice_id": episode.invoice_id, "event": event})], now)

    def _run(self, session: Session, contact: Contact, event: str, episode: DunningEpisode,
             now: datetime, **kwargs: object) -> None:
        self.proactive.run(session, contact, "dunning", event, now,
                           episode=self.view(session, episode), **kwargs)

    def view(self, session: Session, episode: DunningEpisode) -> Episode:
        """What the flow is told about the episode, from what its messages did so far."""
        invoice = session.get(Invoice, episode.invoice_id)
        about = OutboxMessage.subject == dunning_subject(episode.invoice_id)
        sms = session.scalar(select(func.count()).where(about, OutboxMessage.channel == "sms"))
        plain = session.scalar(select(func.count()).where(
            about, OutboxMessage.template.in_(PLAIN_STEPS),
            OutboxMessage.status.not_in(NOT_DELIVERED)))
        told = session.scalar(select(exists().where(about, OutboxMessage.status.in_(REACHED))))
        return Episode(invoice_id=invoice.id, customer_id=episode.customer_id,
                       amount=Decimal(invoice.amount), currency=invoice.currency,
                       pay_url=self.pay_url(episode), sms_planned=sms or 0,
                       plain_attempts=plain or 0, told=bool(told))
