"""Pause: one-tap lengths with the resume date and billing stated up front, a confirmation at
the start, a message on resume day, a one-tap "resume now" for a paused customer who writes in,
and a cap on pauses in a row — a serial pauser is offered a smaller plan instead.

    start ──offer──▶ choosing_length ──choose(months)──▶ paused ──message──▶ done
      │  ├─[no subscription, canceled, or paused already]────────────────▶ done
      │  ├─[serial pauser, a smaller plan to offer]──▶ offering_right_size ──right_size──▶ done
      │  │                                                                 └─no_thanks──▶ done
      │  └─[serial pauser]──────────────────────────────────────────────▶ done
      └──choose / save(months): a tap on an earlier offer, or on the cancel flow's ──▶ paused
    paused ──offer──▶ as from start (the pause may have ended meanwhile)
    paused ──message──▶ done: "resume now" while still paused, else answered as usual
    choosing_length, offering_right_size ──message [a greeting, "menu"]──▶ done (the main menu)
    resume_now, keep_paused, resume_day (the job): from start or any waiting state ──▶ done
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator
from statemachine import State

from bot.billing.ledger import Action
from bot.config import ConfigSection, config_section
from bot.i18n import format_day
from bot.local_dates import add_months, at_local
from bot.messages import N_
from bot.retention import Kind, Offer, Reason
from bot.turn import Turn
from flows.base import MAIN_MENU, Flow
from flows.phrases import NOT_PAUSE_PHRASES, PAUSE_PHRASES, RESUME_PHRASES, matches
from flows.subscription import (
    MONTHS,
    PERSON,
    Prices,
    answer_question,
    answered_in_place,
    canceled,
    carry_on_as_usual,
    leave_as_is,
    month_choices,
    moved_on,
    no_subscription,
    only_courtesy,
    plan_offer,
    price_for,
    say_canceled,
    say_no_subscription,
    their_day,
    today,
    welcome_courtesy,
    zone_of,
)

RESUME_NOW = N_("Resume now")
KEEP_PAUSED = N_("Keep paused")
SWITCH_PLAN = N_("Switch plan")
NO_THANKS = N_("No thanks")


@config_section
class PauseConfig(ConfigSection):
    """How pausing works."""

    section: ClassVar[str] = "pause"
    title: ClassVar[str] = "Pausing a subscription"
    lengths_months: tuple[int, ...] = Field(default=(1, 2, 3), min_length=1, max_length=3)
    """The lengths offered, one tap each (at most three, so they stay buttons on WhatsApp)."""
    max_consecutive: int = Field(default=2, ge=1, le=12)
    """Pauses in a row a customer may take; after that they are offered a smaller plan."""
    streak_gap_days: int = Field(default=31, ge=0, le=365)
    """A pause starting within this many days of the last one's end counts as "in a row"."""
    resume_message_hour: int = Field(default=10, ge=8, le=19)
    """Local hour of the message on resume day."""
    right_size_plan: str = ""
    """The smaller plan offered to serial pausers (empty: none; they are offered a person)."""
    right_size_plan_name: str = ""
    right_size_prices: Prices = Field(default_factory=dict)
    """Monthly price of that plan per currency, e.g. {"USD": "9.00"}."""

    @field_validator("lengths_months")
    @classmethod
    def _known_lengths(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value) or not all(m in MONTHS for m in value):
            raise ValueError("lengths must be different numbers of months from 1 to 12")
        return tuple(sorted(value))


def pause_streak(turn: Turn) -> int:
    """How many pauses in a row a pause starting now would make."""
    account = turn.account
    if account is None:
        return 1
    gap = timedelta(days=turn.config.get(PauseConfig).streak_gap_days)
    last_end = account.paused_until
    in_a_row = last_end is not None and not account.is_paused and turn.now - last_end <= gap
    return account.pause_streak + 1 if in_a_row else 1


def is_serial_pauser(turn: Turn) -> bool:
    """A pause now would be one more in a row than the cap allows."""
    return pause_streak(turn) > turn.config.get(PauseConfig).max_consecutive


def may_pause(turn: Turn) -> bool:
    """The customer's subscription can be paused now."""
    return not (no_subscription(turn) or turn.account.is_paused or canceled(turn)
                or is_serial_pauser(turn))


