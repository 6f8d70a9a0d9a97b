"""Cancel: reason first, one tap from a fixed list; every reason has a route; at most one offer;
declining it cancels at once, with the date it takes effect and what happens to access and
billing. Reasons, offers and answers are recorded whether or not the customer stays.

    start ──begin──▶ asking_reason ──reason──┬─[engaged trialist: price, not using]─▶ offering_trial
      │                                      ├─[price, rescue plan not used this year]▶ offering_rescue
      │                                      ├─[not using it, may pause]──────────────▶ offering_pause
      │                                      ├─[missing feature]──────────────────────▶ offering_help
      │                                      └─[switching tools, other]──▶ closed (canceled)
      │   offering_* ──accept──▶ closed (saved)     offering_* ──decline──▶ closed (canceled)
      │   (the pause offer is accepted in the pause flow; "talk to a person" goes to handoff)
      │   asking_reason, offering_* ──message [a greeting, "menu"]──▶ closed (the main menu)
      ├──ended (job, on the day it takes effect)──▶ former ──message──▶ closed (welcomed back)
      └──resubscribe──▶ closed
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field
from statemachine import State

from bot.billing.ledger import Action
from bot.config import ConfigSection, config_section
from bot.messages import N_
from bot.retention import Kind, Offer, Reason
from bot.turn import Turn
from flows.base import MAIN_MENU, Flow
from flows.pause import PauseConfig, PauseFlow, may_pause
from flows.phrases import CANCEL_PHRASES, NOT_CANCEL_PHRASES, matches, reason_named
from flows.subscription import (
    PERSON,
    Prices,
    answer_question,
    answered_in_place,
    canceled,
    month_choices,
    moved_on,
    no_subscription,
    plan_offer,
    price_for,
    say_canceled,
    say_no_subscription,
    their_day,
)

REASONS = {
    Reason.PRICE: N_("Too expensive"),
    Reason.NOT_USING: N_("Not using it"),
    Reason.MISSING_FEATURE: N_("Missing a feature"),
    Reason.SWITCHING: N_("Switching tools"),
    Reason.OTHER: N_("Other reason"),
}
NO_CANCEL = N_("No, cancel")
CANCEL_ANYWAY = N_("Cancel anyway")
SWITCH_PLAN = N_("Switch plan")
EXTEND_TRIAL = N_("Extend my trial")
RESUBSCRIBE = N_("Resubscribe")
RETURN_AFTER = timedelta(days=1)
OFFER_MADE_IN = {"offering_trial": Offer.TRIAL_EXTENSION, "offering_rescue": Offer.RESCUE_PLAN,
                 "offering_pause": Offer.PAUSE, "offering_help": Offer.HELP}


@config_section
class CancelConfig(ConfigSection):
    """What a customer who wants to cancel may be offered."""

    section: ClassVar[str] = "cancel"
    title: ClassVar[str] = "Cancelling a subscription"
    rescue_plan: str = ""
    """The cheaper plan, not listed anywhere, offered to those who find the price too high
    (empty: no rescue offer)."""
    rescue_plan_name: str = ""
    rescue_prices: Prices = Field(default_factory=dict)
    """Monthly price of the rescue plan per currency, e.g. {"USD": "9.00"}."""
    rescue_every_days: int = Field(default=365, ge=1)
    """A customer is offered the rescue plan at most once in this many days."""
    trial_extension_days: int = Field(default=14, ge=0, le=90)
    """Extra trial days offered to an engaged trialist who cancels (0: never)."""


class CancelFlow(Flow):
    """Cancels a subscription after at most one honest offer."""

    flow_name = "cancel"

    start = State(initial=True)
    asking_reason = State()
    offering_trial = State()
    offering_rescue = State()
    offering_pause = State()
    offering_help = State()
    former = State()
    closed = State(final=True)

    begin = (
        closed.from_(start, asking_reason, offering_trial, offering_rescue, offering_pause,
                     offering_help, former, cond=no_subscription, on=say_no_subscription)
        | closed.from_(start, asking_reason, offering_trial, offering_rescue, offering_pause,
                       offering_help, former, cond=canceled, on=say_canceled)
        | asking_reason.from_(start, asking_reason, offering_trial, offering_rescue,
                              offering_pause, offering_help, former)
    )
    reason = (
        offering_trial.from_(start, asking_reason, cond=["is_reason", "trial_extension_fits"])
        | offering_rescue.from_(start, asking_reason, cond=["is_reason", "rescue_fits"])
        | offering_pause.from_(start, asking_reason, cond=["is_reason", "pause_fits"])
        | offering_help.from_(start, asking_reason, cond=["is_reason", "wants_a_feature"])
        | closed.from_(start, asking_reason, cond="is_reason", on="cancel_now")
    )
    accept = (offering_trial.to(closed, on="extend_trial")
              | offering_rescue.to(closed, on="switch_to_rescue"))
    decline = closed.from_(offering_trial, offering_rescue, offering_pause, offering_help,
                           on="cancel_now")
    ended = start.to(former, cond=canceled) | start.to(closed)
    message = (former.to(closed, on="welcome_back")
               | moved_on(closed, asking_reason, offering_trial, offering_rescue,
                          offering_pause, offering_help)
               | answered_in_place(asking_reason, offering_trial, offering_rescue,
                                   offering_pause, offering_help))
    resubscribe = (closed.from_(start, former, cond=canceled, on="resubscribe_now")
                   | closed.from_(start, former, on="say_already_active"))

    @classmethod
    def detect(cls, text: str, locale: str) -> tuple[str, dict[str, Any]] | None:
        """"Cancel my subscription", "I want to unsubscribe from the plan"… in any shipped
        language — never the bare keyword CANCEL, which is an opt-out."""
        wanted = matches(CANCEL_PHRASES, text) and not matches(NOT_CANCEL_PHRASES, text)
        return ("begin", {}) if wanted else None

    @classmethod
    def interpret(cls, text: str, turn: Turn) -> tuple[str, dict[str, Any]]:
        """While the reason is asked, a reason in the customer's own words answers it."""
        if turn.conversation.state == cls.asking_reason.id:
            reason = reason_named(text)
            if reason is not None:
                return "reason", {"arg": reason}
        return super().interpret(text, turn)

    # -- guards ---------------------------------------------------------------------------------

    def is_reason(self, turn: Turn, arg: str | None = None) -> bool:
        """One of the listed reasons, from a customer who still has a subscription."""
        return arg in REASONS and turn.account is not None and not canceled(turn)

    def trial_extension_fits(self, turn: Turn, arg: str) -> bool:
        """An engaged trialist, put off by the price or not using it yet, whose trial was not
        extended already."""
        account = turn.account
        return (arg in (Reason.PRICE, Reason.NOT_USING) and account.is_trialing
                and account.engaged and not account.trial_extended
                and account.trial_ends_at is not None
                and turn.config.get(CancelConfig).trial_extension_days > 0)

    def rescue_fits(self, turn: Turn, arg: str) -> bool:
        """Too expensive, a rescue plan is set, and it was not offered in the last year."""
        config, account = turn.config.get(CancelConfig), turn.account
        last = account.offers_shown.get(Offer.RESCUE_PLAN)
        return (arg == Reason.PRICE and bool(config.rescue_plan)
                and account.plan != config.rescue_plan and not account.has_concession
                and price_for(config.rescue_prices, turn) is not None
                and (last is None or turn.now - last >= timedelta(days=config.rescue_every_days)))

    def pause_fits(self, turn: Turn, arg: str) -> bool:
        return arg == Reason.NOT_USING and may_pause(turn)

    def wants_a_feature(self, turn: Turn, arg: str) -> bool:
        return arg == Reason.MISSING_FEATURE

    # -- what is said and done -----------------------------------------------------------------

    def on_enter_asking_reason(self, turn: Turn) -> None:
        self.model.data.pop("reason", None)
        turn.record_retention(Kind.CANCEL_STARTED)
        turn.say("cancel.ask_reason",
                 choices=[self.choice("reason", title, key) for key, title in REASONS.items()])

    def before_reason(self, turn: Turn, arg: str) -> None:
        self.model.data["reason"] = arg
        turn.record_retention(Kind.REASON, reason=arg)

    def on_enter_offering_trial(self, turn: Turn) -> None:
        self._shown(turn, Offer.TRIAL_EXTENSION)
        until = self._extended_trial_end(turn)
        self.model.data["trial_until"] = until.isoformat()  # what taking it gives, settings aside
        turn.say("cancel.offer_trial", days=turn.config.get(CancelConfig).trial_extension_days,
                 ends_on=their_day(turn, until),
                 choices=[self.choice("accept", EXTEND_TRIAL), self.choice("decline", NO_CANCEL)])

    def on_enter_offering_rescue(self, turn: Turn) -> None:
        self._shown(turn, Offer.RESCUE_PLAN)
        offer = self.model.data["rescue"] = self._rescue_offer(turn)
        turn.say("cancel.offer_rescue", plan_name=offer["name"], price=offer["price"],
                 choices=[self.choice("accept", SWITCH_PLAN), self.choice("decline", NO_CANCEL)])

    def on_enter_offering_pause(self, turn: Turn) -> None:
        self._shown(turn, Offer.PAUSE)
        lengths = turn.config.get(PauseConfig).lengths_months
        turn.say("cancel.offer_pause", longest=max(lengths),
                 choices=[*month_choices(PauseFlow, "save", lengths),
                          self.choice("decline", NO_CANCEL)])

    def on_enter_offering_help(self, turn: Turn) -> None:
        self._shown(turn, Offer.HELP)
        turn.say("cancel.offer_help", choices=[PERSON, self.choice("decline", CANCEL_ANYWAY)])

    def extend_trial(self, turn: Turn) -> None:
        offered = self.model.data.get("trial_until")
        until = datetime.fromisoformat(offered) if offered else self._extended_trial_end(turn)
        turn.request_billing(Action.EXTEND_TRIAL, until=until.isoformat())
        self._accepted(turn, Offer.TRIAL_EXTENSION)
        turn.say("cancel.trial_extended", ends_on=their_day(turn, until), choices=[MAIN_MENU])

    def switch_to_rescue(self, turn: Turn) -> None:
        # (An offer made before offers were kept in the conversation: the settings' current one.)
        offer = self.model.data.get("rescue") or self._rescue_offer(turn)
        turn.request_billing(Action.CHANGE_PLAN, plan=offer["plan"], why="rescue")
        self._accepted(turn, Offer.RESCUE_PLAN)
        turn.say("cancel.rescued", plan_name=offer["name"], price=offer["price"],
                 choices=[MAIN_MENU])

    def cancel_now(self, turn: Turn, source: State) -> None:
        """Cancel: at the end of the period paid for (or of the trial), else at once."""
        reason = self.model.data.get("reason")
        if source.id in OFFER_MADE_IN:
            turn.record_retention(Kind.OFFER_DECLINED, reason=reason, offer=OFFER_MADE_IN[source.id])
        account = turn.account
        effective = account.access_ends_at()
        turn.request_billing(Action.CANCEL, effective_at=effective.isoformat(), reason=reason)
        turn.record_retention(Kind.CANCELED, reason=reason)
        # Someone writing a minute after cancelling is not back yet: a return starts once the
        # cancellation took effect, and a day after it was asked for at the earliest.
        turn.schedule("cancel.ended", f"cancel:ended:{account.customer_id}:{effective.isoformat()}",
                      max(effective, turn.now + RETURN_AFTER), customer_id=account.customer_id,
                      contact_id=turn.contact.id, cancel_at=effective.isoformat())
        turn.say("cancel.done", ends_on=their_day(turn, effective),
                 at_once=effective <= turn.now, choices=[MAIN_MENU])

    def welcome_back(self, turn: Turn, text: str | None = None) -> None:
        """A former subscriber wrote in: answer them if it was a question, and welcome them back
        with a one-tap resubscribe — once per return, whichever channel they come back on."""
        answered = answer_question(turn, text)
        if canceled(turn) and not self._welcomed_back_already(turn):
            turn.record_retention(Kind.OFFER_SHOWN, offer=Offer.WIN_BACK)
            turn.say("cancel.welcome_back", choices=[self.choice("resubscribe", RESUBSCRIBE),
                                                     MAIN_MENU])
        elif not answered:
            turn.say("faq.greeting", choices=[MAIN_MENU])

    def resubscribe_now(self, turn: Turn) -> None:
        turn.request_billing(Action.RESUBSCRIBE, plan=turn.account.plan)
        turn.record_retention(Kind.OFFER_ACCEPTED, offer=Offer.WIN_BACK)
        turn.record_retention(Kind.RESUBSCRIBED)
        turn.say("cancel.resubscribed", choices=[MAIN_MENU])

    def say_already_active(self, turn: Turn) -> None:
        if turn.account is None:
            say_no_subscription(turn)
        else:
            turn.say("cancel.already_active", choices=[MAIN_MENU])

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _rescue_offer(turn: Turn) -> dict[str, str | None]:
        config = turn.config.get(CancelConfig)
        return plan_offer(turn, config.rescue_plan, config.rescue_plan_name, config.rescue_prices)

    def _shown(self, turn: Turn, offer: str) -> None:
        turn.record_retention(Kind.OFFER_SHOWN, reason=self.model.data.get("reason"), offer=offer)

    def _accepted(self, turn: Turn, offer: str) -> None:
        turn.record_retention(Kind.OFFER_ACCEPTED, reason=self.model.data.get("reason"), offer=offer)

    def _welcomed_back_already(self, turn: Turn) -> bool:
        """Welcomed since this cancellation (on another channel, say): once per return."""
        last = turn.account.offers_shown.get(Offer.WIN_BACK)
        cancel_at = turn.account.cancel_at
        return last is not None and (cancel_at is None or last >= cancel_at)

    def _extended_trial_end(self, turn: Turn) -> datetime:
        days = turn.config.get(CancelConfig).trial_extension_days
        return turn.account.trial_ends_at + timedelta(days=days)
