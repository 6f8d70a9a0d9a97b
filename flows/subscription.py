"""What the subscription flows (pause, cancel, dunning) share: the customer's calendar, month
labels, prices in the customer's currency, and the answers for a number with no subscription."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Annotated
from zoneinfo import ZoneInfo

from babel.numbers import is_currency
from pydantic import AfterValidator
from statemachine import State
from statemachine.transition_list import TransitionList

from bot.faq import Courtesy
from bot.i18n import format_money
from bot.local_dates import local_day, zone_for
from bot.messages import N_, Choice
from bot.turn import Turn
from flows.base import MAIN_MENU, Flow
from flows.faq import TALK_TO_PERSON, acknowledge
from flows.handoff import HandoffFlow
from flows.handover import hand_over
from flows.phrases import BACK_OUT_PHRASES, matches

MONTHS = {1: N_("1 month"), 2: N_("2 months"), 3: N_("3 months"), 4: N_("4 months"),
          5: N_("5 months"), 6: N_("6 months"), 7: N_("7 months"), 8: N_("8 months"),
          9: N_("9 months"), 10: N_("10 months"), 11: N_("11 months"), 12: N_("12 months")}
"""Choice labels for pause lengths (the lengths operators may configure)."""

PERSON = HandoffFlow.choice("request", TALK_TO_PERSON)


def _prices(value: dict[str, Decimal]) -> dict[str, Decimal]:
    prices = {currency.upper(): amount for currency, amount in value.items()}
    for currency, amount in prices.items():
        if not is_currency(currency):
            raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
        if amount <= 0:
            raise ValueError(f"the {currency} price must be more than zero")
    return prices


Prices = Annotated[dict[str, Decimal], AfterValidator(_prices)]
"""A plan's monthly price per currency in a config section, e.g. {"USD": "9.00"}."""


def zone_of(turn: Turn) -> ZoneInfo:
    """The customer's time zone: what the business told us, else their number's."""
    return zone_for(turn.contact.timezone, turn.contact.address)


def today(turn: Turn) -> date:
    """The customer's calendar day."""
    return local_day(turn.now, zone_of(turn))


def their_day(turn: Turn, moment: datetime) -> date:
    """The customer's calendar day at ``moment``."""
    return local_day(moment, zone_of(turn))


def price_for(prices: dict[str, Decimal], turn: Turn) -> str | None:
    """A configured price in the customer's currency, formatted their way; None when the
    operator set no price in that currency."""
    currency = ((turn.account.currency if turn.account else None) or "").upper()
    amount = prices.get(currency)
    return None if amount is None else format_money(amount, currency, turn.locale)


def plan_offer(turn: Turn, plan: str, name: str, prices: dict[str, Decimal]) -> dict[str, str | None]:
    """A smaller plan as offered now — the plan, the name shown and the price in the customer's
    currency — kept in the conversation, so that taking the offer gets what was offered even if
    an operator changes the settings in between."""
    return {"plan": plan, "name": name or plan, "price": price_for(prices, turn)}


def answer_question(turn: Turn, text: str | None, choices: list[Choice] | None = None) -> bool:
    """Answer a question the FAQ knows (someone who writes in while a flow rests), with
    ``choices`` below it; False when the message is not one."""
    match = turn.faq.match(text) if text else None
    if match is None:
        return False
    turn.say("faq.answer", answer=match.entry.answer, title=match.entry.title, choices=choices)
    return True


def asks_question(turn: Turn, text: str | None = None) -> bool:
    """The message is a question the FAQ can answer (a guard)."""
    return text is not None and turn.faq.match(text) is not None


def answer_and_wait(turn: Turn, text: str | None = None) -> None:
    """Answer the question with the choices the flow still waits on below it: a question asked
    half-way through is not a wrong answer."""
    answer_question(turn, text, turn.offered_choices)


