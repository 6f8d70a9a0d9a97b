"""The retention log: every cancel reason, offer shown, answer to it and outcome, recorded by
the flows as they happen — whether or not the customer stays — for the retention report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Kind:
    """What a retention event records."""

    CANCEL_STARTED = "cancel_started"
    REASON = "reason"
    OFFER_SHOWN = "offer_shown"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_DECLINED = "offer_declined"
    CANCELED = "canceled"
    PAUSED = "paused"
    RESUMED = "resumed"
    RESUBSCRIBED = "resubscribed"


class Reason:
    """Why a customer wants to cancel: the fixed list they pick from, one tap each."""

    PRICE = "price"
    NOT_USING = "not_using"
    MISSING_FEATURE = "missing_feature"
    SWITCHING = "switching"
    OTHER = "other"
    ALL = (PRICE, NOT_USING, MISSING_FEATURE, SWITCHING, OTHER)
    PAYMENT_FAILED = "payment_failed"
    """Not a cancel reason: the context of the dunning discount offer."""


class Offer:
    """The offers the flows can make."""

    RESCUE_PLAN = "rescue_plan"
    PAUSE = "pause"
    HELP = "help"
    TRIAL_EXTENSION = "trial_extension"
    RIGHT_SIZE = "right_size"
    DISCOUNT = "discount"
    WIN_BACK = "win_back"


@dataclass(frozen=True)
class RetentionNote:
    """One retention event a turn produced."""

    kind: str
    reason: str | None = None
    offer: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    customer_id: str | None = None
