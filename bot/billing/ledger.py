"""The local ledger: how each billing action changes a customer's subscription row.

Pure over the loaded ``Customer``; the caller runs it inside the transaction that records the
action, so the ledger and the action log never disagree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.billing.accounts import Status
from bot.store.models import Customer


class Action:
    """The actions a flow (or the payment page) can take on a subscription."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    CHANGE_PLAN = "change_plan"
    DISCOUNT = "discount"
    EXTEND_TRIAL = "extend_trial"
    RESUBSCRIBE = "resubscribe"
    PAY_INVOICE = "pay_invoice"
    ALL = frozenset({PAUSE, RESUME, CANCEL, CHANGE_PLAN, DISCOUNT, EXTEND_TRIAL, RESUBSCRIBE,
                     PAY_INVOICE})


RESCUE_PLAN_CONCESSION = timedelta(days=365)
"""A rescue plan counts as a concession for a year (it is offered at most once a year)."""
ONE_CYCLE = timedelta(days=31)


def moment(value: str) -> datetime:
    """A stored ISO-8601 instant."""
    return datetime.fromisoformat(value)


def apply_action(customer: Customer, action: str, params: dict[str, Any], now: datetime) -> None:
    """Change ``customer`` as ``action`` asks."""
    if action == Action.PAUSE:
        customer.status = Status.PAUSED
        customer.paused_until = moment(params["until"])
        customer.pause_streak = int(params["streak"])  # the pause flow counts the streak
    elif action == Action.RESUME:
        if customer.status == Status.PAUSED:
            customer.status = Status.ACTIVE
            # Kept as the end of the last pause: a new pause soon after continues the streak.
            customer.paused_until = now
    elif action == Action.CANCEL:
        customer.cancel_at = moment(params["effective_at"])
        if customer.cancel_at <= now:
            customer.status = Status.CANCELED
    elif action == Action.CHANGE_PLAN:
        customer.plan = params["plan"]
        if params.get("why") == "rescue":
            _concede(customer, "rescue_plan", now + RESCUE_PLAN_CONCESSION)
    elif action == Action.DISCOUNT:
        period_end = customer.current_period_end
        _concede(customer, "discount", max(now, period_end or now) + ONE_CYCLE)
    elif action == Action.EXTEND_TRIAL:
        customer.trial_ends_at = moment(params["until"])
        customer.trial_extended = True
        _concede(customer, "trial_extension", customer.trial_ends_at)
    elif action == Action.RESUBSCRIBE:
        customer.status = Status.ACTIVE
        customer.cancel_at = None
        customer.plan = params.get("plan") or customer.plan
    elif action != Action.PAY_INVOICE:  # a payment changes the invoice, not the subscription
        raise ValueError(f"unknown billing action {action!r}")
    customer.updated_at = now


def _concede(customer: Customer, concession: str, until: datetime) -> None:
    customer.concession = concession
    customer.concession_until = until