def only_courtesy(turn: Turn, text: str | None = None) -> bool:
    """The message only thanks or acknowledges ("ok", "thanks", 👍) (a guard). A "no thanks"
    is not one here: to a pending question it is an answer that fits none of the choices."""
    return text is not None and turn.faq.courtesy(text) in (Courtesy.THANKS,
                                                            Courtesy.ACKNOWLEDGEMENT)


def welcome_courtesy(turn: Turn, text: str) -> None:
    """Answer a message that only thanks or acknowledges, as the FAQ would."""
    acknowledge(turn, turn.faq.courtesy(text))


def offer_choices_again(turn: Turn) -> None:
    """Repeat the pending choices without calling an "ok" a wrong answer (misses in a row put
    the customer in a person's queue)."""
    turn.say("common.choose_when_ready", choices=turn.offered_choices)


def answered_in_place(*states: State) -> TransitionList:
    """In each of ``states``, a question the FAQ knows is answered, and an "ok" or a "thanks"
    gets the pending choices again, while the flow keeps waiting there. Targetless transitions:
    the state is neither left nor entered again, so its offer is not made again
    (python-statemachine 3.2 still enters a state again on an ``internal`` self-transition)."""
    return reduce(or_, (state.to(None, cond=asks_question, on=answer_and_wait)
                        | state.to(None, cond=only_courtesy, on=offer_choices_again)
                        for state in states))


def backs_out(turn: Turn, text: str | None = None) -> bool:
    """The customer changed their mind ("never mind", "olvídalo", "mudei de ideia") (a guard)."""
    return text is not None and matches(BACK_OUT_PHRASES, text)


def leave_as_is(turn: Turn) -> None:
    """End the flow with nothing changed, and say so."""
    turn.say("subscription.nothing_changed", choices=[MAIN_MENU])


def moved_on(target: State, *states: State) -> TransitionList:
    """From each of ``states``, the customer leaves the question behind: a greeting ends the
    flow with the main menu (or the answer to a question), "never mind" with nothing changed."""
    return (target.from_(*states, cond=greets, on=carry_on_as_usual)
            | target.from_(*states, cond=backs_out, on=leave_as_is))


def greets(turn: Turn, text: str | None = None) -> bool:
    """The message only greets, or asks for the menu ("hi", "menu", "start over"): the customer
    has moved on from the question a flow is waiting on (a guard)."""
    return text is not None and turn.faq.is_greeting(text)


def carry_on_as_usual(turn: Turn, text: str | None = None) -> None:
    """The flow has nothing to say to this message: answer it if the FAQ knows the question,
    else show the main menu (the FAQ takes the conversation)."""
    if not answer_question(turn, text):
        hand_over(turn, MAIN_MENU.payload)


def no_subscription(turn: Turn) -> bool:
    """No one customer we know owns this number (a guard)."""
    return turn.account is None


def canceled(turn: Turn) -> bool:
    """The subscription is canceled, or will be at the end of its period (a guard)."""
    return turn.account is not None and (turn.account.is_canceled
                                         or turn.account.cancellation_pending)


def say_no_subscription(turn: Turn) -> None:
    """This number belongs to no one customer we know (to none, or it pays for several and
    which one is meant cannot be told): offer a person."""
    template = "subscription.several" if turn.pays_for_several else "subscription.not_found"
    turn.say(template, choices=[PERSON, MAIN_MENU])


def say_canceled(turn: Turn) -> None:
    """The subscription is canceled already (maybe still running until its end date)."""
    account = turn.account
    ends_on = their_day(turn, account.cancel_at) if account.cancellation_pending else None
    turn.say("subscription.canceled", ends_on=ends_on, choices=[MAIN_MENU])


def month_choices(flow: type[Flow], event: str, lengths: tuple[int, ...]) -> list[Choice]:
    """One-tap choices for pause lengths, sending ``event`` with the number of months."""
    return [flow.choice(event, MONTHS[months], str(months)) for months in lengths]