class PauseFlow(Flow):
    """Pauses and resumes a subscription."""

    flow_name = "pause"

    start = State(initial=True)
    choosing_length = State()
    offering_right_size = State()
    paused = State()
    done = State(final=True)

    offer = (
        done.from_(start, paused, cond=no_subscription, on=say_no_subscription)
        | done.from_(start, paused, cond=canceled, on=say_canceled)
        | done.from_(start, paused, cond="is_paused", on="offer_resume")
        | offering_right_size.from_(start, paused, cond=["is_serial_pauser", "can_right_size"])
        | done.from_(start, paused, cond="is_serial_pauser", on="say_limit_reached")
        | choosing_length.from_(start, paused)
        | choosing_length.to.itself()
        | offering_right_size.to.itself()
    )
    choose = start.to(paused, cond="may_pause_for") | choosing_length.to(paused, cond="may_pause_for")
    save = start.to(paused, cond="may_pause_for", on="note_saved")
    # A thanks for the confirmation is not the paused customer writing in (targetless: the
    # pause's next message still gets the resume offer).
    message = (paused.to(None, cond=only_courtesy, on=welcome_courtesy)
               | paused.to(done, cond="is_paused", on="welcome_paused")
               | paused.to(done, on=carry_on_as_usual)
               | moved_on(done, choosing_length, offering_right_size)
               | answered_in_place(choosing_length, offering_right_size))
    resume_now = (
        done.from_(start, choosing_length, offering_right_size, paused, cond="is_paused",
                   on="resume")
        | done.from_(start, choosing_length, offering_right_size, paused, on="say_not_paused")
    )
    keep_paused = (done.from_(start, paused, cond="is_paused", on="say_kept")
                   | done.from_(start, paused, on="say_not_paused"))
    resume_day = done.from_(start, choosing_length, offering_right_size, paused,
                            on="say_resume_day")
    right_size = (start.to(done, cond="can_right_size", on="switch_plan")
                  | offering_right_size.to(done, cond="right_size_offered", on="switch_plan"))
    no_thanks = offering_right_size.to(done, on="decline_right_size")

    @classmethod
    def detect(cls, text: str, locale: str) -> tuple[str, dict[str, Any]] | None:
        """"Pause my subscription", "resume my subscription", in any shipped language."""
        if matches(RESUME_PHRASES, text):
            return "resume_now", {}
        if matches(PAUSE_PHRASES, text) and not matches(NOT_PAUSE_PHRASES, text):
            return "offer", {}
        return None

    # -- guards ---------------------------------------------------------------------------------

    def is_paused(self, turn: Turn) -> bool:
        return turn.account is not None and turn.account.is_paused

    def is_serial_pauser(self, turn: Turn) -> bool:
        return is_serial_pauser(turn)

    def right_size_offered(self, turn: Turn) -> bool:
        """The smaller plan offered in this conversation can still be taken (the customer is
        not on it already), whatever the settings say now."""
        offer = self.model.data.get("right_size")
        if offer is None:  # offered before offers were kept in the conversation
            return self.can_right_size(turn)
        return turn.account is not None and turn.account.plan != offer["plan"]

    def can_right_size(self, turn: Turn) -> bool:
        config = turn.config.get(PauseConfig)
        return (turn.account is not None and bool(config.right_size_plan)
                and turn.account.plan != config.right_size_plan
                and price_for(config.right_size_prices, turn) is not None)

    def may_pause_for(self, turn: Turn, arg: str | None = None) -> bool:
        """A configured length, for a subscription that can be paused now."""
        lengths = turn.config.get(PauseConfig).lengths_months
        return arg is not None and arg.isdigit() and int(arg) in lengths and may_pause(turn)

    # -- what is said and done -----------------------------------------------------------------

    def on_enter_choosing_length(self, turn: Turn) -> None:
        lengths = turn.config.get(PauseConfig).lengths_months
        options = [{"months": months, "resume_on": add_months(today(turn), months)}
                   for months in lengths]
        turn.say("pause.offer", options=options, choices=month_choices(PauseFlow, "choose", lengths))

    def on_enter_offering_right_size(self, turn: Turn) -> None:
        turn.record_retention(Kind.OFFER_SHOWN, offer=Offer.RIGHT_SIZE)
        offer = self.model.data["right_size"] = self._right_size_offer(turn)
        turn.say("pause.right_size_offer", streak=pause_streak(turn) - 1,
                 plan_name=offer["name"], price=offer["price"],
                 choices=[self.choice("right_size", SWITCH_PLAN), self.choice("no_thanks", NO_THANKS)])

    def on_enter_paused(self, turn: Turn, arg: str) -> None:
        """Start the pause: billing, the resume-day message, and the confirmation."""
        months = int(arg)
        config = turn.config.get(PauseConfig)
        zone = zone_of(turn)
        resume_on = add_months(today(turn), months)
        until = at_local(resume_on, time(0), zone)
        turn.request_billing(Action.PAUSE, until=until.isoformat(), months=months,
                             streak=pause_streak(turn))
        turn.schedule("pause.resume_day", f"pause:{turn.account.customer_id}:{resume_on.isoformat()}",
                      at_local(resume_on, time(config.resume_message_hour), zone),
                      customer_id=turn.account.customer_id, contact_id=turn.contact.id,
                      until=until.isoformat())
        turn.record_retention(Kind.PAUSED, months=months)
        turn.say("pause.started", resume_on=resume_on,
                 choices=[self.choice("resume_now", RESUME_NOW)])

    def note_saved(self, turn: Turn, arg: str) -> None:
        """The pause was the cancel flow's offer (made to those not using the product): the
        customer stays."""
        turn.record_retention(Kind.OFFER_ACCEPTED, reason=Reason.NOT_USING, offer=Offer.PAUSE,
                              months=int(arg))


    def offer_resume(self, turn: Turn) -> None:
        turn.say("pause.still_paused", resume_on=self._resume_on(turn),
                 choices=[self.choice("resume_now", RESUME_NOW),
                          self.choice("keep_paused", KEEP_PAUSED), MAIN_MENU])

    def welcome_paused(self, turn: Turn, text: str | None = None) -> None:
        """A paused customer wrote in: answer them if it was a question, and offer to resume."""
        answer_question(turn, text)
        self.offer_resume(turn)

    def say_limit_reached(self, turn: Turn) -> None:
        turn.say("pause.limit_reached", streak=pause_streak(turn) - 1, choices=[PERSON, MAIN_MENU])

    def resume(self, turn: Turn) -> None:
        turn.request_billing(Action.RESUME)
        turn.record_retention(Kind.RESUMED, early=True)
        turn.say("pause.resumed")

    def say_not_paused(self, turn: Turn) -> None:
        turn.say("pause.not_paused", choices=[MAIN_MENU])

    def say_kept(self, turn: Turn) -> None:
        turn.say("pause.kept", resume_on=self._resume_on(turn), choices=[MAIN_MENU])

    def say_resume_day(self, turn: Turn, resume_on: str) -> None:
        # Display-ready, so an approved WhatsApp template can use it as it is.
        say = turn.say("pause.resume_day", resume_on=format_day(their_day(turn, turn.now),
                                                                 turn.locale))
        say.business_key = f"pause:resume:{turn.contact.id}:{resume_on}"
        say.subject = f"pause:{turn.customer_id}"

    def switch_plan(self, turn: Turn) -> None:
        # (An offer made before offers were kept in the conversation: the settings' current one.)
        offer = self.model.data.get("right_size") or self._right_size_offer(turn)
        turn.request_billing(Action.CHANGE_PLAN, plan=offer["plan"], why="right_size")
        turn.record_retention(Kind.OFFER_ACCEPTED, offer=Offer.RIGHT_SIZE)
        turn.say("pause.right_sized", plan_name=offer["name"], price=offer["price"],
                 choices=[MAIN_MENU])

    @staticmethod
    def _right_size_offer(turn: Turn) -> dict[str, str | None]:
        config = turn.config.get(PauseConfig)
        return plan_offer(turn, config.right_size_plan, config.right_size_plan_name,
                          config.right_size_prices)

    def decline_right_size(self, turn: Turn) -> None:
        turn.record_retention(Kind.OFFER_DECLINED, offer=Offer.RIGHT_SIZE)
        leave_as_is(turn)

    # -- helpers --------------------------------------------------------------------------------

    def _resume_on(self, turn: Turn) -> date | None:
        until = turn.account.paused_until if turn.account else None
        return their_day(turn, until) if until is not None else None
