"""Dunning: recover a failed payment with one no-login payment link.

The first notice goes out when the payment fails (the outbound gate holds it until the
recipient's daytime); reminders follow the operator's schedule; an optional late step offers a
one-cycle discount, only after two plain attempts and never on top of another concession. Every
message carries the same link, and on SMS the flow never plans more than two messages per
episode. A customer who writes gets the link again — or, saying they paid already, that it has
not reached us yet and a person can check. The payment stops it all and brings one
confirmation.

    start ──open──▶ awaiting_payment ──offer_discount [allowed]──▶ discount_offered
      │              │  ▲   remind [may send] / message (the link again)     │
      │              └──┘                      awaiting_payment ◀──claim_discount
      ├──courtesy──▶ informed        (the subscriber, when a billing contact gets the dunning)
      └──paid──▶ recovered           paid / lapse [this invoice]: from any waiting state
                                     (lapse: the link ran out, or the subscription ended)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from statemachine import State

from bot.billing.ledger import Action
from bot.config import ConfigSection, config_section
from bot.gate import SMS_BUDGETS
from bot.i18n import format_money
from bot.messages import N_, Channel
from bot.retention import Kind, Offer, Reason
from bot.turn import Turn
from flows.base import MAIN_MENU, Flow
from flows.phrases import ALREADY_PAID_PHRASES, matches
from flows.subscription import PERSON

MAX_SMS_PER_EPISODE = SMS_BUDGETS["dunning"]
"""The outbound gate's SMS budget of an episode: the flow plans within it on an SMS
conversation, the gate enforces it on every route (the WhatsApp fallback's SMS included)."""
CLAIM_DISCOUNT = N_("Claim discount")


@config_section
class DunningConfig(ConfigSection):
    """When failed-payment reminders go out and what they may offer."""

    section: ClassVar[str] = "dunning"
    title: ClassVar[str] = "Failed payments"
    reminder_days: tuple[int, ...] = (3, 7)
    """Days after the failure on which a reminder goes out (same time of day, their zone)."""
    link_valid_days: int = Field(default=14, ge=1, le=60)
    """How long the payment link works."""
    discount_enabled: bool = False
    """Offer a one-cycle discount in a late step (after two plain attempts)."""
    discount_day: int = Field(default=10, ge=1)
    discount_percent: int = Field(default=20, ge=1, le=100)
    preferred_channel: Literal["whatsapp", "sms"] = "whatsapp"
    """Where the dunning goes when the customer can be reached on both."""

    @model_validator(mode="after")
    def _fits_the_link(self) -> DunningConfig:
        days = list(self.reminder_days)
        if any(day < 1 for day in days) or days != sorted(set(days)):
            raise ValueError("reminder_days must be increasing whole days after the failure")
        last = max([*days, self.discount_day if self.discount_enabled else 0])
        if last >= self.link_valid_days:
            raise ValueError("every step must come before the payment link expires "
                             "(raise link_valid_days)")
        return self


def dunning_subject(invoice_id: str) -> str:
    """What every message and job of the invoice's episode is about (the prefix of their keys)."""
    return f"dunning:{invoice_id}"


@dataclass(frozen=True)
class Episode:
    """What the dunning flow is told about one failed invoice."""

    invoice_id: str
    customer_id: str
    """Whose invoice it is: a billing contact may pay for several customers."""
    amount: Decimal
    currency: str
    pay_url: str
    sms_planned: int
    """SMS already written for this episode, to anyone."""
    plain_attempts: int
    """Notices and reminders that were not dropped."""
    told: bool
    """Some message of this episode reached the customer."""

    @property
    def subject(self) -> str:
        return dunning_subject(self.invoice_id)


class DunningFlow(Flow):
    """Asks for a failed payment until it is paid or the link runs out."""

    flow_name = "dunning"
    yields_to_faq = True

    start = State(initial=True)
    awaiting_payment = State()
    discount_offered = State()
    informed = State(final=True)
    recovered = State(final=True)
    lapsed = State(final=True)

    open = awaiting_payment.from_(start, awaiting_payment, discount_offered,
                                  on="send_first_notice")
    courtesy = (
        informed.from_(start, cond="may_send", on="send_courtesy")
        | informed.from_(start)
        | awaiting_payment.from_(awaiting_payment, discount_offered, cond="may_send",
                                 on="send_courtesy")
        | awaiting_payment.from_(awaiting_payment, discount_offered)
    )
    remind = (
        awaiting_payment.from_(start, awaiting_payment, discount_offered, cond="may_send",
                               on="send_reminder")
        | awaiting_payment.from_(start, awaiting_payment, discount_offered)
    )
    offer_discount = (
        discount_offered.from_(start, awaiting_payment, cond=["may_send", "discount_allowed"],
                               on="send_discount_offer")
        | awaiting_payment.from_(start, awaiting_payment)
        | discount_offered.to.itself()
    )
    claim_discount = discount_offered.to(awaiting_payment, cond="has_no_concession",
                                         on="apply_discount")
    message = (awaiting_payment.to.itself(cond="says_paid", on="say_not_received")
               | discount_offered.to.itself(cond="says_paid", on="say_not_received")
               | awaiting_payment.to.itself(on="send_link_again")
               | discount_offered.to.itself(on="send_link_again"))
    # Another invoice's payment or lapse leaves the conversation on the one it is about.
    paid = (
        recovered.from_(start, awaiting_payment, discount_offered,
                        cond=["is_this_invoice", "was_told"], on="confirm_payment")
        | recovered.from_(start, awaiting_payment, discount_offered, cond="is_this_invoice")
        | awaiting_payment.from_(awaiting_payment, discount_offered, cond="was_told",
                                 on="confirm_payment")
        | awaiting_payment.from_(awaiting_payment, discount_offered)
    )
    lapse = (lapsed.from_(start, awaiting_payment, discount_offered, cond="is_this_invoice")
             | awaiting_payment.to.itself() | discount_offered.to.itself())

    # -- guards ---------------------------------------------------------------------------------

    def may_send(self, turn: Turn, episode: Episode) -> bool:
        """WhatsApp, or an SMS within the episode's budget (the flow's own plan: a WhatsApp
        message the gate re-sends by SMS is held to the budget by the gate)."""
        return turn.channel is not Channel.SMS or episode.sms_planned < MAX_SMS_PER_EPISODE

    def discount_allowed(self, turn: Turn, episode: Episode) -> bool:
        """Enabled, after two plain attempts, and not on top of another concession."""
        return (turn.config.get(DunningConfig).discount_enabled
                and episode.plain_attempts >= 2 and self.has_no_concession(turn, episode))

    def has_no_concession(self, turn: Turn, episode: Episode | None = None) -> bool:
        """The invoice's customer (the episode's, else the one the conversation is about) has
        no concession running."""
        account = turn.account_of(episode.customer_id if episode else self._customer_id())
        return account is not None and not account.has_concession

    @classmethod
    def answers_itself(cls, text: str) -> bool:
        """"I already paid" is the dunning's to answer, never the FAQ's ("ya pagué" is not
        "pause")."""
        return matches(ALREADY_PAID_PHRASES, text)

    def says_paid(self, turn: Turn, text: str | None = None) -> bool:
        """The customer says they paid already (a guard)."""
        return text is not None and self.answers_itself(text)

    def was_told(self, turn: Turn, episode: Episode) -> bool:
        return episode.told

    def is_this_invoice(self, turn: Turn, episode: Episode) -> bool:
        """The event is about the invoice the conversation is about (or about none yet)."""
        return self.model.data.get("invoice_id") in (None, episode.invoice_id)

    # -- what is said and done -----------------------------------------------------------------

    def send_first_notice(self, turn: Turn, episode: Episode) -> None:
        """The first notice (the later steps were scheduled when the episode opened)."""
        self._notice(turn, episode, "dunning.first_notice", "1")

    def send_courtesy(self, turn: Turn, episode: Episode) -> None:
        self._notice(turn, episode, "dunning.courtesy", "courtesy")

    def send_reminder(self, turn: Turn, episode: Episode, step: int) -> None:
        self._notice(turn, episode, "dunning.reminder", str(step))

    def send_discount_offer(self, turn: Turn, episode: Episode) -> None:
        percent = turn.config.get(DunningConfig).discount_percent
        self.model.data["percent"] = percent
        turn.record_retention(Kind.OFFER_SHOWN, reason=Reason.PAYMENT_FAILED, offer=Offer.DISCOUNT,
                              customer_id=episode.customer_id)
        self._notice(turn, episode, "dunning.discount_offer", "discount", percent=percent,
                     choices=[self.choice("claim_discount", CLAIM_DISCOUNT)])

    def apply_discount(self, turn: Turn) -> None:
        data = self.model.data
        customer_id = self._customer_id()
        turn.request_billing(Action.DISCOUNT, customer_id=customer_id, percent=data["percent"],
                             cycles=1, invoice_id=data["invoice_id"])
        turn.record_retention(Kind.OFFER_ACCEPTED, reason=Reason.PAYMENT_FAILED,
                              offer=Offer.DISCOUNT, customer_id=customer_id)
        turn.say("dunning.discount_claimed", percent=data["percent"], amount=data["amount"],
                 pay_url=data["pay_url"])

    def say_not_received(self, turn: Turn) -> None:
        """"I already paid": not yet here, it can take minutes, a person can check — and the
        link, in case it did not go through."""
        data = self.model.data
        turn.say("dunning.not_received", amount=data["amount"], pay_url=data["pay_url"],
                 choices=[PERSON, MAIN_MENU])

    def send_link_again(self, turn: Turn) -> None:
        data = self.model.data
        turn.say("dunning.link_again", amount=data["amount"], pay_url=data["pay_url"],
                 choices=[PERSON, MAIN_MENU])

    def confirm_payment(self, turn: Turn, episode: Episode) -> None:
        self._notice(turn, episode, "dunning.paid", "paid", remember=False)

    # -- helpers --------------------------------------------------------------------------------

    def _customer_id(self) -> str | None:
        """Whose invoice the conversation is about (None for one remembered before invoices
        carried it: the customer the contact's messages are about)."""
        return self.model.data.get("customer_id")

    def _notice(self, turn: Turn, episode: Episode, template: str, step: str, *,
                remember: bool = True, **variables: Any) -> None:
        """A proactive message of the episode, with its link; with ``remember`` the conversation
        is about this invoice from now on (replies give its link)."""
        amount = format_money(episode.amount, episode.currency, turn.locale)
        if remember:
            self.model.data.update(invoice_id=episode.invoice_id, customer_id=episode.customer_id,
                                   amount=amount, pay_url=episode.pay_url)
        say = turn.say(template, amount=amount, pay_url=episode.pay_url, **variables)
        say.business_key = f"{episode.subject}:{step}"
        say.subject = episode.subject

